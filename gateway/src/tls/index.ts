/** The tls feature's public surface: other features import only this file. */
export { CIPHERS, MIN_TLS_VERSION, TlsCredentials, type TlsReload } from './credentials.js'
