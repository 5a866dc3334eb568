/**
 * Outbound webhooks: admins register URLs for chat events; each event becomes a signed delivery
 * per matching subscription, stored in the KV outbox before it is tried, retried with backoff,
 * and kept as a dead letter when it fails for good. Offline default: on, with no subscription
 * nothing is sent anywhere. See docs/INTEGRATIONS.md#webhooks.
 */
import { SESSION } from "../../../actors/_common.ts";
import type { SessionEvent } from "../../../actors/_session_types.ts";
import type { ChatService } from "../../server/chat_service.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { webhookRoutes } from "./routes.ts";
import { WebhookService } from "./service.ts";

export { verifySignature } from "./sign.ts";
export type { WebhookPayload } from "./events.ts";

/** The running engine of each server, by its chat service (tests and diagnostics). */
const running = new WeakMap<ChatService, WebhookService>();

export function webhooksOf(svc: ChatService): WebhookService | undefined {
  return running.get(svc);
}

export async function startWebhooks(ctx: IntegrationContext): Promise<Integration | null> {
  const c = ctx.config;
  if (c.WEBHOOKS === "off") return null;
  const wh = new WebhookService(
    ctx.kv,
    ctx.clock,
    ctx.log,
    {
      maxAttempts: c.WEBHOOK_MAX_ATTEMPTS,
      backoffMs: c.WEBHOOK_BACKOFF_MS,
      backoffMaxMs: c.WEBHOOK_BACKOFF_MAX_MS,
      timeoutMs: c.WEBHOOK_TIMEOUT_MS,
      concurrency: c.WEBHOOK_CONCURRENCY,
      maxPending: c.WEBHOOK_MAX_PENDING,
      deadLetterTtlMs: c.WEBHOOK_DEAD_LETTER_TTL_H * 3_600_000,
    },
    (chatId, after, limit) =>
      ctx.svc.system.readEvents<SessionEvent>(SESSION, chatId, after, limit),
  );
  // Once per stored event, on the node that owns the chat: one delivery per subscription (what
  // a crash cuts off is caught up from the chat's log, src/integrations/feed.ts).
  const unlisten = ctx.svc.onChatEvent((n) => wh.publish(n));
  let deadLetters = 0;
  const unobserve = wh.onAttempt((r) => {
    if (r.result === "dead") deadLetters++;
  });
  await wh.start();
  running.set(ctx.svc, wh);
  return {
    name: "webhooks",
    routes: (api) => webhookRoutes(api, ctx.auth, wh),
    metrics: async () => [
      {
        name: "chat_webhook_outbox_pending",
        type: "gauge",
        help: "Webhook deliveries in the outbox (the shared KV's count)",
        value: await wh.store.pendingCount(),
      },
      {
        name: "chat_webhook_dead_letters_total",
        type: "counter",
        help: "Webhook deliveries this node gave up on (kept as dead letters)",
        value: deadLetters,
      },
      {
        name: "chat_webhook_caught_up_events_total",
        type: "counter",
        help: "Chat events read back from logs by the webhook catch-up (their notice was lost)",
        value: wh.catchUp.caughtUp,
      },
      {
        name: "chat_webhook_intake_left_total",
        type: "counter",
        help: "Chat events the webhook intake had no room for (left to the catch-up)",
        value: wh.intakeLeft,
      },
    ],
    async stop() {
      unlisten();
      unobserve();
      running.delete(ctx.svc);
      await wh.stop();
    },
  };
}
