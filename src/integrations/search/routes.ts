/**
 * `GET /api/v1/chat/search` (staff): full-text search over every conversation the caller may
 * see, in Russian and English, with filters and pages; see ./query.ts for ranking and who sees
 * what. Clients get 403, no token 401.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Authenticator } from "../../auth/mod.ts";
import { AppError } from "../../errors.ts";
import { type ApiEnv, authed, ERRORS, json, SECURITY } from "../../server/openapi.ts";
import type { ChatDoc } from "./doc.ts";
import { type SearchHit, type SearchQuery, STATUS_FILTERS, type StatusFilter } from "./query.ts";

export const SEARCH_LIMIT_MAX = 50;

const DATE = /^\d{4}-\d{2}-\d{2}$/;

/** An ISO date or date-time → ms; a bare date is the start of that day (UTC), or its end. */
function time(field: string, value: string | undefined, endOfDay: boolean): number | undefined {
  if (value === undefined || value === "") return undefined;
  const ms = Date.parse(DATE.test(value) ? `${value}T00:00:00Z` : value);
  if (!Number.isFinite(ms)) {
    throw new AppError("invalid_payload", `Invalid query: ${field}: expected an ISO date`);
  }
  return DATE.test(value) && endOfDay ? ms + 86_400_000 - 1 : ms;
}

const Query = z.object({
  q: z.string().max(500).default("").openapi({
    description: "Words in Russian or English, any form («заказы» finds «заказа»); empty lists " +
      "chats newest first",
  }),
  status: z.string().max(100).optional().openapi({
    description: `Comma list of ${STATUS_FILTERS.join(", ")} (waiting = bot or queued, ` +
      "open = not closed)",
  }),
  operator_id: z.string().min(1).max(128).optional()
    .openapi({ description: "Chats this operator (or lawyer) held at some point" }),
  label: z.string().min(1).max(100).optional(),
  from: z.string().max(40).optional()
    .openapi({ description: "Created at or after (ISO date or date-time)" }),
  to: z.string().max(40).optional()
    .openapi({ description: "Created at or before (a bare date includes that whole day)" }),
  limit: z.coerce.number().int().min(1).max(SEARCH_LIMIT_MAX).default(20),
  cursor: z.string().max(512).optional().openapi({ description: "next_cursor of the last page" }),
});

const SnippetSchema = z.object({
  text: z.string(),
  highlights: z.array(z.tuple([z.number().int(), z.number().int()]))
    .openapi({ description: "[start, end) offsets into text (UTF-16) of the matched words" }),
  seq: z.number().int().nullable()
    .openapi({ description: "The event the snippet is from (null: the first message, cut)" }),
}).openapi("SearchSnippet");

const ResultSchema = z.object({
  chat_id: z.string(),
  kind: z.enum(["support", "lawyer"]),
  status: z.string(),
  client_id: z.string(),
  client_name: z.string().nullable(),
  operator_id: z.string().nullable(),
  operators: z.array(z.string()),
  labels: z.array(z.string()),
  title: z.string().nullable(),
  channel: z.string(),
  messages: z.number().int(),
  rating: z.number().int().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  closed_at: z.string().nullable(),
  matched: z.number().int().openapi({ description: "Query words found in the chat" }),
  score: z.number().openapi({ description: "BM25 of those words (higher is better)" }),
  snippet: SnippetSchema.nullable(),
}).openapi("SearchResult");

const AnswerSchema = z.object({
  query: z.string(),
  terms: z.array(z.string()).openapi({ description: "The stems searched for" }),
  results: z.array(ResultSchema),
  next_cursor: z.string().nullable(),
  truncated: z.boolean()
    .openapi({ description: "True when a word is so common that older chats were not looked at" }),
}).openapi("SearchAnswer");

const iso = (ms: number) => new Date(ms).toISOString();

function wire(h: SearchHit) {
  const d: ChatDoc = h.doc;
  return {
    chat_id: h.chatId,
    kind: d.kind,
    status: d.status,
    client_id: d.clientId,
    client_name: d.clientName,
    operator_id: d.operatorId,
    operators: [...d.operators],
    labels: [...d.labels],
    title: d.title,
    channel: d.channel,
    messages: d.messages,
    rating: d.rating,
    created_at: iso(d.createdAt),
    updated_at: iso(d.updatedAt),
    closed_at: d.closedAt === null ? null : iso(d.closedAt),
    matched: h.matched,
    score: h.score,
    snippet: h.snippet,
  };
}

/**
 * `fresh`: resolves once what this node has stored is in the index (the indexer's events
 * gathering for its next step are written first), so a search finds the message just sent.
 */
export function searchRoutes(
  api: OpenAPIHono<ApiEnv>,
  auth: Authenticator,
  query: SearchQuery,
  fresh: () => Promise<void>,
) {
  const route = createRoute({
    method: "get",
    path: "/search",
    summary: "Staff: search conversations (Russian and English), with filters and pages",
    tags: ["chats"],
    security: SECURITY,
    middleware: [authed(auth, ["operator", "lawyer", "admin"])] as const,
    request: { query: Query },
    responses: { 200: json(AnswerSchema, "Best first"), ...ERRORS },
  });
  api.openapi(route, async (c) => {
    const q = c.req.valid("query");
    const status = (q.status ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const bad = status.find((s) => !(STATUS_FILTERS as readonly string[]).includes(s));
    if (bad !== undefined) {
      throw new AppError("invalid_payload", `Invalid query: status: unknown status "${bad}"`);
    }
    const p = c.get("principal");
    const from = time("from", q.from, false);
    const to = time("to", q.to, true);
    await fresh();
    const answer = await query.search({ id: p.id, role: p.role }, {
      q: q.q,
      status: status as StatusFilter[],
      ...(q.operator_id === undefined ? {} : { operatorId: q.operator_id }),
      ...(q.label === undefined ? {} : { label: q.label }),
      ...(from === undefined ? {} : { from }),
      ...(to === undefined ? {} : { to }),
      limit: q.limit,
      ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
    });
    return c.json({
      query: q.q,
      terms: answer.terms,
      results: answer.hits.map(wire),
      next_cursor: answer.nextCursor,
      truncated: answer.truncated,
    }, 200);
  });
}
