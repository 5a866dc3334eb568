/**
 * Where the search index lives, and how it is kept true to the chats it indexes.
 *
 * **Its own KV file.** The index writes about one posting per word of every message. In the
 * chats' KV those writes went through the same SQLite writer (and the same WAL and checkpoints)
 * as every chat's commits, and the chats waited behind them: message p99 at 10,000 sockets and
 * 1,000 msgs/s was 42-64 ms with search on, 21-34 ms with it off, and 29-40 ms with the index in a
 * file of its own (docs/BENCHMARKS.md). So by default the index is a second KV file beside
 * `KV_PATH` (`data/chat.kv` → `data/chat.search.kv`), shared by every node that shares the
 * chats' file; `SEARCH_KV_PATH` names another, `shared` keeps it in the chats' KV (the only choice
 * with KV Connect).
 *
 * **Derived data, rebuilt when it does not match.** The chats' KV holds `["search_base"]`, an id
 * made once; the index holds the id it was built from (`["search","base"]`). A missing index file
 * (lost, or never made: an upgrade from the shared layout), an index of another store, or a chats'
 * KV restored from a backup (restore gives it a new id, src/ops/backup.ts) leaves them different:
 * the index is emptied and rebuilt from every chat's stored events, a page at a time in the
 * background (the progress is kept in `["search","rebuild"]`, so a crash resumes it), while new
 * events are indexed as they come. Searches answer from what is indexed so far. Taking an event in
 * twice is harmless (./store.ts), which makes the rebuild, the live indexer and other nodes safe
 * together. An old shared-layout index left in the chats' KV is deleted once a file of its own is
 * in use.
 */
import { SESSION } from "../../../actors/_common.ts";
import type { SessionEvent } from "../../../actors/session.ts";
import type { Logger } from "../../log.ts";
import type { Envelope } from "../../runtime/entity.ts";
import { Cursors, type FeedEvent } from "../feed.ts";
import { K, type SearchStore } from "./store.ts";

/** In the chats' KV: the id of this store, for the index to be matched against. */
export const BASE_KEY: Deno.KvKey = ["search_base"];
const INDEX_BASE: Deno.KvKey = ["search", "base"];
const REBUILD: Deno.KvKey = ["search", "rebuild"];
/** Event chunks read per rebuild step (each at most 60 KiB). */
const CHUNKS_PER_STEP = 32;
/** Keys deleted per atomic when an index is emptied. */
const DELETES_PER_ATOMIC = 500;

/**
 * The index's KV path for a chats' `KV_PATH` and `SEARCH_KV_PATH`; null: the chats' KV itself.
 */
