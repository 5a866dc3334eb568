/**
 * Helpers for the search tests: chat logs as the session stores them (events plus the search feed
 * mark, in one atomic) in a fake log over a real KV, and builders of whole conversations.
 */
import assert from "node:assert/strict";
import type { Principal } from "../../src/auth/principal.ts";
import type { SessionEvent } from "../../actors/_session_types.ts";
import { searchFeedKey } from "../../actors/_session_writes.ts";
import type { Envelope } from "../../src/runtime/entity.ts";
import type { FeedEvent } from "../../src/integrations/feed.ts";

export const T0 = Date.UTC(2026, 10, 1, 9);

/** A client's principal for one chat (the chat token's), never expiring. */
export const chatClient = (id: string, chatId: string): Principal => ({
  id,
  role: "client",
  scope: "chat",
  chatId,
  expiresAt: Infinity,
});
export const DAY = 86_400_000;

export class FakeLog {
  readonly #logs = new Map<string, Envelope<SessionEvent>[]>();
  reads = 0;

  constructor(readonly kv: Deno.Kv) {}

  /** Stores events (seq numbered) and raises the chat's search mark; returns them as feed events. */
  async append(chatId: string, ...events: SessionEvent[]): Promise<FeedEvent[]> {
    const log = this.#logs.get(chatId) ?? [];
    this.#logs.set(chatId, log);
    const envs = events.map((event, i) => ({
      seq: log.length + i + 1,
      at: "at" in event && typeof event.at === "number" ? event.at : T0,
      event,
    }));
    log.push(...envs);
    const ok = await this.kv.atomic().max(searchFeedKey(chatId), BigInt(log.length)).commit();
    assert.ok(ok.ok);
    return envs.map((e) => ({ chatId, ...e }));
  }

  /** The chat's log is deleted (as retention or erasure do). */
  drop(chatId: string): void {
    this.#logs.delete(chatId);
  }

  readonly read = (chatId: string, after: number, limit: number) => {
    this.reads++;
    const log = this.#logs.get(chatId) ?? [];
    return Promise.resolve(log.filter((e) => e.seq > after).slice(0, limit));
  };
}

export interface Conversation {
  readonly client?: string;
  readonly name?: string;
  readonly kind?: "support" | "lawyer";
  /** The operator (or lawyer) who takes it; none leaves it waiting. */
  readonly operator?: string;
  readonly messages?: ReadonlyArray<readonly ["client" | "staff", string]>;
  readonly closed?: boolean;
  readonly at?: number;
  readonly title?: string;
}

/** A conversation's events, in the order a session stores them. */
export function conversation(c: Conversation): SessionEvent[] {
  const at = c.at ?? T0;
  const client = c.client ?? "alice";
  const kind = c.kind ?? "support";
  const out: SessionEvent[] = [{
    type: "created",
    clientId: client,
    kind,
    queue: "default",
    priority: 0,
    byId: client,
    byRole: "client",
    ...(c.name ? { clientName: c.name } : {}),
    at,
  }];
  if (kind === "support") out.push({ type: "queued", at });
  if (c.operator) {
    out.push({ type: "assigned", operatorId: c.operator, reason: "accepted", at: at + 1000 });
  }
  for (const [i, [who, text]] of (c.messages ?? []).entries()) {
    const staff = who === "staff";
    out.push({
      type: "message",
      senderId: staff ? c.operator ?? "op-x" : client,
      senderRole: staff ? (kind === "lawyer" ? "lawyer" : "operator") : "client",
      text,
      at: at + 2000 + i * 1000,
    });
  }
  if (c.title) out.push({ type: "titled", title: c.title, at: at + 1500 });
  if (c.closed) {
    out.push({ type: "closed", byId: client, byRole: "client", reason: null, at: at + 60_000 });
  }
  return out;
}

/** Every key under a prefix with the bytes of its key and value (as stored, roughly). */
export async function footprint(kv: Deno.Kv, prefix: Deno.KvKey) {
  let keys = 0;
  let bytes = 0;
  for await (const e of kv.list({ prefix })) {
    keys++;
    bytes += JSON.stringify(e.key).length + JSON.stringify(e.value, bigints).length;
  }
  return { keys, bytes };
}

function bigints(_k: string, v: unknown) {
  return typeof v === "bigint" ? Number(v) : v;
}
