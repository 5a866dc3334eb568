/**
 * Server-Sent Events transport: a hub {@link Connection} whose frames are written to a
 * `text/event-stream` body, plus the registry that lets `POST …/sse/send` find the stream's
 * {@link ConnectionHandler}. Session events carry an `id:` line (the seq for a client stream, a
 * `chat:seq,…` cursor for staff) that a reconnecting EventSource sends back as `Last-Event-ID`.
 */
import { keyOf, type Principal } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import {
  errorFrame,
  isSessionEventType,
  isStaffEventType,
  type OutboundFrame,
} from "../protocol/mod.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";
import type { ChatService } from "./chat_service.ts";
import {
  CLOSE,
  ConnectionHandler,
  type HandlerOptions,
  type OpenQuery,
} from "./connection_handler.ts";
import type { Connection } from "./hub.ts";
import { withConnectionLog } from "./request_context.ts";
import { isStaffStream, staffStream } from "./streams.ts";

const encoder = new TextEncoder();
const KEEPALIVE = encoder.encode(": keepalive\n\n");

export interface SseOptions {
  readonly tokenKey: string;
  /** More unread bytes than this would be waiting: the stream ends with `overloaded`. */
  readonly maxQueuedBytes: number;
  /** A `: keepalive` comment is written this often (on `clock`). */
  readonly keepaliveMs: number;
  readonly clock: Clock;
  /** Whether the connection still follows a chat (chats it left drop out of the cursor). */
  readonly follows: (connId: string, chatId: string) => boolean;
  /** Runs once, when the stream ends for any reason. */
  readonly onClosed: () => void;
}

