/** One finding of `doorstep doctor`: what was checked, how it stands, and what to do about it. */
export interface Finding {
  check: string
  status: 'ok' | 'warn' | 'fail'
  /** What was found, in a few words ("ffmpeg 5.1.6", "93% used"). */
  detail: string
  /** What to do, for `warn` and `fail`. */
  fix?: string
}

export const ok = (check: string, detail: string): Finding => ({ check, status: 'ok', detail })
export const warn = (check: string, detail: string, fix: string): Finding => ({
  check,
  status: 'warn',
  detail,
  fix,
})
export const fail = (check: string, detail: string, fix: string): Finding => ({
  check,
  status: 'fail',
  detail,
  fix,
})
