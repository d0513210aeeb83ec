import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time on the two-core machines (vitest's default here is one): most files wait on
    // influxd, ffmpeg, Chromium or a child process, so the pair overlaps instead of contending, and
    // the suite takes about 180 s instead of about 280 s. Tests that depend on timing wait for
    // signals, not for sleeps, so they hold under the shared cores.
    maxWorkers: 2,
  },
})
