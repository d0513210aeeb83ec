import type { Role } from '@doorstep/proto'
import type { MessageKey } from '../../i18n/catalogue.js'

export const ROLE_LIST: readonly Role[] = ['admin', 'ops', 'investigator', 'owner']

export const ROLE_LABEL: Record<Role, MessageKey> = {
  admin: 'admin.role.admin',
  ops: 'admin.role.ops',
  investigator: 'admin.role.investigator',
  owner: 'admin.role.owner',
}
