/**
 * The application layer every transport calls: turns authenticated requests into actor commands,
 * and stored events into frames for the hub. Authorization lives in the actors (they know the
 * chat); this layer only checks what needs no chat state (e.g. staff-only operations).
 */
import {
  decided,
  OPERATOR,
  participantKey,
  QUEUE,
  queueCaller,
  SESSION,
} from "../../actors/_common.ts";
import { msgIdKey } from "../../actors/_session_writes.ts";
import { dedupKey } from "../../actors/_session_view.ts";
import { type BootView, operatorEntity, type OperatorReplies } from "../../actors/operator.ts";
import {
  offeredTo,
  type QueueCommand,
  queueEntity,
  type QueueEvent,
  type QueueReplies,
  type QueueState,
} from "../../actors/queue.ts";
import {
  type Attachment,
  type Channel,
  sessionEntity,
  type SessionEvent,
  type SessionReplies,
  type SessionView,
} from "../../actors/session.ts";
import { type Principal, staffKey } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import { frame } from "../protocol/mod.ts";
import type { ActorRouter, ActorSystem } from "../runtime/system.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { Hub, StoredFrame } from "./hub.ts";
import { applyHubOps, type HubOp } from "./hub_ops.ts";
import {
  namedStaff,
  QUEUE_WATCHERS,
  queueFrames,
  sessionFrame,
  type SessionFrameContext,
} from "./projection.ts";
import { StaffNames } from "./staff_names.ts";
import { StaffSide } from "./staff_side.ts";
import { isStaffStream, streamOf } from "./streams.ts";
import type { OperatorEvent } from "../../actors/operator.ts";
import { QueueLive } from "./queue_live.ts";
import pLimit from "p-limit";

/** Log reads for replays and history pages under way at once on a node (`readLog`). */
export const MAX_CONCURRENT_LOG_READS = 32;
const always = () => true;

type QueueCommandOf<K extends QueueCommand["type"]> = Extract<QueueCommand, { type: K }>;

const SYSTEM_CALLER = { id: "system", role: "admin" } as const;

export interface ChatServiceOptions {
  /** This node's actors: their commits, their live state and the stored logs. */
  readonly system: ActorSystem;
  /** Reaches any actor: the system itself on one node, the cluster's router otherwise. */
  readonly router?: ActorRouter;
  /** Hands hub operations to the other nodes (cluster); they are always applied here too. */
  readonly fanout?: (ops: HubOp[], key: string) => void;
  /** Boots whose operator connection counts are void: default, every boot but this one. */
  readonly bootView?: () => BootView;
  readonly hub: Hub;
  readonly queue: string;
  readonly maxTextLength: number;
  /** Staff queue views and client positions (docs/ROUTING.md#scale-of-the-queue). */
  readonly queueView?: {
    readonly headSize?: number;
    readonly intervalMs?: number;
    readonly positionIntervalMs?: number;
  };

  /** Changes on every process start; lets operators' connection counts reset after a crash. */
  readonly bootId: string;
}

/** A stored session event, seen once, on the node that owns the chat (integrations listen). */
export interface ChatEventNotice {
  readonly chatId: string;
  readonly seq: number;
  readonly at: number;
  readonly event: SessionEvent;
  /** The chat after the event's batch (live state of the owner). */
  readonly view: SessionView;
}

export type AttachmentResolver = (
  chatId: string,
  uploaderId: string,
  ids: readonly string[],
) => Promise<Attachment[]>;

export interface CreateChatOptions {
  readonly channel?: Channel;
  /** Keep the chat with the bot (status `bot`) until it escalates. */
  readonly hold?: boolean;
  /** The name the client gave (shown to staff). */
  readonly clientName?: string;
  /** An offline message (left while nobody was online). */
  readonly offline?: boolean;
  /** The caller has just made `chatId` (a random UUID): no stored chat to recover first. */
  readonly fresh?: boolean;
}

export class ChatService {
  readonly system: ActorSystem;
  readonly router: ActorRouter;
  readonly hub: Hub;
  readonly #o: ChatServiceOptions;
  /** Counters for stats and metrics (this process's lifetime). */
  readonly counters = { messages: 0 };
  /** The queue as connections see it: reads, staff views, client places (queue_live.ts). */
  readonly queueLive: QueueLive;
  readonly #chatListeners = new Set<(n: ChatEventNotice) => void>();
  #resolveAttachments: AttachmentResolver | null = null;
  /** Staff display names (`operator_name` of frames). */
  readonly names: StaffNames;
  /** Notes, labels, mentions, and who may read a chat beyond its participants. */
  readonly staff: StaffSide;
  /** Per chat, frames held back until the names they show are looked up (kept in order). */
  readonly #emitting = new Map<string, Promise<void>>();

