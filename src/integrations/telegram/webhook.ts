/**
 * Webhook mode: Telegram POSTs each update to `/api/v1/chat/telegram/webhook` with the secret set
 * by `setWebhook` in `X-Telegram-Bot-Api-Secret-Token`. The answer is 200 only once the update is
 * stored (or known as a duplicate), so Telegram sends again whatever we could not store; an
 * update that can never be stored is dead-lettered and answered 200, so it does not block.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { AppError } from "../../errors.ts";
import type { Logger } from "../../log.ts";
import {
  type ApiEnv,
  ERRORS,
  ErrorSchema,
  json,
  jsonBody,
  jsonRequest,
} from "../../server/openapi.ts";
import { deadLetter, type TgKeys } from "./_kv.ts";
import { describe, isRetryable } from "./_retry.ts";
import { TgUpdateSchema } from "./_schema.ts";
import type { Inbound } from "./inbound.ts";

export const SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token";
export const WEBHOOK_PATH = "/telegram/webhook";

export interface WebhookOptions {
  readonly inbound: Pick<Inbound, "handle">;
  readonly secret: string;
  readonly kv: Deno.Kv;
  readonly keys: TgKeys;
  readonly log: Logger;
}

const WebhookResult = z.object({
  ok: z.literal(true),
  status: z.enum(["stored", "duplicate", "ignored", "dead_lettered"]),
}).openapi("TelegramWebhookResult");

/** Adds the webhook route (mounted under `/api/v1/chat`). */
export function webhookRoutes(o: WebhookOptions): (api: OpenAPIHono<ApiEnv>) => void {
  return (api) => {
    api.openAPIRegistry.registerComponent("securitySchemes", "telegramSecret", {
      type: "apiKey",
      in: "header",
      name: SECRET_HEADER,
    });
    const route = createRoute({
      method: "post",
      path: WEBHOOK_PATH,
      summary: "Telegram webhook: one Bot API update (TELEGRAM_MODE=webhook)",
      tags: ["telegram"],
      security: [{ telegramSecret: [] }],
      // The secret is checked before the body is even parsed.
      middleware: [secretCheck(o.secret), jsonBody] as const,
      request: { body: jsonRequest(TgUpdateSchema) },
      responses: {
        200: json(WebhookResult, "Stored, a duplicate, or not a message (acknowledged)"),
        400: ERRORS[400],
        401: ERRORS[401],
        503: json(ErrorSchema, "Not stored now (`overloaded`, `unavailable`): Telegram retries"),
      },
    });
    api.openapi(route, async (c) => {
      const update = c.req.valid("json");
      try {
        const r = await o.inbound.handle(update);
        return c.json({ ok: true as const, status: r.status }, 200);
      } catch (err) {
        if (isRetryable(err)) throw err; // a non-2xx answer: Telegram sends the update again
        o.log.error("telegram update not stored; dead-lettered", {
          update_id: update.update_id,
          error: describe(err),
        });
        const key = o.keys.dead("in", update.update_id);
        await deadLetter(o.kv, key, { update, error: describe(err) });
        return c.json({ ok: true as const, status: "dead_lettered" as const }, 200);
      }
    });
  };
}

/** 401 `unauthorized` unless the request carries the configured secret. */
function secretCheck(secret: string): MiddlewareHandler {
  return async (c, next) => {
    if (!sameSecret(c.req.header(SECRET_HEADER) ?? "", secret)) {
      throw new AppError("unauthorized", `Missing or wrong ${SECRET_HEADER}`);
    }
    await next();
  };
}

/** Compares in time independent of where the strings differ. */
function sameSecret(given: string, expected: string): boolean {
  const a = new TextEncoder().encode(given);
  const b = new TextEncoder().encode(expected);
  let diff = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) diff |= (a[i] ?? 0) ^ b[i];
  return diff === 0;
}
