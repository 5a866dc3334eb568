/**
 * Deletes chats completely: what retention and erasure share. For each chat, on the node that
 * owns it (its in-memory actor is released first, so no later snapshot writes it back):
 *
 * - the session's log, snapshot and owed commands (`["a", "ev"|"sn"|"sp"|"ob", "session", id]`);
 * - every actor whose id is the chat's (the session, and any per-chat actor such as staff notes),
 *   and every key whose second part is the chat id, whatever its family: the message-id index
 *   (`["msgid", id]`), feed marks (`["feed"|"feed_ch", id]`) and whatever per-chat records
 *   features add later; the webhook cursor (`["wh","cur",id]`) and the Telegram cursor, outbox,
 *   sent and dead-out records;
 * - its audit records (by chat, and the same records in the by-time and by-operator indexes);
 * - its files (bytes in the store, then the metadata), hints harvested from it (also from this
 *   node's index at once, and from the others' through `jobs.ts`), its search postings;
 * - records elsewhere that name it: commands other actors owe about it, webhook deliveries and
 *   dead letters, Telegram links, processed-update records and inbound dead letters;
 * - its id in the logs of the queue, the staff and (retention) its client, scrubbed
 *   (`scrub.ts`) once each of those actors has let it go; retention also tells the client actor
 *   to forget it.
 *
 * Every step is idempotent, so a purge cut off by a crash is run again from its record.
 */
import { CLIENT, OPERATOR, QUEUE, SESSION } from "../../actors/_common.ts";
import type { OperatorView } from "../../actors/operator.ts";
import type { QueueReplies } from "../../actors/_queue_types.ts";
import type { AuditRecord } from "../../actors/_audit.ts";
import type { Logger } from "../log.ts";
import type { ActorRouter, ActorSystem } from "../runtime/system.ts";
import type { BlobStore, StoredAttachment } from "../integrations/attachments/store.ts";
import { metaKey } from "../integrations/attachments/service.ts";
import { type DeadLetter, type Delivery, K as WH } from "../integrations/webhooks/store.ts";
import { PAIRS_PER_CHAT, type StoredPair } from "../integrations/hints/history.ts";
import type { ChatLink, SeenUpdate } from "../integrations/telegram/_kv.ts";
import type { ChatFacts } from "./chat_facts.ts";
import {
  ACTORS,
  deleteKeys,
  deletePrefix,
  keyParts,
  listAll,
  mentions,
  telegramRoots,
} from "./_kv.ts";
import { scrubActor } from "./scrub.ts";

export interface PurgeEnv {
  readonly kv: Deno.Kv;
  /** This node's actors: released before their data is deleted. */
  readonly system: ActorSystem;
  /** Reaches any actor (the cluster's router on a cluster node). */
  readonly router: ActorRouter;
  readonly log: Logger;
  /** The attachment bytes (null: none to delete). */
  readonly blobs: BlobStore | null;
  /** Waits until this node's integrations have taken in every chat event stored so far. */
  readonly settle: () => Promise<void>;
  /** Hint pairs deleted: out of this node's index at once, and announced to the others. */
  readonly hintsGone: (numbers: number[]) => Promise<void>;
  /** Drops the chats from derived indexes that know how (the search index). */
  readonly forget: (chatIds: string[]) => Promise<void>;
}

/** What one purge deleted (and whether it finished: scrubs may have to wait). */
export interface PurgeCounts {
  chats: number;
  keys: number;
  attachments: number;
  hints: number;
  deliveries: number;
  scrubbed: number;
  complete: boolean;
}

export type PurgeMode = "retention" | "erase";

interface Layout {
  /** First key parts of the store (families) other than the actors'. */
  readonly families: readonly string[];
  /** Actor types with stored logs or snapshots. */
  readonly types: readonly string[];
}

const MINUS_ONE = (1n << 64n) - 1n;
/** A released actor that came straight back (a late command) is released and deleted again. */
const ROUNDS = 3;

export class ChatPurger {
  readonly #e: PurgeEnv;

  constructor(env: PurgeEnv) {
    this.#e = env;
  }

