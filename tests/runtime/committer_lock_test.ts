/**
 * "database is locked" under contention between processes sharing one KV file comes at once (a
 * writer's snapshot went stale; SQLite's busy wait does not apply), over and over while the
 * others write. The committer keeps trying for KV_LOCK_WAIT_MS before a user sees an error.
 */
import assert from "node:assert/strict";
import { DEFAULT_LOCK_WAIT_MS, retryWhileLocked } from "../../src/runtime/committer.ts";

/** A write refused with "database is locked" at once until `busyMs` (real time) have passed. */
function contended(busyMs: number) {
  const start = performance.now();
  let attempts = 0;
  const write = () => {
    attempts++;
    if (performance.now() - start < busyMs) {
      return Promise.reject(new TypeError("database is locked"));
    }
    return Promise.resolve("written");
  };
  return { write, attempts: () => attempts };
}

Deno.test("a write refused for the lock again and again for a second still goes through", async () => {
  // The retries before gave up after ~0.4 s.
  const c = contended(1000);
  assert.equal(await retryWhileLocked(c.write), "written");
  assert.ok(c.attempts() > 5, `${c.attempts()} attempts`);
  assert.ok(DEFAULT_LOCK_WAIT_MS > 1000);
});

Deno.test("the wait for the lock is bounded, and other errors are not retried", async () => {
  const c = contended(10_000);
  await assert.rejects(retryWhileLocked(c.write, 200), /database is locked/);
  let calls = 0;
  await assert.rejects(
    retryWhileLocked(() => (calls++, Promise.reject(new Error("disk I/O error"))), 1000),
    /disk I\/O/,
  );
  assert.equal(calls, 1);
});
