/**
 * The application layer every transport calls: turns authenticated requests into actor commands,
 * and stored events into frames for the hub. Authorization lives in the actors (they know the
 * chat); this layer only checks what needs no chat state (e.g. staff-only operations).
 */
import { OPERATOR, QUEUE, SESSION } from "../../actors/_common.ts";
import { operatorEntity, type OperatorReplies } from "../../actors/operator.ts";
import { queueEntity, type QueueEvent, type QueueReplies } from "../../actors/queue.ts";
import {
  sessionEntity,
  type SessionEvent,
  type SessionReplies,
  type SessionView,
} from "../../actors/session.ts";
import { isStaff, type Principal } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import { frame } from "../protocol/mod.ts";
import type { ActorSystem } from "../runtime/system.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { Hub, StoredFrame } from "./hub.ts";
import { queueFrame, sessionFrame, type SessionFrameContext } from "./projection.ts";

const SYSTEM_CALLER = { id: "system", role: "admin" } as const;

export interface ChatServiceOptions {
  readonly system: ActorSystem;
  readonly hub: Hub;
  readonly queue: string;
  readonly maxTextLength: number;
  /** Changes on every process start; lets operators' connection counts reset after a crash. */
  readonly bootId: string;
}

export class ChatService {
  readonly system: ActorSystem;
  readonly hub: Hub;
  readonly #o: ChatServiceOptions;
  /** Counters for stats and metrics (this process's lifetime). */
  readonly counters = { messages: 0 };

  constructor(o: ChatServiceOptions) {
    this.#o = o;
    this.system = o.system;
    this.hub = o.hub;
    o.system.onCommitted((addr, envs) => {
      if (addr.type === SESSION) this.#onSession(addr.id, envs as Envelope<SessionEvent>[]);
      else if (addr.type === QUEUE) this.#onQueue(envs as Envelope<QueueEvent>[]);
    });
  }

  // ---- chat lifecycle ----

