import net from 'node:net'
import { z } from 'zod'

/**
 * Source addresses for a large fleet on one machine: every connection from 127.0.0.1 to one gateway
 * port shares one address, and the kernel's ephemeral ports (about 28,000) cap how many it can hold.
 * Spreading the units over a loopback block (all of 127.0.0.0/8 answers on Linux) lifts that cap and,
 * as a side effect, gives the gateway's per-address admission a fleet that looks like many homes.
 */
export interface SourceNet {
  /** The block from its network address, e.g. `127.16.0.0/12` (given as `127.16.3.9/12` too). */
  cidr: string
  /** First usable host address, as a 32-bit number. */
  first: number
  /** Usable host addresses in the block. */
  size: number
}

export class SourceNetError extends Error {}

function toNumber(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0)
}

function toDotted(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.')
}

/** Parses an IPv4 block inside 127.0.0.0/8 with room for at least one host. */
export function parseSourceNet(cidr: string): SourceNet {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(cidr.trim())
  const ip = m?.[1]
  const bits = Number(m?.[2])
  if (!ip || net.isIPv4(ip) === false || !Number.isInteger(bits) || bits < 8 || bits > 30) {
    throw new SourceNetError('must be an IPv4 block such as 127.16.0.0/12 (prefix 8 to 30)')
  }
  if (!ip.startsWith('127.')) throw new SourceNetError('must lie in 127.0.0.0/8: loopback only')
  const span = 2 ** (32 - bits)
  const network = toNumber(ip) - (toNumber(ip) % span)
  // The block's first and last addresses are left out, as on any network; 127.0.0.0 itself does not bind.
  return { cidr: `${toDotted(network)}/${bits}`, first: network + 1, size: span - 2 }
}

/** Unit `index`'s source address: the block's hosts in turn, wrapping round when units outnumber them. */
export function sourceAddressFor(index: number, block: SourceNet): string {
  return toDotted(block.first + (index % block.size))
}

/** A `--source-net` / `sourceNet` value, checked as `parseSourceNet` reads it. */
export const SourceNetText = z.string().superRefine((v, ctx) => {
  try {
    parseSourceNet(v)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
  }
})
