/**
 * Webhooks on a real server: a whole chat over WebSockets produces signed deliveries of the
 * right types; failures are retried, dead-lettered and replayed over REST; disabling and
 * deleting stop deliveries; a restart loses nothing waiting in the outbox.
 */
import assert from "node:assert/strict";
import { deliveryId } from "../../src/integrations/webhooks/events.ts";
import { webhooksOf } from "../../src/integrations/webhooks/mod.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer, type TestServer, WsClient } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { Receiver, signedWith } from "./_webhooks_receiver.ts";
import { adminApi, call } from "./_webhooks_rest.ts";
import { Recorder } from "./_webhooks_util.ts";

const ALL = [
  "chat.created",
  "chat.assigned",
  "chat.message",
  "chat.closed",
  "chat.rated",
  "chat.transferred",
];

function engineOf(server: TestServer) {
  const wh = webhooksOf(server.svc);
  assert.ok(wh, "the webhook integration runs");
  return wh;
}

Deno.test("a whole chat produces signed deliveries of each type, with ids fixed per event", async () => {
  await using r = await Receiver.start();
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const rec = new Recorder(engineOf(server));
  const adminToken = await server.staffToken("admin-1", "admin");
  const admin = adminApi(server, adminToken);
  const all = await admin.create({ url: `${r.url}/all`, events: ALL });
  const closedOnly = await admin.create({ url: `${r.url}/closed`, events: ["chat.closed"] });

  const op1 = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
  await sockets.connect(server.wsUrl(await server.staffToken("op-2")));
  const chat = await server.createChat("alice");
  const client = await sockets.connect(chat.ws_url);
  assert.equal((await op1.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  await client.next((f) => f.type === "chat_assigned");
  assert.equal((await client.request("message", { text: "hello" })).type, "ack");
  const reply = await op1.request("message", { chat_id: chat.chat_id, text: "hi there" });
  assert.equal(reply.type, "ack");
  const moved = await call(server, "POST", "admin/transfer-chat", {
    token: adminToken,
    body: { chat_id: chat.chat_id, target_operator_id: "op-2", reason: "billing" },
  });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
  await client.next((f) => f.type === "chat_transferred");
  assert.equal((await client.request("close_chat", { reason: "solved" })).type, "ack");
  assert.equal((await client.request("rate", { score: 5, comment: "great" })).type, "ack");

  await r.next(() => r.at("/all").length >= 7 && r.at("/closed").length >= 1);
  await rec.drained(engineOf(server));
  assert.equal(r.requests.length, 8, "each delivered once");
  const got = r.at("/all").sort((a, b) => a.payload.seq - b.payload.seq);
  assert.deepEqual(got.map((x) => x.payload.type), [
    "chat.created",
    "chat.assigned",
    "chat.message",
    "chat.message",
    "chat.transferred",
    "chat.closed",
    "chat.rated",
  ]);
  for (const x of got) {
    assert.ok(await signedWith(x, all.secret), `${x.payload.type} is signed`);
    assert.equal(x.headers.get("x-chat-event"), x.payload.type);
    assert.equal(x.delivery, x.payload.id);
    assert.equal(x.payload.chat_id, chat.chat_id);
    assert.equal(x.delivery, await deliveryId(all.id, chat.chat_id, x.payload.seq));
    assert.match(x.headers.get("x-chat-timestamp")!, /^\d+$/);
  }
  assert.equal(new Set(got.map((x) => x.delivery)).size, 7, "one id per event");
  assert.equal(got[0].payload.data.client_id, "alice");
  assert.equal(got[1].payload.data.operator_id, "op-1");
  assert.deepEqual(got.slice(2, 4).map((x) => [x.payload.data.sender_id, x.payload.data.text]), [
    ["alice", "hello"],
    ["op-1", "hi there"],
  ]);
  assert.equal(got[2].payload.seq, (reply.payload.seq as number) - 1);
  assert.deepEqual(
    [got[4].payload.data.from_operator_id, got[4].payload.data.to_operator_id],
    ["op-1", "op-2"],
  );
  assert.equal(got[6].payload.data.score, 5);

  const [closed] = r.at("/closed");
  assert.equal(r.at("/closed").length, 1, "the second subscription only hears chat.closed");
  assert.equal(closed.payload.type, "chat.closed");
  assert.ok(await signedWith(closed, closedOnly.secret));
  assert.ok(!(await signedWith(closed, all.secret)), "each subscription has its own secret");
  assert.notEqual(closed.delivery, got[5].delivery, "ids differ per subscription");
});

Deno.test("a failing receiver is retried, then dead-lettered; a REST replay delivers the same id", async () => {
  await using r = await Receiver.start();
  const clock = new ManualClock();
  await using server = await startTestServer(
    { WEBHOOK_MAX_ATTEMPTS: "2", WEBHOOK_BACKOFF_MS: "1000" },
    { clock },
  );
  const rec = new Recorder(engineOf(server));
  const token = await server.staffToken("admin-1", "admin");
  const admin = adminApi(server, token);
  await admin.create({ url: `${r.url}/hook`, events: ["chat.created"] });
  r.plan("/hook", { status: 500 }, { status: 503 });

  const chat = await server.createChat("bob");
  const retry = await rec.result("retry");
  assert.ok(retry.nextAt! - retry.at >= 500 && retry.nextAt! - retry.at <= 1_000, "jittered");
  await clock.advance(retry.nextAt! - clock.now());
  await rec.result("dead");

  const { dead_letters: letters, cursor } = await admin.deadLetters();
  assert.equal(cursor, null);
  assert.equal(letters.length, 1);
  const [letter] = letters;
  assert.equal(letter.reason, "max_attempts");
  assert.equal(letter.attempts, 2);
  assert.equal(letter.last_status, 503);
  assert.equal(letter.last_error, "HTTP 503");
  assert.equal(letter.chat_id, chat.chat_id);
  assert.equal(letter.payload.type, "chat.created");
  assert.equal(letter.payload.id, letter.id);
  assert.equal(r.processed.length, 0, "the receiver never handled it");

  assert.deepEqual(await admin.replay(letter.id), {
    id: letter.id,
    subscription_id: letter.subscription_id,
    status: "queued",
  });
  const sent = await r.next((x) => x.fresh && r.processed.length === 1);
  assert.equal(sent.delivery, letter.id, "same delivery id");
  assert.deepEqual(sent.payload, letter.payload, "same body");
  await rec.result("delivered");
  assert.deepEqual((await admin.deadLetters()).dead_letters, []);
  const again = await call(server, "POST", `admin/webhooks/dead-letters/${letter.id}/replay`, {
    token,
  });
  assert.equal(again.status, 404, "a replayed letter is gone from the list");
});

Deno.test("dead letters can be deleted and paged over REST", async () => {
  await using r = await Receiver.start();
  await using server = await startTestServer({ WEBHOOK_MAX_ATTEMPTS: "1" });
  const rec = new Recorder(engineOf(server));
  const token = await server.staffToken("admin-1", "admin");
  const admin = adminApi(server, token);
  await admin.create({ url: `${r.url}/down`, events: ["chat.created"] });
  r.plan("/down", { status: 500 }, { status: 500 }, { status: 500 });
  for (const c of ["c1", "c2", "c3"]) await server.createChat(c);
  await rec.reach("dead", 3);

  const first = await admin.deadLetters("?limit=2");
  assert.equal(first.dead_letters.length, 2);
  assert.ok(first.cursor);
  const rest = await admin.deadLetters(`?limit=2&cursor=${encodeURIComponent(first.cursor)}`);
  assert.equal(rest.dead_letters.length, 1);
  const ids = [...first.dead_letters, ...rest.dead_letters].map((l: { id: string }) => l.id);
  assert.equal(new Set(ids).size, 3);

  const del = await call(server, "DELETE", `admin/webhooks/dead-letters/${ids[0]}`, { token });
  assert.equal(del.status, 204);
  assert.equal((await admin.deadLetters()).dead_letters.length, 2);
  const twice = await call(server, "DELETE", `admin/webhooks/dead-letters/${ids[0]}`, { token });
  assert.equal(twice.status, 404);
});

Deno.test("disabling or deleting a subscription over REST stops its deliveries", async () => {
  await using r = await Receiver.start();
  await using server = await startTestServer();
  const rec = new Recorder(engineOf(server));
  const admin = adminApi(server, await server.staffToken("admin-1", "admin"));
  const x = await admin.create({ url: `${r.url}/x`, events: ["chat.message"] });
  const y = await admin.create({ url: `${r.url}/y`, events: ["chat.message"] });
  const chat = await server.createChat("carol");
  const client = await WsClient.connect(chat.ws_url);
  const say = async (text: string) =>
    assert.equal((await client.request("message", { text })).type, "ack");
  const texts = (path: string) => r.at(path).map((q) => q.payload.data.text);

  await say("one");
  await r.next(() => r.at("/x").length === 1 && r.at("/y").length === 1);
  await admin.update(x.id, { enabled: false });
  await say("two");
  await r.next((q) => q.path === "/y" && q.payload.data.text === "two");
  await rec.drained(engineOf(server));
  assert.deepEqual(texts("/x"), ["one"], "a disabled subscription gets nothing");

  await admin.remove(y.id);
  await admin.update(x.id, { enabled: true });
  await say("three");
  await r.next((q) => q.path === "/x" && q.payload.data.text === "three");
  await rec.drained(engineOf(server));
  assert.deepEqual(texts("/y"), ["one", "two"], "a deleted subscription gets nothing");
  assert.deepEqual(texts("/x"), ["one", "three"]);
  await client.close();
});

Deno.test("deliveries waiting in the outbox go out after the server restarts", async () => {
  await using r = await Receiver.start();
  const dir = await Deno.makeTempDir({ prefix: "webhooks-restart-" });
  const kvPath = `${dir}/chat.kv`;
  const clock = new ManualClock();
  r.plan("/hook", { status: 502 });

  const first = await startTestServer({}, { clock, kvPath });
  const rec = new Recorder(engineOf(first));
  await adminApi(first, await first.staffToken("admin-1", "admin"))
    .create({ url: `${r.url}/hook`, events: ["chat.created"] });
  const chat = await first.createChat("dave");
  const failed = await rec.result("retry");
  await first.shutdown();

  await using second = await startTestServer({}, { clock, kvPath });
  const rec2 = new Recorder(engineOf(second));
  await clock.advance(failed.nextAt! - clock.now());
  await rec2.result("delivered");
  const [before, after] = r.at("/hook");
  assert.equal(after.delivery, before.delivery);
  assert.equal(after.payload.chat_id, chat.chat_id);
  assert.equal(r.processed.length, 1);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});

Deno.test("events no engine took in (a crash; here WEBHOOKS=off) go out after a restart, from the log", async () => {
  await using r = await Receiver.start();
  const dir = await Deno.makeTempDir({ prefix: "webhooks-catchup-" });
  const kvPath = `${dir}/chat.kv`;
  const clock = new ManualClock();

  const first = await startTestServer({}, { clock, kvPath });
  const sub = await adminApi(first, await first.staffToken("admin-1", "admin"))
    .create({ url: `${r.url}/hook`, events: ["chat.created", "chat.message"] });
  await first.shutdown();

  // The chat's events are stored with their feed marks, and no intake sees them.
  const second = await startTestServer({ WEBHOOKS: "off" }, { clock, kvPath });
  const chat = await second.createChat("erin");
  {
    await using sockets = new Sockets();
    const client = await sockets.connect(chat.ws_url);
    for (const text of ["one", "two"]) {
      assert.equal((await client.request("message", { text })).type, "ack");
    }
  }
  await second.shutdown();
  assert.equal(r.at("/hook").length, 0);

  await using third = await startTestServer({}, { clock, kvPath });
  // The start's look finds the cursor behind the mark; the next (WEBHOOK poll, 5 s) reads the log.
  await clock.advance(5_000);
  await r.next(() => r.at("/hook").length >= 3);
  await new Recorder(engineOf(third)).drained(engineOf(third));
  const got = r.at("/hook").map((q) => [q.payload.seq, q.payload.type, q.payload.data.text]);
  assert.deepEqual(got.sort(), [
    [1, "chat.created", undefined],
    [3, "chat.message", "one"],
    [4, "chat.message", "two"],
  ]);
  for (const q of r.at("/hook")) {
    assert.equal(q.delivery, await deliveryId(sub.id, chat.chat_id, q.payload.seq));
  }
  const metrics = await (await fetch(`${third.url}/metrics`)).text();
  assert.match(
    metrics,
    /^chat_webhook_caught_up_events_total 4$/m,
    "all four events, from the log",
  );
  assert.match(metrics, /^chat_webhook_intake_left_total 0$/m);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
});
