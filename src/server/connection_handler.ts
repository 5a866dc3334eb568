/**
 * One client or staff connection, whatever the transport: joins the hub, checks limits, parses
 * inbound frames, runs them through the chat service and answers each with `ack` or `error`
 * (echoing `ref`). Bad input never closes the connection, except a frame over the size limit or
 * a sender that keeps sending past its budget. A connection lives no longer than its token: it is
 * told `token_expiring` shortly before, may hand over a fresh token (`refresh_token`), and is
 * closed with 4003 otherwise.
 */
import type { Authenticator } from "../auth/mod.ts";
import { keyOf, type Principal, type UserKey } from "../auth/principal.ts";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import {
  errorFrame,
  frame,
  type InboundFrame,
  type OutboundFrame,
  parseInbound,
  parseInboundValue,
} from "../protocol/mod.ts";
import type { ChatService } from "./chat_service.ts";
import type { Connection } from "./hub.ts";
import type { Budget, UserLimits } from "./limits.ts";
import type { RoutingService } from "./routing_service.ts";
import { QUEUE_WATCHERS } from "./projection.ts";
import { pingLatency } from "./metrics.ts";
import type { Clock, TimerId } from "../runtime/clock.ts";

export interface HandlerOptions {
  readonly routing: RoutingService;
  /** Checks the tokens of `refresh_token` frames. */
  readonly auth: Authenticator;
  /** Connections and frame budgets per user, shared by every transport. */
  readonly limits: UserLimits;
  readonly maxFrameBytes: number;
  /** Heartbeat period: a `ping` is sent this often; answers feed the latency metric. */
  readonly heartbeatMs: number;
  /** `token_expiring` is sent this long before the connection's token expires. */
  readonly tokenWarningMs: number;
  /** Timers for heartbeats and token expiry (the injected clock). */
  readonly clock: Clock;
  readonly now: () => number;
  readonly log: Logger;
}

/** Frames refused in a row for the budget after which the connection is closed (1008). */
export const MAX_REFUSED_IN_A_ROW = 200;

/** What handling one inbound frame produced: its reply, and work that must follow the reply. */
export interface Outcome {
  readonly reply: OutboundFrame | null;
  readonly after?: () => Promise<void>;
}

const NOTHING: Outcome = { reply: null };

/** What a connection asks for when it opens. */
export interface OpenQuery {
  readonly chatId?: string;
  readonly lastSeq?: number;
  /** Staff: more chats to catch up, each from its last seq (SSE's multi-chat `Last-Event-ID`). */
  readonly resume?: ReadonlyMap<string, number>;
  /** Staff: the connection takes `queue_delta` frames (`features=queue_delta`). */
  readonly queueDelta?: boolean;
}

/** The `features` query parameter: a comma list of protocol extensions the client speaks. */
export function parseFeatures(raw: string | undefined): { queueDelta: boolean } {
  const names = (raw ?? "").split(",").map((f) => f.trim());
  return { queueDelta: names.includes("queue_delta") };
}

const isUnseen = (err: unknown) =>
  err instanceof AppError && (err.code === "forbidden" || err.code === "not_found");

/** Close codes (documented in PROTOCOL.md). */
export const CLOSE = {
  goingAway: 1001,
  unsupportedData: 1003,
  invalidData: 1007,
  policy: 1008,
  tooBig: 1009,
  internal: 1011,
  slowConsumer: 4001,
  tooManyConnections: 4002,
  tokenExpired: 4003,
} as const;

const encoder = new TextEncoder();

export class ConnectionHandler {
  readonly conn: Connection;
  readonly #svc: ChatService;
  readonly #o: HandlerOptions;
  readonly #user: UserKey;
  readonly #budget: Budget;
  #ready: Promise<boolean> = Promise.resolve(false);
  #beat: TimerId | null = null;
  #beats = 0;
  readonly #pings = new Map<string, number>();
  #closed = false;
  /** A connection slot of the user is held (given back on close). */
  #reserved = false;
  /** Staff: the operator actor counted this connection, so closing it must uncount it. */
  #counted = false;
  /** The chat this connection is bound to: a chat token's, or a staff socket's `?chat_id=`. */
  #boundChat: string | undefined;
  #expiresAt: number;
  #expiry: TimerId | null = null;
  #refused = 0;

