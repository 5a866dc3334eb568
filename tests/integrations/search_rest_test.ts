/**
 * Search over a real server: `GET /api/v1/chat/search` per role (admins all, operators waiting,
 * their own and closed support chats, lawyers their lawyer chats, clients 403, no token 401), a
 * chat closed two days ago found by a Russian word in another form, filters and pages over REST,
 * an operator reading a closed chat they never held without being able to write to it, events
 * stored with search off found after a restart, and SEARCH=off.
 */
import assert from "node:assert/strict";
import type { Principal } from "../../src/auth/principal.ts";
import { searchOf } from "../../src/integrations/search/mod.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer, type TestServer } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { connectStaff } from "../integration/_routing_util.ts";
import { chatClient as client, DAY, T0 } from "./_search_util.ts";

const staff = (id: string, role: Principal["role"]): Principal => ({
  id,
  role,
  scope: "staff",
  expiresAt: Infinity,
});
const OPTS = { DEFAULT_CAPACITY: "1000" };

/** A support chat with messages; taken by `operator` (if any) and closed when asked. */
async function chat(
  s: TestServer,
  id: string,
  o: { client: string; name?: string; operator?: string; texts: string[]; close?: boolean },
) {
  await s.svc.createChat(o.client, id, o.name ? { clientName: o.name } : {});
  if (o.operator) await s.svc.accept(staff(o.operator, "operator"), id);
  for (const t of o.texts) await s.svc.sendMessage(client(o.client, id), id, t);
  if (o.close) await s.svc.close(client(o.client, id), id);
}

async function search(s: TestServer, token: string | null, query: Record<string, string>) {
  const url = new URL("/api/v1/chat/search", s.url);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const res = await fetch(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  return { status: res.status, body: await res.json() };
}

const found = (r: { body: { results: Array<{ chat_id: string }> } }) =>
  r.body.results.map((x) => x.chat_id).sort();

Deno.test("search (REST): who sees what, per role", async () => {
  await using s = await startTestServer(OPTS);
  await using sockets = new Sockets();
  await connectStaff(s, sockets, "op-1");
  await connectStaff(s, sockets, "op-2");
  await chat(s, "waiting", { client: "c1", texts: ["Где мой заказ?"] });
  await chat(s, "mine", { client: "c2", operator: "op-1", texts: ["Заказ потерялся"] });
  await chat(s, "others", { client: "c3", operator: "op-2", texts: ["Заказы не пришли"] });
  await chat(s, "closed", { client: "c4", operator: "op-2", texts: ["заказа нет"], close: true });
  const lawyer = await s.routing.assignLawyer(staff("op-1", "operator"), {
    chatId: "mine",
    lawyerId: "law-1",
  });
  await s.svc.sendMessage(client("c2", lawyer.lawyer_chat_id), lawyer.lawyer_chat_id, "Про заказ");
  await searchOf(s.svc)!.indexer.flushed();

  const token = (id: string, role: "operator" | "lawyer" | "admin") => s.staffToken(id, role);
  const all = ["closed", "mine", "others", "waiting", lawyer.lawyer_chat_id].sort();
  assert.deepEqual(found(await search(s, await token("adm", "admin"), { q: "заказ" })), all);
  assert.deepEqual(
    found(await search(s, await token("op-1", "operator"), { q: "заказам" })),
    ["closed", "mine", "waiting"],
  );
  assert.deepEqual(
    found(await search(s, await token("op-2", "operator"), { q: "заказ" })),
    ["closed", "others", "waiting"],
  );
  // A lawyer finds their lawyer chat and the support chat they were assigned from (which they
  // may read), nothing else.
  assert.deepEqual(
    found(await search(s, await token("law-1", "lawyer"), { q: "заказ" })),
    [lawyer.lawyer_chat_id, "mine"].sort(),
  );
  assert.deepEqual(found(await search(s, await token("law-2", "lawyer"), { q: "заказ" })), []);
  const { client_token, visitor_token } = await s.createChat("c9");
  for (const t of [client_token, visitor_token]) {
    const r = await search(s, t, { q: "заказ" });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "forbidden");
  }
  assert.equal((await search(s, null, { q: "заказ" })).status, 401);
});

