/**
 * The search index in a KV file of its own (src/integrations/search/kv.ts): the chats' KV holds
 * no index, the index file does; a lost index file, an index from before (in the chats' KV), and
 * a restored (older) chats' store are each rebuilt from the chats' events; a rebuild cut off goes
 * on where it stopped; the catch-up moves cursors kept in another KV than its marks.
 */
import assert from "node:assert/strict";
import type { Principal } from "../../src/auth/principal.ts";
import type { SessionEvent } from "../../actors/session.ts";
import { CatchUp, Cursors } from "../../src/integrations/feed.ts";
import {
  BASE_KEY,
  IndexKeeper,
  renewStoreBase,
  searchKvPath,
} from "../../src/integrations/search/kv.ts";
import { searchOf } from "../../src/integrations/search/mod.ts";
import { K, SearchStore } from "../../src/integrations/search/store.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { Envelope } from "../../src/runtime/entity.ts";
import { startTestServer, type TestServer } from "../integration/_harness.ts";
import { chatClient as client, conversation, FakeLog } from "./_search_util.ts";

const ADMIN: Principal = { id: "adm", role: "admin", scope: "staff", expiresAt: Infinity };

async function keys(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  let n = 0;
  for await (const _ of kv.list({ prefix })) n++;
  return n;
}

/** Chat ids the admin finds for `q`, once the index has taken everything in. */
async function find(s: TestServer, q: string): Promise<string[]> {
  const search = searchOf(s.svc)!;
  await search.keeper.idle();
  await search.indexer.flushed();
  const answer = await search.query.search({ id: ADMIN.id, role: "admin" }, {
    q,
    status: [],
    limit: 20,
  });
  return answer.hits.map((h) => h.chatId).sort();
}

