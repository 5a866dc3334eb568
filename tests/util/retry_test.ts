/**
 * src/util/retry.ts on its own, time driven by a ManualClock: backoff and jitter, Retry-After in
 * all three date forms and as seconds, sleeps cut short by a stop, timeouts of any work and of
 * fetch (a local server that never answers).
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import {
  backoffMs,
  fetchWithTimeout,
  parseRetryAfter,
  sleep,
  TimeoutError,
  withTimeout,
} from "../../src/util/retry.ts";

Deno.test("backoffMs doubles from the base, is capped, and never overflows", () => {
  const o = { baseMs: 200, maxMs: 5000 };
  assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => backoffMs(n, o)), [
    200,
    400,
    800,
    1600,
    3200,
    5000,
  ]);
  assert.equal(backoffMs(0, o), 200, "attempt 0 counts as the first");
  assert.equal(backoffMs(-3, o), 200);
  assert.equal(backoffMs(10_000, o), 5000, "2^9999 is capped, not Infinity or NaN");
  assert.equal(backoffMs(3, { baseMs: 1000, maxMs: Infinity }), 4000);
});

Deno.test("with a random source the delay is 50 to 100 % of the exponential value (equal jitter)", () => {
  const o = (random: () => number) => ({ baseMs: 1000, maxMs: 10_000, random });
  assert.equal(backoffMs(4, o(() => 0)), 4000);
  assert.equal(backoffMs(4, o(() => 1)), 8000);
  assert.equal(backoffMs(9, o(() => 0.5)), 7500, "jitter applies to the capped value");
  let seed = 7;
  const lcg = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 200; i++) {
    const d = backoffMs(3, o(lcg));
    assert.ok(d >= 2000 && d <= 4000, `${d}`);
  }
});

Deno.test("parseRetryAfter reads delay-seconds and the three HTTP date forms, capped", () => {
  const now = Date.UTC(1994, 10, 6, 8, 49, 7); // Sun, 06 Nov 1994 08:49:07 GMT
  assert.equal(parseRetryAfter("120", now), 120_000);
  assert.equal(parseRetryAfter(" 0 ", now), 0);
  assert.equal(parseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), 30_000, "IMF-fixdate");
  assert.equal(parseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), 30_000, "RFC 850");
  assert.equal(parseRetryAfter("Sun Nov  6 08:49:37 1994", now), 30_000, "asctime, as UTC");
  assert.equal(parseRetryAfter(new Date(now + 5000).toUTCString(), now), 5000);
  assert.equal(parseRetryAfter("Sun, 06 Nov 1994 08:48:07 GMT", now), 0, "a past date: now");
  assert.equal(parseRetryAfter("3600", now, 60_000), 60_000, "capped");
  assert.equal(parseRetryAfter("Mon, 07 Nov 1994 08:49:07 GMT", now, 1000), 1000);
  assert.equal(parseRetryAfter("99999999999999999999", now, 5000), 5000);
  for (const bad of ["soon", "1.5", "-1", "+3", "2 days", "Tomorrow 5", "1994-11-06", null, ""]) {
    assert.equal(parseRetryAfter(bad, now), null, String(bad));
  }
  assert.equal(parseRetryAfter(undefined, now), null);
});

Deno.test("sleep resolves after its time on the clock, and at once when the signal aborts", async () => {
  const clock = new ManualClock();
  let done = false;
  const slept = sleep(clock, 1000).then(() => (done = true));
  await clock.advance(999);
  assert.equal(done, false, "not a millisecond early");
  await clock.advance(1);
  await slept;
  assert.equal(done, true);

  const stop = new AbortController();
  const cut = sleep(clock, 60_000, stop.signal);
  assert.equal(clock.pending, 1);
  stop.abort();
  await cut;
  assert.equal(clock.pending, 0, "the timer is cleared");
  await sleep(clock, 1000, stop.signal); // already aborted: at once
  assert.equal(clock.pending, 0);
});

Deno.test("withTimeout fails with TimeoutError on the clock, even when the work ignores its signal", async () => {
  const clock = new ManualClock();
  let seen: AbortSignal | undefined;
  const never = withTimeout((signal) => {
    seen = signal;
    return new Promise<never>(() => {});
  }, { clock, timeoutMs: 500 });
  const outcome = never.then(() => "resolved", (e) => e);
  await clock.advance(499);
  assert.equal(seen?.aborted, false);
  await clock.advance(1);
  const err = await outcome;
  assert.ok(err instanceof TimeoutError && err.timeoutMs === 500, String(err));
  assert.ok(seen?.aborted && seen.reason instanceof TimeoutError, "the work's signal aborted");
  assert.equal(clock.pending, 0);
});

Deno.test("withTimeout passes results and errors through, and a stop's reason as it is", async () => {
  const clock = new ManualClock();
  assert.equal(await withTimeout(() => Promise.resolve(42), { clock, timeoutMs: 10 }), 42);
  assert.equal(clock.pending, 0, "a settled call leaves no timer");
  await assert.rejects(
    withTimeout(() => Promise.reject(new RangeError("boom")), { clock, timeoutMs: 10 }),
    RangeError,
  );
  const stop = new AbortController();
  const running = withTimeout(() => new Promise(() => {}), {
    clock,
    timeoutMs: 10,
    signal: stop.signal,
  });
  stop.abort(new Error("stopping"));
  await assert.rejects(running, /stopping/);
  await assert.rejects(
    withTimeout(() => Promise.resolve(1), { clock, timeoutMs: 10, signal: stop.signal }),
    /stopping/,
    "an aborted stop refuses new work",
  );
  assert.equal(clock.pending, 0);
});

Deno.test("fetchWithTimeout: a server that never answers times out on the clock; answers pass", async () => {
  const clock = new ManualClock();
  const hang = Promise.withResolvers<void>();
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    async (req) => {
      if (new URL(req.url).pathname === "/hang") await hang.promise;
      return new Response("ok");
    },
  );
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const res = await fetchWithTimeout(`${base}/ok`, {}, { clock, timeoutMs: 1000 });
    assert.equal(await res.text(), "ok");
    const pending = fetchWithTimeout(`${base}/hang`, { method: "POST", body: "x" }, {
      clock,
      timeoutMs: 1000,
    }).then(() => null, (e) => e);
    await clock.advance(999);
    await clock.advance(1);
    const err = await pending;
    assert.ok(err instanceof TimeoutError, String(err));
  } finally {
    hang.resolve();
  }
});