export function searchKvPath(kvPath: string, setting: string): string | null {
  if (setting === "shared") return null;
  if (setting !== "") return setting;
  if (kvPath === ":memory:") return ":memory:";
  if (/^https?:\/\//.test(kvPath)) return null;
  return /\.kv$/.test(kvPath) ? kvPath.replace(/\.kv$/, ".search.kv") : `${kvPath}.search`;
}

/** The id of the chats' store, made on first use. */
export async function storeBase(chatsKv: Deno.Kv): Promise<string> {
  for (;;) {
    const got = await chatsKv.get<string>(BASE_KEY);
    if (got.value) return got.value;
    const made = crypto.randomUUID();
    const res = await chatsKv.atomic().check(got).set(BASE_KEY, made).commit();
    if (res.ok) return made;
  }
}

/** Gives a store a new id: its index, wherever it is, no longer matches (a restored backup). */
export async function renewStoreBase(chatsKv: Deno.Kv): Promise<void> {
  await chatsKv.set(BASE_KEY, crypto.randomUUID());
}

interface RebuildState {
  readonly base: string;
  /** The KV list cursor of the chats' event chunks to go on from; null: from the start. */
  readonly cursor: string | null;
}

export interface IndexKeeperOptions {
  readonly store: SearchStore;
  /** A page of stored event chunks of an actor type (Journal.eventPage). */
  readonly eventPage: (
    type: string,
    cursor: string | undefined,
    limit: number,
  ) => Promise<{
    chunks: Array<{ id: string; events: Envelope<SessionEvent>[] }>;
    cursor: string | null;
  }>;
  readonly log: Logger;
}

/** Matches the index to its store at start, and rebuilds it when they differ. */
export class IndexKeeper {
  readonly #o: IndexKeeperOptions;
  readonly #cursors: Cursors;
  #stopped = false;
  #running: Promise<void> = Promise.resolve();
  /** Event chunks read by the rebuild (this process's lifetime). */
  rebuiltChunks = 0;

  constructor(o: IndexKeeperOptions) {
    this.#o = o;
    this.#cursors = new Cursors(o.store.kv, K.cursor);
  }

  /**
   * Compares the index with the store; an index of another store is emptied here (before any
   * event is indexed), and a rebuild, new or left by a crash, goes on in the background, followed
   * by the deletion of an old shared-layout index from the chats' KV.
   */
  async start(): Promise<void> {
    const { store, log } = this.#o;
    await this.#match();
    if (store.kv === store.marksKv) return;
    // An index from before the index had its own file, left in the chats' KV.
    this.#running = this.#running.then(async () => {
      if (this.#stopped) return;
      const gone = await this.#empty(store.marksKv, ["search"]).catch((err) => {
        log.error("old search index not deleted from the chats' KV", { err });
        return 0;
      });
      if (gone) log.info("old search index deleted from the chats' KV", { keys: gone });
    });
  }

  async #match(): Promise<void> {
    const { store, log } = this.#o;
    const base = await storeBase(store.marksKv);
    const [had, rebuild] = await store.kv.getMany<[string, RebuildState]>([INDEX_BASE, REBUILD]);
    if (had.value === base) return;
    if (store.kv === store.marksKv && had.value === null && rebuild.value === null) {
      // The index has always lived in the chats' KV, kept by the events themselves: it matches.
      await store.kv.set(INDEX_BASE, base);
      return;
    }
    let from: RebuildState;
    if (rebuild.value?.base === base) {
      from = rebuild.value;
      log.info("search index rebuild goes on where it stopped");
    } else {
      const emptied = await this.#empty(store.kv, ["search"]);
      from = { base, cursor: null };
      await store.kv.set(REBUILD, from);
      if (had.value === null && emptied === 0) {
        log.info("search index is new: indexing the chats stored so far");
      } else {
        log.warn("search index does not match the chats' store: rebuilding it from the chats", {
          emptied,
        });
      }
    }
    this.#running = this.#rebuild(from).catch((err) =>
      log.error("search index rebuild failed; it goes on at the next start", { err })
    );
  }

  /** Resolves when the rebuild (if any) is done or stopped. */
  idle(): Promise<void> {
    return this.#running;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#running;
  }

  async #rebuild(from: RebuildState): Promise<void> {
    const { store, eventPage, log } = this.#o;
    let cursor = from.cursor;
    for (;;) {
      if (this.#stopped) return;
      const page = await eventPage(SESSION, cursor ?? undefined, CHUNKS_PER_STEP);
      const events: FeedEvent[] = page.chunks.flatMap(({ id, events }) =>
        events.map((e) => ({ chatId: id, seq: e.seq, at: e.at, event: e.event }))
      );
      await store.take(events);
      await this.#cursors.advance(events);
      this.rebuiltChunks += page.chunks.length;
      cursor = page.cursor;
      if (cursor === null) break;
      await store.kv.set(REBUILD, { base: from.base, cursor });
    }
    await store.kv.atomic().set(INDEX_BASE, from.base).delete(REBUILD).commit();
    log.info("search index rebuilt", { chunks: this.rebuiltChunks });
  }

  /** Deletes every key under `prefix`; how many (a stop ends it early, the next start goes on). */
  async #empty(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
    let n = 0;
    for (;;) {
      if (this.#stopped) return n;
      const keys: Deno.KvKey[] = [];
      for await (const e of kv.list({ prefix }, { limit: DELETES_PER_ATOMIC })) keys.push(e.key);
      if (keys.length === 0) return n;
      let op = kv.atomic();
      for (const k of keys) op = op.delete(k);
      await op.commit();
      n += keys.length;
    }
  }
}
