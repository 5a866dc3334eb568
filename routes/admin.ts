/**
 * Admin REST of seed 000, under `/api/v1/chat/admin/`: transfers, lawyers, operator status and
 * capacity, closing, the detailed queue, operators, statistics, priorities, the audit log and the
 * cluster view (nodes and partition owners).
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
import { listNodes, listOwners } from "../src/cluster/ownership.ts";
import { lifecycleOf } from "../src/ops/mod.ts";
import { QUEUE_PAGE_DEFAULT, QUEUE_PAGE_MAX } from "../src/server/routing_service.ts";
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
  reason: z.string().trim().max(500).optional()
    .openapi({ description: "Why the lawyer is needed (shown in both chats)" }),
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

const pageSize = z.coerce.number().int().min(0).max(QUEUE_PAGE_MAX).default(QUEUE_PAGE_DEFAULT);
const QueuePageQuerySchema = z.object({
  offset: z.coerce.number().int().min(0).default(0)
    .openapi({ description: "Place (0-based) of the first waiting chat listed" }),
  limit: pageSize.openapi({ description: `Waiting chats listed (at most ${QUEUE_PAGE_MAX})` }),
  active_offset: z.coerce.number().int().min(0).default(0),
  active_limit: pageSize.openapi({ description: "Taken chats listed" }),
});

const AuditQuery = z.object({
  chat_id: z.string().min(1).optional(),
  operator_id: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(100),
}).refine((q) => q.chat_id === undefined || q.operator_id === undefined, {
  message: "give chat_id or operator_id, not both",
  path: ["chat_id"],
});

const EraseClientBody = z.object({
  client_id: WireIdSchema,
  reason: Reason.openapi({ description: "Why (e.g. the request's ticket); never personal data" }),
}).openapi("EraseClientBody");

const EraseClientResult = z.object({
  client_id: z.string(),
  chats: z.number().int().openapi({ description: "Chats erased (support and lawyer)" }),
  closed: z.number().int().openapi({ description: "Of them, open chats closed first" }),
  audit_source: z.string().openapi({ description: "Id of the `client_erased` audit record" }),
  subject: z.string().openapi({ description: "HMAC of the client id kept in the audit record" }),
}).openapi("EraseClientResult");

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

const ms = z.number().openapi({ description: "ms since the epoch" });

const ClusterStatusSchema = z.object({
  mode: z.enum(["single", "cluster"]),
  node: z.object({ id: z.string(), name: z.string() }).nullable()
    .openapi({ description: "The node that answered; null on a single node" }),
  command_partitions: z.number().int().nullable()
    .openapi({ description: "Partitions of chat.commands (COMMAND_PARTITIONS); null on one node" }),
  nodes: z.array(z.object({
    node: z.string(),
    name: z.string(),
    url: z.string(),
    started_at: ms,
    at: ms.openapi({ description: "Last heartbeat (ms since the epoch)" }),
  })).openapi({ description: "Live nodes: a heartbeat within 3 × NODE_HEARTBEAT_S" }),
  partitions: z.array(z.object({
    partition: z.number().int(),
    node: z.string().openapi({ description: "Owner's node id" }),
    name: z.string(),
    epoch: z.number().int().openapi({ description: "Bumped by every new owner (fencing)" }),
    at: ms.openapi({ description: "When this owner claimed it (ms since the epoch)" }),
  })).openapi({ description: "Owner record of every partition ever claimed, by partition" }),
  local: z.object({
    owned: z.array(z.number().int()),
    pending_asks: z.number().int(),
    counters: z.record(z.string(), z.number()),
  }).nullable().openapi({ description: "The answering node's own view; null on a single node" }),
}).openapi("ClusterStatus");

type ClusterStatus = z.infer<typeof ClusterStatusSchema>;

const snake = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** Nodes and partition owners from the shared KV, and the answering node's own view. */
async function clusterStatus(d: RouteDeps): Promise<ClusterStatus> {
  const node = d.cluster;
  if (!node) {
    return {
      mode: "single",
      node: null,
      command_partitions: null,
      nodes: [],
      partitions: [],
      local: null,
    };
  }
  const [owners, records] = await Promise.all([listOwners(d.kv), listNodes(d.kv)]);
  const now = d.handlerOptions.now();
  // The registry's own rule: a node is dead after 3 missed heartbeats.
  const ttl = d.config.NODE_HEARTBEAT_S * 1000 * 3;
  const self = records.find((r) => r.node === node.nodeId);
  return {
    mode: "cluster",
    node: { id: node.nodeId, name: self?.name ?? d.config.NODE_NAME ?? Deno.hostname() },
    command_partitions: node.partitions,
    nodes: records
      .filter((r) => r.node === node.nodeId || now - r.at < ttl)
      .map((r) => ({ node: r.node, name: r.name, url: r.url, started_at: r.startedAt, at: r.at }))
      .sort((a, b) => a.name.localeCompare(b.name) || a.node.localeCompare(b.node)),
    partitions: owners
      .map((o) => ({
        partition: o.partition,
        node: o.node,
        name: o.name,
        epoch: o.epoch,
        at: o.at,
      }))
      .sort((a, b) => a.partition - b.partition),
    local: {
      owned: node.ownership.owned,
      pending_asks: node.pendingAsks,
      counters: Object.fromEntries(Object.entries(node.counters).map(([k, v]) => [snake(k), v])),
    },
  };
}

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
      ...(b.reason ? { reason: b.reason } : {}),
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

  const queue = createRoute({
    method: "get",
    path: "/queue",
    summary: "A page of the waiting chats in order (wait times, estimates) and of the taken ones",
    tags,
    security: SECURITY,
    request: { query: QueuePageQuerySchema },
    responses: { 200: json(QueueDetailSchema, "OK"), ...ERRORS },
  });
  app.openapi(queue, async (c) => {
    const q = c.req.valid("query");
    return c.json(
      await d.routing.queueDetail({
        offset: q.offset,
        limit: q.limit,
        activeOffset: q.active_offset,
        activeLimit: q.active_limit,
      }),
      200,
    );
  });
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
  app.openapi(
    get(
      "/cluster",
      "Cluster mode: live nodes, the owner of every partition, and this node's view",
      ClusterStatusSchema,
    ),
    async (c) => c.json(await clusterStatus(d), 200),
  );

  const erase = post(
    "/erase-client",
    "Erase a client: every chat (closed first if open), file, index and outbox record, and the " +
      "client's profile; leaves a `client_erased` audit record. Idempotent",
    EraseClientBody,
    EraseClientResult,
  );
  app.openapi(erase, async (c) => {
    const b = c.req.valid("json");
    const life = lifecycleOf(d.svc);
    if (!life) throw new AppError("unavailable", "The data lifecycle is not running here");
    const p = c.get("principal");
    return c.json(await life.eraser.erase(b.client_id, b.reason, { id: p.id, role: p.role }), 200);
  });

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
