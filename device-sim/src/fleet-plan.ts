import { type DeviceCreateInput, DISTRICT_COUNT, type ReleasePolicy } from '@doorstep/proto'
import { createRng, hashString, mix, type Rng, shuffle } from './prng.js'

/**
 * A deterministic layout of the simulated fleet: which unit sits in which
 * district, where, and with what hardware. Same options, same plan: the
 * credentials file and bench runs rely on ids and serials being stable.
 *
 * The city is county-level: a dense urban centre of small districts around
 * the town centre and a ring of large rural districts further out. Districts
 * 1..URBAN_DISTRICTS are urban. The split is chosen so that ~70% urban units
 * still put at least one unit in every district once there are ≥ 61 units.
 */
export const URBAN_DISTRICTS = 43

export type SettingName = 'urban' | 'rural'

export interface PlannedUnit {
  /** 0-based position in the plan; also the ramp-up order. */
  readonly index: number
  readonly id: string
  readonly serial: string
  readonly district: number
  readonly setting: SettingName
  readonly address: string
  readonly ownerContact: string
  readonly lat: number
  readonly lon: number
  readonly model: string
  readonly firmware: string
  readonly releasePolicy: ReleasePolicy
  /** 4G units carry a backup battery and report batteryPct. */
  readonly hasBattery: boolean
  readonly storageTotalMb: number
  /** Seed for this unit's stateless noise (heartbeat values, faults). */
  readonly seed: number
}

export interface FleetPlanOptions {
  count: number
  seed?: number
  /** Ids are `${idPrefix}00001`...; change it to run a second fleet on one gateway. */
  idPrefix?: string
  center?: { lat: number; lon: number }
  /** Share of units in urban districts, 0..1. */
  urbanShare?: number
}

export const DEFAULT_CENTER = { lat: 29.3, lon: 117.2 } as const
export const DEFAULT_SEED = 20_896

const STREETS = [
  'Main St',
  'Station Rd',
  'Market St',
  'River Rd',
  'Temple St',
  'Bridge St',
  'Park Ave',
  'Lake Rd',
  'Garden St',
  'School Rd',
  'Hill St',
  'Canal St',
] as const

const VILLAGE_HEADS = [
  'Shang',
  'Xia',
  'Dong',
  'Xi',
  'Bai',
  'Qing',
  'Liu',
  'Huang',
  'Shi',
  'Zhang',
  'Tao',
  'Song',
  'Ma',
  'Yang',
  'Gao',
  'Lin',
  'Hu',
]
const VILLAGE_TAILS = [
  'wan',
  'he',
  'ling',
  'shan',
  'tang',
  'tan',
  'cun',
  'jia',
  'qiao',
  'keng',
  'ao',
  'fan',
  'dian',
  'pu',
]

interface DistrictGeo {
  lat: number
  lon: number
  /** Radius units are scattered in, km. */
  spreadKm: number
  /** Relative density of units. */
  weight: number
  villages: readonly string[]
}

const KM_PER_DEG_LAT = 111.32

/** Fixed city geometry: it must not change with the fleet seed, or units would move between runs. */
function cityGeometry(center: { lat: number; lon: number }): DistrictGeo[] {
  const rng = createRng(0xc17e)
  const kmPerDegLon = KM_PER_DEG_LAT * Math.cos((center.lat * Math.PI) / 180)
  const at = (rKm: number, angle: number) => ({
    lat: center.lat + (rKm * Math.sin(angle)) / KM_PER_DEG_LAT,
    lon: center.lon + (rKm * Math.cos(angle)) / kmPerDegLon,
  })
  const out: DistrictGeo[] = []
  const golden = Math.PI * (3 - Math.sqrt(5))
  for (let d = 1; d <= URBAN_DISTRICTS; d++) {
    // A sunflower spiral packs the small urban districts evenly around the centre.
    const r = 4.5 * Math.sqrt((d - 0.5) / URBAN_DISTRICTS)
    out.push({ ...at(r, d * golden), spreadKm: 0.35, weight: 1.6 - r / 4.5, villages: [] })
  }
  const rural = DISTRICT_COUNT - URBAN_DISTRICTS
  for (let k = 0; k < rural; k++) {
    const d = URBAN_DISTRICTS + 1 + k
    const r = 9 + rng.next() * 19
    const angle = (2 * Math.PI * k) / rural + (rng.next() - 0.5) * 0.3
    const villages = Array.from({ length: 4 }, (_, v) => {
      const head = VILLAGE_HEADS[(d * 7 + v * 5) % VILLAGE_HEADS.length]
      const tail = VILLAGE_TAILS[(d * 3 + v * 11) % VILLAGE_TAILS.length]
      return `${head}${tail} Village`
    })
    out.push({ ...at(r, angle), spreadKm: 2.5, weight: 1, villages })
  }
  return out
}

