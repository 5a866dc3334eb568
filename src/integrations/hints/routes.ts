/**
 * REST of operator hints, mounted under `/api/v1/chat`:
 * - `GET /chats/{chat_id}/hints?q=&limit=`: staff who may see the chat (its owner, or anyone on
 *   staff while it waits; admins always) get suggested replies; without `q` the client's latest
 *   question is the query.
 * - `/admin/canned-responses` (admin only): create, list, read, replace and delete canned responses.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Authenticator } from "../../auth/mod.ts";
import type { ChatService } from "../../server/chat_service.ts";
import {
  type ApiEnv,
  authed,
  ERRORS,
  json,
  jsonBody,
  jsonRequest,
  SECURITY,
} from "../../server/openapi.ts";
import type { HintCatalog } from "./catalog.ts";
import type { CannedResponse } from "./canned.ts";
import type { ReadEvents } from "./harvest.ts";
import { lastClientQuestion } from "./history.ts";

export interface HintRouteDeps {
  readonly catalog: HintCatalog;
  readonly svc: ChatService;
  readonly auth: Authenticator;
  readonly read: ReadEvents;
  /** Canned text is sent as a message, so it obeys the message limit. */
  readonly maxTextLength: number;
}

/** Recent events searched for the client's question when the operator gives no query. */
const RECENT_EVENTS = 50;
export const HINTS_LIMIT_MAX = 20;

const HintSchema = z.object({
  source: z.enum(["canned", "knowledge", "history"]),
  text: z.string().openapi({ description: "The suggested reply" }),
  score: z.number().openapi({ description: "Relevance; higher is better (not normalised)" }),
  title: z.string().optional().openapi({ description: "Canned title or knowledge intent" }),
  id: z.string().optional().openapi({ description: "Canned id, intent name or history number" }),
}).openapi("Hint");

const HintsResult = z.object({
  chat_id: z.string(),
  query: z.string().openapi({ description: "The text searched (q, or the client's question)" }),
  hints: z.array(HintSchema),
}).openapi("Hints");

const HintsQuery = z.object({
  q: z.string().max(500).optional()
    .openapi({ description: "Free text; default: the client's latest question in the chat" }),
  limit: z.coerce.number().int().min(1).max(HINTS_LIMIT_MAX).default(5),
});

const CannedSchema = z.object({
  id: z.string(),
  title: z.string(),
  text: z.string(),
  tags: z.array(z.string()),
  created_at: z.string(),
  updated_at: z.string(),
}).openapi("CannedResponse");

function cannedBody(maxText: number) {
  return z.object({
    title: z.string().trim().min(1).max(200),
    text: z.string().trim().min(1).max(maxText),
    tags: z.array(z.string().trim().min(1).max(50)).max(20).default([])
      .openapi({ description: 'Extra search words, e.g. ["login", "account"]' }),
  }).openapi("CannedResponseBody");
}

const IdParam = z.object({ id: z.string().min(1).max(128) });
const ChatParam = z.object({ chat_id: z.string().min(1).max(128) });

const wire = (c: CannedResponse) => ({
  id: c.id,
  title: c.title,
  text: c.text,
  tags: [...c.tags],
  created_at: new Date(c.createdAt).toISOString(),
  updated_at: new Date(c.updatedAt).toISOString(),
});

export function hintRoutes(api: OpenAPIHono<ApiEnv>, d: HintRouteDeps): void {
  const staff = authed(d.auth, ["operator", "lawyer", "admin"]);
  const route = createRoute({
    method: "get",
    path: "/chats/{chat_id}/hints",
    summary: "Staff: suggested replies from canned responses, bot knowledge and past answers",
    tags: ["chats"],
    security: SECURITY,
    middleware: [staff] as const,
    request: { params: ChatParam, query: HintsQuery },
    responses: { 200: json(HintsResult, "Best first"), ...ERRORS },
  });
  api.openapi(route, async (c) => {
    const { chat_id: chatId } = c.req.valid("param");
    const { q, limit } = c.req.valid("query");
    // The session decides who may see the chat: its owner, staff while it waits, admins.
    const view = await d.svc.view(c.get("principal"), chatId);
    let query = q?.trim() ?? "";
    if (!query) {
      const recent = await d.read(chatId, Math.max(0, view.seq - RECENT_EVENTS), RECENT_EVENTS);
      query = lastClientQuestion(recent.map((e) => e.event));
    }
    const hints = query ? await d.catalog.search(query, limit) : [];
    return c.json({ chat_id: chatId, query, hints }, 200);
  });
  cannedRoutes(api, d);
}

function cannedRoutes(api: OpenAPIHono<ApiEnv>, d: HintRouteDeps): void {
  const admin = authed(d.auth, ["admin"]);
  const body = cannedBody(d.maxTextLength);
  const base = "/admin/canned-responses";
  const tags = ["admin"];
  const common = { tags, security: SECURITY } as const;
  const store = d.catalog.canned;
  // Every change refreshes this node's index now; other nodes see it on their next query.
  const changed = () => d.catalog.refresh();

  api.openapi(
    createRoute({
      ...common,
      method: "post",
      path: base,
      summary: "Create a canned response",
      middleware: [admin, jsonBody] as const,
      request: { body: jsonRequest(body) },
      responses: { 201: json(CannedSchema, "Created"), ...ERRORS },
    }),
    async (c) => {
      const item = await store.create(c.req.valid("json"));
      await changed();
      return c.json(wire(item), 201);
    },
  );

  api.openapi(
    createRoute({
      ...common,
      method: "get",
      path: base,
      summary: "Every canned response, oldest first",
      middleware: [admin] as const,
      responses: {
        200: json(z.object({ canned_responses: z.array(CannedSchema) }), "All"),
        401: ERRORS[401],
        403: ERRORS[403],
      },
    }),
    async (c) => c.json({ canned_responses: (await store.list()).map(wire) }, 200),
  );

  api.openapi(
    createRoute({
      ...common,
      method: "get",
      path: `${base}/{id}`,
      summary: "One canned response",
      middleware: [admin] as const,
      request: { params: IdParam },
      responses: { 200: json(CannedSchema, "Found"), ...ERRORS },
    }),
    async (c) => c.json(wire(await store.get(c.req.valid("param").id)), 200),
  );

  api.openapi(
    createRoute({
      ...common,
      method: "put",
      path: `${base}/{id}`,
      summary: "Replace a canned response's title, text and tags",
      middleware: [admin, jsonBody] as const,
      request: { params: IdParam, body: jsonRequest(body) },
      responses: { 200: json(CannedSchema, "Updated"), ...ERRORS },
    }),
    async (c) => {
      const item = await store.update(c.req.valid("param").id, c.req.valid("json"));
      await changed();
      return c.json(wire(item), 200);
    },
  );

  api.openapi(
    createRoute({
      ...common,
      method: "delete",
      path: `${base}/{id}`,
      summary: "Delete a canned response",
      middleware: [admin] as const,
      request: { params: IdParam },
      responses: { 204: { description: "Deleted" }, ...ERRORS },
    }),
    async (c) => {
      await store.delete(c.req.valid("param").id);
      await changed();
      return c.body(null, 204);
    },
  );
}
