import {
  ConfigChangeResult,
  ConfigDistrictParams,
  ConfigOverview,
  ConfigQuery,
  DeviceParams,
  UnitConfigPatch,
  UnitConfigView,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import type { AuditLog } from '../audit/index.js'
import { actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import type { ConfigTarget, UnitConfigs } from './unit-configs.js'

/** Remote configuration is a fleet matter: admin and ops set it and watch it land. */
export async function unitConfigRoutes(
  app: FastifyInstance,
  opts: { configs: UnitConfigs; audit: Pick<AuditLog, 'record'> },
): Promise<void> {
  const { configs, audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  const change = async (target: ConfigTarget, subject: string, patch: UnitConfigPatch, actor: string) => {
    const result = await configs.change(target, patch, actor)
    await audit.record({
      actor,
      action: 'config.set',
      subject,
      details: { patch, units: result.changed },
    })
    return result
  }

  api.put(
    '/api/v1/config/devices/:id',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "Change one unit's desired configuration (the fields given)",
        params: DeviceParams,
        body: UnitConfigPatch,
        response: { 200: ConfigChangeResult },
      },
    },
    async (req) =>
      change({ kind: 'device', deviceId: req.params.id }, `device:${req.params.id}`, req.body, actorOf(req)),
  )

  api.put(
    '/api/v1/config/districts/:district',
    {
      config: { access: ROLES.fleet },
      schema: {
        summary: 'Change the desired configuration of every unit of a district (the fields given)',
        params: ConfigDistrictParams,
        body: UnitConfigPatch,
        response: { 200: ConfigChangeResult },
      },
    },
    async (req) =>
      change(
        { kind: 'district', district: req.params.district },
        `district:${req.params.district}`,
        req.body,
        actorOf(req),
      ),
  )

  api.put(
    '/api/v1/config/fleet',
    {
      config: { access: ROLES.fleet },
      schema: {
        summary: 'Change the desired configuration of every unit (the fields given)',
        body: UnitConfigPatch,
        response: { 200: ConfigChangeResult },
      },
    },
    async (req) => change({ kind: 'fleet' }, 'fleet', req.body, actorOf(req)),
  )

  api.get(
    '/api/v1/config/devices/:id',
    {
      config: { access: ROLES.fleet, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "One unit's desired and reported configuration",
        params: DeviceParams,
        response: { 200: UnitConfigView },
      },
    },
    async (req) => configs.view(req.params.id),
  )

  api.get(
    '/api/v1/config',
    {
      config: { access: ROLES.fleet },
      schema: {
        summary: 'Desired against reported configuration, per unit and per district',
        querystring: ConfigQuery,
        response: { 200: ConfigOverview },
      },
    },
    async (req) => configs.overview(req.query),
  )
}