  constructor(o: ChatServiceOptions) {
    this.#o = o;
    this.system = o.system;
    this.router = o.router ?? o.system;
    this.hub = o.hub;
    this.names = new StaffNames(this.router);
    this.queueLive = new QueueLive({
      queue: o.queue,
      router: this.router,
      hub: o.hub,
      clock: o.system.clock,
      log: o.system.log,
      state: () => this.queueState(),
      publish: (view) => this.emit([{ op: "queue_view", view }], o.queue),
      ...o.queueView,
    });
    o.system.onCommitted((addr, envs) => {
      if (addr.type === SESSION) this.#onSession(addr.id, envs as Envelope<SessionEvent>[]);
      else if (addr.type === QUEUE) this.#onQueue(envs as Envelope<QueueEvent>[]);
      else if (addr.type === OPERATOR) {
        for (const { event } of envs as Envelope<OperatorEvent>[]) {
          if (event.type === "registered") this.names.remember(addr.id, event.name);
        }
      }
    });
    this.staff = new StaffSide(this);
  }

  // ---- chat lifecycle ----

  async createChat(
    clientId: string,
    chatId: string,
    opts: CreateChatOptions = {},
  ): Promise<{ view: SessionView; position: number }> {
    const by = { id: clientId, role: "client" } as const;
    const view = await this.router.ask(sessionEntity, chatId, {
      type: "create",
      by,
      clientId,
      kind: "support",
      queue: this.#o.queue,
      priority: 0,
      ...(opts.channel ? { channel: opts.channel } : {}),
      ...(opts.hold ? { hold: true } : {}),
      ...(opts.clientName ? { clientName: opts.clientName } : {}),
      ...(opts.offline ? { offline: true } : {}),
    }, { fresh: opts.fresh === true }) as SessionReplies["create"];
    if (view.status === "bot") return { view, position: 0 };
    // The session also tells the queue; asking here makes the 201 mean "in the queue".
    const { position } = await this.router.ask(queueEntity, view.queue, {
      type: "enqueue",
      chatId,
      clientId,
      priority: view.priority,
      enqueuedAt: view.queuedAt ?? this.system.clock.now(),
    }) as QueueReplies["enqueue"];
    return { view, position };
  }

  async view(p: Principal, chatId: string): Promise<SessionView> {
    this.#ownChat(p, chatId);
    return await this.router.ask(sessionEntity, chatId, {
      type: "get",
      by: caller(p),
    }) as SessionView;
  }

  /** The chat's view without an authorization check, for the server's own use. */
  async peek(chatId: string): Promise<SessionView> {
    return await this.router.ask(sessionEntity, chatId, {
      type: "get",
      by: SYSTEM_CALLER,
    }) as SessionView;
  }

