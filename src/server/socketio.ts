/**
 * socket.io as a second client transport, on the same port as REST and WebSocket: the official
 * `socket.io` server bound to our engine.io v4 engine (`_socketio_engine.ts`), each socket driven
 * by a {@link ConnectionHandler}. Event name = frame type, event data = frame payload; an emit's
 * ack callback gets the reply frame. See docs/PROTOCOL.md, "socket.io".
 */
// @ts-types="./_socketio_types.d.ts"
import { Server, type Socket } from "socket.io";
import { AppError } from "../errors.ts";
import { errorFrame, frame, type OutboundFrame } from "../protocol/mod.ts";
import type { Principal } from "../auth/principal.ts";
import type { RouteDeps } from "../../routes/deps.ts";
import { CLOSE, ConnectionHandler, parseFeatures } from "./connection_handler.ts";
import { tokenKeyOf } from "./http.ts";
import type { Connection } from "./hub.ts";
import { withConnectionLog } from "./request_context.ts";
import { MAX_EARLY_FRAMES } from "./ws_deno.ts";
import { clientAddrOf } from "./edge/upgrade.ts";
import { parseCursor } from "./sse.ts";
import { Engine, type EngineSocket } from "./_socketio_engine.ts";

export const SOCKETIO_PATH = "/socket.io/";
/** engine.io waits this long for the answer to its ping before it drops the peer. */
const PING_TIMEOUT_MS = 20_000;
/** Room for the socket.io envelope (`42<ack id>["type",…]`) around a frame of MAX_FRAME_BYTES. */
const ENVELOPE_BYTES = 64;

export interface SocketIoTransport {
  /** Whether the request is for socket.io (its path starts with `/socket.io/`). */
  owns(req: Request): boolean;
  fetch(req: Request, info: { remoteAddr: Deno.Addr }): Promise<Response>;
  /** Drops every socket.io session at once (shutdown); pending polls are answered. */
  close(): void;
}

export function attachSocketIo(d: RouteDeps): SocketIoTransport {
  const engine = new Engine({
    pingInterval: d.config.HEARTBEAT_S * 1000,
    pingTimeout: PING_TIMEOUT_MS,
    upgradeTimeout: 10_000,
    maxPayload: d.config.MAX_FRAME_BYTES + ENVELOPE_BYTES,
  });
  const io = new Server({ serveClient: false });
  io.bind(engine);
  io.on("connection", (socket) => accept(d, socket));
  return {
    owns: (req) =>
      req.url.startsWith(SOCKETIO_PATH, req.url.indexOf("/", req.url.indexOf("//") + 2)),
    fetch: (req, info) => engine.handle(req, clientAddrOf(req, info)),
    close: () => engine.close(),
  };
}

interface HandshakeArgs {
  token?: string;
  chatId?: string;
  lastSeq?: number;
  /** Staff: `chat:seq,…`, each chat caught up from its seq before anything live. */
  resume?: Map<string, number>;
  features?: string;
}

/** `auth` (which a client may recompute on each reconnect) first, then the query string. */
function handshakeOf(socket: Socket): HandshakeArgs {
  const auth = (socket.handshake.auth ?? {}) as Record<string, unknown>;
  const query = socket.handshake.query as Record<string, unknown>;
  const pick = (key: string): string | undefined => {
    const v = auth[key] ?? query[key];
    return typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined;
  };
  const header = socket.handshake.headers.authorization;
  const bearer = header?.toLowerCase().startsWith("bearer ") ? header.slice(7).trim() : undefined;
  const raw = pick("last_seq");
  const lastSeq = raw === undefined ? undefined : Number(raw);
  if (lastSeq !== undefined && (!Number.isInteger(lastSeq) || lastSeq < 0)) {
    throw new AppError("invalid_payload", "last_seq must be a non-negative integer");
  }
  const resumeRaw = pick("resume");
  const cursor = resumeRaw === undefined ? null : parseCursor(resumeRaw);
  if (cursor && !("chats" in cursor)) {
    throw new AppError("invalid_payload", "resume must be chat:seq,chat:seq");
  }
  return {
    token: pick("token") ?? bearer,
    chatId: pick("chat_id"),
    lastSeq,
    ...(cursor && "chats" in cursor ? { resume: cursor.chats } : {}),
    features: pick("features"),
  };
}

function emitFrame(socket: Socket, f: OutboundFrame): void {
  try {
    socket.emit(f.type, f.payload);
  } catch {
    // A closed socket; its disconnect handler cleans up.
  }
}