  async createChat(
    clientId: string,
    chatId: string,
  ): Promise<{ view: SessionView; position: number }> {
    const by = { id: clientId, role: "client" } as const;
    const view = await this.system.ask(sessionEntity, chatId, {
      type: "create",
      by,
      clientId,
      kind: "support",
      queue: this.#o.queue,
      priority: 0,
    }) as SessionReplies["create"];
    // The session also tells the queue; asking here makes the 201 mean "in the queue".
    const { position } = await this.system.ask(queueEntity, view.queue, {
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
    return await this.system.ask(sessionEntity, chatId, {
      type: "get",
      by: caller(p),
    }) as SessionView;
  }

  /** The chat's view without an authorization check, for the server's own use. */
  async peek(chatId: string): Promise<SessionView> {
    return await this.system.ask(sessionEntity, chatId, {
      type: "get",
      by: SYSTEM_CALLER,
    }) as SessionView;
  }

  get queueName(): string {
    return this.#o.queue;
  }

  async sendMessage(p: Principal, chatId: string, text: string, clientMsgId?: string) {
    this.#ownChat(p, chatId);
    if (text.length > this.#o.maxTextLength) {
      throw new AppError(
        "text_too_long",
        `Message text has ${text.length} characters; the limit is ${this.#o.maxTextLength}`,
      );
    }
    if (text.trim() === "") throw new AppError("invalid_payload", "Message text is empty");
    return await this.system.ask(sessionEntity, chatId, {
      type: "message",
      by: caller(p),
      text,
      ...(clientMsgId === undefined ? {} : { clientMsgId }),
    }) as SessionReplies["message"];
  }

  /** Claims a waiting chat for the calling operator; exactly one of many concurrent callers wins. */
  async accept(p: Principal, chatId: string): Promise<void> {
    if (p.role !== "operator" && p.role !== "admin") {
      throw new AppError("forbidden", `Role ${p.role} may not accept chats`);
    }
    await this.system.ask(queueEntity, this.#o.queue, { type: "claim", chatId, operatorId: p.id });
  }

  async typing(p: Principal, chatId: string, isTyping: boolean): Promise<void> {
    this.#ownChat(p, chatId);
    await this.system.ask(sessionEntity, chatId, { type: "typing", by: caller(p), isTyping });
  }

  async read(p: Principal, chatId: string, seq: number) {
    this.#ownChat(p, chatId);
    return await this.system.ask(sessionEntity, chatId, {
      type: "read",
      by: caller(p),
      seq,
    }) as SessionReplies["read"];
  }

  async close(p: Principal, chatId: string, reason?: string) {
    this.#ownChat(p, chatId);
    return await this.system.ask(sessionEntity, chatId, {
      type: "close",
      by: caller(p),
      ...(reason ? { reason } : {}),
    }) as SessionReplies["close"];
  }

  async rate(p: Principal, chatId: string, score: number, comment?: string) {
    this.#ownChat(p, chatId);
    return await this.system.ask(sessionEntity, chatId, {
      type: "rate",
      by: caller(p),
      score,
      ...(comment ? { comment } : {}),
    }) as SessionReplies["rate"];
  }

  /** A page of the chat's stored events as frames, for its participants and admins. */
  async history(p: Principal, chatId: string, afterSeq: number, limit: number) {
    const view = await this.view(p, chatId);
    const frames = await this.readFrames(chatId, afterSeq, limit + 1, view);
    const page = frames.slice(0, limit);
    return {
      chat_id: chatId,
      events: page.map((f) => f.frame),
      next_after_seq: page.length ? page[page.length - 1].seq : afterSeq,
      has_more: frames.length > limit,
    };
  }

  /** Stored frames after `afterSeq` (no authorization: callers check first). */
  async readFrames(
    chatId: string,
    afterSeq: number,
    limit: number,
    view?: SessionView,
  ): Promise<StoredFrame[]> {
    const ctx = view ?? await this.#frameContext(chatId);
    const envs = await this.system.readEvents<SessionEvent>(SESSION, chatId, afterSeq, limit);
    return envs.map((env) => ({ seq: env.seq, frame: sessionFrame(chatId, env, ctx) }));
  }

  queueSnapshot(): Promise<QueueReplies["snapshot"]> {
    return this.system.ask(queueEntity, this.#o.queue, { type: "snapshot" }) as Promise<
      QueueReplies["snapshot"]
    >;
  }

  // ---- staff presence ----

  async staffConnected(p: Principal): Promise<OperatorReplies["connect"]> {
    if (p.role === "client") throw new AppError("internal", "Clients have no operator actor");
    return await this.system.ask(operatorEntity, p.id, {
      type: "connect",
      role: p.role,
      ...(p.name ? { name: p.name } : {}),
      bootId: this.#o.bootId,
    }) as OperatorReplies["connect"];
  }

  staffDisconnected(p: Principal): void {
    try {
      this.system.tellType(OPERATOR, p.id, { type: "disconnect", bootId: this.#o.bootId });
    } catch {
      // Overloaded or shutting down: the next boot id resets the count anyway.
    }
  }

  // ---- stored events to frames ----

  #onSession(chatId: string, envs: Envelope<SessionEvent>[]): void {
    const live = this.system.inspect(SESSION, chatId)?.state as SessionView | undefined;
    const ctx: SessionFrameContext = live ?? { clientId: "", queue: this.#o.queue, priority: 0 };
    for (const env of envs) {
      if (env.event.type === "message") this.counters.messages++;
      if (env.event.type === "assigned") {
        const owner = env.event.operatorId;
        // Other staff may have looked at the waiting chat; it is no longer theirs to follow.
        this.hub.unsubscribeWhere(
          chatId,
          (p) => isStaff(p.role) && p.role !== "admin" && p.id !== owner,
        );
        // The new owner's connections follow the chat from just before this event.
        this.hub.subscribeUser(owner, chatId, env.seq - 1);
      }
      this.hub.publish(chatId, env.seq, sessionFrame(chatId, env, ctx));
    }
  }

  #onQueue(envs: Envelope<QueueEvent>[]): void {
    for (const env of envs) {
      const f = queueFrame(env);
      if (f) this.hub.toStaff(f);
    }
  }

  async #frameContext(chatId: string): Promise<SessionFrameContext> {
    const live = this.system.inspect(SESSION, chatId)?.state as SessionFrameContext | undefined;
    return live ?? await this.peek(chatId);
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
