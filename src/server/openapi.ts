/**
 * OpenAPI plumbing shared by the REST route modules: an `OpenAPIHono` whose validation failures
 * become the project's coded errors, a JSON body reader (bad JSON → `bad_json`), token checks,
 * and the schema fragments every route's documentation uses. The document itself is assembled in
 * `routes/openapi.ts`.
 */
import { OpenAPIHono, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import type { Authenticator } from "../auth/mod.ts";
import type { Principal, Role } from "../auth/principal.ts";
import { AppError, ERROR_CODES, type ErrorCode } from "../errors.ts";
import { OperatorStatusSchema } from "../protocol/inbound.ts";
import { jsonTooDeep, MAX_JSON_DEPTH } from "../protocol/json_depth.ts";
import { tokenOf } from "./http.ts";

/** Routes behind a token find the caller under `c.get("principal")`. */
export type ApiEnv = { Variables: { principal: Principal } };

const TARGETS: Record<string, string> = { json: "body", query: "query", param: "path" };

/** Turns zod issues into the project's `invalid_payload` error (thrown to `onError`). */
export function invalidPayload(where: string, error: z.ZodError): AppError {
  const issues = error.issues.map((i) => `${i.path.join(".") || where}: ${i.message}`);
  return new AppError("invalid_payload", `Invalid ${where}: ${issues.join("; ")}`);
}

/** An `OpenAPIHono` whose request validation fails with the coded `invalid_payload` body. */
export function newApi(): OpenAPIHono<ApiEnv> {
  return new OpenAPIHono<ApiEnv>({
    defaultHook: (result) => {
      if (!result.success) {
        throw invalidPayload(TARGETS[result.target] ?? result.target, result.error);
      }
    },
  });
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Route middleware for JSON bodies: reads the body whatever its content type (legacy clients do
 * not always send one), an empty body counts as `{}`, and text that is not JSON is `bad_json`.
 * The validator that follows then sees a well-formed `application/json` request.
 */
export const jsonBody: MiddlewareHandler = async (c, next) => {
  let text: string;
  try {
    // Invalid UTF-8 is refused, not silently replaced with U+FFFD.
    text = strictUtf8.decode(await c.req.arrayBuffer());
  } catch (err) {
    if (err instanceof TypeError && /encod|decod/i.test(err.message)) {
      throw new AppError("bad_json", "Request body is not valid UTF-8");
    }
    throw err;
  }
  let body: unknown = {};
  if (jsonTooDeep(text)) {
    throw new AppError(
      "invalid_payload",
      `Request body nests deeper than ${MAX_JSON_DEPTH} levels`,
    );
  }
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError("bad_json", "Request body is not valid JSON");
    }
  }
  const normalized = JSON.stringify(body);
  const headers = new Headers(c.req.raw.headers);
  headers.set("content-type", "application/json");
  headers.delete("content-length");
  c.req.raw = new Request(c.req.url, { method: c.req.method, headers, body: normalized });
  c.req.bodyCache = {};
  await next();
};

/**
 * Middleware that authenticates the bearer or `?token=` token (missing or bad → 401
 * `unauthorized`) and, when `roles` is given, refuses other roles with 403 `forbidden`.
 */
export function authed(auth: Authenticator, roles?: readonly Role[]): MiddlewareHandler<ApiEnv> {
  return async (c, next) => {
    const principal = await auth.authenticate(tokenOf(c));
    if (roles && !roles.includes(principal.role)) {
      throw new AppError("forbidden", `Role ${principal.role} may not use this endpoint`);
    }
    c.set("principal", principal);
    await next();
  };
}

// ---------------------------------------------------------------------------------------------
// Schema fragments

/**
 * An id as clients send it: a string or (legacy clients) an integer; a string after parsing.
 * (The protocol's `WireId`, rebuilt here: schemas made before `@hono/zod-openapi` loaded lack
 * `.openapi()`.)
 */
export const WireIdSchema = z
  .union([z.string().min(1).max(128), z.number().int()], {
    error: "expected a non-empty string (max 128 chars) or an integer",
  })
  .transform(String)
  .openapi({ type: "string", description: "String id; legacy integer ids are accepted" });