/** A temp folder for one store's KV files, removed when the test ends. */
async function tempStore() {
  const dir = await Deno.makeTempDir({ prefix: "search-kv-" });
  return {
    dir,
    kvPath: `${dir}/chat.kv`,
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

async function chatWith(s: TestServer, chatId: string, text: string) {
  await s.svc.createChat(`cl-${chatId}`, chatId);
  await s.svc.sendMessage(client(`cl-${chatId}`, chatId), chatId, text);
}

Deno.test("searchKvPath: beside the chats' file, in memory with them, shared on request or with KV Connect", () => {
  assert.equal(searchKvPath("data/chat.kv", ""), "data/chat.search.kv");
  assert.equal(searchKvPath("/var/lib/chat/store", ""), "/var/lib/chat/store.search");
  assert.equal(searchKvPath(":memory:", ""), ":memory:");
  assert.equal(searchKvPath("https://kv.example/db", ""), null);
  assert.equal(searchKvPath("data/chat.kv", "shared"), null);
  assert.equal(searchKvPath("data/chat.kv", "/fast/index.kv"), "/fast/index.kv");
});

Deno.test("search index: in its own file, not in the chats' KV; rebuilt when the file is lost", async () => {
  await using store = await tempStore();
  const { dir, kvPath } = store;
  {
    await using s = await startTestServer({}, { kvPath });
    await chatWith(s, "c-refund", "I want a refund for my order");
    await chatWith(s, "c-hello", "Здравствуйте, где мой заказ?");
    assert.deepEqual(await find(s, "refund"), ["c-refund"]);
    assert.deepEqual(await find(s, "заказы"), ["c-hello"]);
  }
  // Stopped: the chats' KV has no index, the index file has it.
  {
    using chats = await Deno.openKv(kvPath);
    using index = await Deno.openKv(`${dir}/chat.search.kv`);
    assert.equal(await keys(chats, ["search"]), 0, "no index in the chats' KV");
    assert.ok(await keys(index, K.postings("refund")) > 0, "postings in the index file");
    const base = (await chats.get<string>(BASE_KEY)).value;
    assert.ok(base);
    assert.equal((await index.get(["search", "base"])).value, base);
  }
  for (const side of ["", "-wal", "-shm"]) {
    await Deno.remove(`${dir}/chat.search.kv${side}`).catch(() => {});
  }
  await using s = await startTestServer({}, { kvPath });
  assert.deepEqual(await find(s, "refund"), ["c-refund"], "rebuilt from the chats' events");
  assert.deepEqual(await find(s, "заказ"), ["c-hello"]);
  // New events go on being indexed after the rebuild.
  await chatWith(s, "c-late", "refund again please");
  assert.deepEqual(await find(s, "refund"), ["c-late", "c-refund"]);
});

Deno.test("search index: the old index in the chats' KV is replaced by a rebuilt file of its own", async () => {
  await using store = await tempStore();
  const { kvPath } = store;
  {
    await using s = await startTestServer({ SEARCH_KV_PATH: "shared" }, { kvPath });
    await chatWith(s, "c-old", "My parcel never arrived");
    assert.deepEqual(await find(s, "parcels"), ["c-old"]);
  }
  {
    using chats = await Deno.openKv(kvPath);
    assert.ok(await keys(chats, ["search"]) > 0, "the shared layout keeps it in the chats' KV");
  }
  {
    await using s = await startTestServer({}, { kvPath });
    assert.deepEqual(await find(s, "parcel"), ["c-old"]);
    assert.equal(await keys(s.svc.system.journal.kv, ["search"]), 0, "the old index deleted");
  }
  // A deletion cut off by a stop (keys left behind) is finished at the next start, though the
  // index itself matches by then.
  {
    using chats = await Deno.openKv(kvPath);
    await chats.set(K.posting("parcel", 1, "c-left", 2), 1);
  }
  await using s = await startTestServer({}, { kvPath });
  assert.deepEqual(await find(s, "parcel"), ["c-old"]);
  assert.equal(await keys(s.svc.system.journal.kv, ["search"]), 0, "the rest deleted");
});

Deno.test("search index: a chats' store given a new id (a restore) empties a newer index and rebuilds it", async () => {
  await using store = await tempStore();
  const { kvPath } = store;
  {
    await using s = await startTestServer({}, { kvPath });
    await chatWith(s, "c-kept", "The invoice is wrong");
    await chatWith(s, "c-gone", "Cancel my invoice");
    assert.deepEqual(await find(s, "invoice"), ["c-gone", "c-kept"]);
  }
  // As a restore of a backup taken before c-gone: its events are not in the chats' store, but
  // the index file beside it still has them.
  {
    using chats = await Deno.openKv(kvPath);
    for await (const e of chats.list({ prefix: ["a", "ev", "session", "c-gone"] })) {
      await chats.delete(e.key);
    }
    await renewStoreBase(chats);
  }
  await using s = await startTestServer({}, { kvPath });
  assert.deepEqual(await find(s, "invoice"), ["c-kept"]);
});

Deno.test("search index: a rebuild cut off goes on from where it stopped", async () => {
  using chats = await Deno.openKv(":memory:");
  using index = await Deno.openKv(":memory:");
  const log = new FakeLog(chats);
  const ids = Array.from({ length: 5 }, (_, i) => `c${i}`);
  const stored = new Map<string, Envelope<SessionEvent>[]>();
  for (const id of ids) {
    const events = await log.append(
      id,
      ...conversation({ client: `cl-${id}`, messages: [["client", `refund number ${id}`]] }),
    );
    stored.set(id, events.map((e) => ({ seq: e.seq, at: e.at, event: e.event })));
  }
  // One chat per page; the cursor is the next chat's id.
  const asked: Array<string | undefined> = [];
  let failAt = 3;
  const eventPage = (_type: string, cursor: string | undefined, _limit: number) => {
    asked.push(cursor);
    if (asked.length === failAt) return Promise.reject(new Error("crash"));
    const i = cursor === undefined ? 0 : ids.indexOf(cursor);
    return Promise.resolve({
      chunks: [{ id: ids[i], events: stored.get(ids[i])! }],
      cursor: i + 1 < ids.length ? ids[i + 1] : null,
    });
  };
  const store = new SearchStore(index, chats);
  const first = new IndexKeeper({ store, eventPage, log: silentLogger });
  await first.start();
  await first.idle();
  assert.deepEqual(asked, [undefined, "c1", "c2"], "stopped at the third page");
  assert.equal((await index.get(["search", "base"])).value, null, "not done");

  failAt = Infinity;
  asked.length = 0;
  const second = new IndexKeeper({ store, eventPage, log: silentLogger });
  await second.start();
  await second.idle();
  assert.deepEqual(asked, ["c2", "c3", "c4"], "went on from the saved cursor");
  assert.equal((await index.get(["search", "base"])).value, (await chats.get(BASE_KEY)).value);
  assert.equal(await store.chatCount(), 5);
  const cursors = await new Cursors(index, K.cursor).read(ids);
  for (const id of ids) assert.equal(cursors.get(id)!.seq, stored.get(id)!.at(-1)!.seq, id);
});

Deno.test("catch-up: with cursors in another KV than the marks, a skip moves the cursor, then drops the mark", async () => {
  using marks = await Deno.openKv(":memory:");
  using own = await Deno.openKv(":memory:");
  const markKey = ["feed_x", "chat-1"];
  await marks.set(markKey, new Deno.KvU64(7n));
  const cursors = new Cursors(own, (id) => ["x", "cur", id]);
  const catchUp = new CatchUp({
    kv: marks,
    name: "x",
    marks: ["feed_x"],
    cursors,
    readLog: () => Promise.resolve([]),
    prepare: () => Promise.resolve(null),
    clock: new ManualClock(0),
    log: silentLogger,
    pollMs: 1000,
  });
  await catchUp.look();
  await catchUp.stop();
  assert.equal((await own.get(["x", "cur", "chat-1"])).value, 7);
  assert.equal((await marks.get(markKey)).value, null);
});
