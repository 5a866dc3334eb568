/**
 * Keeps this node's hint index in step with its sources: canned responses and past answers in the
 * shared KV (written by any node), and the bot's knowledge file. A refresh costs one KV read when
 * nothing changed (the canned version key and the history counter), so it runs before every query:
 * whichever node stored a change, the next query anywhere sees it, with no timers and no fan-out.
 */
import type { Clock } from "../../runtime/clock.ts";
import type { Logger } from "../../log.ts";
import { CANNED_VERSION_KEY, type CannedResponse, CannedStore } from "./canned.ts";
import { HISTORY_COUNTER_KEY, HistoryStore, type StoredPair } from "./history.ts";
import { readKnowledgeFile } from "./knowledge.ts";
import { type Hint, type HintDoc, HintIndex } from "./search.ts";

/** How often a query may look at the knowledge file's modification time. */
const KNOWLEDGE_CHECK_MS = 10_000;

export interface CatalogOptions {
  readonly kv: Deno.Kv;
  readonly clock: Clock;
  readonly log: Logger;
  /** Past answers kept (older ones are evicted from KV and from the index). */
  readonly historyMax: number;
  /** The bot's knowledge file, or null for none. */
  readonly knowledgePath: string | null;
  readonly cannedMax?: number;
}

export class HintCatalog {
  readonly index = new HintIndex();
  readonly canned: CannedStore;
  readonly history: HistoryStore;
  readonly #o: CatalogOptions;
  /** Versionstamp of the canned version key the index reflects ("" = not loaded yet). */
  #cannedStamp: string | null = "";
  /** History pairs up to this number are in the index; their numbers, oldest first. */
  #historySeen = 0;
  readonly #historyIds: number[] = [];
  #knowledgeMtime: number | null = null;
  #knowledgeCheckAt = 0;
  #knowledgeError = "";
  #current: Promise<void> | null = null;
  #next: Promise<void> | null = null;

  constructor(o: CatalogOptions) {
    this.#o = o;
    this.canned = new CannedStore(o.kv, () => o.clock.now(), o.cannedMax);
    this.history = new HistoryStore(o.kv, o.historyMax);
  }

  /** The best hints for `query`, after bringing the index up to date (stale on a KV failure). */
  async search(query: string, limit: number): Promise<Hint[]> {
    try {
      await this.refresh();
    } catch (err) {
      this.#o.log.warn("hints: refresh failed; answering from the index as it is", { err });
    }
    return this.index.search(query, limit);
  }

  /**
   * Brings the index up to date. Calls during a refresh share one follow-up refresh, which starts
   * after the running one, so a caller always sees every change stored before it called.
   */
  refresh(): Promise<void> {
    if (this.#next) return this.#next;
    const before = this.#current ?? Promise.resolve();
    const run: Promise<void> = before.catch(() => {}).then(() => {
      this.#next = null;
      this.#current = run;
      return this.#load();
    }).finally(() => {
      if (this.#current === run) this.#current = null;
    });
    this.#next = run;
    return run;
  }

  async #load(): Promise<void> {
    const [ver, counter] = await this.#o.kv.getMany<[unknown, number]>([
      CANNED_VERSION_KEY,
      HISTORY_COUNTER_KEY,
    ]);
    if (ver.versionstamp !== this.#cannedStamp) {
      // A change after the read above makes the next refresh load again: never a stale miss.
      const list = await this.canned.list();
      this.index.replaceSource("canned", list.map(cannedDoc));
      this.#cannedStamp = ver.versionstamp;
    }
    await this.#loadHistory(counter.value ?? 0);
    await this.#loadKnowledge();
  }

  async #loadHistory(counter: number): Promise<void> {
    if (counter > this.#historySeen) {
      for (const p of await this.history.readAfter(this.#historySeen, counter)) {
        this.index.put(historyDoc(p));
        this.#historyIds.push(p.n);
      }
      this.#historySeen = counter;
    }
    const oldest = counter - this.#o.historyMax;
    while (this.#historyIds.length && this.#historyIds[0] <= oldest) {
      this.index.remove(`h:${this.#historyIds.shift()}`);
    }
  }

  /** Loads the file at start and again when its modification time changes (checked lazily). */
  async #loadKnowledge(): Promise<void> {
    const path = this.#o.knowledgePath;
    const now = this.#o.clock.now();
    if (!path || now < this.#knowledgeCheckAt) return;
    this.#knowledgeCheckAt = now + KNOWLEDGE_CHECK_MS;
    try {
      const mtime = (await Deno.stat(path)).mtime?.getTime() ?? 0;
      if (mtime === this.#knowledgeMtime) return;
      const { docs, skipped } = await readKnowledgeFile(path);
      this.index.replaceSource("knowledge", docs);
      this.#knowledgeMtime = mtime;
      this.#knowledgeError = "";
      this.#o.log.info("hints: knowledge loaded", { path, intents: docs.length, skipped });
    } catch (err) {
      // Keep what was loaded before: a half-saved file must not wipe the bot's answers.
      const message = (err as Error).message;
      if (message !== this.#knowledgeError) {
        this.#o.log.warn("hints: knowledge file not loaded", { path, err: message });
      }
      this.#knowledgeError = message;
    }
  }
}

function cannedDoc(c: CannedResponse): HintDoc {
  return {
    id: `c:${c.id}`,
    source: "canned",
    title: c.title,
    keys: c.tags.join(" "),
    text: c.text,
    ref: c.id,
  };
}

function historyDoc(p: StoredPair): HintDoc {
  return {
    id: `h:${p.n}`,
    source: "history",
    title: "",
    keys: p.question,
    text: p.answer,
    ref: String(p.n),
  };
}
