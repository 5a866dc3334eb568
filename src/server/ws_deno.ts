/**
 * Adapter: a WebSocket (the edge's own `ServerWebSocket`, or Deno's for an upgrade that reached
 * Deno.serve) as a hub {@link Connection} driven by a {@link ConnectionHandler}.
 */
import type { Principal } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import { errorFrame, type OutboundFrame } from "../protocol/mod.ts";
import { CLOSE, type ConnectionHandler, type OpenQuery } from "./connection_handler.ts";
import type { Connection } from "./hub.ts";
import { withConnectionLog } from "./request_context.ts";

/** Frames a client may send before its token is checked; more closes the socket (1008). */
export const MAX_EARLY_FRAMES = 64;

/** What is used of a server-side WebSocket (Deno's, or the edge's `ServerWebSocket`). */
export interface WebSocketLike {
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((e: Event) => void) | null;
  onmessage: ((e: MessageEvent) => void) | null;
  onclose: ((e: CloseEvent) => void) | null;
  onerror: ((e: Event) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

const OPEN = 1;

export class DenoWsConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly transport = "ws";
  readonly principal: Principal;
  readonly tokenKey: string;
  readonly #ws: WebSocketLike;
  readonly #maxBuffered: number;
  readonly #onClosed: () => void;

  /** `onClosed` runs as soon as we close: a peer that does not read never completes the close. */
  constructor(
    ws: WebSocketLike,
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
    if (this.#ws.readyState !== OPEN) return;
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
      this.#ws.readyState === OPEN && this.#ws.bufferedAmount > this.#maxBuffered / 4
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

/** How a WebSocket connection is served. */
export interface ServeOptions {
  readonly tokenKey: string;
  readonly maxBufferedBytes: number;
}

/** The token check, done before the upgrade. */
export type AuthResult = { principal: Principal; error: null } | {
  principal: null;
  error: AppError;
};

/**
 * Serves an upgraded socket: once it is open, a refused token is told as an `error` frame and
 * close 1008; otherwise a handler opens the connection. Frames arriving before the handler
 * is made (none should: it is made as the socket opens) are not lost.
 */
export function serveWebSocket(
  socket: WebSocketLike,
  auth: AuthResult,
  makeHandler: (conn: Connection) => ConnectionHandler,
  query: OpenQuery,
  o: ServeOptions,
): void {
  let handler: ConnectionHandler | null = null;
  let gone = false;
  socket.onopen = () => {
    if (gone) return;
    if (auth.error) {
      socket.send(JSON.stringify(errorFrame(auth.error)));
      socket.close(CLOSE.policy, auth.error.code);
      return;
    }
    const h = makeHandler(
      new DenoWsConnection(socket, auth.principal, o.tokenKey, o.maxBufferedBytes, () => closed()),
    );
    handler = h;
    void withConnectionLog(h.conn, () => h.open(query));
  };
  socket.onmessage = (e) => {
    const h = handler;
    if (!h) return;
    withConnectionLog(
      h.conn,
      () => typeof e.data === "string" ? void h.onText(e.data) : h.onBinary(),
    );
  };
  const closed = () => {
    gone = true;
    handler?.onClose();
  };
  socket.onclose = closed;
  socket.onerror = closed;
}
