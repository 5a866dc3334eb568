/**
 * The search index and its queries over a real KV and a fake log: postings and docs from chat
 * events, idempotent and safe with two writers, gaps left for later; Russian and English word
 * forms; ranking, snippets, filters, who sees what, pages; forgetting a chat.
 */
import assert from "node:assert/strict";
import {
  maySee,
  type SearchParams,
  SearchQuery,
  type Viewer,
} from "../../src/integrations/search/query.ts";
import { K, SearchStore } from "../../src/integrations/search/store.ts";
import { conversation, DAY, FakeLog, footprint, T0 } from "./_search_util.ts";

async function setUp() {
  const kv = await Deno.openKv(":memory:");
  const log = new FakeLog(kv);
  const store = new SearchStore(kv);
  const query = new SearchQuery(store, log.read, 20_000);
  return { kv, log, store, query, [Symbol.dispose]: () => kv.close() };
}

const ADMIN: Viewer = { id: "adm", role: "admin" };
const params = (q: string, more: Partial<SearchParams> = {}): SearchParams => ({
  q,
  status: [],
  limit: 20,
  ...more,
});
const ids = (a: { hits: Array<{ chatId: string }> }) => a.hits.map((h) => h.chatId);

Deno.test("index: a chat's messages are found by other forms of their words, in Russian and English", async () => {
  using s = await setUp();
  await s.store.take(
    await s.log.append(
      "c1",
      ...conversation({
        operator: "op-1",
        name: "Алиса Петрова",
        messages: [
          ["client", "Здравствуйте! Хочу вернуть деньги за два заказа."],
          ["staff", "Оформите возврат в профиле, деньги придут за 5 дней."],
        ],
        closed: true,
      }),
    ),
  );
  await s.store.take(
    await s.log.append(
      "c2",
      ...conversation({
        client: "bob",
        messages: [["client", "My refunds never reached my card"]],
      }),
    ),
  );
  assert.deepEqual(ids(await s.query.search(ADMIN, params("заказы"))), ["c1"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("возвраты денег"))), ["c1"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("ВЕРНУТЬ"))), ["c1"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("refunded"))), ["c2"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("петровой"))), ["c1"]);
  // Stop words alone find nothing; an empty query lists chats, newest first.
  assert.deepEqual(ids(await s.query.search(ADMIN, params("и за the"))), []);
  assert.equal((await s.query.search(ADMIN, params(""))).hits.length, 2);

  const hit = (await s.query.search(ADMIN, params("деньги заказ"))).hits[0];
  assert.equal(hit.matched, 2);
  assert.equal(hit.doc.status, "closed");
  assert.equal(hit.doc.clientName, "Алиса Петрова");
  assert.deepEqual(hit.doc.operators, ["op-1"]);
  assert.equal(hit.doc.preview, "Здравствуйте! Хочу вернуть деньги за два заказа.");
  // The snippet is the message holding both words, each form highlighted.
  const sn = hit.snippet!;
  assert.match(sn.text, /^Здравствуйте! Хочу вернуть деньги/);
  assert.deepEqual(sn.highlights.map(([a, b]) => sn.text.slice(a, b)), ["деньги", "заказа"]);
  assert.equal(sn.seq, 4);
});

Deno.test("index: chats with all the words come first, then by how much they speak of them", async () => {
  using s = await setUp();
  const chats: Array<[string, string[]]> = [
    ["both", ["Доставка заказа задерживается"]],
    ["one-much", ["Доставка", "доставка опять", "где доставка?", "доставка!!"]],
    ["one", ["Когда будет доставка?"]],
    ["none", ["Спасибо за помощь"]],
  ];
  for (const [id, texts] of chats) {
    await s.store.take(
      await s.log.append(
        id,
        ...conversation({ messages: texts.map((t) => ["client", t] as const) }),
      ),
    );
  }
  const a = await s.query.search(ADMIN, params("доставку заказов"));
  assert.deepEqual(ids(a), ["both", "one-much", "one"]);
  assert.deepEqual(a.terms, ["доставк", "заказ"]);
  assert.ok(a.hits[1].score > a.hits[2].score);
});