export class SseConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly transport = "sse";
  readonly principal: Principal;
  readonly tokenKey: string;
  /** The response body. */
  readonly stream: ReadableStream<Uint8Array>;
  /** The first frame sent (`connected`, or the `error` of a refused open); null if closed first. */
  readonly first: Promise<OutboundFrame | null>;
  readonly #o: SseOptions;
  readonly #hwm: number;
  readonly #cursor = new Map<string, number>();
  readonly #first = Promise.withResolvers<OutboundFrame | null>();
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #drainWaiters: Array<() => void> = [];
  #keepalive: TimerId | null = null;
  #closed = false;

  constructor(principal: Principal, o: SseOptions) {
    this.principal = principal;
    this.tokenKey = o.tokenKey;
    this.#o = o;
    this.first = this.#first.promise;
    // The stream asks for more (`pull`) once fewer than a quarter of the bound are unread.
    this.#hwm = Math.max(1, Math.floor(o.maxQueuedBytes / 4));
    this.stream = new ReadableStream<Uint8Array>({
      start: (c) => {
        this.#controller = c;
      },
      pull: () => this.#wake(),
      cancel: () => this.#end(), // the peer went away
    }, new ByteLengthQueuingStrategy({ highWaterMark: this.#hwm }));
    this.#scheduleKeepalive();
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Bytes enqueued and not yet taken by the HTTP server. */
  get queuedBytes(): number {
    return this.#hwm - (this.#controller.desiredSize ?? this.#hwm);
  }

  send(frame: OutboundFrame, text?: string): void {
    if (this.#closed) return;
    this.#first.resolve(frame);
    const id = this.#eventId(frame);
    const data = `data: ${text ?? JSON.stringify(frame)}\n\n`;
    this.#write(encoder.encode(id === null ? data : `id: ${id}\n${data}`));
  }

  /** Resolves once the reader has taken most of what was sent (replays go at its pace). */
  drained(): Promise<void> {
    if (this.#closed || this.queuedBytes <= this.#hwm) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  /** Ends the stream (what was written is still delivered). SSE has no close codes. */
  close(_code: number, _reason: string): void {
    if (this.#closed) return;
    try {
      this.#controller.close();
    } catch {
      // Already cancelled by the peer.
    }
    this.#end();
  }

  /**
   * The handler starts following `chatId` from `seq` (so the cursor lists it at once). A staff
   * stream joins the cursor with its first event: a cursor naming a chat but not its staff
   * stream resumes that stream from its start (src/server/connection_handler.ts).
   */
  followed(chatId: string, seq: number): void {
    if (isStaffStream(chatId) && seq === 0) return;
    this.#cursor.set(chatId, seq);
  }

  #eventId(f: OutboundFrame): string | null {
    // A chat's staff stream (notes, labels) has a seq of its own: `staff:<chat>` in the cursor.
    const staff = isStaffEventType(f.type);
    if (!isSessionEventType(f.type) && !staff) return null;
    const { chat_id: id, seq } = f.payload as { chat_id?: unknown; seq?: unknown };
    if (typeof seq !== "number" || typeof id !== "string") return null;
    if (this.principal.role === "client") return staff ? null : String(seq);
    const chatId = staff ? staffStream(id) : id;
    this.#cursor.set(chatId, seq);
    for (const c of this.#cursor.keys()) {
      if (c !== chatId && !this.#o.follows(this.id, c)) this.#cursor.delete(c);
    }
    return formatCursor(this.#cursor);
  }

  #write(bytes: Uint8Array): void {
    const queued = this.queuedBytes;
    // A bounded send queue: a reader that falls behind is dropped, not buffered forever. One
    // frame always fits into an empty queue, as on the WebSocket.
    if (queued > 0 && queued + bytes.byteLength > this.#o.maxQueuedBytes) {
      const e = new AppError(
        "overloaded",
        `Slow consumer: more than ${this.#o.maxQueuedBytes} bytes were waiting for this stream`,
      );
      this.#controller.enqueue(encoder.encode(`data: ${JSON.stringify(errorFrame(e))}\n\n`));
      this.close(CLOSE.slowConsumer, "slow_consumer");
      return;
    }
    this.#controller.enqueue(bytes);
  }

  #wake(): void {
    if (this.queuedBytes > this.#hwm) return;
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
  }

  #scheduleKeepalive(): void {
    this.#keepalive = this.#o.clock.setTimeout(() => {
      this.#keepalive = null;
      if (this.#closed) return;
      this.#write(KEEPALIVE);
      this.#scheduleKeepalive();
    }, this.#o.keepaliveMs);
  }

  #end(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#keepalive !== null) this.#o.clock.clearTimeout(this.#keepalive);
    for (const resolve of this.#drainWaiters.splice(0)) resolve();
    this.#first.resolve(null);
    this.#o.onClosed();
  }
}

/** A `Last-Event-ID`: a bare seq (client streams) or a `chat:seq,…` cursor (staff streams). */
export type EventCursor = { seq: number } | { chats: Map<string, number> };

const SEQ = /^\d{1,15}$/;
const MAX_CURSOR_CHATS = 1000;

/** Parses a `Last-Event-ID`; throws `invalid_payload` when it is neither form. */
export function parseCursor(text: string): EventCursor {
  const t = text.trim();
  if (SEQ.test(t)) return { seq: Number(t) };
  const chats = new Map<string, number>();
  const bad = () => new AppError("invalid_payload", "Last-Event-ID must be N or chat:N,chat:N");
  const parts = t.split(",");
  if (parts.length > MAX_CURSOR_CHATS) throw bad();
  for (const part of parts) {
    const i = part.lastIndexOf(":");
    const seq = part.slice(i + 1).trim();
    if (i <= 0 || !SEQ.test(seq)) throw bad();
    let chatId: string;
    try {
      chatId = decodeURIComponent(part.slice(0, i).trim());
    } catch {
      throw bad();
    }
    if (chatId === "" || chatId.length > 128) throw bad();
    chats.set(chatId, Number(seq));
  }
  return { chats };
}

/** `chat:seq,chat:seq` with chat ids percent-encoded (UUIDs are unchanged). */
export function formatCursor(cursor: ReadonlyMap<string, number>): string {
  return [...cursor].map(([chatId, seq]) => `${encodeURIComponent(chatId)}:${seq}`).join(",");
}

export interface SseStream {
  readonly conn: SseConnection;
  readonly handler: ConnectionHandler;
}

/** The open SSE streams of a node, by connection id. */
export class SseStreams {
  readonly #svc: ChatService;
  readonly #o: HandlerOptions;
  readonly #maxQueuedBytes: number;
  readonly #all = new Map<string, SseStream>();

  constructor(svc: ChatService, o: HandlerOptions, maxQueuedBytes: number) {
    this.#svc = svc;
    this.#o = o;
    this.#maxQueuedBytes = maxQueuedBytes;
  }

  /**
   * Opens a stream and waits for its first frame. A refused open (other than the per-token
   * limit, which is told on the stream) throws its error for a plain coded HTTP answer.
   */
  async open(principal: Principal, tokenKey: string, query: OpenQuery): Promise<SseConnection> {
    let handler: ConnectionHandler | null = null;
    const conn = new SseConnection(principal, {
      tokenKey,
      maxQueuedBytes: this.#maxQueuedBytes,
      keepaliveMs: this.#o.heartbeatMs,
      clock: this.#o.clock,
      follows: (connId, chatId) => this.#svc.hub.isSubscribed(connId, chatId),
      onClosed: () => {
        this.#all.delete(conn.id);
        handler?.onClose();
      },
    });
    handler = new ConnectionHandler(this.#svc, conn, this.#o);
    handler.onFollow = (chatId, seq) => conn.followed(chatId, seq);
    this.#all.set(conn.id, { conn, handler });
    void withConnectionLog(conn, () => handler!.open(query));
    const first = await conn.first;
    if (first?.type === "connected") return conn;
    if (first?.type === "error" && first.payload.code === "too_many_connections") return conn;
    conn.close(CLOSE.policy, "refused");
    if (first?.type === "error") throw new AppError(first.payload.code, first.payload.message);
    throw new AppError("internal", "The stream closed while opening");
  }

  /**
   * The stream `connId` if `principal` is the user who opened it (kind and id; for a chat token,
   * the same chat): any valid token of theirs may send on it, so a fresh token handed over with
   * `refresh_token` keeps working for the sends too.
   */
  find(connId: string, principal: Principal): SseStream | null {
    const s = this.#all.get(connId);
    if (!s || s.conn.closed) return null;
    const owner = s.conn.principal;
    if (keyOf(owner) !== keyOf(principal) || owner.scope !== principal.scope) return null;
    return owner.chatId === principal.chatId ? s : null;
  }
}
