/**
 * The webhook engine against a local receiver, time on a ManualClock: retries, Retry-After,
 * timeouts, dead letters and replay, 410, a full outbox, the concurrency bound.
 */
import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { deliveryId } from "../../src/integrations/webhooks/events.ts";
import { Receiver, signedWith } from "./_webhooks_receiver.ts";
import { engine, message, notice } from "./_webhooks_util.ts";

Deno.test("a 500 is retried after the backoff and the event is delivered once, same id, signed", async () => {
  await using r = await Receiver.start();
  await using e = await engine();
  const sub = await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  r.plan("/hook", { status: 500 });

  e.wh.publish(notice("chat-1", 3, message("hello")));
  const failed = await e.rec.result("retry");
  assert.equal(failed.status, 500);
  assert.equal(failed.nextAt! - failed.at, 1_000, "first retry after WEBHOOK_BACKOFF_MS");
  await e.clock.advance(999);
  assert.equal(r.at("/hook").length, 1, "not retried before the backoff is over");
  await e.clock.advance(1);
  const ok = await e.rec.result("delivered");
  assert.equal(ok.attempt, 2);

  const [first, second] = r.at("/hook");
  assert.equal(r.at("/hook").length, 2);
  assert.equal(first.delivery, await deliveryId(sub.id, "chat-1", 3));
  assert.equal(second.delivery, first.delivery, "a retry carries the same delivery id");
  assert.equal(second.body, first.body, "and the same body");
  assert.ok(await signedWith(second, sub.secret), "signed with the subscription's secret");
  assert.ok(!(await signedWith(second, "some-other-secret-0123456789")));
  assert.equal(second.headers.get("x-chat-event"), "chat.message");
  assert.equal(second.headers.get("x-chat-attempt"), "2");
  assert.equal(second.headers.get("x-chat-timestamp"), String(Math.floor(e.clock.now() / 1000)));
  assert.deepEqual(second.payload, {
    id: first.delivery,
    type: "chat.message",
    created_at: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    chat_id: "chat-1",
    seq: 3,
    data: { sender_id: "client-1", sender_role: "client", text: "hello" },
  });
  assert.equal(r.processed.length, 1, "the receiver acted on it once");
  assert.equal(await e.wh.store.pendingCount(), 0);
});

Deno.test("a 429 waits for its Retry-After (capped at WEBHOOK_BACKOFF_MAX_MS), not the backoff", async () => {
  await using r = await Receiver.start();
  await using e = await engine();
  await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  r.plan("/hook", { status: 429, headers: { "retry-after": "7" } }, {
    status: 429,
    headers: { "retry-after": "3600" },
  });

  e.wh.publish(notice("chat-1", 1, message("hi")));
  const first = await e.rec.result("retry");
  assert.equal(first.status, 429);
  assert.equal(first.nextAt! - first.at, 7_000, "Retry-After: 7 → 7 s");
  await e.clock.advance(6_999);
  assert.equal(r.at("/hook").length, 1, "not before Retry-After");
  await e.clock.advance(1);
  const second = await e.rec.next((x) => x.result === "retry" && x.attempt === 2);
  assert.equal(second.nextAt! - second.at, 8_000, "an hour's Retry-After is capped");
  await e.clock.advance(8_000);
  await e.rec.result("delivered");
  assert.equal(r.at("/hook").length, 3);
});

Deno.test("a receiver that does not answer in time is retried; its repeat is spotted by the id", async () => {
  await using r = await Receiver.start();
  await using e = await engine();
  await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  const late = Promise.withResolvers<void>();
  // It handles the delivery but answers too late: the answer is lost for the sender.
  r.plan("/hook", { hold: late.promise, status: 200 });

  e.wh.publish(notice("chat-1", 1, message("hi")));
  await r.next(() => true);
  await e.clock.advance(5_000);
  const timedOut = await e.rec.result("retry");
  assert.match(timedOut.error!, /no answer within 5000 ms/);
  assert.equal(timedOut.status, null);
  late.resolve();
  await e.clock.advance(1_000);
  await e.rec.result("delivered");

  const [first, again] = r.at("/hook");
  assert.equal(again.delivery, first.delivery);
  assert.equal(first.fresh, true);
  assert.equal(again.fresh, false, "the receiver recognises the repeat by X-Chat-Delivery");
  assert.equal(r.processed.length, 1, "and handles the event once");
});

Deno.test("after the last try a delivery is a dead letter; a replay delivers it with the same id", async () => {
  await using r = await Receiver.start();
  await using e = await engine({ maxAttempts: 3 });
  const sub = await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  r.plan("/hook", { status: 503 }, { status: 500 }, { status: 502 });

  e.wh.publish(notice("chat-9", 7, message("lost?")));
  for (const wait of [1_000, 2_000]) {
    const retry = await e.rec.next((x) => x.result === "retry" && x.nextAt! - x.at === wait);
    await e.clock.advance(retry.nextAt! - e.clock.now());
  }
  const dead = await e.rec.result("dead");
  assert.equal(dead.reason, "max_attempts");
  assert.equal(r.at("/hook").length, 3);
  const { letters } = await e.wh.store.deadLetters(10);
  assert.equal(letters.length, 1);
  const letter = letters[0];
  assert.equal(letter.reason, "max_attempts");
  assert.equal(letter.delivery.attempts, 3);
  assert.equal(letter.delivery.lastStatus, 502);
  assert.equal(letter.delivery.id, await deliveryId(sub.id, "chat-9", 7));
  assert.equal(await e.wh.store.pendingCount(), 0, "nothing left in the outbox");

  // The receiver recovers; the admin replays.
  const from = e.rec.records.length;
  await e.wh.replay(letter.delivery.id);
  const ok = await e.rec.result("delivered", from);
  assert.equal(ok.attempt, 1, "a replay starts with fresh tries");
  const last = r.at("/hook")[3];
  assert.equal(last.delivery, letter.delivery.id, "same delivery id");
  assert.equal(last.body, letter.delivery.body, "same body");
  assert.equal(r.processed.length, 1);
  assert.equal((await e.wh.store.deadLetters(10)).letters.length, 0, "no longer a dead letter");
  await assert.rejects(
    () => e.wh.replay(letter.delivery.id),
    (err: AppError) => err.code === "not_found",
  );
});

