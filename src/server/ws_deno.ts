/** Adapter: a Deno WebSocket as a hub {@link Connection} driven by a {@link ConnectionHandler}. */
import type { Principal } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import { errorFrame, type OutboundFrame } from "../protocol/mod.ts";
import { CLOSE, type ConnectionHandler } from "./connection_handler.ts";
import type { Connection } from "./hub.ts";

/** Frames a client may send before its token is checked; more closes the socket (1008). */
export const MAX_EARLY_FRAMES = 64;

export class DenoWsConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly principal: Principal;
  readonly tokenKey: string;
  readonly #ws: WebSocket;
  readonly #maxBuffered: number;
  readonly #onClosed: () => void;

  /** `onClosed` runs as soon as we close: a peer that does not read never completes the close. */
  constructor(
    ws: WebSocket,
    principal: Principal,
    tokenKey: string,
    maxBufferedBytes: number,
    onClosed: () => void,
  ) {
    this.#ws = ws;
    this.principal = principal;
    this.tokenKey = tokenKey;
    this.#maxBuffered = maxBufferedBytes;
    this.#onClosed = onClosed;
  }

  send(frame: OutboundFrame, text?: string): void {
    if (this.#ws.readyState !== WebSocket.OPEN) return;
    // A bounded send queue: a peer that does not read is disconnected, not buffered forever.
    if (this.#ws.bufferedAmount > this.#maxBuffered) {
      this.close(CLOSE.slowConsumer, "slow_consumer");
      return;
    }
    try {
      this.#ws.send(text ?? JSON.stringify(frame));
    } catch {
      // The socket closed under us; its close handler cleans up.
    }
  }

  /**
   * Resolves once the socket's queue is below a quarter of the bound, so replays of stored
   * history go at the peer's pace instead of tripping the slow-consumer rule.
   */
  async drained(): Promise<void> {
    while (
      this.#ws.readyState === WebSocket.OPEN && this.#ws.bufferedAmount > this.#maxBuffered / 4
    ) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(code: number, reason: string): void {
    try {
      this.#ws.close(code, reason);
    } catch {
      // Already closing.
    }
    this.#onClosed();
  }
}

/** Upgrades the request; auth failures are told as an `error` frame and close code 1008. */
export interface UpgradeOptions {
  readonly tokenKey: string;
  /** Deno pings a socket silent for this long and closes it if no pong comes (reaping). */
  readonly idleTimeoutS: number;
  readonly maxBufferedBytes: number;
}

export function upgradeDeno(
  req: Request,
  auth: Promise<Principal>,
  makeHandler: (conn: Connection) => ConnectionHandler,
  query: { chatId?: string; lastSeq?: number },
  o: UpgradeOptions,
): Response {
  const { socket, response } = Deno.upgradeWebSocket(req, { idleTimeout: o.idleTimeoutS });
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
      handler = makeHandler(
        new DenoWsConnection(socket, principal!, o.tokenKey, o.maxBufferedBytes, () => closed()),
      );
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