/** Closes after which the client should reconnect (and resume) by itself. */
const RECONNECT: ReadonlySet<number> = new Set([
  CLOSE.goingAway,
  CLOSE.internal,
  CLOSE.slowConsumer,
]);

/**
 * Tells the peer why with a `close {code, reason}` event (the WebSocket close code), then ends the
 * connection. A refusal (1008, 4002) is a socket.io disconnect, which clients do not retry. Other
 * closes (shutdown, replay failure, slow consumer) end the engine.io connection, which clients
 * treat as a network drop: they reconnect and resume. A slow consumer's queue is dropped at once.
 */
function shut(socket: Socket, code: number, reason: string): void {
  emitFrame(socket, frame("close", { code, reason }));
  if (!RECONNECT.has(code)) return void socket.disconnect(true);
  const discard = code === CLOSE.slowConsumer;
  (socket.conn as EngineSocket).close({ discard, code, reason });
}

class SocketIoConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly transport = "socketio";
  readonly principal: Principal;
  readonly tokenKey: string;
  readonly #socket: Socket;
  readonly #engine: EngineSocket;
  readonly #maxBuffered: number;
  readonly #onClosed: () => void;
  #closed = false;

  constructor(
    socket: Socket,
    principal: Principal,
    tokenKey: string,
    maxBuffered: number,
    onClosed: () => void,
  ) {
    this.#socket = socket;
    this.#engine = socket.conn as EngineSocket;
    this.principal = principal;
    this.tokenKey = tokenKey;
    this.#maxBuffered = maxBuffered;
    this.#onClosed = onClosed;
  }

  send(frame: OutboundFrame): void {
    if (this.#closed || !this.#socket.connected) return;
    // A bounded send queue (polling packets not yet fetched + WebSocket bytes not yet sent).
    if (this.#engine.bufferedBytes > this.#maxBuffered) {
      return this.close(CLOSE.slowConsumer, "slow_consumer");
    }
    emitFrame(this.#socket, frame);
  }

  drained(): Promise<void> {
    return this.#engine.drained(this.#maxBuffered / 4);
  }

  close(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    shut(this.#socket, code, reason);
    this.#onClosed();
  }
}

type Ack = (reply: OutboundFrame) => void;

/** Runs one client event through the handler; the reply goes to the ack callback if any. */
async function dispatch(h: ConnectionHandler, type: unknown, args: unknown[]): Promise<void> {
  const ack = typeof args.at(-1) === "function" ? args.pop() as Ack : null;
  // `emit("ping", undefined, ack)` arrives as `null`: treat it as no payload.
  const outcome = await h.handle({ value: { type, payload: args[0] ?? undefined } });
  if (!ack) return await h.deliver(outcome);
  if (outcome.reply) ack(outcome.reply);
  await outcome.after?.();
}

function accept(d: RouteDeps, socket: Socket): void {
  let handler: ConnectionHandler | null = null;
  let gone = false;
  const early: unknown[][] = [];
  const closed = () => {
    gone = true;
    handler?.onClose();
  };
  socket.onAny((type: unknown, ...args: unknown[]) => {
    if (gone) return;
    const h = handler;
    if (h) return void withConnectionLog(h.conn, () => dispatch(h, type, args));
    if (early.length < MAX_EARLY_FRAMES) return void early.push([type, ...args]);
    closed();
    shut(socket, CLOSE.policy, "too_many_early_frames");
  });
  // A client may send an event named "disconnect"; only the real one finds the socket closed.
  socket.on("disconnect", () => socket.connected || closed());
  const refuse = (err: unknown) => {
    if (gone) return;
    const e = err instanceof AppError ? err : new AppError("unauthorized");
    closed();
    emitFrame(socket, errorFrame(e));
    shut(socket, CLOSE.policy, e.code);
  };
  let args: HandshakeArgs;
  try {
    args = handshakeOf(socket);
  } catch (err) {
    return refuse(err);
  }
  d.auth.authenticate(args.token).then((principal) => {
    if (gone) return;
    const conn = new SocketIoConnection(
      socket,
      principal,
      tokenKeyOf(args.token),
      d.config.SEND_QUEUE_MAX_BYTES,
      closed,
    );
    const h = new ConnectionHandler(d.svc, conn, d.handlerOptions);
    handler = h;
    void withConnectionLog(conn, () =>
      h.open({
        chatId: args.chatId,
        lastSeq: args.lastSeq,
        ...(args.resume ? { resume: args.resume } : {}),
        ...parseFeatures(args.features),
      }));
    for (const [type, ...rest] of early.splice(0)) {
      void withConnectionLog(conn, () => dispatch(h, type, rest));
    }
  }, refuse);
}
