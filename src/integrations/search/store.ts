/**
 * The conversation index, and its writer. It lives in its own KV file beside the chats' (./kv.ts);
 * layout (all under `["search"]`):
 *
 * - `["search","doc",chatId]` → {@link ChatDoc}: metadata and `seq`, the last event taken in;
 * - `["search","time",createdAt,chatId]` → null: chats by age (browsing without words);
 * - `["search","p",term,createdAt,chatId,seq]` → how often the term (a stem) occurs in event `seq`:
 *   the postings. A posting per message rather than per chat is never rewritten (a write is the
 *   same whoever makes it, however often), carries the message to show as the snippet, and with
 *   `createdAt` before the chat a date range is a key range;
 * - `["search","mt",chatId,seq]` → the terms of event `seq`, so a chat's postings can be deleted;
 * - `["search","n"]` → KvU64, chats in the index (for IDF);
 * - `["search","cur",chatId]` → the feed cursor (src/integrations/feed.ts);
 * - `["search","base"]`, `["search","rebuild"]` → which chats' KV the index was built from, and a
 *   rebuild under way (./kv.ts).
 *
 * Taking events in is idempotent and safe on any number of nodes at once: each chat's events are
 * applied strictly in seq order after its doc's `seq` (earlier ones skipped, nothing after a gap),
 * and each write is checked against the doc's versionstamp; a refused write is read and applied
 * again. Bounded: a write holds at most {@link MAX_MUTATIONS} mutations.
 */
import type { SessionEvent } from "../../../actors/session.ts";
import type { Envelope } from "../../runtime/entity.ts";
import { isStopWord, stem, tokens } from "../../text/analyze.ts";
import type { FeedEvent } from "../feed.ts";
import { SEARCH_FEED_PREFIX } from "../../../actors/_session_writes.ts";
import { applyEvent, type ChatDoc, newDoc } from "./doc.ts";

export const K = {
  doc: (chatId: string): Deno.KvKey => ["search", "doc", chatId],
  time: (createdAt: number, chatId: string): Deno.KvKey => ["search", "time", createdAt, chatId],
  timePrefix: ["search", "time"] as Deno.KvKey,
  posting: (term: string, createdAt: number, chatId: string, seq: number): Deno.KvKey => [
    "search",
    "p",
    term,
    createdAt,
    chatId,
    seq,
  ],
  postings: (term: string): Deno.KvKey => ["search", "p", term],
  messageTerms: (chatId: string, seq: number): Deno.KvKey => ["search", "mt", chatId, seq],
  messageTermsOf: (chatId: string): Deno.KvKey => ["search", "mt", chatId],
  count: ["search", "n"] as Deno.KvKey,
  cursor: (chatId: string): Deno.KvKey => ["search", "cur", chatId],
};

/**
 * Mutations and checks per KV write (KV allows 1,000 and 100). Small on purpose: when the index
 * shares the chats' KV (`SEARCH_KV_PATH=shared`, KV Connect), the chats' own commits wait behind
 * each index write; at 800 mutations a write held them for tens of ms (message p99 at 10,000
 * sockets and 1,000 msgs/s: 97-140 ms, against 23 ms with search off). The index catches up as
 * fast in more, smaller writes.
 */
const MAX_MUTATIONS = 100;
const MAX_CHECKS = 10;
/** Distinct terms indexed per event: a 4,000-character message has about 300. */
export const MAX_TERMS_PER_EVENT = 400;
/** Longest term kept (longer "words" are codes or junk, and keys stay small). */
const MAX_TERM_CHARS = 64;
/** Tries of one chat's write when other writers keep changing its doc. */
const TRIES = 5;

/** The distinct terms of a text (stems, stop words dropped) with their counts. */
export function termCounts(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of tokens(text)) {
    if (isStopWord(t.word) || t.word.length > MAX_TERM_CHARS) continue;
    const s = stem(t.word);
    if (!out.has(s) && out.size >= MAX_TERMS_PER_EVENT) continue;
    out.set(s, (out.get(s) ?? 0) + 1);
  }
  return out;
}

