/**
 * The Bot API client's timeouts run on the injected clock (they ran on the real one): a call
 * whose answer never comes, or whose body never ends, fails as a retryable `timeout` exactly when
 * the ManualClock passes its limit (a long poll's own wait included), and a stop is not a failure.
 */
import assert from "node:assert/strict";
import { TelegramApi, TelegramError } from "../../src/integrations/telegram/api.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { FakeTelegram } from "./_fake_telegram.ts";

/** Settles to the value or the error, so a test can look without awaiting forever. */
function track<T>(p: Promise<T>) {
  const state: { done: boolean; value?: T; error?: unknown } = { done: false };
  p.then(
    (value) => Object.assign(state, { done: true, value }),
    (error) => Object.assign(state, { done: true, error }),
  );
  return state;
}

Deno.test("TelegramApi: a call that never answers times out on the injected clock, not before", async () => {
  await using fake = FakeTelegram.start();
  const clock = new ManualClock();
  const api = new TelegramApi({ baseUrl: fake.url, token: "test", timeoutMs: 10_000, clock });
  fake.script("sendMessage", "hang");
  const call = track(api.sendMessage({ chat_id: 1, text: "hi" }));
  await fake.nth("sendMessage", 1);
  await clock.advance(9_999);
  assert.equal(call.done, false, "not a millisecond early");
  await clock.advance(1);
  await until(() => call.done);
  const err = call.error;
  assert.ok(err instanceof TelegramError && err.kind === "timeout" && err.retryable, String(err));
  assert.match(err.message, /no answer in 10000 ms/);
  assert.equal(clock.pending, 0);
});

Deno.test("TelegramApi: getUpdates waits its long poll plus the HTTP timeout on the clock", async () => {
  await using fake = FakeTelegram.start();
  const clock = new ManualClock();
  const api = new TelegramApi({ baseUrl: fake.url, token: "test", timeoutMs: 1_000, clock });
  fake.script("getUpdates", "hang");
  const call = track(api.getUpdates(0, 25));
  await fake.nth("getUpdates", 1);
  await clock.advance(25_999);
  assert.equal(call.done, false);
  await clock.advance(1);
  await until(() => call.done);
  assert.ok(call.error instanceof TelegramError && call.error.kind === "timeout");
});

Deno.test("TelegramApi: a body that never ends times out too; a stop rejects with its reason", async () => {
  const clock = new ManualClock();
  const release = Promise.withResolvers<void>();
  let streaming = 0;
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    () =>
      new Response(
        new ReadableStream({
          async start(c) {
            c.enqueue(new TextEncoder().encode('{"ok":true,'));
            streaming++;
            await release.promise;
            c.close();
          },
        }),
        { headers: { "content-type": "application/json" } },
      ),
  );
  const baseUrl = `http://127.0.0.1:${server.addr.port}`;
  const api = new TelegramApi({ baseUrl, token: "test", timeoutMs: 500, clock });
  try {
    const slow = track(api.deleteWebhook());
    await until(() => streaming === 1); // the headers and part of the body are out
    await clock.advance(499);
    assert.equal(slow.done, false);
    await clock.advance(1);
    await until(() => slow.done);
    assert.ok(slow.error instanceof TelegramError && slow.error.kind === "timeout");

    const stop = new AbortController();
    const stopped = track(api.deleteWebhook(stop.signal));
    await until(() => clock.pending === 1);
    stop.abort(new Error("stopping"));
    await until(() => stopped.done);
    assert.ok(!(stopped.error instanceof TelegramError), "a stop is not a failure");
    assert.match(String(stopped.error), /stopping/);
    assert.equal(clock.pending, 0);
  } finally {
    release.resolve();
  }
});

/** Waits for a condition that I/O (not the clock) makes true. */
async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  assert.ok(cond(), "condition not reached");
}
