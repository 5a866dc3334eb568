/** The WebSocket endpoint of seed 000: `/api/v1/chat/ws/chat?token=…&chat_id=…[&last_seq=N]`. */
import { Hono } from "hono";
import { AppError } from "../src/errors.ts";
import { ConnectionHandler } from "../src/server/connection_handler.ts";
import { tokenKeyOf, tokenOf } from "../src/server/http.ts";
import { upgradeDeno } from "../src/server/ws_deno.ts";
import type { RouteDeps } from "./deps.ts";

export function chatWsRoutes(d: RouteDeps): Hono {
  const app = new Hono();
  app.get("/ws/chat", (c) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      throw new AppError("invalid_payload", "This endpoint needs a WebSocket upgrade");
    }
    const lastSeqRaw = c.req.query("last_seq");
    const lastSeq = lastSeqRaw === undefined ? undefined : Number(lastSeqRaw);
    if (lastSeq !== undefined && (!Number.isInteger(lastSeq) || lastSeq < 0)) {
      throw new AppError("invalid_payload", "last_seq must be a non-negative integer");
    }
    const chatId = c.req.query("chat_id") || undefined;
    const token = tokenOf(c);
    return upgradeDeno(
      c.req.raw,
      d.auth.authenticate(token),
      (conn) => new ConnectionHandler(d.svc, conn, d.handlerOptions),
      { chatId, lastSeq },
      {
        tokenKey: tokenKeyOf(token),
        idleTimeoutS: d.config.HEARTBEAT_S,
        maxBufferedBytes: d.config.SEND_QUEUE_MAX_BYTES,
      },
    );
  });
  return app;
}
