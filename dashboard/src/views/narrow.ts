import { useMediaQuery } from '../lib/hooks.js'

/**
 * Phone-sized screens: no room for the alert feed beside the page, nor for the
 * full header. Keep in step with the `max-width: 760px` rules in styles.css.
 */
export const NARROW_QUERY = '(max-width: 760px)'

export function useNarrow(): boolean {
  return useMediaQuery(NARROW_QUERY)
}
