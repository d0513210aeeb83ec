import {
  ChannelCreate,
  ChannelCreated,
  ChannelList,
  ChannelView,
  NotificationPage,
  NotificationQuery,
  NotifyIdParams,
  PushKey,
  PushSubscribe,
  PushSubscribed,
  PushUnsubscribed,
  RuleCreate,
  RuleList,
  RuleView,
} from '@doorstep/proto'
import type { FastifyInstance } from 'fastify'
import type { ZodTypeProvider } from 'fastify-type-provider-zod'
import { type AuditLog, actorOf } from '../audit/index.js'
import { ROLES } from '../auth/index.js'
import { DoorstepError } from '../errors.js'
import type { Notifier } from './notifier.js'

/**
 * Notification channels and rules (admins; every change audited, a webhook's secret in the creating
 * answer only), each rule's notifications and the dead letters (admins), and staff's browsers'
 * Web Push subscriptions.
 */
export async function notifyRoutes(
  app: FastifyInstance,
  opts: { notifier: Notifier; audit: AuditLog },
): Promise<void> {
  const { notifier, audit } = opts
  const api = app.withTypeProvider<ZodTypeProvider>()

  api.get(
    '/api/v1/notify/channels',
    {
      config: { access: ROLES.admin },
      schema: { summary: 'Notification channels (never a webhook secret)', response: { 200: ChannelList } },
    },
    async () => ({ channels: notifier.channels() }),
  )

  api.post(
    '/api/v1/notify/channels',
    {
      config: { access: ROLES.admin },
      schema: {
        summary: "Add a channel; a webhook's signing secret is in this answer once, never again",
        body: ChannelCreate,
        response: { 201: ChannelCreated },
      },
    },
    async (req, reply) => {
      const created = notifier.createChannel(req.body)
      await audit.record({
        actor: actorOf(req),
        action: 'notify.channel.create',
        subject: `notify-channel:${created.id}`,
        details: { type: created.type, name: created.name, url: created.url, to: created.to },
      })
      reply.header('cache-control', 'no-store')
      return reply.status(201).send(created)
    },
  )

  api.delete(
    '/api/v1/notify/channels/:id',
    {
      config: {
        access: ROLES.admin,
        errors: ['DOORSTEP_ERR_NOT_FOUND', 'DOORSTEP_ERR_NOTIFY_CHANNEL_IN_USE'],
      },
      schema: {
        summary: 'Remove a channel no rule uses',
        params: NotifyIdParams,
        response: { 200: ChannelView },
      },
    },
    async (req) => {
      const gone = notifier.deleteChannel(req.params.id)
      await audit.record({
        actor: actorOf(req),
        action: 'notify.channel.delete',
        subject: `notify-channel:${gone.id}`,
        details: { type: gone.type, name: gone.name },
      })
      return gone
    },
  )

  api.get(
    '/api/v1/notify/rules',
    {
      config: { access: ROLES.admin },
      schema: { summary: 'Notification rules', response: { 200: RuleList } },
    },
    async () => ({ rules: notifier.rules() }),
  )

  api.post(
    '/api/v1/notify/rules',
    {
      config: { access: ROLES.admin, errors: ['DOORSTEP_ERR_NOTIFY_CHANNEL_UNKNOWN'] },
      schema: {
        summary:
          'Add a rule: a kind, a district or all, a severity, quiet hours, a repeat window, its channels',
        body: RuleCreate,
        response: { 201: RuleView },
      },
    },
    async (req, reply) => {
      const rule = notifier.createRule(req.body)
      await audit.record({
        actor: actorOf(req),
        action: 'notify.rule.create',
        subject: `notify-rule:${rule.id}`,
        details: { ...rule },
      })
      return reply.status(201).send(rule)
    },
  )

  api.delete(
    '/api/v1/notify/rules/:id',
    {
      config: { access: ROLES.admin, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: 'Remove a rule; its notifications stay on record',
        params: NotifyIdParams,
        response: { 200: RuleView },
      },
    },
    async (req) => {
      const rule = notifier.deleteRule(req.params.id)
      await audit.record({
        actor: actorOf(req),
        action: 'notify.rule.delete',
        subject: `notify-rule:${rule.id}`,
        details: { name: rule.name, kind: rule.kind },
      })
      return rule
    },
  )

  api.get(
    '/api/v1/notify/rules/:id/notifications',
    {
      config: { access: ROLES.admin, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: "The rule's notifications, newest first: sent, being retried, failed and suppressed",
        params: NotifyIdParams,
        querystring: NotificationQuery,
        response: { 200: NotificationPage },
      },
    },
    async (req) => ({ notifications: notifier.notifications(req.params.id, req.query.limit) }),
  )

  api.get(
    '/api/v1/notify/dead-letters',
    {
      config: { access: ROLES.admin },
      schema: {
        summary: 'Notifications whose last delivery try failed, newest first, with the last error',
        querystring: NotificationQuery,
        response: { 200: NotificationPage },
      },
    },
    async (req) => ({ notifications: notifier.deadLetters(req.query.limit) }),
  )

  api.get(
    '/api/v1/notify/push/key',
    {
      config: { access: ROLES.staff },
      schema: {
        summary: "The gateway's VAPID public key, for a browser to subscribe with",
        response: { 200: PushKey },
      },
    },
    async () => ({ publicKey: notifier.pushPublicKey }),
  )

  api.post(
    '/api/v1/notify/push/subscriptions',
    {
      config: { access: ROLES.staff, errors: ['DOORSTEP_ERR_PUSH_ENDPOINT'] },
      schema: {
        summary: "Subscribe this browser (its PushSubscription) to the push channels' notifications",
        body: PushSubscribe,
        response: { 201: PushSubscribed },
      },
    },
    async (req, reply) => {
      const p = req.principal
      if (!p) throw new DoorstepError('DOORSTEP_ERR_UNAUTHENTICATED')
      return reply.status(201).send(notifier.subscribe(p.tokenId, req.body))
    },
  )

  api.delete(
    '/api/v1/notify/push/subscriptions/:id',
    {
      config: { access: ROLES.staff, errors: ['DOORSTEP_ERR_NOT_FOUND'] },
      schema: {
        summary: 'Unsubscribe one of your browsers',
        params: NotifyIdParams,
        response: { 200: PushUnsubscribed },
      },
    },
    async (req) => {
      const p = req.principal
      if (!p) throw new DoorstepError('DOORSTEP_ERR_UNAUTHENTICATED')
      notifier.unsubscribe(req.params.id, p.tokenId)
      return { id: req.params.id }
    },
  )
}