Deno.test("index: taking events in is idempotent, leaves a gap for later and agrees with a second writer", async () => {
  using s = await setUp();
  const events = await s.log.append(
    "c1",
    ...conversation({ messages: [["client", "one apple"], ["client", "two pears"]] }),
  );
  // Events after a gap wait: nothing of them is in the index.
  assert.equal(await s.store.take(events.slice(3)), 0);
  assert.equal((await s.store.docs(["c1"])).size, 0);
  assert.equal(await s.store.take(events.slice(0, 3)), 3);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("apples"))), ["c1"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("pears"))), []);
  // The rest, twice and by two writers at once: taken in once.
  const other = new SearchStore(s.kv);
  const [a, b] = await Promise.all([s.store.take(events), other.take(events)]);
  assert.equal(a + b, 1);
  assert.equal(await s.store.take(events), 0);
  const before = await footprint(s.kv, ["search"]);
  assert.equal((await s.store.docs(["c1"])).get("c1")!.seq, 4);
  assert.equal(await s.store.chatCount(), 1);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("pear"))), ["c1"]);
  await s.store.take(events);
  assert.deepEqual(await footprint(s.kv, ["search"]), before);
});

Deno.test("index: who sees what — admins all, operators support chats waiting, theirs or closed, lawyers their lawyer chats", async () => {
  using s = await setUp();
  const chats = {
    waiting: conversation({ messages: [["client", "refund please"]] }),
    mine: conversation({ operator: "op-1", messages: [["client", "refund please"]] }),
    others: conversation({ operator: "op-2", messages: [["client", "refund please"]] }),
    closed: conversation({
      operator: "op-2",
      messages: [["client", "refund please"]],
      closed: true,
    }),
    lawyer: conversation({
      kind: "lawyer",
      operator: "law-1",
      messages: [["client", "refund please"]],
    }),
    lawyerClosed: conversation({
      kind: "lawyer",
      operator: "law-2",
      messages: [["client", "refund please"]],
      closed: true,
    }),
  };
  for (const [id, events] of Object.entries(chats)) {
    await s.store.take(await s.log.append(id, ...events));
  }
  const seen = async (v: Viewer) => ids(await s.query.search(v, params("refund"))).sort();
  assert.deepEqual(await seen(ADMIN), Object.keys(chats).sort());
  assert.deepEqual(await seen({ id: "op-1", role: "operator" }), ["closed", "mine", "waiting"]);
  assert.deepEqual(await seen({ id: "op-2", role: "operator" }), ["closed", "others", "waiting"]);
  assert.deepEqual(await seen({ id: "law-1", role: "lawyer" }), ["lawyer"]);
  assert.deepEqual(await seen({ id: "law-2", role: "lawyer" }), ["lawyerClosed"]);
  assert.deepEqual(await seen({ id: "alice", role: "client" }), []);
  // Without words too.
  const browse = await s.query.search({ id: "op-1", role: "operator" }, params(""));
  assert.deepEqual(ids(browse).sort(), ["closed", "mine", "waiting"]);
  const doc = (await s.store.docs(["lawyer"])).get("lawyer")!;
  assert.equal(maySee({ id: "op-1", role: "operator" }, doc), false);
});

Deno.test("index: filters by status, operator, label and creation date", async () => {
  using s = await setUp();
  const add = async (id: string, c: Parameters<typeof conversation>[0]) =>
    await s.store.take(await s.log.append(id, ...conversation(c)));
  await add("old-closed", { operator: "op-1", messages: [["client", "invoice"]], closed: true });
  await add("new-open", { operator: "op-2", messages: [["client", "invoice"]], at: T0 + 3 * DAY });
  await add("new-waiting", { messages: [["client", "invoice"]], at: T0 + 4 * DAY });
  // A label arrives on an event carrying `labels` (none of today's events does; the doc takes it).
  await s.log.append(
    "new-open",
    {
      type: "labels_set",
      labels: ["VIP", "billing"],
      at: T0 + 3 * DAY,
    } as unknown as Parameters<FakeLog["append"]>[1],
  );
  await s.store.take(
    await s.log.read("new-open", 0, 100).then((l) => l.map((e) => ({ chatId: "new-open", ...e }))),
  );
  const q = async (more: Partial<SearchParams>) =>
    ids(await s.query.search(ADMIN, params("invoice", more))).sort();
  assert.deepEqual(await q({ status: ["closed"] }), ["old-closed"]);
  assert.deepEqual(await q({ status: ["open"] }), ["new-open", "new-waiting"]);
  assert.deepEqual(await q({ status: ["waiting", "closed"] }), ["new-waiting", "old-closed"]);
  assert.deepEqual(await q({ operatorId: "op-2" }), ["new-open"]);
  assert.deepEqual(await q({ label: "vip" }), ["new-open"]);
  assert.deepEqual(await q({ from: T0 + DAY }), ["new-open", "new-waiting"]);
  assert.deepEqual(await q({ to: T0 + 3 * DAY }), ["new-open", "old-closed"]);
  assert.deepEqual(await q({ from: T0 + DAY, to: T0 + 3 * DAY }), ["new-open"]);
  const browse = await s.query.search(ADMIN, params("", { from: T0 + DAY, status: ["open"] }));
  assert.deepEqual(ids(browse), ["new-waiting", "new-open"]);
});

