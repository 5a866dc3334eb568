/**
 * Answers a staff search over the index (./store.ts): words through the same Russian and English
 * analysis as the index, postings read per word (newest chats first, within the date range, at
 * most `scanMax` per word), chats ranked, then read in rank order and kept if the caller may see
 * them and they pass the filters, until a page is full; each result gets its best message as a
 * snippet with highlights. Without words, chats are listed newest first.
 *
 * Ranking: chats holding more of the query's words come first (all of them before some of them),
 * then by BM25 over the words' counts in the chat (k1 = 1.2; no length normalisation: a long
 * conversation about a topic is no less about it), then the newer chat. The page cursor is the
 * last result's place in that order, so a page never repeats or skips a chat that was already
 * there when the first page was made.
 *
 * A result is shown only while its chat's log exists: a chat deleted by retention or erasure whose
 * index entries are still there is left out (and they are deleted then).
 *
 * Who sees what mirrors who may read a chat (actors/session.ts `get`): admins every chat;
 * operators support chats that wait (bot or queue), that they hold, or that are closed; lawyers
 * their own lawyer chats and the support chats they were assigned from; clients nothing (the
 * route refuses them). Staff mentioned in a chat's notes may read it but do not find it here
 * (mentions live on the chat's staff stream, which the index does not follow).
 */
import type { SessionStatus } from "../../../actors/session.ts";
import type { Role } from "../../auth/principal.ts";
import { AppError } from "../../errors.ts";
import { type Snippet, snippet } from "../../text/snippet.ts";
import type { LogReader } from "../feed.ts";
import { applyEvent, type ChatDoc } from "./doc.ts";
import { K, type SearchStore, termCounts } from "./store.ts";

export const STATUS_FILTERS = ["waiting", "open", "bot", "queued", "assigned", "closed"] as const;
export type StatusFilter = typeof STATUS_FILTERS[number];

export interface SearchParams {
  readonly q: string;
  readonly status: readonly StatusFilter[];
  readonly operatorId?: string;
  readonly label?: string;
  /** Created at or after (ms). */
  readonly from?: number;
  /** Created at or before (ms). */
  readonly to?: number;
  readonly limit: number;
  readonly cursor?: string;
}

export interface Viewer {
  readonly id: string;
  readonly role: Role;
}

export interface SearchHit {
  readonly chatId: string;
  readonly doc: ChatDoc;
  /** Query words the chat holds, and its BM25 score (0 when listing without words). */
  readonly matched: number;
  readonly score: number;
  readonly snippet: (Snippet & { seq: number | null }) | null;
}

export interface SearchAnswer {
  readonly terms: string[];
  readonly hits: SearchHit[];
  readonly nextCursor: string | null;
  /** A word's postings were cut at `scanMax` (older chats with it were not looked at). */
  readonly truncated: boolean;
}

/** Query words looked up (more are ignored). */
export const MAX_QUERY_TERMS = 8;
const K1 = 1.2;
/** Where the chat's staff labels are projected (the chat's staff actor writes it). */
const labelsKey = (chatId: string): Deno.KvKey => ["labels", chatId];
/** Keys per KV round trip when listing (KV's default is 100; postings are small). */
const LIST_BATCH = 1000;
/** Chats looked at per step when listing without words. */
const BROWSE_STEP = 50;

/** Whether a viewer may see a chat at all (the same rule as reading it). */
export function maySee(v: Viewer, d: ChatDoc): boolean {
  switch (v.role) {
    case "admin":
      return true;
    case "operator":
      return d.kind === "support" &&
        (waiting(d.status) || d.status === "closed" || d.operatorId === v.id);
    case "lawyer":
      // Their lawyer chats, and the support chats they were assigned from (read-only).
      return d.kind === "lawyer" ? d.operatorId === v.id : d.lawyers?.includes(v.id) === true;
    default:
      return false;
  }
}

function waiting(s: SessionStatus): boolean {
  return s === "bot" || s === "queued";
}

function passes(p: SearchParams, d: ChatDoc): boolean {
  if (p.status.length && !p.status.some((s) => statusIs(s, d.status))) return false;
  if (p.operatorId !== undefined && !d.operators.includes(p.operatorId)) return false;
  if (p.label !== undefined) {
    const l = p.label.toLowerCase();
    if (!d.labels.some((x) => x.toLowerCase() === l)) return false;
  }
  if (p.from !== undefined && d.createdAt < p.from) return false;
  if (p.to !== undefined && d.createdAt > p.to) return false;
  return true;
}

function statusIs(f: StatusFilter, s: SessionStatus): boolean {
  if (f === "waiting") return waiting(s);
  if (f === "open") return s !== "closed";
  return f === s;
}

interface Candidate {
  readonly chatId: string;
  readonly createdAt: number;
  matched: number;
  score: number;
  readonly tf: Map<string, number>;
  /** Query words per event seq, for the snippet. */
  readonly seqs: Map<number, number>;
}

/** Place in the ranking: [matched, score, createdAt, chatId]. */
type Place = [number, number, number, string];