/** Spreads `count` units over districts: one each first (while they last), the rest by weight. */
function assignDistricts(count: number, first: number, geo: readonly DistrictGeo[], rng: Rng): number[] {
  const out: number[] = []
  const ids = geo.map((_, i) => first + i)
  const order = shuffle([...ids], rng)
  for (let i = 0; i < Math.min(count, order.length); i++) out.push(order[i] as number)
  const total = geo.reduce((s, g) => s + g.weight, 0)
  for (let i = out.length; i < count; i++) {
    let x = rng.next() * total
    let k = 0
    for (; k < geo.length - 1; k++) {
      x -= (geo[k] as DistrictGeo).weight
      if (x < 0) break
    }
    out.push(first + k)
  }
  return out
}

function weighted<T>(rng: Rng, table: ReadonlyArray<readonly [T, number]>): T {
  let x = rng.next()
  for (const [value, p] of table) {
    x -= p
    if (x < 0) return value
  }
  return (table[table.length - 1] as readonly [T, number])[0]
}

function hex8(n: number): string {
  return (n >>> 0).toString(16).toUpperCase().padStart(8, '0')
}

export function planFleet(opts: FleetPlanOptions): PlannedUnit[] {
  const count = opts.count
  if (!Number.isInteger(count) || count < 0) throw new RangeError('count must be a non-negative integer')
  const seed = opts.seed ?? DEFAULT_SEED
  const prefix = opts.idPrefix ?? 'cam-'
  const center = opts.center ?? DEFAULT_CENTER
  const urbanShare = opts.urbanShare ?? 0.7
  const rng = createRng(seed)
  const geo = cityGeometry(center)
  const kmPerDegLon = KM_PER_DEG_LAT * Math.cos((center.lat * Math.PI) / 180)

  const urbanCount = Math.round(count * urbanShare)
  const districts = shuffle(
    [
      ...assignDistricts(urbanCount, 1, geo.slice(0, URBAN_DISTRICTS), rng),
      ...assignDistricts(count - urbanCount, URBAN_DISTRICTS + 1, geo.slice(URBAN_DISTRICTS), rng),
    ],
    // Shuffled so that the first units of a ramp-up already cover the city.
    rng,
  )

  const width = Math.max(5, String(count).length)
  return districts.map((district, index): PlannedUnit => {
    const g = geo[district - 1] as DistrictGeo
    const setting: SettingName = district <= URBAN_DISTRICTS ? 'urban' : 'rural'
    const id = `${prefix}${String(index + 1).padStart(width, '0')}`
    const idHash = hashString(id)
    // Uniform in a disc: sqrt of the radius draw.
    const r = g.spreadKm * Math.sqrt(rng.next())
    const a = rng.next() * 2 * Math.PI
    const lat = round6(g.lat + (r * Math.sin(a)) / KM_PER_DEG_LAT)
    const lon = round6(g.lon + (r * Math.cos(a)) / kmPerDegLon)
    const house = rng.int(1, 240)
    const address = setting === 'urban' ? `${house} ${rng.pick(STREETS)}` : `${house} ${rng.pick(g.villages)}`
    const model =
      setting === 'urban'
        ? weighted(rng, [
            ['DS-C3W', 0.7],
            ['DS-C5W', 0.2],
            ['DS-C4G', 0.1],
          ] as const)
        : weighted(rng, [
            ['DS-C4G', 0.6],
            ['DS-C3W', 0.4],
          ] as const)
    const firmware = weighted(rng, [
      ['2.4.1', 0.75],
      ['2.3.9', 0.2],
      ['2.5.0-rc1', 0.05],
    ] as const)
    const releasePolicy = weighted<ReleasePolicy>(rng, [
      ['ask', 0.75],
      ['always', 0.2],
      ['never', 0.05],
    ])
    const storageTotalMb = weighted(rng, [
      [29_818, 0.6],
      [59_637, 0.3],
      [119_275, 0.1],
    ] as const)
    return {
      index,
      id,
      serial: `DS${hex8(mix(seed, idHash, 1))}${hex8(mix(seed, idHash, 2))}`,
      district,
      setting,
      address,
      ownerContact: `owner-${id}@example.org`,
      lat,
      lon,
      model,
      firmware,
      releasePolicy,
      hasBattery: model === 'DS-C4G',
      storageTotalMb,
      seed: mix(seed, idHash),
    }
  })
}

function round6(x: number): number {
  return Math.round(x * 1e6) / 1e6
}

/** The provisioning row for one planned unit (proto's DeviceCreate input). */
export function toDeviceCreate(u: PlannedUnit): DeviceCreateInput {
  return {
    id: u.id,
    serial: u.serial,
    district: u.district,
    address: u.address,
    ownerContact: u.ownerContact,
    lat: u.lat,
    lon: u.lon,
    model: u.model,
    firmware: u.firmware,
    setting: u.setting,
    releasePolicy: u.releasePolicy,
  }
}
