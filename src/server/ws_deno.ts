/** Adapter: a Deno WebSocket as a hub {@link Connection} driven by a {@link ConnectionHandler}. */
import type { Principal } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import { errorFrame, type OutboundFrame } from "../protocol/mod.ts";
import { CLOSE, type ConnectionHandler } from "./connection_handler.ts";
import type { Connection } from "./hub.ts";

/** Bytes a socket may have queued before it counts as a slow consumer and is closed. */
export const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;
export const CLOSE_SLOW_CONSUMER = 4001;
/** Frames a client may send before its token is checked; more closes the socket (1008). */
export const MAX_EARLY_FRAMES = 64;

export class DenoWsConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly principal: Principal;
  readonly #ws: WebSocket;

  constructor(ws: WebSocket, principal: Principal) {
    this.#ws = ws;
    this.principal = principal;
  }

  send(frame: OutboundFrame, text?: string): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    if (this.#ws.bufferedAmount > MAX_BUFFERED_BYTES) {
      this.close(CLOSE_SLOW_CONSUMER, "slow_consumer");
      return;
    }
    try {
      this.#ws.send(text ?? JSON.stringify(frame));
    } catch {
      // The socket closed under us; its close handler cleans up.
    }
  }

  close(code: number, reason: string): void {
    try {
      this.#ws.close(code, reason);
    } catch {
      // Already closing.
    }
  }
}

/** Upgrades the request; auth failures are told as an `error` frame and close code 1008. */
export function upgradeDeno(
  req: Request,
  auth: Promise<Principal>,
  makeHandler: (conn: Connection) => ConnectionHandler,
  query: { chatId?: string; lastSeq?: number },
): Response {
  const { socket, response } = Deno.upgradeWebSocket(req);
  let handler: ConnectionHandler | null = null;
  let gone = false;
  const early: string[] = [];
  // Settle at once so a refused token is never an unhandled rejection.
  const settled = auth.then(
    (principal) => ({ principal, error: null }),
    (err) => ({
      principal: null,
      error: err instanceof AppError ? err : new AppError("unauthorized"),
    }),
  );
  socket.onopen = () => {
    void settled.then(({ principal, error }) => {
      if (gone) return;
      if (error) {
        socket.send(JSON.stringify(errorFrame(error)));
        socket.close(CLOSE.policy, error.code);
        return;
      }
      handler = makeHandler(new DenoWsConnection(socket, principal!));
      void handler.open(query);
      for (const raw of early.splice(0)) void handler.onText(raw);
    });
  };
  socket.onmessage = (e) => {
    if (typeof e.data !== "string") return handler?.onBinary();
    if (handler) void handler.onText(e.data);
    else if (early.length < MAX_EARLY_FRAMES) early.push(e.data);
    else socket.close(CLOSE.policy, "too_many_early_frames");
  };
  const closed = () => {
    gone = true;
    handler?.onClose();
  };
  socket.onclose = closed;
  socket.onerror = closed;
  return response;
}
