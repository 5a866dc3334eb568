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
import { inboundRef } from "../protocol/inbound.ts";
import type { ChatService } from "./chat_service.ts";
import type { Connection } from "./hub.ts";
import type { Budget, UserLimits } from "./limits.ts";
import type { RoutingService } from "./routing_service.ts";
import { QUEUE_WATCHERS } from "./projection.ts";
import type { FrameMetrics } from "./metrics.ts";
import { isStaffStream, staffStream, streamOf } from "./streams.ts";
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
  /** This server's frame, ack and heartbeat metrics. */
  readonly metrics?: FrameMetrics;
}

/** Frames refused in a row for the budget after which the connection is closed (1008). */
export const MAX_REFUSED_IN_A_ROW = 200;

/**
 * How long a connection waits for a chat whose owner does not answer (a node died and its
 * partitions move: the consumer group's session timeout, 10 s by default, plus a margin).
 */
export const LOOKUP_PATIENCE_MS = 15_000;
const LOOKUP_BACKOFF_MS = [100, 250, 500, 1000, 2000];
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
      const bound = query.chatId === undefined
        ? null
        : await this.#patiently(() => this.#svc.view(p, query.chatId!));
      this.#boundChat = bound?.chatId;
      // The operator's actor and the queue may live on a node that just died: their asks wait
      // for the move too, each on its own (a connect that timed out but landed is counted once:
      // it names the connection).
      const [{ openChats }, active] = await Promise.all([
        this.#svc.staffConnected(p, this.conn.id, (ask) => this.#patiently(ask)),
        this.#retrying(() => this.#svc.activeFor(p.id)).then((a) => (a instanceof Error ? [] : a)),
      ]);
      if (this.#closed) {
        // Closed while connecting: onClose ran before the count went up, so take it back here.
        this.#svc.staffDisconnected(p, this.conn.id).catch(() => {});
        return false;
      }
      this.#counted = true;
      // What the operator's own list and the queue say they hold, checked against each chat's
      // own state: a chat whose release or opening a crash cut off is set right here. During a
      // failover a chat's owner node may not answer for a while: the lookup waits for it.
      const candidates = [...new Set([...openChats, ...active])];
      const views = await Promise.all(
        candidates.map((id) => this.#retrying(() => this.#svc.peek(id))),
      );
      const listed = new Set(openChats);
      for (const [i, v] of views.entries()) {
        if (v instanceof Error) {
          // Still unreachable after the wait: the chat is listed and followed once it answers.
          if (isUnseen(v)) continue;
          openNow.push(candidates[i]);
          this.#followLater(candidates[i], query.resume?.get(candidates[i]));
          continue;
        }
        const own = v.operatorId === p.id;
        if (!own && listed.has(v.chatId)) this.#svc.forgetOpenChat(p.id, v.chatId);
        if (!own) continue;
        if (!listed.has(v.chatId) && v.status !== "closed") {
          this.#svc.rememberOpenChat(p.id, v.chatId);
        }
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
      // Its `staff:<chat>` entries are staff streams (notes): caught up below.
      const entries = [...query.resume ?? []];
      const cursor = await Promise.all(
        entries.filter(([key]) => !isStaffStream(key)).map(async ([chatId, seq]) => {
          const v = await this.#retrying(() => this.#svc.view(p, chatId));
          if (v instanceof Error) {
            if (!isUnseen(v)) this.#followLater(chatId, seq);
            return null;
          }
          return { chatId, from: Math.min(seq, v.seq) };
        }),
      );
      for (const c of cursor) if (c) resumeAt(c.chatId, c.from);
      // The staff stream of every chat followed here that this user may read (notes, labels):
      // live from now, or from the cursor's seq. A cursor names a staff stream once it has an
      // event, so one that names a chat but not its staff stream had none: from the start.
      const staffCursor = new Map(entries.filter(([key]) => isStaffStream(key)));
      const named = new Set(staffCursor.keys());
      for (const [key] of entries) {
        if (!isStaffStream(key) && !named.has(staffStream(key))) {
          staffCursor.set(staffStream(key), 0);
        }
      }
      const staffChats = new Set([
        ...follow.map((f) => f.chatId),
        ...[...staffCursor.keys()].map((key) => streamOf(key).chatId),
      ]);
      const streams = await Promise.all([...staffChats].map(async (chatId) => {
        const seq = await this.#retrying(() => this.#svc.staff.streamSeq(p, chatId));
        if (seq instanceof Error) return null;
        const from = staffCursor.get(staffStream(chatId));
        const key = staffStream(chatId);
        return from === undefined
          ? { chatId: key, from: seq, announce: false }
          : { chatId: key, from: Math.min(from, seq), announce: named.has(key) };
      }));
      for (const f of streams) if (f) follow.push(f);
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
    if (p.role === "operator") await this.#sendOpenOffers();
    await Promise.all(follow.map((f) => this.#follow(f.chatId, f.from, f.announce)));
    // A client waiting in the queue learns its place now, not only at the next change.
    const position = p.role === "client"
      ? await this.#svc.queueLive.currentPosition(p.chatId!)
      : null;
    if (position && !this.#closed) this.conn.send(position);
    return true;
  }

  /** Follows a chat's stream (`key`: the chat id, or `staff:<chat id>`) and catches it up. */
  async #follow(key: string, from: number, announce: boolean): Promise<void> {
    this.onFollow?.(key, from);
    const to = await this.#svc.hub.resume(this.conn.id, key, from);
    if (announce && !this.#closed) {
      const { chatId, stream } = streamOf(key);
      this.conn.send(frame("resumed", {
        chat_id: chatId,
        from_seq: from,
        to_seq: to,
        ...(stream === "staff" ? { stream } : {}),
      }));
    }
  }

  /**
   * The head of the queue and the counts now; from then on the connection is shown the changes
   * of the queue's views (src/server/queue_view.ts).
   */
  async #sendQueueSnapshot(delta: boolean): Promise<void> {
    // Read and watched in one step where the queue lives, so no view can come between.
    // The queue may be on a node that just died: the read waits for the move.
    const view = this.#svc.queueLive.reads.viewHere() ??
      await this.#patiently(() => this.#svc.queueLive.reads.view());
    if (this.#closed) return;
    const views = this.#svc.queueLive.views;
    this.conn.send(views.snapshotOf(view));
    // Ahead of the last view this node showed (changes within the interval): noted.
    this.#svc.hub.watchQueue(this.conn.id, delta, views.shows(view) ? null : view);
  }

  /**
   * Offers to this operator that wait for an answer. Coming online is what makes the queue offer
   * (auto routing), and it happens while this connection opens, before it joins the hub: the
   * `chat_offered` sent then reached no one, so the open offers are told now.
   */
  async #sendOpenOffers(): Promise<void> {
    const id = this.principal.id;
    const waiting = await this.#patiently(() => this.#svc.offersFor(id));
    for (const w of waiting) {
      if (w.offer?.operatorId !== this.principal.id || this.#closed) continue;
      this.conn.send(frame("chat_offered", {
        chat_id: w.chatId,
        client_id: w.clientId,
        priority: w.priority,
        waiting_since: new Date(w.enqueuedAt).toISOString(),
        expires_at: new Date(w.offer.until).toISOString(),
      }));
    }
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
    const started = performance.now();
    const out = await this.#handle(input);
    this.#o.metrics?.handled(out.reply, performance.now() - started);
    return out;
  }

  async #handle(input: string | { value: unknown }): Promise<Outcome> {
    if (!(await this.#ready) || this.#closed) return NOTHING;
    // Every frame counts, parsable or not; chat messages also against their own budget.
    if (!this.#budget.frames.take()) return this.#overBudget(inboundRef(input), "frames");
    const parsed = typeof input === "string" ? parseInbound(input) : parseInboundValue(input.value);
    if (!parsed.ok) {
      return { reply: errorFrame(new AppError(parsed.code, parsed.message), parsed.ref) };
    }
    const f = parsed.frame;
    this.#o.metrics?.frame(f.type);
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

  /**
   * Runs a lookup again while it fails with a retryable error (an actor's node died or is
   * handing over, a mailbox is full), with backoff on the injected clock, for at most
   * {@link LOOKUP_PATIENCE_MS}. Resolves with the value, or the last error (never rejects).
   */
  async #retrying<T>(lookup: () => Promise<T>): Promise<T | AppError> {
    let waited = 0;
    for (let i = 0;; i++) {
      try {
        return await lookup();
      } catch (err) {
        const e = toAppError(err);
        const delay = LOOKUP_BACKOFF_MS[Math.min(i, LOOKUP_BACKOFF_MS.length - 1)];
        if (!e.retryable || e.code === "internal" || this.#closed) return e;
        if (waited + delay > LOOKUP_PATIENCE_MS) return e;
        waited += delay;
        await new Promise<void>((r) => this.#o.clock.setTimeout(r, delay));
      }
    }
  }

  /** {@link #retrying}, failing with the last error. */
  async #patiently<T>(lookup: () => Promise<T>): Promise<T> {
    const r = await this.#retrying(lookup);
    if (r instanceof AppError) throw r;
    return r;
  }

  /** A chat that could not be looked up yet: followed (from `from`, or live) once it answers. */
  #followLater(chatId: string, from: number | undefined): void {
    const attempt = async () => {
      const v = await this.#retrying(() => this.#svc.view(this.principal, chatId));
      if (this.#closed) return;
      if (v instanceof Error) {
        if (isUnseen(v)) return;
        this.#o.clock.setTimeout(() => void attempt(), LOOKUP_PATIENCE_MS);
        return;
      }
      await this.#follow(chatId, Math.min(from ?? v.seq, v.seq), from !== undefined);
    };
    void attempt().catch((err) => this.#o.log.error("follow later failed", { chatId, err }));
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
      this.#svc.staffDisconnected(this.principal, this.conn.id).catch((err) =>
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
        // Only when the time has come (a clock may fire early): otherwise wait on.
        if (this.#o.now() < warnAt) return this.#scheduleExpiry();
        const expires_at = new Date(this.#expiresAt).toISOString();
        this.conn.send(frame("token_expiring", { expires_at }));
        this.#armExpiry();
      }, warnAt - now);
      return;
    }
    this.#armExpiry();
  }

  /** The close at expiry (4003), unless a refresh moved it. */
  #armExpiry(): void {
    const now = this.#o.now();
    this.#expiry = this.#o.clock.setTimeout(() => {
      this.#expiry = null;
      if (this.#closed) return;
      if (this.#o.now() < this.#expiresAt) return this.#armExpiry();
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
        if (f.payload.stream === "staff") {
          const seq = await this.#svc.staff.streamSeq(p, chatId);
          const from = Math.min(f.payload.last_seq, seq);
          return {
            ...ack({ chat_id: chatId }),
            after: () => this.#follow(staffStream(chatId), from, true),
          };
        }
        // A chat whose owner is moving answers after the move: the server waits, not the client.
        const view = await this.#retrying(() => this.#svc.view(p, chatId));
        if (view instanceof Error) throw view;
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
          this.#o.metrics?.ping(performance.now() - sentAt);
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
          ...(f.payload.reason ? { reason: f.payload.reason } : {}),
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
      case "note": {
        const chatId = this.#chatOf(f.payload.chat_id);
        const r = await this.#svc.staff.addNote(p, chatId, f.payload.text);
        return ack({ chat_id: chatId, seq: r.seq, mentions: r.mentions });
      }
      case "set_labels": {
        const chatId = this.#chatOf(f.payload.chat_id);
        const r = await this.#svc.staff.setLabels(p, chatId, f.payload.labels);
        return ack({
          chat_id: chatId,
          labels: r.labels,
          ...(r.seq === null ? {} : { seq: r.seq }),
        });
      }
    }
  }
}
