import type { EventKind, Heartbeat } from '@doorstep/proto'
import type { PlannedUnit, SettingName } from './fleet-plan.js'
import { smoothNoise, unitFloat } from './prng.js'

/**
 * What a unit reports, as pure functions of (unit, time). Values drift slowly
 * through stateless noise keyed by the unit's seed, so thousands of units keep
 * no per-unit history for them and a unit's story is the same on every run.
 */

/** The city keeps China Standard Time (UTC+8, no DST); hours of day are local to it, not to this machine. */
const CITY_UTC_OFFSET_H = 8
const HOUR = 3_600_000
const DAY = 24 * HOUR

export function hourOfDay(now: number): number {
  return (((now / HOUR + CITY_UTC_OFFSET_H) % 24) + 24) % 24
}

const round1 = (x: number) => Math.round(x * 10) / 10

/** One heartbeat's values, without the envelope (`v`, `ts`). */
export function heartbeatValues(u: PlannedUnit, now: number, bootAt: number): Omit<Heartbeat, 'v' | 'ts'> {
  const s = u.seed
  // Storage fills with continuous recording, then wraps: the unit overwrites its oldest footage.
  const fillPeriod = (3 + 7 * unitFloat(s, 1)) * DAY
  const fill = (now / fillPeriod + unitFloat(s, 2)) % 1
  // A few units have worn cards that leave little free space: they raise low-storage alerts.
  const reserve = unitFloat(s, 3) < 0.02 ? 0.04 : 0.12
  const freeShare = reserve + (0.95 - reserve) * (1 - fill)

  // Board temperature follows the day (warmest mid-afternoon); outdoor rural housings swing more.
  const swing = u.setting === 'rural' ? 11 : 7
  const daily = Math.sin((2 * Math.PI * (hourOfDay(now) - 9)) / 24)
  const temperature =
    27 + (unitFloat(s, 4) * 6 - 3) + swing * daily + (smoothNoise(s ^ 0x7e, now, 15 * 60_000) * 2 - 1) * 1.5

  // Rural units sit at the edge of 4G coverage.
  const base = u.setting === 'rural' ? -88 : -58
  const signal = base + (unitFloat(s, 5) * 16 - 8) + (smoothNoise(s ^ 0x51, now, 10 * 60_000) * 2 - 1) * 6

  // Recording almost always; about 2% of unit-hours it is off (card swap, owner pause).
  const recording = unitFloat(s, 6, Math.floor(now / HOUR)) >= 0.02

  const values: Omit<Heartbeat, 'v' | 'ts'> = {
    uptimeS: Math.max(0, Math.floor((now - bootAt) / 1000)),
    storageFreeMb: round1(u.storageTotalMb * freeShare),
    storageTotalMb: u.storageTotalMb,
    recording,
    signalDbm: Math.round(Math.min(-30, Math.max(-125, signal))),
    temperatureC: round1(Math.min(85, Math.max(-30, temperature))),
  }
  if (u.hasBattery) values.batteryPct = Math.round(88 + 12 * smoothNoise(s ^ 0xba, now, 6 * HOUR))
  return values
}

/**
 * Detections per unit per hour by local hour: busy school-run mornings and
 * evenings, quiet nights; rural nights much quieter still.
 */
const HOURLY: Record<SettingName, readonly number[]> = {
  //      0    1    2    3    4    5    6    7    8    9   10   11   12   13   14   15   16   17   18   19   20   21   22   23
  urban: [
    0.5, 0.4, 0.3, 0.3, 0.3, 0.6, 1.5, 2.6, 2.8, 1.8, 1.5, 1.5, 1.7, 1.5, 1.5, 1.7, 2.2, 3.0, 3.0, 2.6, 2.0,
    1.5, 1.0, 0.7,
  ],
  rural: [
    0.1, 0.08, 0.06, 0.06, 0.1, 0.4, 1.2, 1.6, 1.4, 1.0, 0.9, 0.9, 1.0, 0.9, 0.9, 1.0, 1.2, 1.5, 1.4, 1.0,
    0.6, 0.35, 0.2, 0.12,
  ],
}

export const PEAK_RATE_PER_HOUR: Record<SettingName, number> = {
  urban: Math.max(...HOURLY.urban),
  rural: Math.max(...HOURLY.rural),
}

export function eventRatePerHour(setting: SettingName, now: number): number {
  return HOURLY[setting][Math.floor(hourOfDay(now))] ?? 0
}

const isNight = (h: number) => h < 6 || h >= 21

/** What was detected: people by day, more plain motion (animals, headlights) and vehicles by night. */
export function pickEventKind(setting: SettingName, now: number, random: () => number): EventKind {
  const night = isNight(hourOfDay(now))
  const table: ReadonlyArray<readonly [EventKind, number]> = night
    ? setting === 'rural'
      ? [
          ['motion', 0.72],
          ['person', 0.08],
          ['vehicle', 0.08],
          ['sound', 0.1],
          ['tamper', 0.02],
        ]
      : [
          ['motion', 0.6],
          ['person', 0.15],
          ['vehicle', 0.18],
          ['sound', 0.05],
          ['tamper', 0.02],
        ]
    : [
        ['motion', 0.5],
        ['person', 0.32],
        ['vehicle', 0.15],
        ['sound', 0.02],
        ['tamper', 0.01],
      ]
  let x = random()
  for (const [kind, p] of table) {
    x -= p
    if (x < 0) return kind
  }
  return 'motion'
}

const ZONES: Record<SettingName, readonly string[]> = {
  urban: ['door', 'porch', 'driveway', 'street', 'shopfront'],
  rural: ['yard', 'gate', 'road', 'barn'],
}

export function pickZone(setting: SettingName, random: () => number): string {
  const z = ZONES[setting]
  return z[Math.floor(random() * z.length)] as string
}