export const ErrorSchema = z.object({
  error: z.object({
    code: z.enum(Object.keys(ERROR_CODES) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    retryable: z.boolean(),
  }),
}).openapi("Error");

/** A JSON response entry for `responses`. */
export function json<T extends z.ZodType>(schema: T, description: string) {
  return { description, content: { "application/json": { schema } } };
}

/** A required JSON request body for `request`. */
export function jsonRequest<T extends z.ZodType>(schema: T) {
  return { required: true as const, content: { "application/json": { schema } } };
}

const err = (codes: string) => json(ErrorSchema, codes);

/** Error responses shared by the routes (all carry the coded error body). */
export const ERRORS = {
  400: err("`invalid_payload` (schema) or `bad_json`"),
  401: err("`unauthorized`: token missing, forged or expired"),
  403: err("`forbidden`: the token's role may not do this"),
  404: err("`not_found`"),
  409: err("The chat or operator is not in a state that allows it (see the error code)"),
} as const;

/** Both ways to present a token. */
/** Query of the streaming endpoints (WebSocket and SSE): token, chat and resume point. */
export const StreamQuery = z.object({
  token: z.string().optional(),
  chat_id: z.string().optional(),
  last_seq: z.coerce.number().int().min(0).optional(),
});

export const SECURITY: Record<string, string[]>[] = [{ bearerAuth: [] }, { tokenQuery: [] }];

export const SECURITY_SCHEMES = {
  bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT or client token" },
  tokenQuery: { type: "apiKey", in: "query", name: "token" },
} as const;

// ---------------------------------------------------------------------------------------------
// Response schemas (the shapes `RoutingService` returns)

const when = z.string().nullable().openapi({ description: "ISO-8601 time, or null" });
const seconds = z.number().nullable();
const StaffRoleSchema = z.enum(["operator", "lawyer", "admin"]);

export const WaitingChatSchema = z.object({
  chat_id: z.string(),
  client_id: z.string(),
  priority: z.number().int(),
  position: z.number().int(),
  waiting_since: when,
  waited_s: z.number(),
  estimated_wait_s: seconds,
  requeued: z.boolean(),
  offered_to: z.string().nullable(),
  offer_expires_at: when,
}).openapi("WaitingChat");

export const QueueDetailSchema = z.object({
  queue: z.string(),
  mode: z.enum(["manual", "auto"]),
  length: z.number().int().openapi({ description: "Chats waiting in all" }),
  offset: z.number().int().openapi({ description: "Place (0-based) of the first listed chat" }),
  limit: z.number().int(),
  service_rate_per_min: seconds,
  waiting: z.array(WaitingChatSchema)
    .openapi({ description: "At most `limit` waiting chats in order from `offset`" }),
  active_total: z.number().int().openapi({ description: "Chats assigned in all" }),
  active_offset: z.number().int(),
  active_limit: z.number().int(),
  active: z.array(z.object({
    chat_id: z.string(),
    client_id: z.string(),
    operator_id: z.string(),
    priority: z.number().int(),
    assigned_at: when,
  })),
}).openapi("QueueDetail");

export const OperatorStatsSchema = z.object({
  chats_assigned: z.number().int(),
  chats_handled: z.number().int(),
  first_response_avg_s: seconds,
  resolution_avg_s: seconds,
  rating_avg: z.number().nullable(),
  ratings: z.number().int(),
}).openapi("OperatorStats");

export const OperatorBriefSchema = z.object({
  operator_id: z.string(),
  role: StaffRoleSchema,
  status: OperatorStatusSchema,
  open_chats: z.number().int(),
}).openapi("OperatorBrief");

export const OperatorSchema = OperatorBriefSchema.extend({
  connected: z.boolean(),
  connections: z.number().int(),
  presence_lost_at: when,
  capacity: z.number().int(),
  stats: OperatorStatsSchema,
}).openapi("Operator");

const StatsCore = z.object({
  queue_length: z.number().int(),
  active_chats: z.number().int(),
  wait_avg_s: seconds,
  wait_p90_s: seconds,
  messages_total: z.number().int(),
});

export const StatsSummarySchema = StatsCore.extend({
  operators: z.record(z.string(), OperatorStatsSchema).optional()
    .openapi({ description: "Staff only: per-operator statistics" }),
}).openapi("StatsSummary");

export const StatsSchema = StatsCore.extend({
  chats_created: z.number().int(),
  chats_closed: z.number().int(),
  served: z.number().int(),
  connections: z.record(z.string(), z.number().int()),
  connections_total: z.number().int(),
  peak_connections: z.number().int(),
  operators: z.record(z.string(), OperatorStatsSchema),
}).openapi("Stats");

export const AuditRecordSchema = z.object({
  at: z.number().openapi({ description: "ms since the epoch" }),
  action: z.string(),
  actor: z.object({ id: z.string(), role: z.string() }),
  chat_id: z.string().optional(),
  operator_ids: z.array(z.string()).readonly(),
  reason: z.string(),
  source: z.string().openapi({ description: "Where the event is stored: `<type>/<id>#<seq>`" }),
}).openapi("AuditRecord");

export const ClientChatSchema = z.object({
  chat_id: z.string(),
  kind: z.enum(["support", "lawyer"]),
  status: z.enum(["none", "bot", "queued", "assigned", "closed"]),
  operator_id: z.string().nullable(),
  linked_chat_id: z.string().nullable(),
  created_at: when,
  client_token: z.string(),
  expires_at: when,
}).openapi("ClientChat");