  /**
   * Deletes `chats` everywhere. `erase` also scrubs the clients' ids from the queue's log (the
   * client actor itself goes with {@link purgeClient}); `retention` keeps the client and makes
   * its actor forget the chats.
   */
  async purge(chats: readonly ChatFacts[], mode: PurgeMode): Promise<PurgeCounts> {
    const { kv, system, log } = this.#e;
    const counts: PurgeCounts = {
      chats: chats.length,
      keys: 0,
      attachments: 0,
      hints: 0,
      deliveries: 0,
      scrubbed: 0,
      complete: true,
    };
    if (chats.length === 0) return counts;
    const ids = new Set(chats.map((c) => c.chatId));
    const roots = await telegramRoots(kv);
    await this.#e.settle();
    const layout = await this.#layout();
    const live = () => [...ids].some((id) => layout.types.some((t) => system.inspect(t, id)));
    for (let round = 0; round < ROUNDS; round++) {
      await system.release((a) => ids.has(a.id) && a.type !== QUEUE && a.type !== OPERATOR);
      for (const c of chats) counts.keys += await this.#deleteChatKeys(c.chatId, roots, layout);
      if (!live()) break;
      log.warn("purge: a deleted chat came back into memory; deleting it again", { round });
    }
    await this.#e.forget([...ids]);
    const named = new Set(ids);
    if (mode === "erase") { for (const c of chats) named.add(c.clientId); }
    counts.keys += await this.#deleteOwed(named);
    counts.attachments += await this.#deleteFiles(chats);
    counts.hints += await this.#deleteHints(ids);
    counts.deliveries += await this.#deleteDeliveries(ids);
    counts.keys += await this.#deleteTelegram(chats, roots, mode);
    if (mode === "retention") await this.#forgetInClients(chats);
    const result = await this.#scrub(chats, mode);
    counts.scrubbed = result.scrubbed;
    counts.complete = result.complete;
    return counts;
  }

  /**
   * The second look after an erasure of a Telegram chat: the close it made is still on its way
   * to Telegram when the purge runs, and the outbound's records of it (outbox, sent) land later.
   */
  async purgeLate(chats: readonly ChatFacts[]): Promise<number> {
    const roots = await telegramRoots(this.#e.kv);
    const layout = await this.#layout();
    let n = 0;
    for (const c of chats) n += await this.#deleteChatKeys(c.chatId, roots, layout);
    n += await this.#deleteDeliveries(new Set(chats.map((c) => c.chatId)));
    return n + await this.#deleteTelegram(chats, roots, "erase");
  }

  /** Deletes a client actor (erasure): its log, snapshot and owed commands. */
  async purgeClient(clientId: string): Promise<number> {
    const { kv, system } = this.#e;
    let n = 0;
    for (let round = 0; round < ROUNDS; round++) {
      await system.release((a) => a.type === CLIENT && a.id === clientId);
      for (const part of ["sn", "sp", "ev", "ob"]) {
        n += await deletePrefix(kv, [...ACTORS, part, CLIENT, clientId]);
      }
      if (!system.inspect(CLIENT, clientId)) break;
    }
    return n;
  }

  /** The key families of the store and the actor types with stored data (for a batch). */
  async #layout(): Promise<Layout> {
    const { kv } = this.#e;
    const families = (await keyParts(kv, [])).filter((f) => typeof f === "string" && f !== "a");
    const types = new Set<string>([SESSION]);
    for (const part of ["sn", "ev"]) {
      for (const t of await keyParts(kv, [...ACTORS, part])) types.add(String(t));
    }
    return { families: families as string[], types: [...types] };
  }

