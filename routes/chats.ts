/** REST for the chat flow: create a chat (returns a client token), read its history. */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  type ApiEnv,
  authed,
  ERRORS,
  json,
  jsonBody,
  jsonRequest,
  newApi,
  SECURITY,
} from "../src/server/openapi.ts";
import { botHoldsNewChats } from "../src/integrations/bot/mod.ts";
import type { RouteDeps } from "./deps.ts";

const CreateChatBody = z.object({
  client_id: z.string().regex(/^[\w.:@-]{1,128}$/, "letters, digits and ._:@- only").optional(),
  name: z.string().min(1).max(100).optional(),
}).openapi("CreateChatBody");

const CreatedChat = z.object({
  chat_id: z.string(),
  client_id: z.string(),
  client_token: z.string(),
  expires_at: z.string(),
  status: z.enum(["none", "bot", "queued", "assigned", "closed"]),
  position: z.number().int(),
  ws_url: z.string(),
}).openapi("CreatedChat");

const HistoryQuery = z.object({
  after_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).default(100),
});

const HistoryPage = z.object({
  chat_id: z.string(),
  events: z.array(z.looseObject({ type: z.string(), payload: z.record(z.string(), z.unknown()) }))
    .openapi({ description: "Stored events as WebSocket frames, in seq order" }),
  next_after_seq: z.number().int(),
  has_more: z.boolean(),
}).openapi("HistoryPage");

const tags = ["chats"];

const create = createRoute({
  method: "post",
  path: "/chats",
  summary: "Open a support chat; answers with a client token and the WebSocket URL",
  tags,
  middleware: [jsonBody] as const,
  request: { body: jsonRequest(CreateChatBody) },
  responses: { 201: json(CreatedChat, "The chat, queued (or with the bot)"), 400: ERRORS[400] },
});

export function chatRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();

  app.openapi(create, async (c) => {
    const body = c.req.valid("json");
    const chatId = crypto.randomUUID();
    const clientId = body.client_id ?? `client-${crypto.randomUUID().slice(0, 8)}`;
    // BOT_MODE=all: the chat starts with the bot (status `bot`) and joins the queue on escalation.
    const hold = botHoldsNewChats(d.config);
    const { view, position } = await d.svc.createChat(clientId, chatId, hold ? { hold } : {});
    const { token, expiresAt } = await d.auth.issueClientToken(chatId, clientId);
    const base = d.config.PUBLIC_URL ?? new URL(c.req.url).origin;
    const wsBase = base.replace(/^http/, "ws");
    return c.json({
      chat_id: chatId,
      client_id: clientId,
      client_token: token,
      expires_at: new Date(expiresAt).toISOString(),
      status: view.status,
      position,
      ws_url: `${wsBase}/api/v1/chat/ws/chat?token=${encodeURIComponent(token)}&chat_id=${chatId}`,
    }, 201);
  });

  const history = createRoute({
    method: "get",
    path: "/chats/{chat_id}/history",
    summary: "A page of the chat's stored events (participants and admins)",
    tags,
    security: SECURITY,
    middleware: [authed(d.auth)] as const,
    request: { params: z.object({ chat_id: z.string().min(1) }), query: HistoryQuery },
    responses: { 200: json(HistoryPage, "One page"), ...ERRORS },
  });
  app.openapi(history, async (c) => {
    const { chat_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const limit = Math.min(q.limit, d.config.HISTORY_PAGE_MAX);
    return c.json(await d.svc.history(c.get("principal"), chat_id, q.after_seq, limit), 200);
  });

  return app;
}
