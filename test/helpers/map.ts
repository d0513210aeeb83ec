import type { Page } from 'playwright-core'
import { expect } from 'vitest'

/**
 * Clicks groups until the unit's own marker is on screen: first the group of `firstCount` units, then
 * the group nearest the middle (each click centres the map on the group clicked, so that one is the
 * clicked group's part).
 */
export async function zoomToUnit(
  page: Page,
  mapId: string,
  unitId: string,
  firstCount: number,
): Promise<void> {
  const map = page.getByTestId(mapId)
  const unit = map.getByTestId(`map-unit-${unitId}`)
  for (let i = 0; i < 8; i++) {
    if (await unit.isVisible()) return
    const pick = await map.evaluate(
      (el, first) => {
        const box = el.getBoundingClientRect()
        const cx = box.left + box.width / 2
        const cy = box.top + box.height / 2
        const groups = [...el.querySelectorAll<HTMLElement>('[data-testid=map-cluster]')]
        const firstGroup = groups.findIndex((g) => g.getAttribute('data-count') === String(first))
        if (first !== null && firstGroup >= 0) return firstGroup
        let best = -1
        let bestD = Number.POSITIVE_INFINITY
        groups.forEach((g, n) => {
          const r = g.getBoundingClientRect()
          const d = Math.hypot(r.left + r.width / 2 - cx, r.top + r.height / 2 - cy)
          if (d < bestD) {
            bestD = d
            best = n
          }
        })
        return best
      },
      i === 0 ? firstCount : null,
    )
    if (pick < 0) break
    const zoom = await map.getAttribute('data-zoom')
    await map.getByTestId('map-cluster').nth(pick).click()
    await expect.poll(() => map.getAttribute('data-zoom'), { timeout: 15_000 }).not.toBe(zoom)
  }
  await unit.waitFor({ timeout: 15_000 })
}
