import type { FirmwareImage } from '@doorstep/proto'
import { h, type JSX } from 'preact'
import { useI18n } from '../../i18n/use-i18n.js'
import { Digest } from './digest.js'

/** The stored images, newest first: what each is, its digest and the key that signed it. */
export function ImageTable(props: {
  images: readonly FirmwareImage[]
  currentKey: string | null
}): JSX.Element {
  const { t, fmt } = useI18n()
  if (props.images.length === 0)
    return h('p', { class: 'muted', 'data-testid': 'images-none' }, t('firmware.images.none'))
  return h(
    'div',
    { class: 'admin-table-wrap' },
    h(
      'table',
      { class: 'admin-table', 'data-testid': 'images' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          h('th', null, t('firmware.images.version')),
          h('th', null, t('firmware.images.model')),
          h('th', null, t('firmware.images.size')),
          h('th', null, t('firmware.images.sha256')),
          h('th', null, t('firmware.images.signedBy')),
          h('th', null, t('firmware.images.uploaded')),
        ),
      ),
      h(
        'tbody',
        null,
        props.images.map((img) =>
          h(
            'tr',
            { key: img.id, 'data-testid': `image-${img.model}-${img.version}` },
            h('td', null, img.version),
            h('td', null, img.model),
            h('td', null, fmt.bytes(img.size)),
            h('td', null, h(Digest, { value: img.sha256, label: 'sha256', testid: 'image-sha' })),
            h(
              'td',
              null,
              h(Digest, { value: img.keyFingerprint, label: t('firmware.key'), testid: 'image-key' }),
              props.currentKey !== null && img.keyFingerprint !== props.currentKey
                ? h('span', { class: 'badge fw-old-key' }, t('firmware.images.oldKey'))
                : null,
            ),
            h(
              'td',
              null,
              t('firmware.images.uploadedValue', { who: img.uploadedBy, when: fmt.dateTime(img.uploadedAt) }),
            ),
          ),
        ),
      ),
    ),
  )
}