Deno.test("search (REST): a chat closed two days ago is found by a Russian word in another form; its history and client are readable by any operator, but nothing can be written to it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-search-" });
  const kvPath = `${dir}/chat.kv`;
  {
    // Two days ago (a server on a clock of its own; time is not advanced through two days).
    await using before = await startTestServer(OPTS, { kvPath, clock: new ManualClock(T0) });
    await using sockets = new Sockets();
    await connectStaff(before, sockets, "op-2");
    await chat(before, "refund", {
      client: "anna",
      name: "Анна",
      operator: "op-2",
      texts: ["Верните, пожалуйста, деньги за сломанный пылесос"],
      close: true,
    });
    await searchOf(before.svc)!.indexer.flushed();
  }
  await using s = await startTestServer(OPTS, { kvPath, clock: new ManualClock(T0 + 2 * DAY) });
  await using sockets = new Sockets();
  await connectStaff(s, sockets, "op-2");
  await chat(s, "today", { client: "boris", texts: ["Пылесос не включается"] });
  await searchOf(s.svc)!.indexer.flushed();

  const op1 = await s.staffToken("op-1", "operator");
  const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);
  const r = await search(s, op1, { q: "пылесосы деньгами", status: "closed", to: day(T0) });
  assert.equal(r.status, 200);
  assert.deepEqual(found(r), ["refund"]);
  const hit = r.body.results[0];
  assert.equal(hit.status, "closed");
  assert.equal(hit.client_name, "Анна");
  assert.equal(hit.operator_id, "op-2");
  assert.equal(hit.matched, 2);
  assert.equal(hit.closed_at, new Date(T0).toISOString());
  assert.deepEqual(
    hit.snippet.highlights.map(([a, b]: number[]) => hit.snippet.text.slice(a, b)),
    ["деньги", "пылесос"],
  );
  assert.deepEqual(r.body.terms, ["пылесос", "деньг"]);
  assert.deepEqual(found(await search(s, op1, { q: "пылесос", from: day(T0 + DAY) })), ["today"]);

  // op-1 never held it: reads the history and the client, cannot write.
  const auth = { authorization: `Bearer ${op1}` };
  const hist = await fetch(`${s.url}/api/v1/chat/chats/refund/history`, { headers: auth });
  assert.equal(hist.status, 200);
  const events = (await hist.json()).events as Array<{ payload: { message?: string } }>;
  assert.ok(events.some((e) => e.payload.message?.startsWith("Верните")));
  const profile = await fetch(`${s.url}/api/v1/chat/chats/refund/client`, { headers: auth });
  assert.equal(profile.status, 200);
  assert.equal((await profile.json()).client_id, "anna");
  await assert.rejects(
    s.svc.sendMessage(staff("op-1", "operator"), "refund", "hi"),
    /forbidden|may not/,
  );
  await assert.rejects(s.svc.close(staff("op-1", "operator"), "refund"), /forbidden|may not/);
  const upload = await fetch(`${s.url}/api/v1/chat/chats/refund/attachments?name=a.txt`, {
    method: "POST",
    headers: { ...auth, "content-type": "text/plain" },
    body: "hello",
  });
  assert.equal(upload.status, 409);
  assert.equal((await upload.json()).error.code, "chat_closed");
  // An open chat of another operator stays closed to op-1.
  await chat(s, "open-of-op2", { client: "vera", operator: "op-2", texts: ["x"] });
  const other = await fetch(`${s.url}/api/v1/chat/chats/open-of-op2/history`, { headers: auth });
  assert.equal(other.status, 403);
  await other.body?.cancel();
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

