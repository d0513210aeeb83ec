import type {
  ChannelCreate,
  ChannelCreated,
  ChannelView,
  NotificationView,
  PushSubscribe,
  RuleCreate,
  RuleView,
} from '@doorstep/proto'
import type { HttpClient } from './http.js'

/** The notification routes: channels, rules and their record (admins), and this browser's push subscription (staff). */
export const notifyApi = {
  channels(http: HttpClient, signal?: AbortSignal): Promise<{ channels: ChannelView[] }> {
    return http.get('api/v1/notify/channels', undefined, signal)
  },

  /** A webhook's signing secret is in this answer only. */
  addChannel(http: HttpClient, body: ChannelCreate): Promise<ChannelCreated> {
    return http.post('api/v1/notify/channels', body)
  },

  removeChannel(http: HttpClient, id: string): Promise<ChannelView> {
    return http.delete(`api/v1/notify/channels/${encodeURIComponent(id)}`)
  },

  rules(http: HttpClient, signal?: AbortSignal): Promise<{ rules: RuleView[] }> {
    return http.get('api/v1/notify/rules', undefined, signal)
  },

  addRule(http: HttpClient, body: RuleCreate): Promise<RuleView> {
    return http.post('api/v1/notify/rules', body)
  },

  removeRule(http: HttpClient, id: string): Promise<RuleView> {
    return http.delete(`api/v1/notify/rules/${encodeURIComponent(id)}`)
  },

  notifications(
    http: HttpClient,
    ruleId: string,
    signal?: AbortSignal,
  ): Promise<{ notifications: NotificationView[] }> {
    return http.get(`api/v1/notify/rules/${encodeURIComponent(ruleId)}/notifications`, { limit: 50 }, signal)
  },

  deadLetters(http: HttpClient, signal?: AbortSignal): Promise<{ notifications: NotificationView[] }> {
    return http.get('api/v1/notify/dead-letters', { limit: 50 }, signal)
  },

  pushKey(http: HttpClient, signal?: AbortSignal): Promise<{ publicKey: string }> {
    return http.get('api/v1/notify/push/key', undefined, signal)
  },

  subscribe(http: HttpClient, sub: PushSubscribe): Promise<{ id: string; createdAt: number }> {
    return http.post('api/v1/notify/push/subscriptions', sub)
  },

  unsubscribe(http: HttpClient, id: string): Promise<{ id: string }> {
    return http.delete(`api/v1/notify/push/subscriptions/${encodeURIComponent(id)}`)
  },
}
