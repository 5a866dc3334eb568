/**
 * Who is on staff (issue 14): the roster pickers use (`GET /chats/operators`: admins are not
 * operators, lawyers are lawyers), the public availability the widget shows (`GET /availability`,
 * cached briefly), and offline messages: a normal queued chat marked `offline`, with the
 * visitor's e-mail on the profile and their message in it.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer } from "./_harness.ts";
import { connectStaff, isFrame } from "./_routing_util.ts";
import { allEvents, Sockets } from "./_util.ts";
import { apiGet, getOk, type Json } from "./_staff_util.ts";

Deno.test("roster: name, role, status, presence, load and capacity; admins are not operators, lawyers are lawyers", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const anna = await server.staffToken("op-1", "operator", "Anna");
  await sockets.connect(server.wsUrl(anna));
  const op2 = await connectStaff(server, sockets, "op-2");
  await connectStaff(server, sockets, "adm", "admin");
  await sockets.connect(server.wsUrl(await server.staffToken("law-1", "lawyer", "Ivan")));
  assert.equal((await op2.request("set_status", { status: "away" })).type, "ack");
  const chat = await server.createChat("alice");
  const admin = await server.staffToken("adm", "admin");
  // The admin takes a chat by hand: still an admin, not an operator with load.
  const byAdmin = await connectStaff(server, sockets, "adm", "admin");
  assert.equal((await byAdmin.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");

  const all: Json[] = await getOk(server, "chats/operators", anna);
  const row = (id: string) => all.find((r) => r.operator_id === id);
  assert.deepEqual(row("op-1"), {
    operator_id: "op-1",
    name: "Anna",
    role: "operator",
    status: "online",
    connected: true,
    open_chats: 0,
    capacity: 5,
    available: true,
  });
  assert.deepEqual(
    [row("op-2").status, row("op-2").available, row("op-2").name],
    ["away", false, null],
  );
  assert.deepEqual(
    [row("adm").role, row("adm").capacity, row("adm").available, row("adm").open_chats],
    ["admin", null, false, 1],
  );
  assert.deepEqual(
    [row("law-1").role, row("law-1").name, row("law-1").capacity, row("law-1").available],
    ["lawyer", "Ivan", null, false],
  );

  // The pickers: transfer lists operators online with room, assign-lawyer lists lawyers.
  const targets: Json[] = await getOk(
    server,
    "chats/operators?role=operator&available=true",
    admin,
  );
  assert.deepEqual(targets.map((r) => r.operator_id), ["op-1"]);
  const lawyers: Json[] = await getOk(server, "chats/operators?role=lawyer", admin);
  assert.deepEqual(lawyers.map((r) => r.operator_id), ["law-1"]);
  assert.equal((await apiGet(server, "chats/operators?role=client", admin)).status, 400);
  // Staff only.
  assert.equal((await apiGet(server, "chats/operators", chat.client_token)).status, 403);
  assert.equal((await apiGet(server, "chats/operators")).status, 401);
});

Deno.test("availability: operators online with room, waiting chats and the reply promise, cached for a few seconds", async () => {
  const clock = new ManualClock(Date.now());
  await using server = await startTestServer({ OFFLINE_REPLY_PROMISE_H: "48" }, { clock });
  await using sockets = new Sockets();
  // Only an admin and a lawyer online: nobody to answer, as far as the widget is concerned.
  await connectStaff(server, sockets, "adm", "admin");
  await connectStaff(server, sockets, "law-1", "lawyer");
  await server.createChat("waiting-1");
  const first = await apiGet(server, "availability");
  assert.equal(first.status, 200);
  assert.deepEqual(first.body, {
    online: 0,
    operators_online: 0,
    waiting: 1,
    estimated_wait_s: null,
    reply_promise_h: 48,
  });
  assert.equal(first.headers.get("cache-control"), "public, max-age=5");

  await connectStaff(server, sockets, "op-1");
  // Within the cache time the same answer comes back; after it, the new one.
  assert.equal((await getOk(server, "availability")).online, 0);
  await clock.advance(5_000);
  const later = await getOk(server, "availability");
  assert.deepEqual([later.online, later.operators_online, later.waiting], [1, 1, 1]);
});

Deno.test("an offline message is a queued chat marked offline, with the e-mail on the profile", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const post = (body: unknown) =>
    fetch(`${server.url}/api/v1/chat/chats`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
  for (
    const bad of [
      { offline: true, message: "no e-mail" },
      { offline: true, email: "a@example.com" },
      { offline: true, email: "not an address", message: "x" },
    ]
  ) {
    const r = await post(bad);
    assert.equal(r.status, 400, JSON.stringify(bad));
    await r.body?.cancel();
  }
  const tooLong = await post({ offline: true, email: "a@example.com", message: "x".repeat(4001) });
  assert.equal(tooLong.status, 413);
  await tooLong.body?.cancel();

  const res = await post({
    offline: true,
    name: "Olga",
    email: "olga@example.com",
    message: "Please call me back about my order 42",
  });
  assert.equal(res.status, 201);
  const created = await res.json();
  assert.equal(created.status, "queued");
  const events = await allEvents(server, created.chat_id, created.client_token);
  assert.equal(events[0].type, "chat_created");
  assert.equal(events[0].payload.offline, true);
  const message = events.find(isFrame("message"))!;
  assert.deepEqual(
    [message.payload.sender_role, message.payload.message],
    ["client", "Please call me back about my order 42"],
  );

  // Staff see it in the queue and read the e-mail on the client's profile.
  const opToken = await server.staffToken("op-1");
  const op = await connectStaff(server, sockets, "op-1");
  const queue = await getOk(server, "chats/queue", opToken);
  assert.ok(queue.waiting.some((w: Json) => w.chat_id === created.chat_id));
  const profile = await getOk(server, `chats/${created.chat_id}/client`, opToken);
  assert.deepEqual([profile.name, profile.email], ["Olga", "olga@example.com"]);
  assert.equal((await op.request("accept_chat", { chat_id: created.chat_id })).type, "ack");
  const history = await allEvents(server, created.chat_id, opToken);
  assert.equal(history[0].payload.offline, true);
});
