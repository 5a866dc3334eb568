/**
 * Routing and admin operations (docs/ROUTING.md): transfers, lawyers, operator status and
 * capacity, priorities, the detailed queue, operators, statistics and the audit log. Every change
 * goes through the queue actor (the single writer) or the session actor; reads come from actor
 * state and from the counters and audit records stored with the events.
 */
import { AUDIT_PREFIX, type AuditRecord } from "../../actors/_audit.ts";
import { OPERATOR_COUNTERS, type OperatorCounter, statsKeys } from "../../actors/_stats.ts";
import { clientEntity, type ClientListReply } from "../../actors/client.ts";
import { operatorEntity, type OperatorView } from "../../actors/operator.ts";
import {
  capacityOf,
  estimatedWaitSeconds,
  type OperatorStatus,
  percentile,
  queueEntity,
  type QueueReplies,
  serviceRate,
} from "../../actors/queue.ts";
import { sessionEntity, type SessionView } from "../../actors/session.ts";

/** Pages of `GET …/admin/queue`: chats per page unless asked, and at most. */
export const QUEUE_PAGE_DEFAULT = 100;
export const QUEUE_PAGE_MAX = 1000;

export interface QueuePageQuery {
  readonly offset?: number;
  readonly limit?: number;
  readonly activeOffset?: number;
  readonly activeLimit?: number;
}
import { type Principal, staffKey } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import type { ChatService } from "./chat_service.ts";
import { type RosterEntry, staffRoster } from "./roster.ts";

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const caller = (p: Principal) => ({ id: p.id, role: p.role });

export class RoutingService {
  readonly #chat: ChatService;
  readonly #kv: Deno.Kv;
  readonly #queue: string;
  #peakStored = 0;
  #peakWrite: Promise<void> = Promise.resolve();

  constructor(chat: ChatService, queue: string) {
    this.#chat = chat;
    this.#kv = chat.system.journal.kv;
    this.#queue = queue;
  }

