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
 * again. Bounded: a chat's step holds at most {@link MAX_STEP_MUTATIONS} mutations, a write
 * several chats' steps within {@link WriteLimits}.
 */
import type { SessionEvent } from "../../../actors/session.ts";
import type { Envelope } from "../../runtime/entity.ts";
import { isStopWord, stem, tokens } from "../../text/analyze.ts";
import type { FeedEvent } from "../feed.ts";
import { SEARCH_FEED_PREFIX } from "../../../actors/_session_writes.ts";
import { Slices } from "../../util/slices.ts";
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

/** Mutations of one chat's step: a long message's postings may take a write of their own. */
const MAX_STEP_MUTATIONS = 100;

/** How much one KV write of the index holds (KV allows 1,000 mutations, 100 checks, 80 KiB of
 * keys and 800 KiB in all; sizes here are upper estimates, {@link keySize}). */
interface WriteLimits {
  readonly mutations: number;
  readonly checks: number;
  readonly keyBytes: number;
  readonly bytes: number;
}

/**
 * The index in its own file writes many chats at once. Every commit is an fsync of the file's
 * WAL, on the disk of the chats' commits, so fewer, larger writes are what keeps the index from
 * slowing the chats down (docs/BENCHMARKS.md, "The search index paced").
 */
const OWN_FILE: WriteLimits = { mutations: 500, checks: 50, keyBytes: 60_000, bytes: 600_000 };
/**
 * In the chats' KV (`SEARCH_KV_PATH=shared`, KV Connect) the chats' own commits wait behind each
 * index write: at 800 mutations a write held them for tens of ms (message p99 at 10,000 sockets
 * and 1,000 msgs/s: 97-140 ms, against 23 ms with search off). Small writes there.
 */
const SHARED_KV: WriteLimits = { mutations: 100, checks: 10, keyBytes: 60_000, bytes: 600_000 };

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

/** Upper estimate of a key's encoded size (a string's UTF-8 at most 3 bytes a UTF-16 unit). */
export function keySize(key: Deno.KvKey): number {
  let n = 0;
  for (const part of key) n += typeof part === "string" ? 2 + 3 * part.length : 10;
  return n;
}

/** Upper estimate of a stored value's size (numbers, term lists and docs are all it holds). */
function valueSize(value: unknown): number {
  if (typeof value === "number" || value === null) return 10;
  return 16 + 3 * JSON.stringify(value).length;
}

export class SearchStore {
  /** The index's KV (its own file by default, ./kv.ts). */
  readonly kv: Deno.Kv;
  /** The chats' KV, where the search feed marks are raised with the events. */
  readonly marksKv: Deno.Kv;
  /** Events taken in and postings written (this process's lifetime, for metrics). */
  readonly counters = { events: 0, postings: 0, conflicts: 0 };
  readonly #limits: WriteLimits;

  constructor(kv: Deno.Kv, marksKv: Deno.Kv = kv) {
    this.kv = kv;
    this.marksKv = marksKv;
    this.#limits = kv === marksKv ? SHARED_KV : OWN_FILE;
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
    // Planning a step's events (words, stems) is the index's main-thread work: in slices.
    const slices = new Slices();
    const refusals = new Map<string, number>();
    while (pending.length > 0) {
      const entries = await this.#read(pending);
      const steps: Step[] = [];
      for (const chatId of pending) {
        const step = plan(chatId, entries.get(chatId)!, byChat.get(chatId)!);
        if (step) steps.push(step);
        await slices.breathe();
      }
      const { written, refused } = await this.#write(steps, slices);
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
  async #write(steps: readonly Step[], slices: Slices) {
    const written: Step[] = [];
    const refused = new Set<string>();
    const lim = this.#limits;
    let chunk: Step[] = [];
    let size = 0;
    let keyBytes = 0;
    let bytes = 0;
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
      size = keyBytes = bytes = 0;
    };
    for (const s of steps) {
      await slices.breathe();
      const n = s.sets.length + 1;
      let k = 2 * keySize(K.count);
      let b = 0;
      for (const [key, value] of s.sets) {
        const ks = keySize(key);
        k += ks;
        b += ks + valueSize(value);
      }
      b += k;
      if (
        chunk.length >= lim.checks || size + n > lim.mutations || keyBytes + k > lim.keyBytes ||
        bytes + b > lim.bytes
      ) await flush();
      chunk.push(s);
      size += n;
      keyBytes += k;
      bytes += b;
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
      for (let i = 0; i < keys.length; i += MAX_STEP_MUTATIONS) {
        let op = this.kv.atomic();
        for (const k of keys.slice(i, i + MAX_STEP_MUTATIONS)) op = op.delete(k);
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
    if (sets.length + counts.size + 2 > MAX_STEP_MUTATIONS && sets.length > 1) break;
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
