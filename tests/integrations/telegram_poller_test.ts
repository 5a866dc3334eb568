import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { TelegramError } from "../../src/integrations/telegram/api.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { FakeTelegram, rateLimited, serverError, textUpdate } from "./_fake_telegram.ts";
import { KEYS, rigPoller, untilKv } from "./_telegram_util.ts";

const offsetIs = (n: number) => (v: number | null) => v === n;

Deno.test("Poller: moves the offset past an update only after it is stored, in order", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const gate = Promise.withResolvers<void>();
  const reached = Promise.withResolvers<void>();
  const order: number[] = [];
  const { poller } = rigPoller(fake, kv, clock, {
    handle: async (u) => {
      order.push(u.update_id);
      if (u.update_id !== 1) return;
      reached.resolve();
      await gate.promise; // the first store is slow
    },
  });
  fake.push(textUpdate(2, "second"), textUpdate(1, "first"));
  poller.start();
  try {
    await reached.promise;
    assert.deepEqual(order, [1], "sorted by update_id; the second waits for the first");
    assert.equal((await kv.get(KEYS.offset)).value, null, "nothing acknowledged yet");
    gate.resolve();
    await untilKv(kv, KEYS.offset, offsetIs(3));
    assert.deepEqual(order, [1, 2]);
    const next = await fake.nth("getUpdates", 2);
    assert.equal(next.body.offset, 3, "the next poll confirms both");
    assert.equal((await fake.nth("deleteWebhook", 1)).method, "deleteWebhook");
  } finally {
    await poller.stop();
  }
});

Deno.test("Poller: a 429 on getUpdates waits retry_after seconds on the clock, then polls", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { poller, waits, handled } = rigPoller(fake, kv, clock);
  fake.script("getUpdates", rateLimited(7));
  fake.push(textUpdate(10, "hello"));
  poller.start();
  try {
    const wait = await waits.next("getUpdates");
    assert.equal(wait.ms, 7000);
    assert.ok(wait.error instanceof TelegramError && wait.error.kind === "rate_limited");
    await clock.advance(6999);
    assert.equal(fake.of("getUpdates").length, 1, "no poll before retry_after has passed");
    await clock.advance(1);
    await untilKv(kv, KEYS.offset, offsetIs(11));
    assert.deepEqual(handled.map((u) => u.update_id), [10]);
  } finally {
    await poller.stop();
  }
});

Deno.test("Poller: 500s back off exponentially, then polling goes on", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { poller, waits, handled } = rigPoller(fake, kv, clock);
  fake.script("getUpdates", serverError, serverError);
  fake.push(textUpdate(5, "hi"));
  poller.start();
  try {
    assert.equal((await waits.next("getUpdates")).ms, 1000);
    await clock.advance(1000);
    assert.equal((await waits.next("getUpdates")).ms, 2000);
    await clock.advance(1999);
    assert.equal(fake.of("getUpdates").length, 2);
    await clock.advance(1);
    await untilKv(kv, KEYS.offset, offsetIs(6));
    assert.deepEqual(handled.map((u) => u.update_id), [5]);
  } finally {
    await poller.stop();
  }
});

Deno.test("Poller: a getUpdates that never answers times out and is retried", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  // pollTimeoutS 0: the call's whole budget is the 150 ms HTTP timeout, on the injected clock.
  const { poller, waits, handled } = rigPoller(fake, kv, clock, {
    pollTimeoutS: 0,
    httpTimeoutMs: 150,
  });
  fake.script("getUpdates", "hang");
  fake.push(textUpdate(3, "anyone?"));
  poller.start();
  try {
    await fake.nth("getUpdates", 1);
    await clock.advance(149);
    assert.equal(waits.seen.filter((w) => w.op === "getUpdates").length, 0, "not a ms early");
    await clock.advance(1);
    const wait = await waits.next("getUpdates");
    assert.ok(wait.error instanceof TelegramError && wait.error.kind === "timeout");
    await clock.advance(wait.ms);
    await untilKv(kv, KEYS.offset, offsetIs(4));
    assert.deepEqual(handled.map((u) => u.update_id), [3]);
  } finally {
    await poller.stop();
  }
});

Deno.test("Poller: an update sent twice, or again below the offset, is handed over once", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const { poller, handled } = rigPoller(fake, kv, clock);
  fake.push(textUpdate(7, "once"), textUpdate(7, "once"));
  poller.start();
  try {
    await untilKv(kv, KEYS.offset, offsetIs(8));
    // Telegram repeats an update it already had confirmed (at-least-once delivery).
    fake.script("getUpdates", { status: 200, body: { ok: true, result: [textUpdate(7, "once")] } });
    fake.push(textUpdate(8, "next"));
    await untilKv(kv, KEYS.offset, offsetIs(9));
    assert.deepEqual(handled.map((u) => u.update_id), [7, 8]);
  } finally {
    await poller.stop();
  }
});

Deno.test("Poller: a store that keeps failing retries with backoff, then is dead-lettered", async () => {
  await using fake = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const stored: number[] = [];
  const { poller, waits } = rigPoller(fake, kv, clock, {
    maxAttempts: 3,
    handle: (u) => {
      if (u.update_id === 1) return Promise.reject(new AppError("overloaded"));
      stored.push(u.update_id);
      return Promise.resolve();
    },
  });
  fake.push(textUpdate(1, "unlucky"), textUpdate(2, "fine"));
  poller.start();
  try {
    assert.equal((await waits.next("store")).ms, 1000);
    assert.equal((await kv.get(KEYS.offset)).value, null, "not acknowledged while retrying");
    await clock.advance(1000);
    assert.equal((await waits.next("store")).ms, 2000);
    await clock.advance(2000);
    await untilKv(kv, KEYS.offset, offsetIs(3));
    assert.deepEqual(stored, [2], "the next update is not blocked for ever");
    const dead = await kv.get<{ error: string }>(KEYS.dead("in", 1));
    assert.match(dead.value?.error ?? "", /overloaded/i);
  } finally {
    await poller.stop();
  }
});

Deno.test("Poller: of two pollers one polls; the other takes over after its lease expires", async () => {
  await using fakeA = FakeTelegram.start();
  await using fakeB = FakeTelegram.start();
  await using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const a = rigPoller(fakeA, kv, clock, { holder: "node-a", leaseMs: 30_000 });
  const b = rigPoller(fakeB, kv, clock, { holder: "node-b", leaseMs: 30_000, standbyMs: 10_000 });
  fakeA.push(textUpdate(1, "to a"));
  a.poller.start();
  await untilKv(kv, KEYS.offset, offsetIs(2));
  b.poller.start();
  try {
    await b.waits.next("standby");
    assert.equal(fakeB.of("getUpdates").length, 0, "the standby does not poll");

    await a.poller.halt(); // a crash: the lease is not released
    await clock.advance(10_000);
    await b.waits.next("standby");
    assert.equal(fakeB.of("getUpdates").length, 0, "still within a's lease");

    fakeB.push(textUpdate(1, "to a"), textUpdate(2, "to b"));
    await clock.advance(20_000); // a's lease has expired
    const first = await fakeB.nth("getUpdates", 1);
    assert.equal(first.body.offset, 2, "b goes on from a's offset");
    await untilKv(kv, KEYS.offset, offsetIs(3));
    assert.deepEqual(a.handled.map((u) => u.update_id), [1]);
    assert.deepEqual(b.handled.map((u) => u.update_id), [2]);
  } finally {
    await b.poller.stop();
  }
});
