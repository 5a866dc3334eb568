/**
 * `GET /api/v1/chat/titles` (staff): the open chats — waiting in queue order, then active — with
 * their titles, for lists and statistics that show what each chat is about. The queue knows
 * which chats are open; each title comes from the chat itself. What each caller sees follows who
 * may read the chat: admins all of them, operators the waiting ones and their own, lawyers only
 * their own.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import type { Authenticator } from "../../auth/mod.ts";
import type { ChatService } from "../../server/chat_service.ts";
import { type ApiEnv, authed, ERRORS, json, SECURITY } from "../../server/openapi.ts";

/** Chats looked up at once (each is one ask to its session actor). */
const LOOKUPS_IN_FLIGHT = 8;

const TitledChatSchema = z.object({
  chat_id: z.string(),
  state: z.enum(["waiting", "active"]),
  client_id: z.string(),
  operator_id: z.string().nullable(),
  title: z.string().nullable().openapi({ description: "Null until the first client message" }),
}).openapi("TitledChat");

const OpenChatTitlesSchema = z.object({
  chats: z.array(TitledChatSchema),
  total: z.number().int().openapi({ description: "Open chats in all; `chats` lists the first" }),
}).openapi("OpenChatTitles");

const Query = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export function titleRoutes(api: OpenAPIHono<ApiEnv>, svc: ChatService, auth: Authenticator) {
  const route = createRoute({
    method: "get",
    path: "/titles",
    summary: "Staff: open chats (waiting, then active) with their titles",
    tags: ["common"],
    security: SECURITY,
    middleware: [authed(auth, ["operator", "lawyer", "admin"])] as const,
    request: { query: Query },
    responses: { 200: json(OpenChatTitlesSchema, "Open chats"), ...ERRORS },
  });
  api.openapi(route, async (c) => {
    const { limit } = c.req.valid("query");
    const p = c.get("principal");
    // Waiting chats are open to operators and admins; taken ones to their owner (all to admins).
    const seesWaiting = p.role === "admin" || p.role === "operator";
    const q = p.role === "admin"
      ? await svc.queueLive.reads.page(0, limit, 0, limit)
      : await svc.queueLive.reads.page(0, seesWaiting ? limit : 0, 0, 0, p.id);
    const waitingTotal = seesWaiting ? q.waitingTotal : 0;
    const activeTotal = p.role === "admin" ? q.activeTotal : q.active.length;
    const all = [
      ...(seesWaiting ? q.waiting : []).map((w) => ({
        chat_id: w.chatId,
        state: "waiting" as const,
        client_id: w.clientId,
        operator_id: null,
      })),
      ...q.active.map((a) => ({
        chat_id: a.chatId,
        state: "active" as const,
        client_id: a.clientId,
        operator_id: a.operatorId,
      })),
    ];
    const listed = all.slice(0, limit);
    const titles = await mapLimited(listed, LOOKUPS_IN_FLIGHT, async (chat) => {
      return (await svc.peek(chat.chat_id)).title ?? null;
    });
    return c.json({
      chats: listed.map((chat, i) => ({ ...chat, title: titles[i] })),
      total: waitingTotal + activeTotal,
    }, 200);
  });
}

/** `fn` over `items` with at most `limit` calls running, results in input order. */
async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
