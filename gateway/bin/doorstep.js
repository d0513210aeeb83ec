#!/usr/bin/env node
// The `doorstep` command (root package.json "bin"). A shim: the CLI is TypeScript, run through tsx
// like the rest of the project, so nothing needs building first.
import { register } from 'tsx/esm/api'

register()
await import('./cli.ts')
