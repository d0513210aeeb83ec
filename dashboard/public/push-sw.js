/*
 * Shows the gateway's Web Push notifications. The push's data is the notification's JSON
 * (NotificationPayload in proto): its message is shown as the gateway worded it; a click opens the
 * dashboard (the unit's page when there is one).
 */
self.addEventListener('push', (event) => {
  let data = null
  try {
    data = event.data ? event.data.json() : null
  } catch {
    data = null
  }
  const title = data?.rule ? `Doorstep: ${data.rule}` : 'Doorstep'
  const body = data?.message ?? ''
  const target = data?.deviceId ? `./#/device/${encodeURIComponent(data.deviceId)}` : './#/'
  event.waitUntil(
    self.registration.showNotification(title, {
      body,
      tag: data?.id,
      data: { url: new URL(target, self.registration.scope).href },
    }),
  )
})

self.addEventListener('notificationclick', (event) => {
  event.notification.close()
  const url = event.notification.data?.url ?? self.registration.scope
  event.waitUntil(self.clients.openWindow(url))
})