  /** The queue actor's live state, if it is in memory (it is pinned once started). */
  queueState(): QueueState | undefined {
    return this.system.inspect(QUEUE, this.#o.queue)?.state as QueueState | undefined;
  }

  get queueName(): string {
    return this.#o.queue;
  }

  async sendMessage(
    p: Principal,
    chatId: string,
    text: string,
    clientMsgId?: string,
    attachmentIds: readonly string[] = [],
  ) {
    this.#ownChat(p, chatId);
    let attachments: Attachment[] = [];
    if (attachmentIds.length > 0) {
      if (!this.#resolveAttachments) {
        throw new AppError("not_supported", "Attachments are not enabled on this server");
      }
      attachments = await this.#resolveAttachments(chatId, p.id, attachmentIds);
    }
    if (text.length > this.#o.maxTextLength) {
      throw new AppError(
        "text_too_long",
        `Message text has ${text.length} characters; the limit is ${this.#o.maxTextLength}`,
      );
    }
    if (text.trim() === "" && attachments.length === 0) {
      throw new AppError("invalid_payload", "Message text is empty");
    }
    // In a cluster the command may cross Kafka, which redelivers after a crash: give it an id.
    const requestId = clientMsgId === undefined && this.router !== this.system
      ? crypto.randomUUID()
      : undefined;
    const cmd = {
      type: "message" as const,
      by: caller(p),
      text,
      ...(clientMsgId === undefined ? {} : { clientMsgId }),
      ...(requestId === undefined ? {} : { requestId }),
      ...(attachments.length ? { attachments } : {}),
    };
    const r = await this.router.ask(sessionEntity, chatId, cmd) as SessionReplies["message"];
    if (!("lookup" in r)) return r;
    // Older than the chat's recent window: the stored index of message ids decides.
    const key = dedupKey(cmd)!;
    const stored = await this.system.journal.kv.get<number>(
      msgIdKey(chatId, participantKey(cmd.by), key),
    );
    if (stored.value !== null) return { seq: stored.value, duplicate: true as const };
    const again = await this.router.ask(sessionEntity, chatId, {
      ...cmd,
      storedChecked: true,
    }) as SessionReplies["message"];
    if ("lookup" in again) throw new AppError("internal", "The session asked twice for a lookup");
    return again;
  }

  // ---- integrations (bot, titles, channels, webhooks) ----

  /**
   * The attachments service: turns uploaded file ids into attachment metadata, checking they
   * belong to this chat and uploader. Without one, messages with attachments are refused.
   */
  useAttachments(resolver: AttachmentResolver): void {
    this.#resolveAttachments = resolver;
  }

  /**
   * Listens to every stored session event, once, on the node that owns the chat (so in a cluster
   * exactly one node reacts). Listeners must not throw; they run after the commit.
   */
  onChatEvent(listener: (n: ChatEventNotice) => void): () => void {
    this.#chatListeners.add(listener);
    return () => this.#chatListeners.delete(listener);
  }

  /** The bot's answer, stored as a session event (`bot_response` on the wire). */
  async botReply(
    chatId: string,
    r: { intent: string; confidence: number; text: string; quickReplies: string[] },
  ) {
    return await this.router.ask(sessionEntity, chatId, {
      type: "bot_reply",
      by: SYSTEM_CALLER,
      ...r,
    }) as SessionReplies["bot_reply"];
  }

  /** Hands the chat to a human: a chat the bot holds joins the queue (auto routing assigns it). */
  async escalate(chatId: string, reason: string, by: Principal | null = null) {
    if (by) this.#ownChat(by, chatId);
    return await this.router.ask(sessionEntity, chatId, {
      type: "escalate",
      by: by ? caller(by) : SYSTEM_CALLER,
      reason,
    }) as SessionReplies["escalate"];
  }

  async setTitle(chatId: string, title: string) {
    return await this.router.ask(sessionEntity, chatId, {
      type: "set_title",
      by: SYSTEM_CALLER,
      title,
    }) as SessionReplies["set_title"];
  }

  /**
   * Claims a waiting chat for the calling operator; exactly one of many concurrent callers wins.
   * Answered once the chat itself says it is theirs: the queue's claim is confirmed with the
   * chat (the queue's `assign`, which it also sends; taken once), so a chat the queue still lists
   * but that was closed meanwhile (a release a crash delayed) is refused, not acked and then gone.
   */
  async accept(p: Principal, chatId: string): Promise<void> {
    if (p.role !== "operator" && p.role !== "admin") {
      throw new AppError("forbidden", `Role ${p.role} may not accept chats`);
    }
    const claim = await this.router.ask(queueEntity, this.#o.queue, {
      type: "claim",
      chatId,
      operatorId: p.id,
    }) as QueueReplies["claim"];
    // The claim's decision: if the queue has decided otherwise since (the operator went offline,
    // an admin moved the chat), the chat refuses this as late instead of taking it back.
    const r = await this.router.ask(sessionEntity, chatId, {
      type: "assign",
      by: queueCaller(this.#o.queue),
      operatorId: p.id,
      reason: "accepted",
      ...decided(claim.decision),
    }) as SessionReplies["assign"];
    if (r.status === "closed") throw new AppError("chat_closed", `Chat ${chatId} is closed`);
  }

  async typing(p: Principal, chatId: string, isTyping: boolean): Promise<void> {
    this.#ownChat(p, chatId);
    await this.router.ask(sessionEntity, chatId, { type: "typing", by: caller(p), isTyping });
  }

  async read(p: Principal, chatId: string, seq: number) {
    this.#ownChat(p, chatId);
    return await this.router.ask(sessionEntity, chatId, {
      type: "read",
      by: caller(p),
      seq,
    }) as SessionReplies["read"];
  }

  async close(p: Principal, chatId: string, reason?: string) {
    this.#ownChat(p, chatId);
    return await this.router.ask(sessionEntity, chatId, {
      type: "close",
      by: caller(p),
      ...(reason ? { reason } : {}),
    }) as SessionReplies["close"];
  }

  async rate(p: Principal, chatId: string, score: number, comment?: string) {
    this.#ownChat(p, chatId);
    return await this.router.ask(sessionEntity, chatId, {
      type: "rate",
      by: caller(p),
      score,
      ...(comment ? { comment } : {}),
    }) as SessionReplies["rate"];
  }

  /**
   * A page of the chat's stored events as frames, for its participants and admins (or for whom
   * `readable`, the view of a chat the caller was let read, says).
   */
  async history(
    p: Principal,
    chatId: string,
    afterSeq: number,
    limit: number,
    readable?: SessionView,
  ) {
    const view = readable ?? await this.view(p, chatId);
    const frames = await this.readFrames(chatId, afterSeq, limit + 1, view);
    const page = frames.slice(0, limit);
    return {
      chat_id: chatId,
      events: page.map((f) => f.frame),
      next_after_seq: page.length ? page[page.length - 1].seq : afterSeq,
      has_more: frames.length > limit,
    };
  }

  /**
   * Stored events of an actor for a replay or a history page, at most
   * {@link MAX_CONCURRENT_LOG_READS} such reads at a time over the node (p-limit, first come first
   * served; actors' own recoveries do not wait for them). Unbounded, a reconnect storm (10,000
   * clients after a deploy, each resuming its chat) put one KV read per connection in flight at
   * once, over 9,000 in the benchmark: each held its buffers until the KV's thread got to it, and
   * the actors' reads and writes queued behind them all. Only the read itself takes a turn: what
   * goes with it (the chat's view, staff names) may be an ask to another node. `wanted` is asked
   * when the turn comes: a connection gone while it waited reads nothing (a flapping client in a
   * storm would otherwise cost a page read per reconnect).
   */
  readLog<E>(
    type: string,
    id: string,
    afterSeq: number,
    limit: number,
    wanted: () => boolean = always,
  ): Promise<Envelope<E>[]> {
    return this.#logReads(() =>
      wanted() ? this.system.readEvents<E>(type, id, afterSeq, limit) : Promise.resolve([])
    );
  }

