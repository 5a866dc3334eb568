/**
 * Erasing one person (GDPR art. 17, 152-FZ art. 21): every chat of the client — support and
 * lawyer chats, in any state — with everything a retention purge deletes, plus the client actor
 * (profile and chat list), the person's Telegram link and the client's id in the queue's log.
 *
 * 1. The chats: the client actor's list; when the list is full (it keeps the newest 200), every
 *    chat in the store is looked at as well, so none is missed.
 * 2. Open chats are closed through the normal path (as the erasing admin), so the queue and the
 *    operators let them go; both are then asked again (idempotent) to be sure before their logs
 *    are scrubbed.
 * 3. Purge records for every chat and the client; the owners' agents carry them out (here at
 *    once; in a cluster the other owners within a few seconds, waited for).
 * 4. One audit record: action `client_erased`, the actor, the number of chats and the reason —
 *    never the erased content. It names neither the client nor the chats (that would keep the
 *    id that was asked to be erased); `subject` is a keyed hash of the client id (HMAC-SHA256
 *    under a key derived from JWT_SECRET), so an auditor who is given the id can check it was
 *    erased, while the record alone identifies no one.
 *
 * Idempotent: a second run finds nothing left and records that it was asked again.
 */
import { CLIENT, SESSION } from "../../actors/_common.ts";
import { auditWrites } from "../../actors/_audit.ts";
import { CLIENT_CHATS_LIMIT, type ClientListReply } from "../../actors/client.ts";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../log.ts";
import type { Clock } from "../runtime/clock.ts";
import type { ActorRouter } from "../runtime/system.ts";
import { hmacSha256, toHex } from "../util/crypto.ts";
import { type ChatFacts, clientOfFirstChunk, readFacts } from "./chat_facts.ts";
import { nextChat } from "./_kv.ts";
import { pendingRecords, type PurgeAgent, purgeKey, writePurgeRecords } from "./jobs.ts";

export interface EraseOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly log: Logger;
  readonly router: ActorRouter;
  readonly agent: PurgeAgent;
  /** Key of the audit record's subject hash (derived from JWT_SECRET, see `mod.ts`). */
  readonly subjectKey: Uint8Array;
  /** How long to wait for other nodes' agents (cluster) before answering `unavailable`. */
  readonly waitMs: number;
}

export interface EraseResult {
  readonly client_id: string;
  readonly chats: number;
  readonly closed: number;
  /** The audit record's `source` (its id) and `subject`. */
  readonly audit_source: string;
  readonly subject: string;
}

export class ClientEraser {
  readonly #o: EraseOptions;

  constructor(o: EraseOptions) {
    this.#o = o;
  }

  /** Erases the client; `actor` is who asked (an admin). See the file's header. */
  async erase(
    clientId: string,
    reason: string,
    actor: { id: string; role: string },
  ): Promise<EraseResult> {
    const { kv, clock, agent, log } = this.#o;
    const todo = await this.#chatsOf(clientId);
    const seen = new Set(todo);
    let closed = 0;
    const facts: ChatFacts[] = [];
    for (let chatId = todo.shift(); chatId !== undefined; chatId = todo.shift()) {
      let f = await readFacts(kv, chatId);
      if (!f || f.clientId !== clientId) continue;
      if (f.closedAt === null) {
        await this.#close(chatId, actor);
        closed++;
        f = await readFacts(kv, chatId) ?? f;
      }
      facts.push(f);
      // A lawyer chat and its support chat name each other (both are this client's).
      for (const id of f.linked) if (!seen.has(id)) seen.add(id), todo.push(id);
    }
    const at = clock.now();
    await writePurgeRecords(kv, [
      ...facts.map((f) => ({
        type: SESSION,
        id: f.chatId,
        record: { mode: "erase" as const, at, facts: f },
      })),
      { type: CLIENT, id: clientId, record: { mode: "erase", at } },
    ]);
    const keys = [...facts.map((f) => purgeKey(SESSION, f.chatId)), purgeKey(CLIENT, clientId)];
    await agent.drain();
    await this.#waitFor(keys);
    const subject = toHex(await hmacSha256(this.#o.subjectKey, `client:${clientId}`));
    const source = `ops/erase#${crypto.randomUUID()}`;
    const writes = auditWrites({
      at: clock.now(),
      source,
      action: "client_erased",
      actor,
      operator_ids: [],
      reason: `${reason} (${facts.length} chat${facts.length === 1 ? "" : "s"} erased)`,
    });
    const op = kv.atomic();
    for (const w of writes) {
      if (w.op === "set") op.set(w.key, { ...w.value as object, chats: facts.length, subject });
    }
    await op.commit();
    log.info("client erased", { chats: facts.length, closed, audit: source });
    return {
      client_id: clientId,
      chats: facts.length,
      closed,
      audit_source: source,
      subject,
    };
  }

  /** Chat ids of the client: its actor's list, and a walk over every chat when that is full. */
  async #chatsOf(clientId: string): Promise<string[]> {
    const { chats } = await this.#o.router.askType(CLIENT, clientId, {
      type: "list",
    }) as ClientListReply;
    const ids = new Set(chats.map((c) => c.chatId));
    if (chats.length >= CLIENT_CHATS_LIMIT) {
      for (let c = await nextChat(this.#o.kv, null); c; c = await nextChat(this.#o.kv, c.chatId)) {
        if (clientOfFirstChunk(c.first) === clientId) ids.add(c.chatId);
      }
    }
    return [...ids];
  }

  /** Closes an open chat as the admin would; a chat that closed meanwhile is fine. */
  async #close(chatId: string, actor: { id: string; role: string }): Promise<void> {
    try {
      await this.#o.router.askType(SESSION, chatId, {
        type: "close",
        by: { id: actor.id, role: "admin" },
        reason: "client erased",
      });
    } catch (err) {
      if (toAppError(err).code !== "chat_closed") throw err;
    }
  }

  /** Waits (cluster) until other nodes' agents have carried out their records. */
  async #waitFor(keys: readonly Deno.KvKey[]): Promise<void> {
    const { kv, clock, waitMs } = this.#o;
    const deadline = clock.now() + waitMs;
    for (;;) {
      const left = await pendingRecords(kv, keys);
      if (left === 0) return;
      if (clock.now() >= deadline) {
        throw new AppError(
          "unavailable",
          `Erasure is still running on other nodes (${left} left); it goes on by itself, ` +
            "run the erase again later to confirm",
        );
      }
      await new Promise<void>((r) => clock.setTimeout(r, 250));
    }
  }
}