Deno.test("search (REST): filters, pages and refused queries", async () => {
  await using s = await startTestServer(OPTS);
  await using sockets = new Sockets();
  await connectStaff(s, sockets, "op-1");
  for (let i = 0; i < 12; i++) {
    await chat(s, `c${i}`, {
      client: `u${i}`,
      ...(i % 2 ? { operator: "op-1" } : {}),
      texts: [`Refund for order ${i}`],
      close: i % 3 === 0,
    });
  }
  await searchOf(s.svc)!.indexer.flushed();
  const adm = await s.staffToken("adm", "admin");
  assert.deepEqual(found(await search(s, adm, { q: "refunds", status: "closed" })), [
    "c0",
    "c3",
    "c6",
    "c9",
  ]);
  assert.deepEqual(
    found(await search(s, adm, { q: "refund", operator_id: "op-1", status: "open" })),
    ["c1", "c11", "c5", "c7"],
  );
  const seen: string[] = [];
  let cursor: string | null = null;
  do {
    const r = await search(s, adm, { q: "refund", limit: "5", ...(cursor ? { cursor } : {}) });
    assert.equal(r.status, 200);
    seen.push(...found(r));
    cursor = r.body.next_cursor;
  } while (cursor);
  assert.equal(new Set(seen).size, 12);
  const refused: Array<Record<string, string>> = [
    { status: "done" },
    { limit: "51" },
    { from: "yesterday" },
    { cursor: "x" },
  ];
  for (const bad of refused) {
    const r = await search(s, adm, { q: "refund", ...bad });
    assert.equal(r.status, 400, JSON.stringify(bad));
    assert.equal(r.body.error.code, "invalid_payload");
  }
  const openapi = await (await fetch(`${s.url}/api/v1/chat/openapi.json`)).json();
  assert.ok(openapi.paths["/api/v1/chat/search"]?.get);
});

Deno.test("search (REST): chats stored while search was off are found after a restart; SEARCH=off has no route", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-search-" });
  const kvPath = `${dir}/chat.kv`;
  try {
    {
      // The index exists (its file matches the chats' store), then search is turned off.
      await using s = await startTestServer(OPTS, { kvPath });
      await chat(s, "indexed", { client: "ira", texts: ["Заказ пришёл вовремя"] });
      await searchOf(s.svc)!.indexer.flushed();
    }
    {
      await using s = await startTestServer({ ...OPTS, SEARCH: "off" }, { kvPath });
      await chat(s, "offline", { client: "gleb", texts: ["Курьер разбил посуду"], close: true });
      const r = await search(s, await s.staffToken("adm", "admin"), { q: "посуда" });
      assert.equal(r.status, 404);
    }
    await using s = await startTestServer(OPTS, { kvPath });
    const adm = await s.staffToken("adm", "admin");
    // The start looked once (the cursor is behind its mark); the next look takes the events in.
    await searchOf(s.svc)!.indexer.catchUp.look();
    assert.deepEqual(found(await search(s, adm, { q: "посуду курьеры" })), ["offline"]);
    assert.ok(searchOf(s.svc)!.indexer.catchUp.caughtUp >= 4);
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("search (REST): a message is found right after it is sent, before the index's next refresh", async () => {
  // A clock that does not move: the indexer's gathered events would wait for ever.
  await using s = await startTestServer(OPTS, { clock: new ManualClock(T0) });
  const admin = await s.staffToken("adm", "admin");
  await chat(s, "first", { client: "c1", texts: ["Посылка не пришла"] });
  assert.deepEqual(found(await search(s, admin, { q: "посылка" })), ["first"]);
  // Under steady traffic the next events gather for the refresh interval: a search writes them.
  await chat(s, "second", { client: "c2", texts: ["Где посылка?"], close: true });
  assert.ok(searchOf(s.svc)!.indexer.backlog > 0, "events gathering for the next step");
  assert.deepEqual(found(await search(s, admin, { q: "посылки", status: "closed" })), ["second"]);
  assert.equal(searchOf(s.svc)!.indexer.backlog, 0);
});