Deno.test("index: pages follow the ranking with a cursor, without repeats or gaps", async () => {
  using s = await setUp();
  for (let i = 0; i < 47; i++) {
    const texts = Array.from({ length: 1 + (i % 5) }, () => ["client", "parcel lost"] as const);
    await s.store.take(
      await s.log.append(`c${i}`, ...conversation({ messages: texts, at: T0 + i * 1000 })),
    );
  }
  for (const q of ["parcel", ""]) {
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const a = await s.query.search(
        ADMIN,
        params(q, { limit: 10, ...(cursor ? { cursor } : {}) }),
      );
      seen.push(...ids(a));
      cursor = a.nextCursor ?? undefined;
      pages++;
    } while (cursor);
    assert.equal(pages, 5, q);
    assert.equal(new Set(seen).size, 47, q);
    assert.equal(seen.length, 47, q);
  }
  await assert.rejects(
    s.query.search(ADMIN, params("parcel", { cursor: "not-a-cursor" })),
    /Invalid cursor/,
  );
});

Deno.test("index: forgetting a chat deletes every key it had", async () => {
  using s = await setUp();
  await s.store.take(
    await s.log.append("keep", ...conversation({ messages: [["client", "hello world"]] })),
  );
  const before = await footprint(s.kv, ["search"]);
  await s.store.take(
    await s.log.append(
      "gone",
      ...conversation({ name: "Zed", messages: [["client", "secret words here"]], closed: true }),
    ),
  );
  assert.equal(await s.store.forget(["gone"]), 1);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("secret"))), []);
  const after = await footprint(s.kv, ["search"]);
  // Only the chat counter remembers it was there.
  assert.equal(after.keys, before.keys);
  assert.equal((await s.kv.get(K.doc("gone"))).value, null);
});

Deno.test("index: a chat whose log is gone (retention, erasure) is never shown, and its entries go", async () => {
  using s = await setUp();
  for (const id of ["kept", "erased"]) {
    await s.store.take(
      await s.log.append(id, ...conversation({ messages: [["client", "private matter"]] })),
    );
  }
  s.log.drop("erased");
  assert.deepEqual(ids(await s.query.search(ADMIN, params("private"))), ["kept"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params(""))), ["kept"]);
  // The entries are deleted in the background.
  await s.query.idle();
  assert.equal((await s.store.docs(["erased"])).size, 0);
  assert.deepEqual((await footprint(s.kv, ["search", "mt", "erased"])).keys, 0);
});

Deno.test("index: labels come from the staff labels' projection (['labels', chatId]) when there is one", async () => {
  using s = await setUp();
  for (const id of ["a", "b"]) {
    await s.store.take(
      await s.log.append(id, ...conversation({ messages: [["client", "broken screen"]] })),
    );
  }
  await s.kv.set(["labels", "a"], ["Warranty", "vip"]);
  const q = async (label: string) =>
    ids(await s.query.search(ADMIN, params("screen", { label }))).sort();
  assert.deepEqual(await q("warranty"), ["a"]);
  assert.deepEqual(await q("other"), []);
  const hit = (await s.query.search(ADMIN, params("screen"))).hits.find((h) => h.chatId === "a")!;
  assert.deepEqual(hit.doc.labels, ["Warranty", "vip"]);
  assert.deepEqual(ids(await s.query.search(ADMIN, params("", { label: "VIP" }))), ["a"]);
});
