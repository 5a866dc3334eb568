/**
 * Common REST of seed 000 under `/api/v1/chat/chats/` (any valid token; staff see more than
 * clients), and `/api/v1/chat/me/chats`: a client's support and lawyer chats, each with a token.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { isStaff } from "../src/auth/principal.ts";
import {
  type ApiEnv,
  authed,
  ClientChatSchema,
  ERRORS,
  json,
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

const STAFF = ["operator", "lawyer", "admin"] as const;
const tags = ["common"];

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
    return c.json(
      isStaff(c.get("principal").role) ? { ...summary, waiting: q.waiting } : summary,
      200,
    );
  });

  const operators = createRoute({
    method: "get",
    path: "/chats/operators",
    summary: "Staff only: operators with role, status and open chats",
    tags,
    security: SECURITY,
    middleware: [authed(d.auth, STAFF)] as const,
    responses: {
      200: json(z.array(OperatorBriefSchema), "Operators"),
      401: ERRORS[401],
      403: ERRORS[403],
    },
  });
  app.openapi(operators, async (c) => {
    const all = await d.routing.operators();
    return c.json(
      all.map((o) => ({
        operator_id: o.operator_id,
        role: o.role,
        status: o.status,
        open_chats: o.open_chats,
      })),
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
    summary: "Client token: the client's support and lawyer chats, each with a fresh token",
    tags: ["client"],
    security: SECURITY,
    middleware: [anyone] as const,
    responses: {
      200: json(z.array(ClientChatSchema), "The client's chats"),
      401: ERRORS[401],
      403: ERRORS[403],
    },
  });
  app.openapi(mine, async (c) => {
    const p = c.get("principal");
    const chats = await d.routing.clientChats(p, (chatId) => d.auth.issueClientToken(chatId, p.id));
    return c.json(chats, 200);
  });

  return app;
}