  readonly #logReads = pLimit(MAX_CONCURRENT_LOG_READS);

  /**
   * Stored frames after `afterSeq` (no authorization: callers check first); none when `wanted`
   * says no by the time the read's turn comes ({@link readLog}).
   */
  async readFrames(
    chatId: string,
    afterSeq: number,
    limit: number,
    view?: SessionView,
    wanted: () => boolean = always,
  ): Promise<StoredFrame[]> {
    // The hub reads both streams of a chat: its own, and its staff stream (notes, labels).
    if (isStaffStream(chatId)) {
      return this.staff.readFrames(streamOf(chatId).chatId, afterSeq, limit, wanted);
    }
    const base = view ?? await this.#frameContext(chatId);
    const envs = await this.readLog<SessionEvent>(SESSION, chatId, afterSeq, limit, wanted);
    await this.names.load(namedStaff(envs));
    const ctx = { ...base, staffName: (id: string) => this.names.cached(id) };
    return envs.map((env) => ({ seq: env.seq, frame: sessionFrame(chatId, env, ctx) }));
  }

  /** The whole queue as plain JSON: O(n), for tests and diagnostics (services read pages). */
  /**
   * The whole queue, O(n) (tests and diagnostics): across nodes it is one broker record, over
   * Kafka's 1 MiB at 10,000 waiting, so the server itself asks for what it needs instead.
   */
  queueSnapshot(): Promise<QueueReplies["snapshot"]> {
    return this.router.ask(queueEntity, this.#o.queue, { type: "snapshot" }) as Promise<
      QueueReplies["snapshot"]
    >;
  }

  /**
   * The waiting chats the queue offers to an operator (auto routing), wherever it lives: read
   * from the live queue on this node (no turn in its mailbox), else asked of its node.
   */
  offersFor(operatorId: string): Promise<QueueReplies["offersFor"]> {
    const live = this.queueState();
    if (live) return Promise.resolve(offeredTo(live, operatorId));
    return this.router.ask(queueEntity, this.#o.queue, {
      type: "offersFor",
      operatorId,
    }) as Promise<QueueReplies["offersFor"]>;
  }