  /** The chat's own keys (see the file's header); snapshot headers go first. */
  async #deleteChatKeys(chatId: string, roots: readonly string[], layout: Layout) {
    const { kv } = this.#e;
    const n = await deleteKeys(kv, layout.types.map((t) => [...ACTORS, "sn", t, chatId]));
    // Every key under these prefixes (and each prefix key itself), deleted in few atomics.
    const prefixes: Deno.KvKey[] = [
      ...layout.types.flatMap((t) => ["sp", "ev", "ob"].map((p) => [...ACTORS, p, t, chatId])),
      ...layout.families.map((f) => [f, chatId]),
      WH.cursor(chatId),
      ...roots.flatMap((b) => [
        ["tg", b, "cur", chatId],
        ["tg", b, "out", chatId],
        ["tg", b, "sent", chatId],
        ["tg", b, "dead", "out", chatId],
      ]),
    ];
    const keys: Deno.KvKey[] = [];
    for (const prefix of prefixes) {
      keys.push(prefix);
      for await (const e of kv.list({ prefix })) keys.push(e.key);
    }
    for (const e of await listAll<AuditRecord>(kv, ["audit", "chat", chatId])) {
      const [at, source] = [e.key[3], e.key[4]] as [number, string];
      keys.push(e.key, ["audit", "all", at, source]);
      for (const op of new Set(e.value.operator_ids)) keys.push(["audit", "op", op, at, source]);
    }
    return n + await deleteKeys(kv, keys);
  }

  /** Commands actors still owe each other about these chats (or clients). */
  async #deleteOwed(named: ReadonlySet<string>): Promise<number> {
    const owed = await listAll(this.#e.kv, [...ACTORS, "ob"]);
    return await deleteKeys(
      this.#e.kv,
      owed.filter((e) => mentions(e.value, named)).map((e) => e.key),
    );
  }

  /** Bytes first, then the record: a rerun after a crash still finds what is left. */
  async #deleteFiles(chats: readonly ChatFacts[]): Promise<number> {
    const { kv, blobs } = this.#e;
    const byChat = new Map(chats.map((c) => [c.chatId, new Set(c.attachments)]));
    // Uploads never sent in a message: found through the orphan index, whose entries (an id, no
    // chat) stay for the orphan sweeper, which also catches an upload finishing after this.
    for (const e of await listAll<string>(kv, ["attachments", "pending"])) {
      const meta = (await kv.get<StoredAttachment>(metaKey(e.value))).value;
      if (meta) byChat.get(meta.chatId)?.add(meta.id);
    }
    let n = 0;
    for (const [chatId, files] of byChat) {
      for (const id of files) {
        const entry = await kv.get<StoredAttachment>(metaKey(id));
        if (entry.value && entry.value.chatId !== chatId) continue;
        await blobs?.delete(id);
        if (entry.value) await kv.atomic().check(entry).delete(metaKey(id)).commit();
        n++;
      }
    }
    return n;
  }

  /** Past answers harvested from these chats (at most {@link PAIRS_PER_CHAT} each). */
  async #deleteHints(ids: ReadonlySet<string>): Promise<number> {
    const { kv } = this.#e;
    const gone: number[] = [];
    for (const chatId of ids) {
      const mark = await kv.get<number>(["hints", "hist_chat", chatId]);
      if (mark.value === null) continue;
      const keys: Deno.KvKey[] = [mark.key];
      for (let n = mark.value; n < mark.value + PAIRS_PER_CHAT; n++) {
        const pair = await kv.get<StoredPair>(["hints", "hist", n]);
        if (pair.value?.chatId !== chatId) continue;
        keys.push(pair.key);
        gone.push(n);
      }
      await deleteKeys(kv, keys);
    }
    if (gone.length) await this.#e.hintsGone(gone);
    return gone.length;
  }

  /** Webhook deliveries waiting in the outbox, and dead letters, about these chats. */
  async #deleteDeliveries(ids: ReadonlySet<string>): Promise<number> {
    const { kv } = this.#e;
    let n = 0;
    for (const e of await listAll<Delivery>(kv, ["wh", "d"])) {
      if (!ids.has(e.value.chatId)) continue;
      // Checked: a delivery being settled by a dispatcher right now is left to it (its settle
      // is checked against the same versionstamp, so the outbox count stays right).
      const res = await kv.atomic().check(e).delete(e.key).delete(WH.due(e.value.dueAt, e.value.id))
        .sum(WH.pending, MINUS_ONE).commit();
      if (res.ok) n++;
    }
    const dead = (await listAll<DeadLetter>(kv, ["wh", "dead"]))
      .filter((e) => ids.has(e.value.delivery.chatId));
    await deleteKeys(kv, dead.flatMap((e) => [e.key, WH.deadIndex(e.value.delivery.id)]));
    return n + dead.length;
  }

  /** Links to these chats, processed-update records and inbound dead letters naming them. */
  async #deleteTelegram(
    chats: readonly ChatFacts[],
    roots: readonly string[],
    mode: PurgeMode,
  ): Promise<number> {
    const { kv } = this.#e;
    const ids = new Set(chats.map((c) => c.chatId));
    // Erasure: the person's own Telegram chat, whatever it links to now.
    const refs = new Set(mode === "erase" ? chats.flatMap((c) => c.telegramRef ?? []) : []);
    const keys: Deno.KvKey[] = [];
    for (const b of roots) {
      for (const e of await listAll<ChatLink>(kv, ["tg", b, "chat"])) {
        if (ids.has(e.value.chatId) || refs.has(String(e.key[3]))) keys.push(e.key);
      }
      for (const e of await listAll<SeenUpdate>(kv, ["tg", b, "seen"])) {
        if (e.value.chatId !== undefined && ids.has(e.value.chatId)) keys.push(e.key);
      }
      for (const e of await listAll<{ update?: unknown }>(kv, ["tg", b, "dead", "in"])) {
        if (mentions(e.value, ids) || mentionsChat(e.value.update, refs)) keys.push(e.key);
      }
    }
    return await deleteKeys(kv, keys);
  }

  async #forgetInClients(chats: readonly ChatFacts[]): Promise<void> {
    for (const c of chats) {
      await this.#e.router.askType(CLIENT, c.clientId, { type: "forget_chat", chatId: c.chatId });
    }
  }

  /**
   * Scrubs the chats' ids (erasure: the clients' ids too) out of the logs of the actors that
   * named them, once each has let them go (asked again here: every receiver is idempotent).
   */
  async #scrub(chats: readonly ChatFacts[], mode: PurgeMode) {
    const { kv, router, log } = this.#e;
    const ids = new Set(chats.map((c) => c.chatId));
    const names = new Set(ids);
    if (mode === "erase") { for (const c of chats) names.add(c.clientId); }
    const queues = new Set(chats.map((c) => c.queue).filter(Boolean));
    const staff = new Set(chats.flatMap((c) => c.staff));
    for (const q of queues) {
      // Only the queue's answer for these chats: the whole queue is more than a Kafka record holds.
      const held = await router.askType(QUEUE, q, {
        type: "holds",
        chatIds: [...ids],
      }) as QueueReplies["holds"];
      for (const chatId of held) {
        await router.askType(QUEUE, q, { type: "release", chatId, reason: "closed" });
      }
    }
    for (const op of staff) {
      const s = await router.askType(OPERATOR, op, { type: "get" }) as OperatorView;
      for (const chatId of s.openChats.filter((id) => ids.has(id))) {
        await router.askType(OPERATOR, op, { type: "chat_closed", chatId });
      }
    }
    const targets: Array<[string, string]> = [
      ...[...queues].map((q): [string, string] => [QUEUE, q]),
      ...[...staff].map((o): [string, string] => [OPERATOR, o]),
      ...(mode === "retention"
        ? [...new Set(chats.map((c) => c.clientId))].map((c): [string, string] => [CLIENT, c])
        : []),
    ];
    let scrubbed = 0, complete = true;
    for (const [type, id] of targets) {
      const r = await scrubActor(kv, type, id, names);
      if (r === "scrubbed") scrubbed++;
      else if (r !== "clean") {
        complete = false;
        log.warn("purge: an actor's log could not be scrubbed yet; retried later", {
          type,
          id,
          result: r,
        });
      }
    }
    return { scrubbed, complete };
  }
}

/** Whether a Telegram update (or its raw form) is from one of these Telegram chats. */
function mentionsChat(update: unknown, refs: ReadonlySet<string>): boolean {
  if (refs.size === 0 || update === null || typeof update !== "object") return false;
  const u = update as Record<string, { chat?: { id?: unknown } } | undefined>;
  for (const m of [u.message, u.edited_message, u.channel_post]) {
    if (m?.chat?.id !== undefined && refs.has(String(m.chat.id))) return true;
  }
  return false;
}