/** One chat's next write: its doc before and after, and the mutations in between. */
interface Step {
  readonly chatId: string;
  readonly before: Deno.KvEntryMaybe<ChatDoc>;
  readonly after: ChatDoc;
  readonly sets: Array<[Deno.KvKey, unknown]>;
  readonly created: boolean;
}

export class SearchStore {
  /** The index's KV (its own file by default, ./kv.ts). */
  readonly kv: Deno.Kv;
  /** The chats' KV, where the search feed marks are raised with the events. */
  readonly marksKv: Deno.Kv;
  /** Events taken in and postings written (this process's lifetime, for metrics). */
  readonly counters = { events: 0, postings: 0, conflicts: 0 };

  constructor(kv: Deno.Kv, marksKv: Deno.Kv = kv) {
    this.kv = kv;
    this.marksKv = marksKv;
  }

  /** The docs of `chatIds` (absent ones left out). */
  async docs(chatIds: readonly string[]): Promise<Map<string, ChatDoc>> {
    const out = new Map<string, ChatDoc>();
    for (let i = 0; i < chatIds.length; i += 10) {
      const got = await this.kv.getMany<ChatDoc[]>(chatIds.slice(i, i + 10).map(K.doc));
      for (const e of got) if (e.value) out.set(e.key[2] as string, e.value);
    }
    return out;
  }

  async chatCount(): Promise<number> {
    return Number((await this.kv.get<Deno.KvU64>(K.count)).value?.value ?? 0n);
  }

  /**
   * Takes chats' stored events in (any order across chats, seq order within one). Returns the
   * events newly indexed; throws when KV refuses (the caller retries the whole batch).
   */
  async take(events: readonly FeedEvent[]): Promise<number> {
    const byChat = new Map<string, Envelope<SessionEvent>[]>();
    for (const e of events) {
      const list = byChat.get(e.chatId) ?? [];
      list.push({ seq: e.seq, at: e.at, event: e.event });
      byChat.set(e.chatId, list);
    }
    for (const list of byChat.values()) list.sort((a, b) => a.seq - b.seq);
    let taken = 0;
    let pending = [...byChat.keys()];
    const refusals = new Map<string, number>();
    while (pending.length > 0) {
      const entries = await this.#read(pending);
      const steps: Step[] = [];
      for (const chatId of pending) {
        const step = plan(chatId, entries.get(chatId)!, byChat.get(chatId)!);
        if (step) steps.push(step);
      }
      const { written, refused } = await this.#write(steps);
      this.counters.conflicts += refused.size;
      for (const id of refused) {
        const n = (refusals.get(id) ?? 0) + 1;
        if (n >= TRIES) throw new Error(`search index: chat ${id}'s doc keeps changing`);
        refusals.set(id, n);
      }
      for (const s of written) taken += s.after.seq - (s.before.value?.seq ?? 0);
      // Chats with more events go round again (from the doc just written), as do refused ones.
      pending = steps.filter((s) => refused.has(s.chatId) || hasMore(s, byChat.get(s.chatId)!))
        .map((s) => s.chatId);
    }
    this.counters.events += taken;
    return taken;
  }