  // ---- staff presence ----

  /**
   * A staff connection opened: count it, and make sure the queue sees the operator present.
   * `attempt` runs each of the two asks (the caller's retries during a failover): they are tried
   * apart, and the connection names itself (`connId`), so a retried connect that had landed
   * counts it once.
   */
  async staffConnected(
    p: Principal,
    connId: string,
    attempt: <T>(ask: () => Promise<T>) => Promise<T> = (ask) => ask(),
  ): Promise<OperatorReplies["connect"]> {
    const role = p.role;
    if (role === "client") throw new AppError("internal", "Clients have no operator actor");
    this.names.remember(p.id, p.name);
    const reply = await attempt(() =>
      this.router.ask(operatorEntity, p.id, {
        type: "connect",
        role,
        ...(p.name ? { name: p.name } : {}),
        bootId: this.#o.bootId,
        connId,
        ...this.#bootView(),
      }) as Promise<OperatorReplies["connect"]>
    );
    await attempt(() =>
      this.router.ask(queueEntity, this.#o.queue, {
        type: "operator_online",
        operatorId: p.id,
        role,
      })
    );
    return reply;
  }

  /** The chats the queue holds as assigned to `operatorId` (support chats). */
  async activeFor(operatorId: string): Promise<string[]> {
    return await this.router.ask(queueEntity, this.#o.queue, {
      type: "activeFor",
      operatorId,
    }) as QueueReplies["activeFor"];
  }

  /** The operator's own list lacks a chat they own: tell it (a crash cut the opening off). */
  rememberOpenChat(operatorId: string, chatId: string): void {
    this.#tellQuietly(OPERATOR, operatorId, { type: "chat_opened", chatId });
  }

  /** The operator's own list has a chat they no longer own: tell it. */
  forgetOpenChat(operatorId: string, chatId: string): void {
    this.#tellQuietly(OPERATOR, operatorId, { type: "chat_closed", chatId });
  }

  #tellQuietly(type: string, id: string, command: unknown): void {
    try {
      this.router.tellType(type, id, command);
    } catch (err) {
      // A full mailbox or a stopping node: the next connect sets the list right again.
      if (!(err instanceof AppError)) throw err;
    }
  }

  /** A staff connection closed; the last one starts the presence grace period in the queue. */
  async staffDisconnected(p: Principal, connId: string): Promise<void> {
    try {
      const { connections } = await this.router.ask(operatorEntity, p.id, {
        type: "disconnect",
        bootId: this.#o.bootId,
        connId,
        ...this.#bootView(),
      }) as OperatorReplies["disconnect"];
      if (connections === 0 && this.hub.connectionsOf(staffKey(p.id)) === 0) {
        await this.router.ask(queueEntity, this.#o.queue, {
          type: "operator_lost",
          operatorId: p.id,
        });
      }
    } catch (err) {
      // Shutting down or overloaded: a restarted queue starts every grace period itself.
      if (!(err instanceof AppError)) throw err;
    }
  }

  /** Applies routing settings from the configuration (stored only when they change). */
  async configureQueue(config: QueueCommandOf<"configure">["config"]): Promise<void> {
    await this.router.ask(queueEntity, this.#o.queue, { type: "configure", config });
  }

  // ---- stored events to frames ----

  /** Applies hub operations here and hands them to the other nodes (cluster). */
  emit(ops: HubOp[], key: string): void {
    if (ops.length === 0) return;
    this.applyOps(ops);
    this.#o.fanout?.(ops, key);
  }

  /** Applies hub operations (this node's own, or another node's from the broker). */
  applyOps(ops: readonly HubOp[]): void {
    applyHubOps(
      this.hub,
      ops,
      (operatorId) => this.#reannounce(operatorId),
      (view) => this.queueLive.applyView(view),
    );
  }

  /** Stops the queue view and position timers (server shutdown). */
  stop(): void {
    this.queueLive.stop();
  }

  /** The queue lost this operator (restart, move or presence audit): if connected here, stay. */
  #reannounce(operatorId: string): void {
    const role = this.hub.staffRoleOf(operatorId);
    if (!role) return;
    try {
      this.router.tellType(QUEUE, this.#o.queue, { type: "operator_online", operatorId, role });
    } catch (err) {
      if (!(err instanceof AppError)) throw err;
    }
  }

  #onSession(chatId: string, envs: Envelope<SessionEvent>[]): void {
    const live = this.system.inspect(SESSION, chatId)?.state as SessionView | undefined;
    const ctx: SessionFrameContext = live ?? { clientId: "", queue: this.#o.queue, priority: 0 };
    const unknown = namedStaff(envs).filter((id) => !this.names.has(id));
    const pending = this.#emitting.get(chatId);
    if (unknown.length === 0 && !pending) this.#emitSession(chatId, envs, ctx);
    else {
      // A name this node has not seen (the operator is connected elsewhere): look it up first,
      // and hold the chat's later frames behind these so they keep their order.
      const next = (pending ?? Promise.resolve())
        .then(() => this.names.load(unknown))
        .then(() => this.#emitSession(chatId, envs, ctx))
        .catch((err) => console.error("session frames failed", err))
        .finally(() => {
          if (this.#emitting.get(chatId) === next) this.#emitting.delete(chatId);
        });
      this.#emitting.set(chatId, next);
    }
    if (live) this.#notifyChatListeners(chatId, envs, live);
  }

  #emitSession(chatId: string, envs: Envelope<SessionEvent>[], base: SessionFrameContext): void {
    const ctx = { ...base, staffName: (id: string) => this.names.cached(id) };
    const ops: HubOp[] = [];
    for (const env of envs) {
      if (env.event.type === "message") this.counters.messages++;
      if (env.event.type === "assigned") {
        // A lawyer chat is new to its lawyer: from its start, with who opened it and why.
        const from = env.event.reason === "lawyer" ? { from: 0 } : {};
        ops.push({
          op: "assigned",
          chatId,
          operatorId: env.event.operatorId,
          seq: env.seq,
          ...from,
        });
      }
      ops.push({ op: "publish", chatId, seq: env.seq, frame: sessionFrame(chatId, env, ctx) });
      if (env.event.type === "transferred") {
        ops.push({ op: "transferred", chatId, to: env.event.to });
      }
    }
    this.emit(ops, chatId);
  }

  /** Integrations hear each stored event once; one failing listener does not stop the others. */
  #notifyChatListeners(chatId: string, envs: Envelope<SessionEvent>[], view: SessionView): void {
    for (const env of envs) {
      const notice = { chatId, seq: env.seq, at: env.at, event: env.event, view };
      for (const listener of this.#chatListeners) {
        try {
          listener(notice);
        } catch (err) {
          console.error("chat event listener failed", err);
        }
      }
    }
  }

  #onQueue(envs: Envelope<QueueEvent>[]): void {
    const ops: HubOp[] = [];
    for (const env of envs) {
      if (env.event.type === "operator_lost") {
        ops.push({ op: "presence", operatorId: env.event.operatorId });
      }
    }
    const after = this.system.inspect(QUEUE, this.#o.queue)?.state as QueueState | undefined;
    for (const env of envs) {
      for (const d of queueFrames(env, after)) {
        if (d.to === "staff") ops.push({ op: "staff", frame: d.frame, roles: QUEUE_WATCHERS });
        else ops.push({ op: "user", user: staffKey(d.userId), frame: d.frame });
      }
    }
    this.emit(ops, this.#o.queue);
    // The head, counts and positions: coalesced per interval (src/server/queue_live.ts).
    this.queueLive.onCommit(envs);
  }

  async #frameContext(chatId: string): Promise<SessionFrameContext> {
    const live = this.system.inspect(SESSION, chatId)?.state as SessionFrameContext | undefined;
    return live ?? await this.peek(chatId);
  }

  #bootView(): BootView {
    return this.#o.bootView?.() ?? { live: [this.#o.bootId] };
  }

  /** A client token opens one chat only. */
  #ownChat(p: Principal, chatId: string): void {
    if (p.role === "client" && p.chatId !== chatId) {
      throw new AppError("forbidden", `This token does not open chat ${chatId}`);
    }
  }

  typingFrame(data: { chatId: string; userId: string; role: string; isTyping: boolean }) {
    return frame("typing", {
      chat_id: data.chatId,
      user_id: data.userId,
      role: data.role as Principal["role"],
      is_typing: data.isTyping,
    });
  }
}

function caller(p: Principal) {
  return { id: p.id, role: p.role };
}
