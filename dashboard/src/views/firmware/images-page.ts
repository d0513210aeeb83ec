import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { useStore } from '../../lib/store.js'
import { useServices } from '../../services.js'
import { AdminError, AdminLoading } from '../admin/status.js'
import { OpsTabs } from '../ops-tabs.js'
import { useLoad } from '../owner/load.js'
import { Digest } from './digest.js'
import { ImageTable } from './image-table.js'
import { UploadForm } from './upload-form.js'

/** #/firmware: the signing key, the stored images, and (admins) uploading one. */
export function ImagesPage(): JSX.Element {
  const services = useServices()
  const { api } = services
  const { t } = useI18n()
  const admin = useStore(services.session).me?.role === 'admin'
  const [images, reload] = useLoad((s) => api.firmware.images(s), [])
  const [key] = useLoad((s) => api.firmware.key(s), [])
  const currentKey = key.kind === 'ok' ? key.data.fingerprint : null
  return h(
    'section',
    { class: 'panel admin-page fw-page', 'data-testid': 'firmware-page' },
    h('h1', { tabIndex: -1 }, t('firmware.title.images')),
    h(OpsTabs, { current: 'firmware' }),
    h('p', { class: 'muted' }, t('firmware.images.intro')),
    currentKey === null
      ? null
      : h(
          'p',
          { 'data-testid': 'firmware-key' },
          `${t('firmware.keyCurrent')} `,
          h(Digest, { value: currentKey, label: t('firmware.key'), testid: 'firmware-key-value' }),
        ),
    admin ? h(UploadForm, { onUploaded: reload }) : null,
    h('h2', null, t('firmware.images.heading')),
    images.kind === 'loading'
      ? h(AdminLoading, {})
      : images.kind === 'error'
        ? h(AdminError, { error: images.error, retry: reload })
        : h(ImageTable, { images: images.data.images, currentKey }),
  )
}
