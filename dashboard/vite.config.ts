import { defineConfig } from 'vite'

/**
 * The dashboard is a static bundle served by the gateway at `/` (gateway/src/http/server.ts).
 * `base: './'` keeps every asset URL relative, so the bundle also works behind a path prefix.
 * During `vite dev`, API calls and the alert WebSocket are proxied to a local gateway.
 */
// Not DOORSTEP_*: the gateway refuses unknown DOORSTEP_ variables in its environment.
const gateway = process.env.DASHBOARD_GATEWAY_URL ?? 'http://127.0.0.1:8080'

export default defineConfig({
  base: './',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // Nothing is fetched from elsewhere at run time: the machines have no internet.
    assetsInlineLimit: 0,
    sourcemap: true,
  },
  server: {
    proxy: {
      '/api': { target: gateway, ws: true, changeOrigin: false },
    },
  },
})
