/**
 * Admin REST for webhooks under `/api/v1/chat/admin/webhooks` (admin token only; others → 403):
 * subscriptions (create, list, get, update, delete) and dead letters (list, replay, delete).
 * Every body is checked by its zod schema, which is also what the OpenAPI document shows.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Authenticator } from "../../auth/mod.ts";
import {
  type ApiEnv,
  authed,
  ERRORS,
  json,
  jsonBody,
  jsonRequest,
  SECURITY,
} from "../../server/openapi.ts";
import type { WebhookService } from "./service.ts";
import {
  CreateBody,
  CreatedSchema,
  DeadLetterListSchema,
  DeadLetterQuery,
  deadLetterWire,
  IdParam,
  ReplayedSchema,
  SubscriptionSchema,
  subscriptionWire,
  UpdateBody,
} from "./schemas.ts";

const tags = ["admin"];
const BASE = "/admin/webhooks";

/** Adds the routes to the API mounted at `/api/v1/chat`. */
export function webhookRoutes(api: OpenAPIHono<ApiEnv>, auth: Authenticator, wh: WebhookService) {
  const admin = authed(auth, ["admin"]);
  const route = <M extends "get" | "post" | "patch" | "delete", P extends string>(
    method: M,
    path: P,
    summary: string,
  ) => ({ method, path, summary, tags, security: SECURITY, middleware: [admin] });
  const denied = { 401: ERRORS[401], 403: ERRORS[403] };

  // Dead-letter routes first: `/dead-letters` must not be read as a subscription id.
  api.openapi(
    createRoute({
      ...route("get", `${BASE}/dead-letters`, "Deliveries that failed for good, newest first"),
      request: { query: DeadLetterQuery },
      responses: { 200: json(DeadLetterListSchema, "A page"), 400: ERRORS[400], ...denied },
    }),
    async (c) => {
      const q = c.req.valid("query");
      const page = await wh.store.deadLetters(q.limit, q.cursor);
      return c.json({ dead_letters: page.letters.map(deadLetterWire), cursor: page.cursor }, 200);
    },
  );
  api.openapi(
    createRoute({
      ...route(
        "post",
        `${BASE}/dead-letters/{id}/replay`,
        "Send a dead letter again (same delivery id and body, fresh tries)",
      ),
      request: { params: IdParam },
      responses: {
        202: json(ReplayedSchema, "Back in the outbox"),
        ...denied,
        404: ERRORS[404],
        409: ERRORS[409],
      },
    }),
    async (c) => {
      const d = await wh.replay(c.req.valid("param").id);
      return c.json({ id: d.id, subscription_id: d.subId, status: "queued" as const }, 202);
    },
  );
  api.openapi(
    createRoute({
      ...route("delete", `${BASE}/dead-letters/{id}`, "Forget a dead letter"),
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...denied, 404: ERRORS[404] },
    }),
    async (c) => {
      await wh.store.deleteDeadLetter(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );

  api.openapi(
    createRoute({
      ...route("post", BASE, "Register a URL for chat events; the answer shows its secret once"),
      middleware: [admin, jsonBody],
      request: { body: jsonRequest(CreateBody) },
      responses: { 201: json(CreatedSchema, "Registered"), ...ERRORS },
    }),
    async (c) => {
      const sub = await wh.subscribe(c.req.valid("json"));
      return c.json({ ...subscriptionWire(sub), secret: sub.secret }, 201);
    },
  );
  api.openapi(
    createRoute({
      ...route("get", BASE, "Every webhook subscription (secrets are not shown)"),
      responses: { 200: json(z.array(SubscriptionSchema), "Oldest first"), ...denied },
    }),
    async (c) => c.json((await wh.store.subscriptions()).map(subscriptionWire), 200),
  );
  api.openapi(
    createRoute({
      ...route("get", `${BASE}/{id}`, "One webhook subscription"),
      request: { params: IdParam },
      responses: { 200: json(SubscriptionSchema, "OK"), ...denied, 404: ERRORS[404] },
    }),
    async (c) =>
      c.json(subscriptionWire(await wh.store.subscription(c.req.valid("param").id)), 200),
  );
  api.openapi(
    createRoute({
      ...route(
        "patch",
        `${BASE}/{id}`,
        "Change URL, events, description; enable or disable; rotate the secret",
      ),
      middleware: [admin, jsonBody],
      request: { params: IdParam, body: jsonRequest(UpdateBody) },
      responses: { 200: json(CreatedSchema.partial({ secret: true }), "Updated"), ...ERRORS },
    }),
    async (c) => {
      const b = c.req.valid("json");
      const sub = await wh.update(c.req.valid("param").id, {
        ...(b.url === undefined ? {} : { url: b.url }),
        ...(b.events === undefined ? {} : { events: b.events }),
        ...(b.description === undefined ? {} : { description: b.description }),
        ...(b.enabled === undefined ? {} : { enabled: b.enabled }),
        rotateSecret: b.rotate_secret === true,
      });
      const wire = subscriptionWire(sub);
      return c.json(b.rotate_secret ? { ...wire, secret: sub.secret } : wire, 200);
    },
  );
  api.openapi(
    createRoute({
      ...route("delete", `${BASE}/{id}`, "Delete a subscription; its pending deliveries go too"),
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...denied, 404: ERRORS[404] },
    }),
    async (c) => {
      await wh.store.remove(c.req.valid("param").id);
      return c.body(null, 204);
    },
  );
}
