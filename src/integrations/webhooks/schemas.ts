/** Wire shapes of the webhook admin REST (zod, so the OpenAPI document shows them). */
import { z } from "@hono/zod-openapi";
import { WEBHOOK_EVENTS } from "./events.ts";
import type { DeadLetter, Subscription } from "./store.ts";

/** http or https only, no user:password (it would end up in logs and listings). */
const UrlSchema = z.string().trim().max(2048).superRefine((v, ctx) => {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return void ctx.addIssue({ code: "custom", message: `not a URL: ${v}` });
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    ctx.addIssue({ code: "custom", message: `must be an http or https URL, got ${u.protocol}` });
  } else if (u.username || u.password) {
    ctx.addIssue({ code: "custom", message: "must not carry a user name or password" });
  }
}).openapi({ description: "Where deliveries are POSTed (http or https)", format: "uri" });

const Events = z.array(z.enum(WEBHOOK_EVENTS)).min(1).max(WEBHOOK_EVENTS.length * 2)
  .openapi({ description: "Event types to deliver" });
const Description = z.string().trim().max(500);

export const CreateBody = z.object({
  url: UrlSchema,
  events: Events,
  secret: z.string().min(16).max(256).optional()
    .openapi({ description: "HMAC key; generated when absent" }),
  description: Description.optional(),
  enabled: z.boolean().optional().openapi({ description: "Default true" }),
}).openapi("CreateWebhookBody");

export const UpdateBody = z.object({
  url: UrlSchema.optional(),
  events: Events.optional(),
  description: Description.nullable().optional(),
  enabled: z.boolean().optional(),
  rotate_secret: z.boolean().optional()
    .openapi({ description: "Generate a new secret (shown in this answer only)" }),
}).refine((b) => Object.values(b).some((v) => v !== undefined), {
  message: "give at least one of url, events, description, enabled, rotate_secret",
  path: ["enabled"],
}).openapi("UpdateWebhookBody");

export const IdParam = z.object({ id: z.string().min(1).max(128) });

export const DeadLetterQuery = z.object({
  limit: z.coerce.number().int().min(1).max(1000).default(100),
  cursor: z.string().min(1).optional().openapi({ description: "From the previous page" }),
});

const iso = (ms: number) => new Date(ms).toISOString();
const when = z.string().openapi({ description: "ISO-8601 time" });

export const SubscriptionSchema = z.object({
  id: z.string(),
  url: z.string(),
  events: z.array(z.enum(WEBHOOK_EVENTS)),
  enabled: z.boolean(),
  description: z.string().nullable(),
  disabled_reason: z.string().nullable()
    .openapi({ description: "Why it is off (an admin, or the receiver answered 410)" }),
  created_at: when,
  updated_at: when,
}).openapi("WebhookSubscription");

export const CreatedSchema = SubscriptionSchema.extend({
  secret: z.string().openapi({ description: "HMAC-SHA256 key; shown only here" }),
}).openapi("WebhookSubscriptionWithSecret");

export const DeadLetterSchema = z.object({
  id: z.string().openapi({ description: "The delivery id (`X-Chat-Delivery`)" }),
  subscription_id: z.string(),
  type: z.enum(WEBHOOK_EVENTS),
  chat_id: z.string(),
  seq: z.number().int(),
  reason: z.enum(["max_attempts", "gone", "subscription_disabled", "outbox_full"]),
  attempts: z.number().int(),
  last_status: z.number().int().nullable(),
  last_error: z.string().nullable(),
  created_at: when,
  dead_at: when,
  expires_at: when,
  payload: z.record(z.string(), z.unknown()).openapi({ description: "The body that was sent" }),
}).openapi("WebhookDeadLetter");

export const DeadLetterListSchema = z.object({
  dead_letters: z.array(DeadLetterSchema),
  cursor: z.string().nullable().openapi({ description: "Pass as `cursor` for the next page" }),
}).openapi("WebhookDeadLetterPage");

export const ReplayedSchema = z.object({
  id: z.string(),
  subscription_id: z.string(),
  status: z.literal("queued"),
}).openapi("WebhookReplayed");

export function subscriptionWire(s: Subscription): z.infer<typeof SubscriptionSchema> {
  return {
    id: s.id,
    url: s.url,
    events: [...s.events],
    enabled: s.enabled,
    description: s.description,
    disabled_reason: s.disabledReason,
    created_at: iso(s.createdAt),
    updated_at: iso(s.updatedAt),
  };
}

export function deadLetterWire(l: DeadLetter): z.infer<typeof DeadLetterSchema> {
  const d = l.delivery;
  return {
    id: d.id,
    subscription_id: d.subId,
    type: d.type,
    chat_id: d.chatId,
    seq: d.seq,
    reason: l.reason,
    attempts: d.attempts,
    last_status: d.lastStatus,
    last_error: d.lastError,
    created_at: iso(d.createdAt),
    dead_at: iso(l.deadAt),
    expires_at: iso(l.expiresAt),
    payload: JSON.parse(d.body),
  };
}
