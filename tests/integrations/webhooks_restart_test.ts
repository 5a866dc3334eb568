/**
 * Nothing stored is lost: deliveries waiting in the KV outbox go out after a restart, a try cut
 * off by a shutdown is not counted, and a node that dies mid-try leaves the delivery to another.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { Receiver } from "./_webhooks_receiver.ts";
import { engine, message, notice } from "./_webhooks_util.ts";

async function tempKv(): Promise<{ path: string; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "webhooks-test-" });
  return { dir, path: `${dir}/chat.kv` };
}

Deno.test("deliveries waiting for a retry are sent after a restart, with the same id", async () => {
  await using r = await Receiver.start();
  const { dir, path } = await tempKv();
  const clock = new ManualClock();
  r.plan("/hook", { status: 500 }, { status: 500 });

  const kv1 = await Deno.openKv(path);
  const before = await engine({}, { kv: kv1, clock });
  await before.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  before.wh.publish(notice("chat-1", 1, message("one")));
  before.wh.publish(notice("chat-1", 2, message("two")));
  await before.rec.reach("retry", 2);
  await before[Symbol.asyncDispose]();
  kv1.close();

  const kv2 = await Deno.openKv(path);
  await using after = await engine({}, { kv: kv2, clock });
  assert.equal(await after.wh.store.pendingCount(), 2, "both still in the outbox");
  await clock.advance(1_000);
  await after.rec.reach("delivered", 2);
  const ids = r.at("/hook").map((x) => x.delivery);
  assert.equal(new Set(ids).size, 2);
  assert.deepEqual(ids.slice(2).sort(), ids.slice(0, 2).sort(), "the same ids went out again");
  assert.deepEqual(r.processed.map((p) => p.seq).sort(), [1, 2]);
  kv2.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a try cut off by a shutdown is not counted and goes out first after the restart", async () => {
  await using r = await Receiver.start();
  const { dir, path } = await tempKv();
  const clock = new ManualClock();
  const never = Promise.withResolvers<void>();
  r.plan("/hook", { hold: never.promise });

  const kv1 = await Deno.openKv(path);
  const before = await engine({}, { kv: kv1, clock });
  await before.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.created"] });
  before.wh.publish(notice("chat-1", 1, {
    type: "created",
    clientId: "alice",
    kind: "support",
    queue: "default",
    priority: 0,
    byId: "alice",
    byRole: "client",
    at: 1,
  }));
  await r.next(() => true);
  await before[Symbol.asyncDispose](); // aborts the request in flight
  assert.equal(before.rec.records.at(-1)?.result, "aborted");
  kv1.close();

  const kv2 = await Deno.openKv(path);
  await using after = await engine({}, { kv: kv2, clock });
  const ok = await after.rec.result("delivered");
  assert.equal(ok.attempt, 1, "the cut-off try did not count");
  const [cut, sent] = r.at("/hook");
  assert.equal(sent.delivery, cut.delivery);
  assert.equal(sent.headers.get("x-chat-attempt"), "1");
  assert.equal(sent.payload.type, "chat.created");
  assert.deepEqual(sent.payload.data, {
    client_id: "alice",
    kind: "support",
    queue: "default",
    priority: 0,
    channel: { kind: "web" },
    held_by_bot: false,
  });
  never.resolve();
  kv2.close();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a node that dies mid-try leaves the delivery to another node once its lease ends", async () => {
  await using r = await Receiver.start();
  const { dir, path } = await tempKv();
  const clock = new ManualClock();
  const hung = Promise.withResolvers<void>();
  r.plan("/hook", { hold: hung.promise });

  // Node 1 claims the delivery, and then its KV handle is gone (as in a crash).
  const kv1 = await Deno.openKv(path);
  const node1 = await engine({}, { kv: kv1, clock });
  await node1.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  node1.wh.publish(notice("chat-1", 4, message("four")));
  await r.next(() => true);
  kv1.close();

  // Node 2 shares the KV: the lease (timeout 5 s + 5 s) must end before it takes over.
  const kv2 = await Deno.openKv(path);
  await using node2 = await engine({}, { kv: kv2, clock });
  await clock.advance(9_999);
  assert.equal(r.requests.length, 1, "not while node 1's lease lasts");
  await clock.advance(1);
  const ok = await node2.rec.result("delivered");
  assert.equal(ok.attempt, 2, "node 1's try counts");
  assert.equal(r.at("/hook")[1].delivery, r.at("/hook")[0].delivery);
  hung.resolve();
  await node1.wh.stop();
  kv2.close();
  await Deno.remove(dir, { recursive: true });
});