export class SearchQuery {
  readonly #forgetting = new Set<Promise<number>>();

  constructor(
    readonly store: SearchStore,
    readonly readLog: LogReader,
    readonly scanMax: number,
  ) {}

  /** Chat labels are the chats' own data, in the chats' KV. */
  get #chatsKv(): Deno.Kv {
    return this.store.marksKv;
  }

  async search(v: Viewer, p: SearchParams): Promise<SearchAnswer> {
    const terms = [...termCounts(p.q).keys()].slice(0, MAX_QUERY_TERMS);
    const after = p.cursor === undefined ? null : decodeCursor(p.cursor);
    if (p.q.trim() === "") return await this.#browse(v, p, after);
    if (terms.length === 0) return { terms, hits: [], nextCursor: null, truncated: false };
    const { ranked, truncated } = await this.#rank(terms, p);
    const from = after ? ranked.findIndex((c) => comparePlace(place(c), after) > 0) : 0;
    const page = await this.#page(v, p, from < 0 ? [] : ranked.slice(from), (c) => c.chatId);
    const wanted = new Set(terms);
    const hits = await Promise.all(page.items.map(async ({ item: c, doc }) => ({
      chatId: c.chatId,
      doc,
      matched: c.matched,
      score: Math.round(c.score * 1000) / 1000,
      snippet: await this.#snippet(c, doc, wanted),
    })));
    const last = page.items[page.items.length - 1]?.item;
    return {
      terms,
      hits,
      nextCursor: page.more && last ? encodeCursor(place(last)) : null,
      truncated,
    };
  }

  async #rank(terms: string[], p: SearchParams) {
    const byChat = new Map<string, Candidate>();
    const df = new Map<string, number>();
    let truncated = false;
    for (const term of terms) {
      const prefix = K.postings(term);
      const selector: Deno.KvListSelector = p.from === undefined && p.to === undefined
        ? { prefix }
        : {
          start: [...prefix, p.from ?? 0],
          end: [...prefix, (p.to ?? Number.MAX_SAFE_INTEGER) + 1],
        };
      let n = 0;
      const chats = new Set<string>();
      const list = this.store.kv.list<number>(selector, {
        reverse: true,
        limit: this.scanMax,
        batchSize: LIST_BATCH,
      });
      for await (const e of list) {
        n++;
        const [, , , createdAt, chatId, seq] = e.key as [
          string,
          string,
          string,
          number,
          string,
          number,
        ];
        chats.add(chatId);
        let c = byChat.get(chatId);
        if (!c) {
          c = { chatId, createdAt, matched: 0, score: 0, tf: new Map(), seqs: new Map() };
          byChat.set(chatId, c);
        }
        if (!c.tf.has(term)) c.matched++;
        c.tf.set(term, (c.tf.get(term) ?? 0) + e.value);
        c.seqs.set(seq, (c.seqs.get(seq) ?? 0) + 1);
      }
      if (n >= this.scanMax) truncated = true;
      df.set(term, chats.size);
    }
    const total = Math.max(await this.store.chatCount(), ...df.values());
    for (const c of byChat.values()) {
      for (const [term, tf] of c.tf) {
        const f = df.get(term)!;
        const idf = Math.log(1 + (total - f + 0.5) / (f + 0.5));
        c.score += idf * (tf * (K1 + 1)) / (tf + K1);
      }
    }
    const ranked = [...byChat.values()].sort((a, b) => comparePlace(place(a), place(b)));
    return { ranked, truncated };
  }

  /** Chats without words, newest first, within the date range, after the cursor. */
  async #browse(v: Viewer, p: SearchParams, after: Place | null): Promise<SearchAnswer> {
    const prefix = K.timePrefix;
    const upper = p.to === undefined ? [...prefix, Number.MAX_SAFE_INTEGER] : [...prefix, p.to + 1];
    const end = after ? [...prefix, after[2], after[3]] : upper;
    const start = [...prefix, p.from ?? 0];
    const list = this.store.kv.list({ start, end }, {
      reverse: true,
      limit: this.scanMax,
      batchSize: BROWSE_STEP * 2,
    });
    // Looked at a step at a time, so a page costs what it needs, not the whole range.
    const items: Array<{ item: { chatId: string; createdAt: number }; doc: ChatDoc }> = [];
    let step: Array<{ chatId: string; createdAt: number }> = [];
    let scanned = 0;
    let exhausted = true;
    const look = async () => {
      const page = await this.#page(
        v,
        { ...p, limit: p.limit - items.length },
        step,
        (i) => i.chatId,
      );
      items.push(...page.items);
      step = [];
      return page.more;
    };
    for await (const e of list) {
      scanned++;
      step.push({ chatId: e.key[3] as string, createdAt: e.key[2] as number });
      if (step.length >= BROWSE_STEP && await look()) {
        exhausted = false;
        break;
      }
      if (items.length >= p.limit) {
        exhausted = false;
        break;
      }
    }
    if (exhausted && step.length && await look()) exhausted = false;
    const page = items.slice(0, p.limit);
    const hits = page.map(({ item, doc }) => ({
      chatId: item.chatId,
      doc,
      matched: 0,
      score: 0,
      snippet: doc.preview ? { ...snippet(doc.preview, new Set()), seq: null } : null,
    }));
    const last = page[page.length - 1]?.item;
    // More may follow: the page filled up before the range ended, or the scan bound was reached.
    const more = !exhausted || scanned >= this.scanMax;
    return {
      terms: [],
      hits,
      nextCursor: more && last ? encodeCursor([0, 0, last.createdAt, last.chatId]) : null,
      truncated: scanned >= this.scanMax,
    };
  }

  /** Reads docs in order until `limit` visible, passing chats are found (and one more). */
  async #page<T>(v: Viewer, p: SearchParams, ordered: readonly T[], id: (t: T) => string) {
    const items: Array<{ item: T; doc: ChatDoc }> = [];
    for (let i = 0; i < ordered.length && items.length <= p.limit; i += 20) {
      const slice = ordered.slice(i, i + 20);
      const docs = await this.#docs(slice.map(id));
      const shown = slice.filter((item) => {
        const doc = docs.get(id(item));
        return doc !== undefined && maySee(v, doc) && passes(p, doc);
      });
      const alive = await Promise.all(shown.map((item) => this.#alive(id(item))));
      for (const [j, item] of shown.entries()) {
        if (alive[j]) items.push({ item, doc: docs.get(id(item))! });
        if (items.length > p.limit) break;
      }
    }
    return { items: items.slice(0, p.limit), more: items.length > p.limit };
  }

  /**
   * Docs with each chat's labels: the staff labels' KV projection (`["labels", chatId]`, written by
   * the chat's staff actor with each change) where there is one, else what the chat's own events
   * said. Read here rather than indexed, so a label change shows at once and costs the index
   * nothing.
   */
  async #docs(chatIds: readonly string[]): Promise<Map<string, ChatDoc>> {
    const docs = await this.store.docs(chatIds);
    const ids = chatIds.filter((c) => docs.has(c));
    for (let i = 0; i < ids.length; i += 10) {
      const got = await this.#chatsKv.getMany<unknown[]>(ids.slice(i, i + 10).map(labelsKey));
      for (const e of got) {
        if (!Array.isArray(e.value)) continue;
        const chatId = e.key[1] as string;
        const labels = e.value.filter((l): l is string => typeof l === "string");
        docs.set(chatId, { ...docs.get(chatId)!, labels });
      }
    }
    return docs;
  }

  /**
   * The chat still has its log. A chat deleted (retention, erasure) before its index entries were
   * is never shown, and its entries are deleted now.
   */
  async #alive(chatId: string): Promise<boolean> {
    if ((await this.readLog(chatId, 0, 1)).length > 0) return true;
    const gone = this.store.forget([chatId]).catch(() => 0)
      .finally(() => this.#forgetting.delete(gone));
    this.#forgetting.add(gone);
    return false;
  }

  /** Resolves once the deletions searches started are done (tests, shutdown). */
  async idle(): Promise<void> {
    while (this.#forgetting.size) await Promise.all(this.#forgetting);
  }

  /** The message holding most query words (the earliest of those) as a highlighted snippet. */
  async #snippet(c: Candidate, doc: ChatDoc, terms: ReadonlySet<string>) {
    let best: [number, number] | null = null;
    for (const [seq, n] of c.seqs) {
      if (!best || n > best[1] || (n === best[1] && seq < best[0])) best = [seq, n];
    }
    if (best) {
      const [env] = await this.readLog(c.chatId, best[0] - 1, 1);
      const text = env && env.seq === best[0]
        ? applyEvent({ ...doc, seq: env.seq - 1 }, env).text
        : null;
      if (text) return { ...snippet(text, terms), seq: best[0] };
    }
    return doc.preview ? { ...snippet(doc.preview, terms), seq: null } : null;
  }
}

function place(c: Candidate): Place {
  return [c.matched, c.score, c.createdAt, c.chatId];
}

/** Order of the ranking: more words, higher score, newer, then by id. */
function comparePlace(a: Place, b: Place): number {
  return b[0] - a[0] || b[1] - a[1] || b[2] - a[2] || (a[3] < b[3] ? -1 : a[3] > b[3] ? 1 : 0);
}

function encodeCursor(p: Place): string {
  const bytes = new TextEncoder().encode(JSON.stringify(p));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

function decodeCursor(s: string): Place {
  try {
    const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(b64);
    const p = JSON.parse(new TextDecoder().decode(Uint8Array.from(bin, (ch) => ch.charCodeAt(0))));
    if (
      Array.isArray(p) && p.length === 4 && p.slice(0, 3).every(Number.isFinite) &&
      typeof p[3] === "string"
    ) return p as Place;
  } catch {
    // fall through
  }
  throw new AppError("invalid_payload", "Invalid cursor: pass next_cursor from a search answer");
}
