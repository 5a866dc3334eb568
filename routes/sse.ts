/**
 * The Server-Sent Events transport, for browsers and proxies where WebSockets fail:
 *
 * - `GET /api/v1/chat/sse?token=…[&chat_id=…][&last_seq=N]` opens a `text/event-stream` carrying
 *   the same outbound frames as the WebSocket, one event each (`Last-Event-ID` resumes);
 * - `POST /api/v1/chat/sse/send?token=…&connection_id=…` carries one inbound frame and answers
 *   with its reply frame (`ack`, `error` or `pong`).
 *
 * Both go through the stream's {@link ConnectionHandler}, so auth, limits and replies are those of
 * the WebSocket. See docs/PROTOCOL.md, "SSE".
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../src/errors.ts";
import { readCapped, tokenKeyOf, tokenOf } from "../src/server/http.ts";
import {
  type ApiEnv,
  ERRORS,
  ErrorSchema,
  json,
  newApi,
  SECURITY,
  StreamQuery,
} from "../src/server/openapi.ts";
import type { Principal } from "../src/auth/principal.ts";
import { type OpenQuery, parseFeatures } from "../src/server/connection_handler.ts";
import { withConnectionLog } from "../src/server/request_context.ts";
import { type EventCursor, parseCursor, SseStreams } from "../src/server/sse.ts";
import type { RouteDeps } from "./deps.ts";

type Registry = OpenAPIHono<ApiEnv>["openAPIRegistry"];

const SSE_HEADERS = {
  "content-type": "text/event-stream",
  "cache-control": "no-cache",
  "x-accel-buffering": "no",
};

/** Mounted at `/api/v1/chat`. */
export function sseRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();
  const streams = new SseStreams(d.svc, d.handlerOptions, d.config.SEND_QUEUE_MAX_BYTES);
  describe(app.openAPIRegistry);

  app.get("/sse", async (c) => {
    const lastSeqRaw = c.req.query("last_seq");
    const lastSeq = lastSeqRaw === undefined ? undefined : Number(lastSeqRaw);
    if (lastSeq !== undefined && (!Number.isInteger(lastSeq) || lastSeq < 0)) {
      throw new AppError("invalid_payload", "last_seq must be a non-negative integer");
    }
    const chatId = c.req.query("chat_id") || undefined;
    const eventId = c.req.header("last-event-id") || c.req.query("last_event_id") || "";
    const cursor = eventId.trim() === "" ? null : parseCursor(eventId);
    const token = tokenOf(c);
    const principal = await d.auth.authenticate(token);
    const query = {
      ...openQueryOf(principal, { chatId, lastSeq }, cursor),
      ...parseFeatures(c.req.query("features")),
    };
    const conn = await streams.open(principal, tokenKeyOf(token), query);
    return new Response(conn.stream, { headers: SSE_HEADERS });
  });

  app.post("/sse/send", async (c) => {
    const token = tokenOf(c);
    const principal = await d.auth.authenticate(token);
    const stream = streams.find(c.req.query("connection_id") ?? "", principal);
    if (!stream) {
      throw new AppError("invalid_state", "Unknown connection_id: open the event stream first");
    }
    const max = d.config.MAX_FRAME_BYTES;
    // One frame, or a batch (a JSON array) of up to MAX_BATCH frames in one request.
    const text = await readBounded(c.req.raw, max * BATCH_BYTES_FACTOR);
    if (text === null || (text.length > max && !text.trimStart().startsWith("["))) {
      const e = new AppError("invalid_payload", `The frame is larger than ${max} bytes`);
      return c.json({ error: e.toWire() }, 413);
    }
    const batch = parseBatch(text);
    if (batch === null) {
      const outcome = await withConnectionLog(stream.conn, () => stream.handler.handle(text));
      // What follows the reply (a resume's replay) flows on the stream.
      outcome.after?.().catch((err) => d.log.error("sse follow-up failed", { err }));
      if (outcome.reply) return c.json(outcome.reply, 200);
      if (stream.conn.closed) {
        throw new AppError("invalid_state", "The event stream has ended: open it again");
      }
      return c.body(null, 204); // an answer to a heartbeat `ping` gets no reply
    }
    // All frames are handed over at once, in order (as frames arriving on a WebSocket are), so
    // their commands reach the actors in order and share group commits.
    const outcomes = await withConnectionLog(
      stream.conn,
      () => Promise.all(batch.map((value) => stream.handler.handle({ value }))),
    );
    void (async () => {
      for (const o of outcomes) await o.after?.();
    })().catch((err) => d.log.error("sse follow-up failed", { err }));
    return c.json(outcomes.map((o) => o.reply), 200);
  });

  return app;
}

