/** REST for the chat flow: create a chat (returns a client token), read its history. */
import { Hono } from "hono";
import { z } from "zod";
import { AppError } from "../src/errors.ts";
import { parseBody, tokenOf } from "../src/server/http.ts";
import type { RouteDeps } from "./deps.ts";

const CreateChatBody = z.object({
  client_id: z.string().regex(/^[\w.:@-]{1,128}$/, "letters, digits and ._:@- only").optional(),
  name: z.string().min(1).max(100).optional(),
});

const HistoryQuery = z.object({
  after_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).default(100),
});

export function chatRoutes(d: RouteDeps): Hono {
  const app = new Hono();

  app.post("/chats", async (c) => {
    const body = await parseBody(c, CreateChatBody);
    const chatId = crypto.randomUUID();
    const clientId = body.client_id ?? `client-${crypto.randomUUID().slice(0, 8)}`;
    const { view, position } = await d.svc.createChat(clientId, chatId);
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

  app.get("/chats/:chat_id/history", async (c) => {
    const principal = await d.auth.authenticate(tokenOf(c));
    const q = HistoryQuery.safeParse(c.req.query());
    if (!q.success) throw new AppError("invalid_payload", "after_seq and limit must be integers");
    const limit = Math.min(q.data.limit, d.config.HISTORY_PAGE_MAX);
    return c.json(await d.svc.history(principal, c.req.param("chat_id"), q.data.after_seq, limit));
  });

  return app;
}