  constructor(svc: ChatService, conn: Connection, o: HandlerOptions) {
    this.#svc = svc;
    this.conn = conn;
    this.#o = o;
    this.#user = keyOf(conn.principal);
    this.#budget = o.limits.budget(this.#user);
    this.#boundChat = conn.principal.chatId;
    this.#expiresAt = conn.principal.expiresAt;
  }

  get principal(): Principal {
    return this.conn.principal;
  }

  /** Told of every chat this connection starts to follow and the seq it follows it from. */
  onFollow: ((chatId: string, fromSeq: number) => void) | null = null;

  /** Sends `connected`, joins the hub and catches up the chats this user follows. */
  open(query: OpenQuery): Promise<boolean> {
    // Taken before any await, so connections that arrive together are counted one by one.
    this.#reserved = this.#o.limits.reserve(this.#user);
    this.#ready = this.#open(query).catch((err) => {
      const e = toAppError(err);
      this.conn.send(errorFrame(e));
      const code = e.code === "too_many_connections"
        ? CLOSE.tooManyConnections
        : e.code === "internal"
        ? CLOSE.internal
        : CLOSE.policy;
      this.conn.close(code, e.code);
      return false;
    });
    return this.#ready;
  }

  async #open(query: OpenQuery): Promise<boolean> {
    const p = this.principal;
    const hub = this.#svc.hub;
    if (!this.#reserved) {
      throw new AppError("too_many_connections", "This user already has the most open connections");
    }
    if (p.scope === "visitor") {
      throw new AppError("forbidden", "A visitor token opens no chat: use a chat token");
    }
    if (this.#expiresAt <= this.#o.now()) throw new AppError("unauthorized", "Token has expired");
    const follow: Array<{ chatId: string; from: number; announce: boolean }> = [];
    const openNow: string[] = [];
    if (p.role === "client") {
      if (query.chatId !== undefined && query.chatId !== p.chatId) {
        throw new AppError("forbidden", `This token does not open chat ${query.chatId}`);
      }
      const view = await this.#svc.view(p, p.chatId!);
      follow.push({
        chatId: view.chatId,
        from: Math.min(query.lastSeq ?? view.seq, view.seq),
        announce: query.lastSeq !== undefined,
      });
    } else {
      // Seed 000's operator socket names its chat in the URL: frames without chat_id go there.
      const bound = query.chatId === undefined ? null : await this.#svc.view(p, query.chatId);
      this.#boundChat = bound?.chatId;
      const { openChats } = await this.#svc.staffConnected(p);
      if (this.#closed) {
        // Closed while connecting: onClose ran before the count went up, so take it back here.
        this.#svc.staffDisconnected(p).catch(() => {});
        return false;
      }
      this.#counted = true;
      const views = await Promise.all(
        openChats.map((id) => this.#svc.peek(id).catch(() => null)),
      );
      for (const v of views) {
        // The chat's own state decides: a chat the operator actor still lists but that moved
        // on (a transfer whose release a crash cut off) is not followed.
        if (!v || v.operatorId !== p.id) continue;
        follow.push({ chatId: v.chatId, from: v.seq, announce: false });
        if (v.status !== "closed") openNow.push(v.chatId);
      }
      const resumeAt = (chatId: string, from: number) => {
        const known = follow.find((f) => f.chatId === chatId);
        if (known) Object.assign(known, { from, announce: true });
        else follow.push({ chatId, from, announce: true });
      };
      if (bound) {
        // As for clients: a last_seq beyond the chat's end would hold back every live event.
        if (query.lastSeq !== undefined) resumeAt(bound.chatId, Math.min(query.lastSeq, bound.seq));
        else if (!follow.some((f) => f.chatId === bound.chatId)) {
          follow.push({ chatId: bound.chatId, from: bound.seq, announce: false });
        }
      }
      // A multi-chat cursor skips the chats this user may no longer see (e.g. transferred away).
      const cursor = await Promise.all(
        [...query.resume ?? []].map(([chatId, seq]) =>
          this.#svc.view(p, chatId).then(
            (v) => ({ chatId, from: Math.min(seq, v.seq) }),
            (err) => (isUnseen(err) ? null : Promise.reject(err)),
          )
        ),
      );
      for (const c of cursor) if (c) resumeAt(c.chatId, c.from);
    }
    if (this.#closed) return false;
    this.conn.send(frame("connected", {
      user_id: p.id,
      role: p.role,
      ...(this.#boundChat ? { chat_id: this.#boundChat } : {}),
      server_time: new Date(this.#o.now()).toISOString(),
      connection_id: this.conn.id,
      ...(query.lastSeq !== undefined ? { resume_from: query.lastSeq } : {}),
      ...(p.role === "client" ? {} : { open_chats: openNow }),
      ...(Number.isFinite(this.#expiresAt)
        ? { token_expires_at: new Date(this.#expiresAt).toISOString() }
        : {}),
    }));
    hub.add(this.conn);
    this.#scheduleBeat();
    this.#scheduleExpiry();
    this.#o.routing.notePeak(hub.size);
    if ((QUEUE_WATCHERS as string[]).includes(p.role)) {
      await this.#sendQueueSnapshot(query.queueDelta === true);
    }
    await Promise.all(follow.map((f) => this.#follow(f.chatId, f.from, f.announce)));
    // A client waiting in the queue learns its place now, not only at the next change.
    const position = p.role === "client"
      ? await this.#svc.queueLive.currentPosition(p.chatId!)
      : null;
    if (position && !this.#closed) this.conn.send(position);
    return true;
  }

  async #follow(chatId: string, from: number, announce: boolean): Promise<void> {
    this.onFollow?.(chatId, from);
    const to = await this.#svc.hub.resume(this.conn.id, chatId, from);
    if (announce && !this.#closed) {
      this.conn.send(frame("resumed", { chat_id: chatId, from_seq: from, to_seq: to }));
    }
  }

  /**
   * The head of the queue and the counts now; from then on the connection is shown the changes
   * of the queue's views (src/server/queue_view.ts).
   */
  async #sendQueueSnapshot(delta: boolean): Promise<void> {
    // Read and watched in one step where the queue lives, so no view can come between.
    const view = this.#svc.queueLive.reads.viewHere() ?? await this.#svc.queueLive.reads.view();
    if (this.#closed) return;
    const views = this.#svc.queueLive.views;
    this.conn.send(views.snapshotOf(view));
    // Ahead of the last view this node showed (changes within the interval): noted.
    this.#svc.hub.watchQueue(this.conn.id, delta, views.shows(view) ? null : view);
  }

  /** Handles one inbound WebSocket text frame and sends the reply. Never throws. */
  async onText(raw: string): Promise<void> {
    if (
      raw.length > this.#o.maxFrameBytes ||
      (raw.length * 3 > this.#o.maxFrameBytes &&
        encoder.encode(raw).byteLength > this.#o.maxFrameBytes)
    ) {
      this.conn.close(CLOSE.tooBig, "frame_too_large");
      return;
    }
    await this.deliver(await this.handle(raw));
  }

  /** Sends a handled frame's reply on this connection, then runs what follows it (a replay). */
  async deliver(outcome: Outcome): Promise<void> {
    if (outcome.reply && !this.#closed) this.conn.send(outcome.reply);
    await outcome.after?.();
  }

  /**
   * Handles one inbound frame (JSON text, or an already decoded value from transports that carry
   * JSON) and returns its reply (`ack`, `error` or `pong`) for the transport to deliver, plus
   * work that must follow the reply. Never throws.
   */
  async handle(input: string | { value: unknown }): Promise<Outcome> {
    if (!(await this.#ready) || this.#closed) return NOTHING;
    // Every frame counts, parsable or not; chat messages also against their own budget.
    if (!this.#budget.frames.take()) return this.#overBudget(undefined, "frames");
    const parsed = typeof input === "string" ? parseInbound(input) : parseInboundValue(input.value);
    if (!parsed.ok) {
      return { reply: errorFrame(new AppError(parsed.code, parsed.message), parsed.ref) };
    }
    const f = parsed.frame;
    if (f.type === "message" && !this.#budget.messages.take()) {
      return this.#overBudget(f.ref, "messages");
    }
    this.#refused = 0;
    try {
      return await this.#dispatch(f);
    } catch (err) {
      const e = toAppError(err);
      if (e.code === "internal") this.#o.log.error("frame failed", { type: f.type, err });
      return this.#closed ? NOTHING : { reply: errorFrame(e, f.ref) };
    }
  }

  /** A refused frame; a sender that keeps going far past its budget is disconnected. */
  #overBudget(ref: string | undefined, which: "frames" | "messages"): Outcome {
    if (++this.#refused > MAX_REFUSED_IN_A_ROW) {
      this.conn.close(CLOSE.policy, "rate_limited");
      return NOTHING;
    }
    const retry = Math.max(1, Math.ceil(this.#budget[which].waitMs() / 1000));
    return {
      reply: errorFrame(
        new AppError("rate_limited", `Too many ${which}; slow down (retry in ${retry} s)`),
        ref,
      ),
    };
  }

  /** Binary frames are not part of the protocol: the connection is closed (1003). */
  onBinary(): void {
    this.conn.send(errorFrame(new AppError("invalid_payload", "Binary frames are not supported")));
    this.conn.close(CLOSE.unsupportedData, "binary_not_supported");
  }

  /** Leaves the hub; safe to call more than once (close handlers may run twice). */
  onClose(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#beat !== null) this.#o.clock.clearTimeout(this.#beat);
    if (this.#expiry !== null) this.#o.clock.clearTimeout(this.#expiry);
    if (this.#reserved) this.#o.limits.release(this.#user);
    this.#svc.hub.remove(this.conn.id);
    // Also when the open failed after the count went up (e.g. a forbidden chat_id).
    if (this.#counted) {
      this.#svc.staffDisconnected(this.principal).catch((err) =>
        this.#o.log.error("staff disconnect failed", { user: this.principal.id, err })
      );
    }
  }

  /** `token_expiring` shortly before the token ends, then close 4003 unless refreshed. */
  #scheduleExpiry(): void {
    if (this.#expiry !== null) this.#o.clock.clearTimeout(this.#expiry);
    this.#expiry = null;
    if (this.#closed || !Number.isFinite(this.#expiresAt)) return;
    const warnAt = this.#expiresAt - this.#o.tokenWarningMs;
    const now = this.#o.now();
    if (now < warnAt) {
      this.#expiry = this.#o.clock.setTimeout(() => {
        this.#expiry = null;
        if (this.#closed) return;
        const expires_at = new Date(this.#expiresAt).toISOString();
        this.conn.send(frame("token_expiring", { expires_at }));
        this.#scheduleExpiry();
      }, warnAt - now);
      return;
    }
    this.#expiry = this.#o.clock.setTimeout(() => {
      this.#expiry = null;
      if (this.#closed || this.#o.now() < this.#expiresAt) return this.#scheduleExpiry();
      this.conn.send(errorFrame(new AppError("unauthorized", "Token has expired")));
      this.conn.close(CLOSE.tokenExpired, "token_expired");
    }, Math.max(0, this.#expiresAt - now));
  }

  /** A fresh token for the same user (and, for a chat token, the same chat). */
  async #refresh(token: string): Promise<number> {
    const fresh = await this.#o.auth.authenticate(token);
    const p = this.principal;
    if (keyOf(fresh) !== this.#user || fresh.role !== p.role || fresh.scope !== p.scope) {
      throw new AppError("forbidden", "The fresh token is for another user or role");
    }
    if (p.scope === "chat" && fresh.chatId !== p.chatId) {
      throw new AppError("forbidden", "The fresh token opens another chat");
    }
    if (fresh.expiresAt > this.#expiresAt) {
      this.#expiresAt = fresh.expiresAt;
      this.#scheduleExpiry();
    }
    return this.#expiresAt;
  }

  #scheduleBeat(): void {
    if (this.#closed) return;
    this.#beat = this.#o.clock.setTimeout(() => {
      this.#beat = null;
      if (this.#closed) return;
      const id = `h${++this.#beats}`;
      this.#pings.set(id, performance.now());
      // Keep only the latest few unanswered pings (old clients never answer).
      if (this.#pings.size > 3) this.#pings.delete(this.#pings.keys().next().value!);
      this.conn.send(frame("ping", { id, server_time: new Date(this.#o.now()).toISOString() }));
      this.#scheduleBeat();
    }, this.#o.heartbeatMs);
  }

  #chatOf(chatId: string | undefined): string {
    const id = chatId ?? this.#boundChat;
    if (!id) {
      throw new AppError(
        "invalid_payload",
        "payload.chat_id is required on a connection not bound to a chat",
      );
    }
    return id;
  }

  async #dispatch(f: InboundFrame): Promise<Outcome> {
    const p = this.principal;
    const ack = (payload: Record<string, unknown>): Outcome => ({
      reply: frame("ack", { for: f.type, ...payload }, f.ref),
    });
    switch (f.type) {
      case "message": {
        const chatId = this.#chatOf(f.payload.chat_id);
        const r = await this.#svc.sendMessage(
          p,
          chatId,
          f.payload.text,
          f.payload.client_msg_id,
          f.payload.attachments,
        );
        return ack({
          chat_id: chatId,
          seq: r.seq,
          duplicate: r.duplicate,
          ...(f.payload.client_msg_id ? { client_msg_id: f.payload.client_msg_id } : {}),
        });
      }
      case "accept_chat":
        await this.#svc.accept(p, f.payload.chat_id);
        return ack({ chat_id: f.payload.chat_id });
      case "typing": {
        const chatId = this.#chatOf(f.payload.chat_id);
        await this.#svc.typing(p, chatId, f.payload.is_typing);
        return ack({ chat_id: chatId });
      }
      case "read": {
        const chatId = this.#chatOf(f.payload.chat_id);
        const r = await this.#svc.read(p, chatId, f.payload.seq);
        return ack({ chat_id: chatId, last_read_seq: r.lastReadSeq, unread: r.unread });
      }
      case "resume": {
        const chatId = this.#chatOf(f.payload.chat_id);
        const view = await this.#svc.view(p, chatId);
        const from = Math.min(f.payload.last_seq, view.seq);
        return { ...ack({ chat_id: chatId }), after: () => this.#follow(chatId, from, true) };
      }
      case "close_chat": {
        const chatId = this.#chatOf(f.payload.chat_id);
        await this.#svc.close(p, chatId, f.payload.reason);
        return ack({ chat_id: chatId });
      }
      case "rate": {
        const chatId = this.#chatOf(f.payload.chat_id);
        await this.#svc.rate(p, chatId, f.payload.score, f.payload.comment);
        return ack({ chat_id: chatId });
      }
      case "pong": {
        const sentAt = this.#pings.get(f.payload.id);
        if (sentAt !== undefined) {
          this.#pings.delete(f.payload.id);
          pingLatency.observe(performance.now() - sentAt);
        }
        return NOTHING; // an answer to our heartbeat gets no reply
      }
      case "ping":
        return {
          reply: frame("pong", { server_time: new Date(this.#o.now()).toISOString() }, f.ref),
        };
      case "transfer_chat": {
        const { chat_id, target_operator_id, to_queue, reason } = f.payload;
        if ((target_operator_id === undefined) === (to_queue !== true)) {
          throw new AppError("invalid_payload", "Give either target_operator_id or to_queue: true");
        }
        await this.#o.routing.transfer(p, chat_id, to_queue ? null : target_operator_id!, reason);
        return ack({ chat_id });
      }
      case "assign_lawyer": {
        const r = await this.#o.routing.assignLawyer(p, {
          chatId: f.payload.chat_id,
          clientId: f.payload.client_id,
          lawyerId: f.payload.lawyer_id,
        });
        return ack({ chat_id: r.lawyer_chat_id });
      }
      case "set_status":
        if (p.role === "client") throw new AppError("forbidden", "Clients have no status");
        await this.#o.routing.setStatus(p, p.id, f.payload.status);
        return ack({});
      case "refresh_token": {
        const expiresAt = await this.#refresh(f.payload.token);
        return ack({ expires_at: new Date(expiresAt).toISOString() });
      }
    }
  }
}