  /** Reaches actors wherever they live (the cluster's router, or the local system). */
  get #system() {
    return this.#chat.router;
  }

  /** Transfer to a named operator, or back to the queue (`to: null`), with a reason. */
  async transfer(p: Principal, chatId: string, to: string | null, reason: string) {
    staffOnly(p);
    return await this.#system.ask(queueEntity, this.#queue, {
      type: "transfer",
      chatId,
      to,
      reason,
      by: caller(p),
    }) as QueueReplies["transfer"];
  }

  /**
   * Opens a separate client–lawyer chat. The caller names the client's support chat, or (admins)
   * just the client; an operator must own a chat of that client.
   */
  async assignLawyer(
    p: Principal,
    o: { chatId?: string; clientId?: string; lawyerId: string; reason?: string },
  ) {
    staffOnly(p);
    if (p.role === "lawyer") throw new AppError("forbidden", "Lawyers may not assign lawyers");
    const support = await this.#supportChat(p, o.chatId, o.clientId);
    const lawyer = await this.#system.ask(operatorEntity, o.lawyerId, {
      type: "get",
    }) as OperatorView;
    if (lawyer.role !== null && lawyer.role !== "lawyer") {
      throw new AppError("invalid_payload", `User ${o.lawyerId} is not a lawyer`);
    }
    const lawyerChatId = crypto.randomUUID();
    await this.#system.ask(sessionEntity, lawyerChatId, {
      type: "create",
      by: caller(p),
      clientId: support.clientId,
      kind: "lawyer",
      queue: this.#queue,
      priority: 0,
      linkedChatId: support.chatId,
      lawyerId: o.lawyerId,
      ...(o.reason ? { reason: o.reason } : {}),
    });
    await this.#system.ask(sessionEntity, support.chatId, {
      type: "link_lawyer",
      by: caller(p),
      lawyerId: o.lawyerId,
      lawyerChatId,
      ...(o.reason ? { reason: o.reason } : {}),
    });
    return { lawyer_chat_id: lawyerChatId, client_id: support.clientId, chat_id: support.chatId };
  }

  async #supportChat(p: Principal, chatId?: string, clientId?: string): Promise<SessionView> {
    if (chatId) {
      const view = await this.#chat.view(p, chatId);
      if (clientId && view.clientId !== clientId) {
        throw new AppError("invalid_payload", `Chat ${chatId} belongs to another client`);
      }
      if (p.role !== "admin" && view.operatorId !== p.id) {
        throw new AppError("forbidden", `Chat ${chatId} is not assigned to you`);
      }
      return view;
    }
    if (!clientId) throw new AppError("invalid_payload", "Give chat_id or client_id");
    const { chats } = await this.#system.ask(clientEntity, clientId, {
      type: "list",
    }) as ClientListReply;
    const views = await Promise.all(
      chats.filter((c) => c.kind === "support").map((c) => this.#chat.peek(c.chatId)),
    );
    const own = views.filter((v) => p.role === "admin" || v.operatorId === p.id);
    const pick = own.find((v) => v.status !== "closed") ?? own[own.length - 1];
    if (!pick) {
      throw new AppError(
        p.role === "admin" ? "not_found" : "forbidden",
        `No support chat of client ${clientId} ${p.role === "admin" ? "exists" : "is yours"}`,
      );
    }
    return pick;
  }

  async setStatus(p: Principal, operatorId: string, status: OperatorStatus) {
    staffOnly(p);
    return await this.#system.ask(queueEntity, this.#queue, {
      type: "set_status",
      operatorId,
      status,
      by: caller(p),
    }) as QueueReplies["set_status"];
  }

  async setCapacity(p: Principal, operatorId: string, capacity: number | null) {
    adminOnly(p);
    return await this.#system.ask(queueEntity, this.#queue, {
      type: "set_capacity",
      operatorId,
      capacity,
      by: caller(p),
    }) as QueueReplies["set_capacity"];
  }

  async setPriority(p: Principal, chatId: string, priority: number) {
    adminOnly(p);
    return await this.#system.ask(queueEntity, this.#queue, {
      type: "set_priority",
      chatId,
      priority,
      by: caller(p),
    }) as QueueReplies["set_priority"];
  }

  /**
   * A page of the waiting chats in order (from `offset`, at most `limit`), with wait times and
   * estimates, and a page of the taken chats (in the order they were taken), with the totals.
   * O(log n + page) on the queue whatever its length.
   */
  async queueDetail(page: QueuePageQuery = {}) {
    const offset = page.offset ?? 0;
    const limit = page.limit ?? QUEUE_PAGE_DEFAULT;
    const activeOffset = page.activeOffset ?? 0;
    const activeLimit = page.activeLimit ?? QUEUE_PAGE_DEFAULT;
    const q = await this.#chat.queueLive.reads.page(offset, limit, activeOffset, activeLimit);
    const now = this.#chat.system.clock.now();
    const rate = serviceRate(q.recentClaims);
    return {
      queue: this.#queue,
      mode: q.config.mode,
      length: q.waitingTotal,
      offset,
      limit,
      service_rate_per_min: rate === null ? null : Math.round(rate * 600) / 10,
      waiting: q.waiting.map((w, i) => ({
        chat_id: w.chatId,
        client_id: w.clientId,
        priority: w.priority,
        position: offset + i + 1,
        waiting_since: iso(w.enqueuedAt),
        waited_s: Math.round((now - w.enqueuedAt) / 1000),
        estimated_wait_s: estimatedWaitSeconds(offset + i + 1, rate),
        requeued: w.requeued,
        offered_to: w.offer?.operatorId ?? null,
        offer_expires_at: iso(w.offer?.until ?? null),
      })),
      active_total: q.activeTotal,
      active_offset: activeOffset,
      active_limit: activeLimit,
      active: q.active.map((a) => ({
        chat_id: a.chatId,
        client_id: a.clientId,
        operator_id: a.operatorId,
        priority: a.priority,
        assigned_at: iso(a.assignedAt),
      })),
    };
  }

  /** The roster: status, capacity, load, presence and counters of every known operator. */
  async operators() {
    const roster = await this.#chat.queueLive.reads.roster();
    const counters = await this.#operatorCounters();
    return Object.entries(roster.operators).map(([id, slot]) => ({
      operator_id: id,
      role: slot.role,
      status: slot.status,
      connected: slot.connected,
      connections: this.#chat.hub.connectionsOf(staffKey(id)),
      presence_lost_at: iso(slot.lostAt),
      capacity: capacityOf(roster, slot),
      open_chats: slot.load,
      stats: operatorStats(counters.get(id)),
    }));
  }

  /**
   * Every staff member with name, role, status, presence, load and capacity, for pickers: admins
   * and lawyers are listed as such, never as operators (src/server/roster.ts).
   */
  async roster(): Promise<RosterEntry[]> {
    return await staffRoster(this.#chat);
  }

  /** Global and per-operator statistics (see docs/ROUTING.md for where each comes from). */
  async stats() {
    const q = await this.#chat.queueLive.reads.stats();
    const sums = async (key: Deno.KvKey) =>
      Number((await this.#kv.get<Deno.KvU64>(key)).value?.value ?? 0n);
    const [messages, created, closed, peak, counters] = await Promise.all([
      sums(statsKeys.messages()),
      sums(statsKeys.chatsCreated()),
      sums(statsKeys.chatsClosed()),
      sums(statsKeys.peakConnections()),
      this.#operatorCounters(),
    ]);
    const byRole = this.#chat.hub.countByRole();
    return {
      queue_length: q.waiting,
      active_chats: q.active,
      chats_created: created,
      chats_closed: closed,
      wait_avg_s: q.servedCount ? round1(q.waitSumMs / q.servedCount / 1000) : null,
      wait_p90_s: msToS(percentile(q.recentWaits, 90)),
      served: q.servedCount,
      connections: byRole,
      connections_total: this.#chat.hub.size,
      peak_connections: Math.max(peak, this.#chat.hub.peakConnections),
      messages_total: messages,
      operators: Object.fromEntries(
        [...counters.entries()].map(([id, c]) => [id, operatorStats(c)]),
      ),
    };
  }

  async #operatorCounters(): Promise<Map<string, Record<OperatorCounter, number>>> {
    const out = new Map<string, Record<OperatorCounter, number>>();
    for await (const e of this.#kv.list<Deno.KvU64>({ prefix: statsKeys.operatorPrefix() })) {
      const [, , id, field] = e.key as [string, string, string, OperatorCounter];
      if (!OPERATOR_COUNTERS.includes(field)) continue;
      let row = out.get(id);
      if (!row) {
        out.set(id, row = Object.fromEntries(OPERATOR_COUNTERS.map((f) => [f, 0])) as never);
      }
      row![field] = Number(e.value.value);
    }
    return out;
  }

  /** Audit records, newest first, by chat, by operator, or all. */
  async audit(
    filter: { chatId?: string; operatorId?: string; limit: number },
  ): Promise<AuditRecord[]> {
    const prefix = filter.chatId
      ? [...AUDIT_PREFIX, "chat", filter.chatId]
      : filter.operatorId
      ? [...AUDIT_PREFIX, "op", filter.operatorId]
      : [...AUDIT_PREFIX, "all"];
    const out: AuditRecord[] = [];
    for await (
      const e of this.#kv.list<AuditRecord>({ prefix }, { reverse: true, limit: filter.limit })
    ) {
      out.push(e.value);
    }
    return out;
  }

  /** Remembers a new connection high in KV (throttled: one write at a time, only when higher). */
  notePeak(connections: number): void {
    if (connections <= this.#peakStored) return;
    this.#peakStored = connections;
    this.#peakWrite = this.#peakWrite.then(async () => {
      const key = statsKeys.peakConnections();
      const cur = await this.#kv.get<Deno.KvU64>(key);
      const stored = Number(cur.value?.value ?? 0n);
      if (stored >= this.#peakStored) return;
      await this.#kv.atomic().check(cur).set(key, new Deno.KvU64(BigInt(this.#peakStored)))
        .commit();
    }).catch(() => {});
  }
}

function operatorStats(c: Record<OperatorCounter, number> | undefined) {
  const v = (f: OperatorCounter) => c?.[f] ?? 0;
  return {
    chats_assigned: v("assigned"),
    chats_handled: v("handled"),
    first_response_avg_s: v("frt_n") ? round1(v("frt_ms") / v("frt_n") / 1000) : null,
    resolution_avg_s: v("handled") ? round1(v("resolution_ms") / v("handled") / 1000) : null,
    rating_avg: v("rating_n") ? round1(v("rating_sum") / v("rating_n")) : null,
    ratings: v("rating_n"),
  };
}

const round1 = (n: number) => Math.round(n * 10) / 10;
const msToS = (ms: number | null) => (ms === null ? null : round1(ms / 1000));

function staffOnly(p: Principal): void {
  if (p.role === "client") throw new AppError("forbidden", "Staff only");
}

function adminOnly(p: Principal): void {
  if (p.role !== "admin") throw new AppError("forbidden", "Admins only");
}
