/**
 * REST around a chat beyond its history: the staff side (`GET /chats/{id}/notes`: internal notes
 * and labels, staff who may read them), the transcript to download (`GET /chats/{id}/transcript`:
 * the chat's client and the staff who may read the chat; never notes), and the public
 * availability the widget shows before a chat starts (`GET /availability`: operators online,
 * the queue, a wait estimate and the reply promise for offline messages; cached briefly).
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../src/errors.ts";
import { type ApiEnv, authed, ERRORS, json, newApi, SECURITY } from "../src/server/openapi.ts";
import { availability } from "../src/server/roster.ts";
import { isTimeZone, pickLang, transcript } from "../src/server/transcript.ts";
import { ChatIdParam } from "./chats.ts";
import type { RouteDeps } from "./deps.ts";

/** How long one availability answer is served again (ms); also its `Cache-Control` max-age. */
export const AVAILABILITY_TTL_MS = 5_000;

const STAFF = ["operator", "lawyer", "admin"] as const;

const NotesQuery = z.object({
  after_seq: z.coerce.number().int().min(0).default(0),
  limit: z.coerce.number().int().min(1).default(100),
});

const NotesPage = z.object({
  chat_id: z.string(),
  labels: z.array(z.string()).openapi({ description: "The chat's labels now" }),
  events: z.array(z.looseObject({ type: z.string(), payload: z.record(z.string(), z.unknown()) }))
    .openapi({ description: "`note` and `labels` frames of the staff stream, in seq order" }),
  next_after_seq: z.number().int(),
  has_more: z.boolean(),
}).openapi("NotesPage");

const TranscriptQuery = z.object({
  lang: z.enum(["ru", "en"]).optional()
    .openapi({ description: "Wins over Accept-Language (default English)" }),
  tz: z.string().max(64).optional()
    .openapi({ description: "IANA time zone of the times, e.g. Europe/Moscow (default UTC)" }),
});

const AvailabilitySchema = z.object({
  online: z.number().int().openapi({ description: "Operators online with room for a chat" }),
  operators_online: z.number().int()
    .openapi({ description: "Operators online, with room or not (0: nobody is there)" }),
  waiting: z.number().int(),
  estimated_wait_s: z.number().nullable()
    .openapi({ description: "For a chat started now; null when unknown or nobody is online" }),
  reply_promise_h: z.number().int()
    .openapi({ description: "Offline messages are answered within this many hours" }),
}).openapi("Availability");

/** Mounted at `/api/v1/chat`. */
export function chatStaffRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();

  const notes = createRoute({
    method: "get",
    path: "/chats/{chat_id}/notes",
    summary: "Staff: the chat's internal notes and label changes (never shown to its client)",
    tags: ["chats"],
    security: SECURITY,
    middleware: [authed(d.auth, STAFF)] as const,
    request: { params: ChatIdParam, query: NotesQuery },
    responses: { 200: json(NotesPage, "One page"), ...ERRORS },
  });
  app.openapi(notes, async (c) => {
    const { chat_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const limit = Math.min(q.limit, d.config.HISTORY_PAGE_MAX);
    return c.json(await d.svc.staff.notes(c.get("principal"), chat_id, q.after_seq, limit), 200);
  });

  const text = createRoute({
    method: "get",
    path: "/chats/{chat_id}/transcript",
    summary: "The conversation as plain text to download (its client and staff who may read it)",
    tags: ["chats"],
    security: SECURITY,
    middleware: [authed(d.auth)] as const,
    request: { params: ChatIdParam, query: TranscriptQuery },
    responses: {
      200: {
        description: "text/plain; charset=utf-8, as an attachment",
        content: { "text/plain": { schema: z.string() } },
      },
      ...ERRORS,
    },
  });
  app.openapi(text, async (c) => {
    const { chat_id } = c.req.valid("param");
    const q = c.req.valid("query");
    const tz = q.tz ?? "UTC";
    if (!isTimeZone(tz)) throw new AppError("invalid_payload", `Unknown time zone ${tz}`);
    const view = await d.svc.staff.readableView(c.get("principal"), chat_id);
    const lang = pickLang(c.req.header("accept-language"), q.lang);
    const body = await transcript(d.svc, view, { lang, tz });
    const file = `chat-${chat_id.replace(/[^\w.-]/g, "_")}.txt`;
    return c.text(body, 200, {
      "Content-Type": "text/plain; charset=utf-8",
      "Content-Disposition": `attachment; filename="${file}"`,
      "Content-Language": lang,
      "Cache-Control": "no-store",
    });
  });

  let cached: { at: number; value: z.infer<typeof AvailabilitySchema> } | null = null;
  const clock = d.svc.system.clock;
  const available = createRoute({
    method: "get",
    path: "/availability",
    summary: "Public: operators online, waiting chats, a wait estimate, the offline reply promise",
    tags: ["chats"],
    security: [{}],
    responses: { 200: json(AvailabilitySchema, "Now (cached for a few seconds)") },
  });
  app.openapi(available, async (c) => {
    const now = clock.now();
    if (!cached || now - cached.at >= AVAILABILITY_TTL_MS || now < cached.at) {
      cached = { at: now, value: await availability(d.svc, d.config.OFFLINE_REPLY_PROMISE_H) };
    }
    c.header("cache-control", `public, max-age=${AVAILABILITY_TTL_MS / 1000}`);
    return c.json(cached.value, 200);
  });

  return app;
}