Deno.test("410 Gone turns the subscription off and dead-letters the delivery; nothing more is sent", async () => {
  await using r = await Receiver.start();
  await using e = await engine();
  const sub = await e.wh.subscribe({ url: `${r.url}/gone`, events: ["chat.message"] });
  r.plan("/gone", { status: 410 });

  e.wh.publish(notice("chat-1", 1, message("one")));
  const dead = await e.rec.result("dead");
  assert.equal(dead.reason, "gone");
  const off = await e.wh.store.subscription(sub.id);
  assert.equal(off.enabled, false);
  assert.match(off.disabledReason!, /410/);
  await assert.rejects(
    () => e.wh.replay(dead.id),
    (err: AppError) => err.code === "invalid_state",
    "no replay to a subscription that is off",
  );

  e.wh.publish(notice("chat-1", 2, message("two")));
  await e.wh.flushed();
  assert.equal(await e.wh.store.pendingCount(), 0, "no delivery for a subscription that is off");
  assert.equal(r.at("/gone").length, 1);
});

Deno.test("deleting a subscription drops its pending deliveries; disabling one dead-letters them", async () => {
  await using r = await Receiver.start();
  await using e = await engine();
  const gone = await e.wh.subscribe({ url: `${r.url}/a`, events: ["chat.closed"] });
  const paused = await e.wh.subscribe({ url: `${r.url}/b`, events: ["chat.closed"] });
  r.plan("/a", { status: 500 });
  r.plan("/b", { status: 500 });
  const closed = { type: "closed", byId: "op-1", byRole: "operator", reason: null, at: 1 } as const;

  e.wh.publish(notice("chat-1", 5, closed));
  await e.rec.next((x) => x.result === "retry" && x.subId === gone.id);
  await e.rec.next((x) => x.result === "retry" && x.subId === paused.id);
  await e.wh.store.remove(gone.id);
  await e.wh.update(paused.id, { enabled: false });
  await e.clock.advance(1_000);
  const dropped = await e.rec.result("dropped");
  assert.equal(dropped.subId, gone.id);
  const dead = await e.rec.result("dead");
  assert.equal(dead.subId, paused.id);
  assert.equal(dead.reason, "subscription_disabled");
  assert.equal(r.requests.length, 2, "neither was tried again");
  assert.equal(await e.wh.store.pendingCount(), 0);

  e.wh.publish(notice("chat-1", 6, { type: "rated", score: 5, at: 2 }));
  e.wh.publish(notice("chat-2", 1, closed));
  await e.wh.flushed();
  assert.equal(await e.wh.store.pendingCount(), 0, "nothing new is queued for either");
});

Deno.test("a full outbox turns new deliveries into dead letters (outbox_full)", async () => {
  await using r = await Receiver.start();
  await using e = await engine({ maxPending: 2 });
  await e.wh.subscribe({ url: `${r.url}/hook`, events: ["chat.message"] });
  r.plan("/hook", { status: 500 }, { status: 500 });

  for (let seq = 1; seq <= 3; seq++) e.wh.publish(notice("chat-1", seq, message(`m${seq}`)));
  await e.wh.flushed();
  assert.equal(await e.wh.store.pendingCount(), 2);
  const { letters } = await e.wh.store.deadLetters(10);
  assert.equal(letters.length, 1);
  assert.equal(letters[0].reason, "outbox_full");
  assert.equal(letters[0].delivery.seq, 3, "the newest one waits in the dead letters");
  assert.equal(letters[0].delivery.attempts, 0);
  // The two queued ones go out; the dead letter can be replayed once there is room.
  await e.rec.reach("retry", 2);
  await e.clock.advance(1_000);
  await e.rec.reach("delivered", 2);
  await e.wh.replay(letters[0].delivery.id);
  const done = await e.rec.next((x) => x.result === "delivered" && x.id === letters[0].delivery.id);
  assert.equal(done.attempt, 1);
  assert.deepEqual(r.processed.map((p) => p.seq).sort(), [1, 2, 3]);
});

Deno.test("no more than WEBHOOK_CONCURRENCY deliveries are in flight at once", async () => {
  await using r = await Receiver.start();
  await using e = await engine({ concurrency: 2 });
  await e.wh.subscribe({ url: `${r.url}/slow`, events: ["chat.message"] });
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>());
  r.plan("/slow", ...gates.map((g) => ({ hold: g.promise })));

  for (let seq = 1; seq <= 5; seq++) e.wh.publish(notice("chat-1", seq, message(`m${seq}`)));
  await r.next(() => r.requests.length >= 2);
  await e.wh.flushed();
  assert.equal(await e.wh.store.pendingCount(), 5, "all five are stored");
  // Each answer frees one slot, and only then does the next delivery start.
  for (let i = 0; i < 5; i++) {
    await r.next(() => r.requests.length >= Math.min(5, i + 2));
    assert.equal(r.requests.length, Math.min(5, i + 2), "two in flight, never more");
    gates[i].resolve();
    await e.rec.reach("delivered", i + 1);
  }
  assert.equal(r.maxInFlight, 2);
  assert.equal(r.processed.length, 5);
});
