import { describe, expect, it } from 'vitest'
import {
  clearToken,
  loadToken,
  type SessionHost,
  saveToken,
  takeTokenFromFragment,
} from '../../dashboard/src/auth/session.js'

function fakeHost(hash: string) {
  const store = new Map<string, string>()
  const replaced: string[] = []
  const host: SessionHost = {
    storage: {
      getItem: (k) => store.get(k) ?? null,
      setItem: (k, v) => void store.set(k, v),
      removeItem: (k) => void store.delete(k),
    },
    location: { hash, pathname: '/', search: '' },
    history: { replaceState: (_d, _t, url) => void replaced.push(String(url)) },
  }
  return { host, store, replaced }
}

describe('session token', () => {
  it('takes a token from #token= and strips it from the address bar', () => {
    const { host, replaced } = fakeHost('#token=dst_abc%2Bdef')
    expect(takeTokenFromFragment(host)).toBe('dst_abc+def')
    expect(replaced).toEqual(['/#/'])
  })

  it('leaves ordinary routes alone', () => {
    const { host, replaced } = fakeHost('#/district/4')
    expect(takeTokenFromFragment(host)).toBeNull()
    expect(replaced).toEqual([])
  })

  it('strips an empty token too, without signing in', () => {
    const { host, replaced } = fakeHost('#token=')
    expect(takeTokenFromFragment(host)).toBeNull()
    expect(replaced).toEqual(['/#/'])
  })

  it('keeps the token in session storage until cleared', () => {
    const { host } = fakeHost('')
    expect(loadToken(host)).toBeNull()
    saveToken(host, 't1')
    expect(loadToken(host)).toBe('t1')
    clearToken(host)
    expect(loadToken(host)).toBeNull()
  })

  it('survives a storage that throws', () => {
    const { host } = fakeHost('')
    host.storage = {
      getItem: () => {
        throw new Error('denied')
      },
      setItem: () => {
        throw new Error('denied')
      },
      removeItem: () => {
        throw new Error('denied')
      },
    }
    expect(() => saveToken(host, 't')).not.toThrow()
    expect(loadToken(host)).toBeNull()
    expect(() => clearToken(host)).not.toThrow()
  })
})
