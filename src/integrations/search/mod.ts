/**
 * Conversation search for staff (issue 14): an inverted index of every chat in a KV file of its
 * own beside the chats' (./kv.ts), kept in step with every stored event by the indexer
 * (crash-safe through the search feed marks, any number of nodes), and `GET /api/v1/chat/search`
 * over it, in Russian and English. On by default, offline (KV only); `SEARCH=off` turns it off.
 * See docs/INTEGRATIONS.md, "Search".
 */
import { SESSION } from "../../../actors/_common.ts";
import type { SessionEvent } from "../../../actors/session.ts";
import type { ChatService } from "../../server/chat_service.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { Indexer } from "./indexer.ts";
import { SearchQuery } from "./query.ts";
import { searchRoutes } from "./routes.ts";
import { SearchStore } from "./store.ts";
import { IndexKeeper, searchKvPath } from "./kv.ts";
import { dirname } from "node:path";

export interface SearchIntegration extends Integration {
  readonly store: SearchStore;
  /** Matches the index to the chats' store; its rebuild, when one runs. */
  readonly keeper: IndexKeeper;
  readonly indexer: Indexer;
  readonly query: SearchQuery;
  /** Deletes chats from the index (retention and erasure call it). */
  forget(chatIds: readonly string[]): Promise<number>;
}

/** How often each node looks at the search feed marks (events a crash left behind). */
const CATCH_UP_MS = 5_000;

const running = new WeakMap<ChatService, SearchIntegration>();

/** The search of a running server, by its chat service (tests, the data lifecycle). */
export function searchOf(svc: ChatService): SearchIntegration | undefined {
  return running.get(svc);
}

export async function startSearch(ctx: IntegrationContext): Promise<SearchIntegration | null> {
  const { config, svc, kv, clock, log } = ctx;
  if (config.SEARCH === "off") return null;
  const readLog = (chatId: string, after: number, limit: number) =>
    svc.system.readEvents<SessionEvent>(SESSION, chatId, after, limit);
  // Its own KV file unless told otherwise (./kv.ts); a server handed a KV (nodes in one process)
  // keeps the index there unless SEARCH_KV_PATH says where.
  const path = ctx.kvGiven && config.SEARCH_KV_PATH === ""
    ? null
    : searchKvPath(config.KV_PATH, config.SEARCH_KV_PATH);
  if (path !== null && path !== ":memory:") await Deno.mkdir(dirname(path), { recursive: true });
  const indexKv = path === null ? kv : await Deno.openKv(path);
  const store = new SearchStore(indexKv, kv);
  const keeper = new IndexKeeper({
    store,
    eventPage: (type, cursor, limit) =>
      svc.system.journal.eventPage<SessionEvent>(type, cursor, limit),
    log,
  });
  const indexer = new Indexer({
    store,
    readLog,
    clock,
    log,
    pollMs: CATCH_UP_MS,
    gatherMs: config.SEARCH_REFRESH_MS,
  });
  const query = new SearchQuery(store, readLog, config.SEARCH_SCAN_MAX);
  // An index of another store is emptied before any event goes in; a rebuild runs behind.
  await keeper.start();
  // Once per stored event, on the node that owns the chat; what a crash cuts off is caught up.
  const unlisten = svc.onChatEvent((n) => indexer.push(n));
  // Events stored while no indexer ran (a crash, SEARCH=off) are taken in before answering.
  await indexer.start();
  const search: SearchIntegration = {
    name: "search",
    store,
    keeper,
    indexer,
    query,
    forget: (chatIds) => store.forget(chatIds),
    routes: (api) => searchRoutes(api, ctx.auth, query, () => indexer.flushed()),
    metrics: () => [
      {
        name: "chat_search_indexed_events_total",
        type: "counter",
        help: "Chat events this node took into the search index",
        value: store.counters.events,
      },
      {
        name: "chat_search_postings_written_total",
        type: "counter",
        help: "Search postings (word, chat, message) this node wrote",
        value: store.counters.postings,
      },
      {
        name: "chat_search_caught_up_events_total",
        type: "counter",
        help: "Chat events read back from logs by the search catch-up (their notice was lost)",
        value: indexer.catchUp.caughtUp,
      },
      {
        name: "chat_search_backlog",
        type: "gauge",
        help: "Chat events waiting in this node's memory for the search index",
        value: indexer.backlog,
      },
      {
        name: "chat_search_intake_left_total",
        type: "counter",
        help: "Chat events the search indexer had no room for (left to the catch-up)",
        value: indexer.left,
      },
    ],
    async stop() {
      unlisten();
      running.delete(svc);
      await keeper.stop();
      await indexer.stop();
      await query.idle();
      if (indexKv !== kv) indexKv.close();
    },
  };
  running.set(svc, search);
  return search;
}
