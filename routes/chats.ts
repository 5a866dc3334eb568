/**
 * REST for the chat flow: start a chat (answers with a chat token and the visitor token), become
 * a visitor without a chat yet, and read a chat's history. Who a new chat is for is proven, never
 * claimed: the visitor token, identity verification (`client_id` + `user_hash`, or
 * `identity_token`), or a new anonymous visitor. Starting chats and visitors is rate-limited per
 * client address and in all (429 with `Retry-After`).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { AppError } from "../src/errors.ts";
import { clientAddress, tokenOf } from "../src/server/http.ts";
import {
  type ApiEnv,
  authed,
  ERRORS,
  ErrorSchema,
  json,
  jsonBody,
  jsonRequest,
  newApi,
  SECURITY,
} from "../src/server/openapi.ts";
import { botHoldsNewChats } from "../src/integrations/bot/mod.ts";
import type { VisitorClaim } from "../src/server/visitors.ts";
import { SITE_USER_ID } from "../src/auth/identity.ts";
import { ATTRIBUTE_KEY, ATTRIBUTE_VALUE_MAX, CLIENT_ATTRIBUTES_MAX } from "../actors/client.ts";
import { MAX_TEXT_CHARS } from "../src/protocol/inbound.ts";
import type { RouteDeps } from "./deps.ts";

const Attributes = z.record(
  z.string().regex(ATTRIBUTE_KEY, "attribute names: 1-40 letters, digits and _.-"),
  z.union([z.string().max(ATTRIBUTE_VALUE_MAX), z.number(), z.boolean()]).transform(String),
).refine((a) => Object.keys(a).length <= CLIENT_ATTRIBUTES_MAX, {
  message: `at most ${CLIENT_ATTRIBUTES_MAX} attributes`,
}).openapi({ description: "What the site knows of the visitor: page, device, plan, …" });

/** What every creation may carry: the visitor's profile and identity verification. */
export const VisitorBody = z.object({
  name: z.string().trim().min(1).max(100).optional(),
  email: z.email().max(254).optional(),
  attributes: Attributes.optional(),
  client_id: z.string().regex(SITE_USER_ID, "1-100 letters, digits and ._:@|+- only").optional()
    .openapi({ description: "The site's user id; only with `user_hash` (identity verification)" }),
  user_hash: z.string().min(1).max(128).optional()
    .openapi({ description: "Hex HMAC SHA-256 of `client_id` under the site's secret" }),
  identity_token: z.string().min(1).max(4096).optional()
    .openapi({ description: "A short HS256 JWT from the site's backend (sub = user id)" }),
});

const CreateChatBody = VisitorBody.extend({
  message: z.string().trim().min(1).max(MAX_TEXT_CHARS).optional()
    .openapi({ description: "The client's first message, stored with the new chat" }),
  offline: z.boolean().optional().openapi({
    description: "An offline message (nobody online): needs `email` and `message`; the chat is " +
      "queued as any other, marked `offline` for staff, who answer later",
  }),
}).refine((b) => !b.offline || (b.email !== undefined && b.message !== undefined), {
  message: "an offline message needs email and message",
  path: ["email"],
}).openapi("CreateChatBody");

const VisitorFields = {
  client_id: z.string(),
  visitor_token: z.string()
    .openapi({ description: "Proves the visitor: lists (`GET /me/chats`) and starts chats" }),
  visitor_expires_at: z.string(),
};

const CreatedChat = z.object({
  chat_id: z.string(),
  ...VisitorFields,
  client_token: z.string().openapi({ description: "Opens this one chat (WebSocket, SSE, REST)" }),
  expires_at: z.string(),
  status: z.enum(["none", "bot", "queued", "assigned", "closed"]),
  position: z.number().int(),
  ws_url: z.string(),
}).openapi("CreatedChat");

const CreatedVisitor = z.object(VisitorFields).openapi("CreatedVisitor");

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

export const ChatIdParam = z.object({
  chat_id: z.string().regex(/^[\x21-\x7e]{1,128}$/, "a chat id: 1-128 printable characters"),
});

const tags = ["chats"];

const TOO_MANY = json(ErrorSchema, "`rate_limited`: too many new chats or visitors (Retry-After)");

function creation<B extends z.ZodType, R extends z.ZodType>(
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
    security: [{}, ...SECURITY],
    middleware: [jsonBody] as const,
    request: { body: jsonRequest(body) },
    responses: {
      201: json(result, "Created"),
      400: ERRORS[400],
      401: ERRORS[401],
      403: ERRORS[403],
      429: TOO_MANY,
    },
  });
}

type Body = z.infer<typeof VisitorBody>;

