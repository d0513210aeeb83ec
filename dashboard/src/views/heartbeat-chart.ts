import { h, type JSX } from 'preact'
import { useEffect, useRef } from 'preact/hooks'
import type uPlot from 'uplot'
import type { Locale } from '../i18n/locales.js'
import type { Translator } from '../i18n/translator.js'
import { type I18nView, useI18n } from '../i18n/use-i18n.js'

export interface ChartProps {
  title: string
  unit: string
  /** Unix seconds, ascending. */
  t: readonly number[]
  values: ReadonlyArray<number | null>
  /** The window asked for, Unix seconds: the x axis spans it even where data is missing. */
  range: [number, number]
  /** CSS custom property holding the line colour, so charts follow the theme. */
  colorVar: string
  /** Fixed y range for measures with natural bounds (battery 0..100). */
  yRange?: [number, number]
  digits?: number
  testId: string
  /** Charts with the same key share a cursor: hovering one shows the same moment on all. */
  syncKey: string
}

// uPlot is only needed on a device page: it is loaded then, not with the first screen.
let uplotModule: Promise<typeof uPlot> | null = null
function loadUPlot(): Promise<typeof uPlot> {
  uplotModule ??= import('uplot').then((m) => m.default)
  return uplotModule
}

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback
}

/**
 * uPlot writes its time axis from templates such as `{h}{aa}` or `{M}/{D}`, in English. It asks for a
 * formatter per template: each is answered with the reader's locale's own way of writing those fields.
 */
function localDates(locale: Locale): (tpl: string) => (date: Date) => string {
  const part = (tpl: string): ((date: Date) => string) => {
    if (tpl === '') return () => ''
    const opts: Intl.DateTimeFormatOptions = {}
    if (/\{YY(YY)?\}/.test(tpl)) opts.year = 'numeric'
    if (/\{MMM/.test(tpl)) opts.month = 'short'
    else if (/\{MM?\}/.test(tpl)) opts.month = 'numeric'
    if (/\{DD?\}/.test(tpl)) opts.day = 'numeric'
    if (/\{(h|hh|H|HH)\}/.test(tpl)) {
      opts.hour = '2-digit'
      opts.minute = '2-digit'
      opts.hourCycle = 'h23'
    }
    if (/\{mm\}/.test(tpl)) opts.minute = '2-digit'
    if (/\{ss\}/.test(tpl)) opts.second = '2-digit'
    const f = new Intl.DateTimeFormat(locale, opts)
    return (date) => f.format(date)
  }
  // A template's lines (time over date) stay lines.
  return (tpl) => {
    const parts = tpl.split('\n').map(part)
    return (date) => parts.map((p) => p(date)).join('\n')
  }
}

function options(p: ChartProps, width: number, i18n: I18nView): uPlot.Options {
  const { locale } = i18n
  const axisColor = cssVar('--muted', '#667')
  const gridColor = cssVar('--grid', 'rgba(0,0,0,0.08)')
  const show = (v: number | null) =>
    v === null || v === undefined ? '–' : `${num(v, locale, p.digits)} ${p.unit}`
  const axis = {
    stroke: axisColor,
    grid: { stroke: gridColor, width: 1 },
    ticks: { stroke: gridColor, width: 1 },
  }
  return {
    width,
    height: 160,
    fmtDate: localDates(locale),
    cursor: { sync: { key: p.syncKey }, drag: { x: true, y: false } },
    legend: { live: true },
    scales: {
      x: { time: true, range: () => p.range },
      y: p.yRange ? { range: () => p.yRange as [number, number] } : { auto: true },
    },
    series: [
      // The legend is page text: its time column speaks the reader's language too.
      {
        label: i18n.t('fleet.chart.time'),
        value: (_u, v) => (v === null || v === undefined ? '–' : i18n.fmt.dateTime(v * 1000)),
      },
      {
        label: p.title,
        stroke: cssVar(p.colorVar, '#2563eb'),
        width: 1.5,
        spanGaps: false,
        // uPlot draws points by itself when they are sparse (a unit heard from a few times).
        points: { size: 5 },
        value: (_u, v) => show(v),
      },
    ],
    axes: [axis, { ...axis, size: 64, values: (_u, ticks) => ticks.map((v) => num(v, locale, p.digits)) }],
  }
}

function num(v: number, locale: Locale, digits = 0): string {
  return v.toLocaleString(locale, { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

function summary(p: ChartProps, t: Translator['t'], locale: Locale): string {
  let last: number | null = null
  let min = Number.POSITIVE_INFINITY
  let max = Number.NEGATIVE_INFINITY
  for (const v of p.values) {
    if (v === null) continue
    last = v
    if (v < min) min = v
    if (v > max) max = v
  }
  if (last === null) return t('fleet.chart.noData')
  const f = (v: number) => `${num(v, locale, p.digits)} ${p.unit}`
  return t('fleet.chart.summary', { last: f(last), min: f(min), max: f(max) })
}

/**
 * One measure over time, drawn by uPlot on a canvas. The chart is created
 * once per mount and fed with setData; the options (range, colours) are
 * rebuilt only when the window changes. It follows its container's width.
 */
export function HeartbeatChart(props: ChartProps): JSX.Element {
  const i18n = useI18n()
  const { t, locale } = i18n
  const box = useRef<HTMLDivElement>(null)
  const plot = useRef<uPlot | null>(null)
  const latest = useRef(props)
  latest.current = props
  const latestI18n = useRef(i18n)
  latestI18n.current = i18n
  const [from, to] = props.range

  useEffect(() => {
    const el = box.current
    if (!el) return
    let u: uPlot | null = null
    let ro: ResizeObserver | null = null
    let cancelled = false
    loadUPlot().then((UPlot) => {
      if (cancelled) return
      const p = latest.current
      u = new UPlot(
        options(p, el.clientWidth || 600, latestI18n.current),
        [p.t as number[], p.values as number[]],
        el,
      )
      plot.current = u
      const chart = u
      ro = new ResizeObserver(() => {
        const w = el.clientWidth
        if (w > 0 && w !== chart.width) chart.setSize({ width: w, height: 160 })
      })
      ro.observe(el)
    })
    return () => {
      cancelled = true
      ro?.disconnect()
      u?.destroy()
      plot.current = null
    }
    // Deliberate deps: rebuilt when the window or the language changes; new data goes through setData.
  }, [from, to, locale])

  useEffect(() => {
    plot.current?.setData([props.t as number[], props.values as number[]], true)
  }, [props.t, props.values])

  return h(
    'figure',
    { class: 'chart', 'data-testid': props.testId },
    h(
      'figcaption',
      null,
      h('strong', null, props.title),
      ' ',
      h('span', { class: 'muted' }, summary(props, t, locale)),
    ),
    // The canvas says nothing to a screen reader; the caption carries the numbers.
    h('div', { ref: box, class: 'chart-box', 'aria-hidden': 'true' }),
  )
}
