/** `doorstep doctor`: checks a machine for running the gateway and says what to fix. */
export type { Finding } from './check.js'
export { runDoctorCli } from './doctor-cli.js'
export { machineProbes, type Probes } from './probes.js'