function claimOf(c: Context, b: Body): VisitorClaim {
  const token = tokenOf(c);
  return {
    ...(token === undefined ? {} : { token }),
    ...(b.client_id === undefined ? {} : { clientId: b.client_id }),
    ...(b.user_hash === undefined ? {} : { userHash: b.user_hash }),
    ...(b.identity_token === undefined ? {} : { identityToken: b.identity_token }),
    ...(b.name === undefined ? {} : { name: b.name }),
    ...(b.email === undefined ? {} : { email: b.email }),
    ...(b.attributes === undefined ? {} : { attributes: b.attributes }),
  };
}

export function chatRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();

  /** The creation budget of the caller's address (and of everyone together). */
  const admit = (c: Context) => {
    const r = d.creations.take(clientAddress(c));
    if (r.ok) return;
    c.header("Retry-After", String(r.retryAfterS));
    throw new AppError(
      "rate_limited",
      r.scope === "address"
        ? `Too many new chats from this address; retry in ${r.retryAfterS} s`
        : `Too many new chats right now; retry in ${r.retryAfterS} s`,
    );
  };

  const visitorFields = async (visitorId: string) => {
    const v = await d.visitors.token(visitorId);
    return {
      client_id: visitorId,
      visitor_token: v.token,
      visitor_expires_at: new Date(v.expiresAt).toISOString(),
    };
  };

  app.openapi(
    creation(
      "/chats",
      "Open a support chat; answers with a chat token, the visitor token and the WebSocket URL",
      CreateChatBody,
      CreatedChat,
    ),
    async (c) => {
      admit(c);
      const body = c.req.valid("json");
      if (body.message !== undefined && body.message.length > d.config.MAX_TEXT_LENGTH) {
        throw new AppError(
          "text_too_long",
          `Message text has ${body.message.length} characters; the limit is ${d.config.MAX_TEXT_LENGTH}`,
        );
      }
      const visitor = await d.visitors.resolve(claimOf(c, body));
      const chatId = crypto.randomUUID();
      // BOT_MODE=all: the chat starts with the bot (status `bot`) and joins the queue on
      // escalation; an offline message goes to the queue for staff to answer later.
      const hold = botHoldsNewChats(d.config) && !body.offline;
      const { view, position } = await d.svc.createChat(visitor.visitorId, chatId, {
        fresh: true,
        ...(hold ? { hold } : {}),
        ...(body.name ? { clientName: body.name } : {}),
        ...(body.offline ? { offline: true } : {}),
      });
      const { token, expiresAt } = await d.auth.issueClientToken(chatId, visitor.visitorId);
      if (body.message !== undefined) {
        const client = {
          id: visitor.visitorId,
          role: "client",
          scope: "chat",
          chatId,
          expiresAt,
        } as const;
        await d.svc.sendMessage(client, chatId, body.message);
      }
      const base = d.config.PUBLIC_URL ?? new URL(c.req.url).origin;
      const wsBase = base.replace(/^http/, "ws");
      return c.json({
        chat_id: chatId,
        ...await visitorFields(visitor.visitorId),
        client_token: token,
        expires_at: new Date(expiresAt).toISOString(),
        status: view.status,
        position,
        ws_url: `${wsBase}/api/v1/chat/ws/chat?token=${
          encodeURIComponent(token)
        }&chat_id=${chatId}`,
      }, 201);
    },
  );

  app.openapi(
    creation(
      "/visitors",
      "Become a visitor (anonymous, or vouched for by the site) without a chat yet",
      VisitorBody.openapi("CreateVisitorBody"),
      CreatedVisitor,
    ),
    async (c) => {
      admit(c);
      const visitor = await d.visitors.resolve(claimOf(c, c.req.valid("json")));
      return c.json(await visitorFields(visitor.visitorId), 201);
    },
  );

  const history = createRoute({
    method: "get",
    path: "/chats/{chat_id}/history",
    summary: "A page of the chat's stored events (participants, admins, staff let read it)",
    tags,
    security: SECURITY,
    middleware: [authed(d.auth)] as const,
    request: { params: ChatIdParam, query: HistoryQuery },
    responses: { 200: json(HistoryPage, "One page"), ...ERRORS },
  });
  app.openapi(history, async (c) => {
    const { chat_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const limit = Math.min(q.limit, d.config.HISTORY_PAGE_MAX);
    const p = c.get("principal");
    // Participants, and staff let read it: mentioned in a note, a lawyer assigned from it.
    const view = await d.svc.staff.readableView(p, chat_id);
    return c.json(await d.svc.history(p, chat_id, q.after_seq, limit, view), 200);
  });

  return app;
}
