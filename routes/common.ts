/**
 * Common REST of seed 000 under `/api/v1/chat/chats/` (any valid token; staff see more than
 * clients), a chat's client for staff (`/chats/{id}/client`), and the visitor's own routes under
 * `/api/v1/chat/me` (visitor token): their profile, their support and lawyer chats each with a
 * chat token, and a fresh visitor token.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { isStaff } from "../src/auth/principal.ts";
import { OperatorStatusSchema } from "../src/protocol/inbound.ts";
import { QUEUE_WATCHERS } from "../src/server/projection.ts";
import { ChatIdParam, VisitorBody } from "./chats.ts";
import {
  type ApiEnv,
  authed,
  ClientChatSchema,
  ERRORS,
  json,
  jsonBody,
  jsonRequest,
  newApi,
  OperatorBriefSchema,
  SECURITY,
  StatsSummarySchema,
  WaitingChatSchema,
} from "../src/server/openapi.ts";
import type { RouteDeps } from "./deps.ts";

const QueueSummarySchema = z.object({
  queue: z.string(),
  length: z.number().int(),
  service_rate_per_min: z.number().nullable()
    .openapi({ description: "Chats taken per minute lately; null with too few claims" }),
  waiting: z.array(WaitingChatSchema).optional()
    .openapi({ description: "Staff only: the waiting chats in order" }),
}).openapi("QueueSummary");

const ProfileSchema = z.object({
  client_id: z.string(),
  name: z.string().nullable(),
  email: z.string().nullable(),
  verified: z.boolean().openapi({ description: "The site vouched for this visitor" }),
  attributes: z.record(z.string(), z.string()),
  chats: z.array(z.object({
    chat_id: z.string(),
    kind: z.enum(["support", "lawyer"]),
    linked_chat_id: z.string().nullable(),
    created_at: z.string().nullable(),
  })),
}).openapi("ClientProfile");

const VisitorTokenSchema = z.object({ visitor_token: z.string(), expires_at: z.string() })
  .openapi("VisitorToken");

const ProfileUpdate = VisitorBody.pick({ name: true, email: true, attributes: true })
  .openapi("ProfileUpdate");

const STAFF = ["operator", "lawyer", "admin"] as const;
const tags = ["common"];

const RosterEntrySchema = OperatorBriefSchema.extend({
  name: z.string().nullable().openapi({ description: "Display name from their token" }),
  status: OperatorStatusSchema,
  connected: z.boolean(),
  capacity: z.number().int().nullable()
    .openapi({ description: "Operators only: open chats allowed (lawyers and admins: null)" }),
  available: z.boolean()
    .openapi({ description: "An operator online, connected, with room: a transfer target" }),
}).openapi("RosterEntry");

const RosterQuery = z.object({
  role: z.enum(STAFF).optional()
    .openapi({ description: "Only this role: `operator` (transfer), `lawyer` (assign a lawyer)" }),
  available: z.enum(["true", "false"]).optional()
    .openapi({ description: "`true`: only operators online with room" }),
});

/** Mounted at `/api/v1/chat`. */
export function commonRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();
  const anyone = authed(d.auth);

  const queue = createRoute({
    method: "get",
    path: "/chats/queue",
    summary: "Queue length and service rate; staff also get the waiting list",
    tags,
    security: SECURITY,
    middleware: [anyone] as const,
    responses: { 200: json(QueueSummarySchema, "Queue status"), 401: ERRORS[401] },
  });
  app.openapi(queue, async (c) => {
    const q = await d.routing.queueDetail();
    const summary = {
      queue: q.queue,
      length: q.length,
      service_rate_per_min: q.service_rate_per_min,
    };
    const watcher = (QUEUE_WATCHERS as string[]).includes(c.get("principal").role);
    return c.json(watcher ? { ...summary, waiting: q.waiting } : summary, 200);
  });

  const operators = createRoute({
    method: "get",
    path: "/chats/operators",
    summary: "Staff only: every staff member with name, role, status, presence, load and " +
      "capacity (pickers: operators for transfers, lawyers for assign-lawyer)",
    tags,
    security: SECURITY,
    middleware: [authed(d.auth, STAFF)] as const,
    request: { query: RosterQuery },
    responses: {
      200: json(z.array(RosterEntrySchema), "Staff"),
      400: ERRORS[400],
      401: ERRORS[401],
      403: ERRORS[403],
    },
  });
  app.openapi(operators, async (c) => {
    const q = c.req.valid("query");
    const all = await d.routing.roster();
    return c.json(
      all.filter((o) =>
        (q.role === undefined || o.role === q.role) &&
        (q.available === undefined || o.available === (q.available === "true"))
      ),
      200,
    );
  });

  const stats = createRoute({
    method: "get",
    path: "/chats/stats",
    summary: "Queue length, active chats, waits and messages; staff also per-operator stats",
    tags,
    security: SECURITY,
    middleware: [anyone] as const,
    responses: { 200: json(StatsSummarySchema, "Statistics"), 401: ERRORS[401] },
  });
  app.openapi(stats, async (c) => {
    const s = await d.routing.stats();
    const summary = {
      queue_length: s.queue_length,
      active_chats: s.active_chats,
      wait_avg_s: s.wait_avg_s,
      wait_p90_s: s.wait_p90_s,
      messages_total: s.messages_total,
    };
    const staff = isStaff(c.get("principal").role);
    return c.json(staff ? { ...summary, operators: s.operators } : summary, 200);
  });

  const mine = createRoute({
    method: "get",
    path: "/me/chats",
    summary: "Visitor token: the visitor's support and lawyer chats, each with a fresh chat token",
    tags: ["client"],
    security: SECURITY,
    middleware: [anyone] as const,
    responses: {
      200: json(z.array(ClientChatSchema), "The visitor's chats"),
      401: ERRORS[401],
      403: ERRORS[403],
    },
  });
  app.openapi(mine, async (c) => c.json(await d.visitors.chats(c.get("principal")), 200));

  const profileOf = (v: Awaited<ReturnType<typeof d.visitors.profile>>) => ({
    client_id: v.id,
    name: v.profile.name ?? null,
    email: v.profile.email ?? null,
    verified: v.profile.verified,
    attributes: { ...v.profile.attributes },
    chats: v.chats.map((ch) => ({
      chat_id: ch.chatId,
      kind: ch.kind,
      linked_chat_id: ch.linkedChatId ?? null,
      created_at: new Date(ch.createdAt).toISOString(),
    })),
  });

  const me = createRoute({
    method: "get",
    path: "/me",
    summary: "Visitor token: the visitor's profile and chats",
    tags: ["client"],
    security: SECURITY,
    middleware: [anyone] as const,
    responses: { 200: json(ProfileSchema, "The profile"), 401: ERRORS[401], 403: ERRORS[403] },
  });
  app.openapi(me, async (c) => c.json(profileOf(await d.visitors.own(c.get("principal"))), 200));

  const update = createRoute({
    method: "patch",
    path: "/me",
    summary: "Visitor token: change the name, e-mail or attributes the visitor gave",
    tags: ["client"],
    security: SECURITY,
    middleware: [anyone, jsonBody] as const,
    request: { body: jsonRequest(ProfileUpdate) },
    responses: { 200: json(ProfileSchema, "The profile"), ...ERRORS },
  });
  app.openapi(update, async (c) => {
    const b = c.req.valid("json");
    const v = await d.visitors.update(c.get("principal"), {
      ...(b.name === undefined ? {} : { name: b.name }),
      ...(b.email === undefined ? {} : { email: b.email }),
      ...(b.attributes === undefined ? {} : { attributes: b.attributes }),
    });
    return c.json(profileOf(v), 200);
  });

  const renew = createRoute({
    method: "post",
    path: "/me/token",
    summary: "Visitor token: a fresh visitor token (the old one stays valid until it expires)",
    tags: ["client"],
    security: SECURITY,
    middleware: [anyone] as const,
    responses: {
      200: json(VisitorTokenSchema, "A fresh visitor token"),
      401: ERRORS[401],
      403: ERRORS[403],
    },
  });
  app.openapi(renew, async (c) => {
    const v = await d.visitors.renew(c.get("principal"));
    return c.json({ visitor_token: v.token, expires_at: new Date(v.expiresAt).toISOString() }, 200);
  });

  const clientOfChat = createRoute({
    method: "get",
    path: "/chats/{chat_id}/client",
    summary: "Staff who may see the chat: its client's profile and other chats",
    tags: ["common"],
    security: SECURITY,
    middleware: [authed(d.auth, STAFF)] as const,
    request: { params: ChatIdParam },
    responses: { 200: json(ProfileSchema, "The chat's client"), ...ERRORS },
  });
  app.openapi(clientOfChat, async (c) => {
    const { chat_id } = c.req.valid("param");
    return c.json(await d.visitors.ofChat(c.get("principal"), chat_id), 200);
  });

  return app;
}