  async #read(chatIds: readonly string[]): Promise<Map<string, Deno.KvEntryMaybe<ChatDoc>>> {
    const out = new Map<string, Deno.KvEntryMaybe<ChatDoc>>();
    for (let i = 0; i < chatIds.length; i += 10) {
      const got = await this.kv.getMany<ChatDoc[]>(chatIds.slice(i, i + 10).map(K.doc));
      for (const e of got) out.set(e.key[2] as string, e);
    }
    return out;
  }

  /** Writes steps, several chats per atomic; returns those written and the chats refused. */
  async #write(steps: readonly Step[]) {
    const written: Step[] = [];
    const refused = new Set<string>();
    let chunk: Step[] = [];
    let size = 0;
    const flush = async () => {
      if (chunk.length === 0) return;
      let op = this.kv.atomic();
      for (const s of chunk) {
        op = op.check({ key: K.doc(s.chatId), versionstamp: s.before.versionstamp });
        for (const [key, value] of s.sets) op = op.set(key, value);
        if (s.created) op = op.sum(K.count, 1n);
      }
      if ((await op.commit()).ok) {
        written.push(...chunk);
        for (const s of chunk) {
          this.counters.postings += s.after.postings - (s.before.value?.postings ?? 0);
        }
      } else if (chunk.length === 1) refused.add(chunk[0].chatId);
      else {
        // Which chat's doc moved is not said: write each alone.
        const each = chunk;
        chunk = [];
        for (const s of each) {
          chunk = [s];
          await flush();
        }
      }
      chunk = [];
      size = 0;
    };
    for (const s of steps) {
      const n = s.sets.length + 1;
      if (chunk.length >= MAX_CHECKS || size + n > MAX_MUTATIONS) await flush();
      chunk.push(s);
      size += n;
    }
    await flush();
    return { written, refused };
  }

  /** Deletes every trace of the chats in the index (retention, erasure). */
  async forget(chatIds: readonly string[]): Promise<number> {
    let deleted = 0;
    for (const chatId of chatIds) {
      const doc = await this.kv.get<ChatDoc>(K.doc(chatId));
      const keys: Deno.KvKey[] = [K.cursor(chatId)];
      if (this.marksKv === this.kv) keys.push([...SEARCH_FEED_PREFIX, chatId]);
      else await this.marksKv.delete([...SEARCH_FEED_PREFIX, chatId]);
      for await (const e of this.kv.list<string[]>({ prefix: K.messageTermsOf(chatId) })) {
        const seq = e.key[3] as number;
        if (doc.value) {
          for (const t of e.value) keys.push(K.posting(t, doc.value.createdAt, chatId, seq));
        }
        keys.push(e.key);
      }
      if (doc.value) keys.push(K.time(doc.value.createdAt, chatId));
      for (let i = 0; i < keys.length; i += MAX_MUTATIONS) {
        let op = this.kv.atomic();
        for (const k of keys.slice(i, i + MAX_MUTATIONS)) op = op.delete(k);
        await op.commit();
      }
      // The doc last: until it goes, a purge cut off here finds the postings again.
      const res = await this.kv.atomic().check(doc).delete(K.doc(chatId)).commit();
      if (doc.value && res.ok) deleted++;
    }
    return deleted;
  }
}

/**
 * The next write of one chat: its events after the doc's `seq`, in order, up to a gap or the
 * mutation bound. Null when nothing follows on (all taken in already, or a gap first).
 */
function plan(
  chatId: string,
  entry: Deno.KvEntryMaybe<ChatDoc>,
  events: readonly Envelope<SessionEvent>[],
): Step | null {
  let doc = entry.value;
  let created = false;
  const sets: Array<[Deno.KvKey, unknown]> = [];
  for (const env of events) {
    if (doc && env.seq <= doc.seq) continue;
    if (doc && env.seq !== doc.seq + 1) break;
    if (!doc) {
      // The chat's first event starts its doc; anything else waits for the catch-up.
      doc = newDoc(env);
      if (!doc) break;
      created = true;
      sets.push([K.time(doc.createdAt, chatId), null]);
    }
    const { doc: next, text } = env.seq === 1 && created
      ? applyEvent({ ...doc, seq: 0 }, env)
      : applyEvent(doc, env);
    const counts = text ? termCounts(text) : new Map<string, number>();
    if (sets.length + counts.size + 2 > MAX_MUTATIONS && sets.length > 1) break;
    for (const [term, n] of counts) {
      sets.push([K.posting(term, next.createdAt, chatId, env.seq), n]);
    }
    if (counts.size > 0) sets.push([K.messageTerms(chatId, env.seq), [...counts.keys()]]);
    doc = { ...next, postings: next.postings + counts.size };
  }
  if (!doc || doc.seq === (entry.value?.seq ?? 0)) return null;
  sets.push([K.doc(chatId), doc]);
  return { chatId, before: entry, after: doc, sets, created };
}

function hasMore(s: Step, events: readonly Envelope<SessionEvent>[]): boolean {
  const last = events[events.length - 1];
  return last.seq > s.after.seq && events.some((e) => e.seq === s.after.seq + 1);
}
