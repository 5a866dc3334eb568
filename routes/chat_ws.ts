/**
 * The WebSocket endpoint of seed 000: `/api/v1/chat/ws/chat?token=…&chat_id=…[&last_seq=N]`
 * (`&features=queue_delta`: staff take queue deltas, docs/PROTOCOL.md).
 */
import { Hono } from "hono";
import { AppError, toAppError } from "../src/errors.ts";
import { ConnectionHandler, parseFeatures } from "../src/server/connection_handler.ts";
import { tokenKeyOf, tokenOf } from "../src/server/http.ts";
import { upgradeWebSocket } from "../src/server/edge/upgrade.ts";
import { serveWebSocket } from "../src/server/ws_deno.ts";
import { ID_CHARS } from "../src/protocol/inbound.ts";
import { parseCursor } from "../src/server/sse.ts";
import type { RouteDeps } from "./deps.ts";

export function chatWsRoutes(d: RouteDeps): Hono {
  const app = new Hono();
  app.get("/ws/chat", async (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new AppError("invalid_payload", "This endpoint needs a WebSocket upgrade");
    }
    const lastSeqRaw = c.req.query("last_seq");
    const lastSeq = lastSeqRaw === undefined ? undefined : Number(lastSeqRaw);
    if (lastSeq !== undefined && (!Number.isInteger(lastSeq) || lastSeq < 0)) {
      throw new AppError("invalid_payload", "last_seq must be a non-negative integer");
    }
    const chatId = c.req.query("chat_id") || undefined;
    if (chatId !== undefined && !ID_CHARS.test(chatId)) {
      throw new AppError("invalid_payload", "chat_id must be 1 to 128 printable characters");
    }
    // Staff: `resume=chat:seq,…` catches each chat up from its seq before anything live.
    const resumeRaw = c.req.query("resume");
    const cursor = resumeRaw ? parseCursor(resumeRaw) : null;
    if (cursor && !("chats" in cursor)) {
      throw new AppError("invalid_payload", "resume must be chat:seq,chat:seq");
    }
    const token = tokenOf(c);
    // The token is checked before the upgrade, and its failure settled here, so nothing the
    // upgrade throws can leave a rejected promise unheard. A refused token still gets an
    // upgrade: browsers cannot read an HTTP status of a failed one, but an `error` frame and
    // close 1008 they can.
    const auth = await d.auth.authenticate(token).then(
      (principal) => ({ principal, error: null }),
      (err) => ({ principal: null, error: toAppError(err) }),
    );
    let upgraded: ReturnType<typeof upgradeWebSocket>;
    try {
      upgraded = upgradeWebSocket(c.req.raw, {
        idleTimeoutS: d.config.HEARTBEAT_S,
        maxMessageBytes: d.config.MAX_FRAME_BYTES,
      });
    } catch (err) {
      throw new AppError("invalid_payload", `Not a valid WebSocket upgrade: ${messageOf(err)}`);
    }
    serveWebSocket(
      upgraded.socket,
      auth,
      (conn) => new ConnectionHandler(d.svc, conn, d.handlerOptions),
      {
        chatId,
        lastSeq,
        ...(cursor && "chats" in cursor ? { resume: cursor.chats } : {}),
        ...parseFeatures(c.req.query("features")),
      },
      { tokenKey: tokenKeyOf(token), maxBufferedBytes: d.config.SEND_QUEUE_MAX_BYTES },
    );
    return upgraded.response;
  });
  return app;
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