/** Turns the stream's query and `Last-Event-ID` into what the handler opens with. */
export function openQueryOf(
  p: Principal,
  q: { chatId?: string; lastSeq?: number },
  cursor: EventCursor | null,
): OpenQuery {
  if (cursor === null) return q;
  if (p.role === "client") {
    const seq = "seq" in cursor ? cursor.seq : cursor.chats.get(p.chatId!);
    return seq === undefined ? q : { ...q, lastSeq: seq };
  }
  if ("chats" in cursor) return { ...q, resume: cursor.chats };
  if (q.chatId === undefined) {
    throw new AppError(
      "invalid_payload",
      "A staff Last-Event-ID must be chat:N,… (or give chat_id)",
    );
  }
  return { ...q, lastSeq: cursor.seq };
}

/** The body as text, or null when it is longer than `max` bytes (not read further). */
async function readBounded(req: Request, max: number): Promise<string | null> {
  const declared = req.headers.get("content-length");
  if (Number(declared ?? 0) > max) return null;
  if (!req.body) return "";
  // A declared length is what the HTTP server reads, no more: read it in one go.
  if (declared !== null) return await req.text();
  const bytes = await readCapped(req.body, max);
  return bytes === null ? null : new TextDecoder().decode(bytes);
}

function describe(registry: Registry): void {
  const tags = ["ops"];
  registry.registerPath({
    method: "get",
    path: "/sse",
    summary: "Server-Sent Events stream of the chat protocol (frames `{type, payload, ref?}`)",
    description: "Each frame is one event (`data:` JSON). Session events carry `id:` (the seq, " +
      "or `chat:seq,…` for staff); `Last-Event-ID` resumes. See PROTOCOL.md, SSE.",
    tags,
    security: SECURITY,
    request: {
      query: StreamQuery.extend({
        last_event_id: z.string().optional()
          .openapi({ description: "As the Last-Event-ID header" }),
      }),
      headers: z.object({ "last-event-id": z.string().optional() }),
    },
    responses: {
      200: {
        description: "The event stream",
        content: { "text/event-stream": { schema: z.string() } },
      },
      400: ERRORS[400],
      401: ERRORS[401],
      403: ERRORS[403],
    },
  });
  registry.registerPath({
    method: "post",
    path: "/sse/send",
    summary: "One inbound frame for the SSE stream `connection_id`; answers its reply frame",
    tags,
    security: SECURITY,
    request: {
      query: z.object({ token: z.string().optional(), connection_id: z.string() }),
      body: {
        required: true,
        content: {
          "application/json": {
            schema: z.object({
              type: z.string(),
              payload: z.record(z.string(), z.unknown()).optional(),
              ref: z.string().optional(),
            }),
          },
        },
      },
    },
    responses: {
      200: json(
        z.object({
          type: z.enum(["ack", "error", "pong"]),
          payload: z.record(z.string(), z.unknown()),
          ref: z.string().optional(),
        }),
        "The reply frame",
      ),
      204: { description: "A `pong` (answer to a heartbeat) needs no reply" },
      401: ERRORS[401],
      409: json(ErrorSchema, "`invalid_state`: no such stream for this token"),
      413: json(ErrorSchema, "`invalid_payload`: the frame is over MAX_FRAME_BYTES"),
    },
  });
}

/** Frames one POST may carry as a JSON array, and its body limit in frames' worth of bytes. */
export const MAX_BATCH = 100;
const BATCH_BYTES_FACTOR = 4;

/** A JSON array body as its frames; null for a single frame. Oversized batches are refused. */
function parseBatch(text: string): unknown[] | null {
  if (!text.trimStart().startsWith("[")) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new AppError("bad_json", "Request body is not valid JSON");
  }
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_BATCH) {
    throw new AppError("invalid_payload", `A batch holds 1 to ${MAX_BATCH} frames`);
  }
  return value;
}
