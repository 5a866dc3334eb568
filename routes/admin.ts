/**
 * Admin REST of seed 000, under `/api/v1/chat/admin/`: transfers, lawyers, operator status and
 * capacity, closing, the detailed queue, operators, statistics, priorities and the audit log.
 * Admin token only (others → 403, none or bad → 401); every body is validated by its zod schema,
 * which is also what the OpenAPI document shows.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { OperatorStatusSchema } from "../src/protocol/inbound.ts";
import { AppError } from "../src/errors.ts";
import {
  type ApiEnv,
  AuditRecordSchema,
  authed,
  ERRORS,
  json,
  jsonBody,
  jsonRequest,
  newApi,
  OperatorSchema,
  QueueDetailSchema,
  SECURITY,
  StatsSchema,
  WireIdSchema,
} from "../src/server/openapi.ts";
import type { RouteDeps } from "./deps.ts";

const Reason = z.string().trim().min(1).max(500);

const TransferBody = z.object({
  chat_id: WireIdSchema,
  target_operator_id: WireIdSchema.nullish(),
  to_queue: z.boolean().optional(),
  reason: Reason,
}).refine((b) => (b.target_operator_id != null) !== (b.to_queue === true), {
  message: "give exactly one of target_operator_id or to_queue: true",
  path: ["target_operator_id"],
}).openapi("TransferChatBody");

const AssignLawyerBody = z.object({
  client_id: WireIdSchema.optional(),
  chat_id: WireIdSchema.optional(),
  lawyer_id: WireIdSchema,
}).refine((b) => b.client_id !== undefined || b.chat_id !== undefined, {
  message: "client_id or chat_id is required",
  path: ["client_id"],
}).openapi("AssignLawyerBody");

const OperatorStatusBody = z.object({
  operator_id: WireIdSchema,
  status: OperatorStatusSchema.optional(),
  capacity: z.number().int().min(0).nullable().optional()
    .openapi({ description: "Open chats allowed; null restores the queue's default" }),
}).refine((b) => b.status !== undefined || b.capacity !== undefined, {
  message: "give status, capacity or both",
  path: ["status"],
}).openapi("UpdateOperatorStatusBody");

const CloseBody = z.object({
  chat_id: WireIdSchema,
  reason: z.string().max(500).optional(),
}).openapi("CloseChatBody");

const PriorityBody = z.object({
  chat_id: WireIdSchema,
  priority: z.number().int().openapi({ description: "Higher goes first" }),
}).openapi("UpdateQueuePriorityBody");

const AuditQuery = z.object({
  chat_id: z.string().min(1).optional(),
  operator_id: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
}).refine((q) => q.chat_id === undefined || q.operator_id === undefined, {
  message: "give chat_id or operator_id, not both",
  path: ["chat_id"],
});

const TransferResult = z.object({
  chat_id: z.string(),
  target_operator_id: z.string().nullable(),
  to_queue: z.boolean(),
});
const LawyerResult = z.object({
  lawyer_chat_id: z.string(),
  client_id: z.string(),
  chat_id: z.string(),
});
const CloseResult = z.object({
  chat_id: z.string(),
  status: z.literal("closed"),
  closed_at: z.string(),
});
const PriorityResult = z.object({ chat_id: z.string(), priority: z.number().int() });

const tags = ["admin"];

function post<B extends z.ZodType, R extends z.ZodType>(
  path: string,
  summary: string,
  body: B,
  result: R,
) {
  return createRoute({
    method: "post",
    path,
    summary,
    tags,
    security: SECURITY,
    middleware: [jsonBody] as const,
    request: { body: jsonRequest(body) },
    responses: { 200: json(result, "Done"), ...ERRORS },
  });
}

function get<R extends z.ZodType>(path: string, summary: string, result: R) {
  return createRoute({
    method: "get",
    path,
    summary,
    tags,
    security: SECURITY,
    responses: { 200: json(result, "OK"), 401: ERRORS[401], 403: ERRORS[403] },
  });
}

/** Mounted at `/api/v1/chat/admin`. */
export function adminRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();
  app.use("*", authed(d.auth, ["admin"]));

  const transfer = post(
    "/transfer-chat",
    "Transfer an assigned chat to a named online operator, or back to the queue (forced)",
    TransferBody,
    TransferResult,
  );
  app.openapi(transfer, async (c) => {
    const b = c.req.valid("json");
    const to = b.to_queue === true ? null : b.target_operator_id!;
    const r = await d.routing.transfer(c.get("principal"), b.chat_id, to, b.reason);
    return c.json({ chat_id: r.chatId, target_operator_id: r.to, to_queue: r.to === null }, 200);
  });

  const lawyer = post(
    "/assign-lawyer",
    "Open a client–lawyer chat linked to the client's support chat",
    AssignLawyerBody,
    LawyerResult,
  );
  app.openapi(lawyer, async (c) => {
    const b = c.req.valid("json");
    const r = await d.routing.assignLawyer(c.get("principal"), {
      ...(b.chat_id === undefined ? {} : { chatId: b.chat_id }),
      ...(b.client_id === undefined ? {} : { clientId: b.client_id }),
      lawyerId: b.lawyer_id,
    });
    return c.json(r, 200);
  });

  const status = post(
    "/update-operator-status",
    "Set an operator's status and/or capacity; answers with the operator's roster entry",
    OperatorStatusBody,
    OperatorSchema,
  );
  app.openapi(status, async (c) => {
    const b = c.req.valid("json");
    const p = c.get("principal");
    if (b.capacity !== undefined) await d.routing.setCapacity(p, b.operator_id, b.capacity);
    if (b.status !== undefined) await d.routing.setStatus(p, b.operator_id, b.status);
    const row = (await d.routing.operators()).find((o) => o.operator_id === b.operator_id);
    if (!row) throw new AppError("internal", `Operator ${b.operator_id} missing after update`);
    return c.json(row, 200);
  });

  const close = post("/close-chat", "Close any chat", CloseBody, CloseResult);
  app.openapi(close, async (c) => {
    const b = c.req.valid("json");
    const r = await d.svc.close(c.get("principal"), b.chat_id, b.reason);
    return c.json({
      chat_id: b.chat_id,
      status: r.status,
      closed_at: new Date(r.closedAt).toISOString(),
    }, 200);
  });

  const priority = post(
    "/update-queue-priority",
    "Change a chat's priority (waiting chats are reordered at once)",
    PriorityBody,
    PriorityResult,
  );
  app.openapi(priority, async (c) => {
    const b = c.req.valid("json");
    const r = await d.routing.setPriority(c.get("principal"), b.chat_id, b.priority);
    return c.json({ chat_id: r.chatId, priority: r.priority }, 200);
  });

  app.openapi(
    get("/queue", "Waiting chats in order with wait times and estimates", QueueDetailSchema),
    async (c) => c.json(await d.routing.queueDetail(), 200),
  );
  app.openapi(
    get(
      "/operators",
      "Every known operator: status, capacity, load, presence, counters",
      z.array(OperatorSchema),
    ),
    async (c) => c.json(await d.routing.operators(), 200),
  );
  app.openapi(
    get("/stats", "Global and per-operator statistics", StatsSchema),
    async (c) => c.json(await d.routing.stats(), 200),
  );

  const audit = createRoute({
    method: "get",
    path: "/audit",
    summary: "Audit records, newest first, by chat, by operator or all",
    tags,
    security: SECURITY,
    request: { query: AuditQuery },
    responses: { 200: json(z.array(AuditRecordSchema), "Newest first"), ...ERRORS },
  });
  app.openapi(audit, async (c) => {
    const q = c.req.valid("query");
    const records = await d.routing.audit({
      ...(q.chat_id === undefined ? {} : { chatId: q.chat_id }),
      ...(q.operator_id === undefined ? {} : { operatorId: q.operator_id }),
      limit: q.limit,
    });
    return c.json(records, 200);
  });

  return app;
}
