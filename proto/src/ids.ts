import { z } from 'zod'

/** Device ids are topic-safe: they stand inside MQTT topics and file paths. */
export const DeviceId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{3,64}$/, 'device id must be 3-64 letters, digits, "-" or "_"')
export type DeviceId = z.infer<typeof DeviceId>

/** The city's 61 community police districts, numbered 1..61. */
export const DISTRICT_COUNT = 61
export const District = z.coerce.number().int().min(1).max(DISTRICT_COUNT)
export type District = z.infer<typeof District>

/** Milliseconds since the Unix epoch, as the sender's clock saw it. */
export const EpochMs = z.number().int().nonnegative()

export const Uuid = z.uuid()

export const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits')

export const Latitude = z.number().min(-90).max(90)
export const Longitude = z.number().min(-180).max(180)
