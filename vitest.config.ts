import { defineConfig } from 'vitest/config'

/**
 * Two groups, run one after the other. Most files run two at a time (the machines have two cores, and
 * most files wait on sockets, influxd and ffmpeg more than they compute). Files that drive Chromium
 * (`*.browser.test.ts`) run afterwards, one at a time and alone: sharing the cores with other files,
 * they lost clicks and saw requests aborted under load.
 */
const BROWSER = 'test/**/*.browser.test.ts'

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: {
          name: 'node',
          include: ['test/**/*.test.ts'],
          exclude: [BROWSER],
          maxWorkers: 2,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'browser',
          include: [BROWSER],
          maxWorkers: 1,
          provide: { browserGroup: true },
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
})
