/** `dedup.ts`: ids from at-least-once senders are handled once within their time to live. */
import assert from "node:assert/strict";
import { forget, seen } from "../../src/integrations/dedup.ts";

Deno.test("seen() is false the first time, true for a repeat, and false again after the ttl", async () => {
  using kv = await Deno.openKv(":memory:");
  const t = Date.UTC(2026, 0, 1);
  assert.equal(await seen(kv, "telegram", "1001", 60_000, t), false);
  assert.equal(await seen(kv, "telegram", "1001", 60_000, t + 59_999), true, "a retry");
  assert.equal(await seen(kv, "webhooks", "1001", 60_000, t), false, "scopes are apart");
  assert.equal(await seen(kv, "telegram", "1002", 60_000, t), false, "other ids are apart");
  assert.equal(await seen(kv, "telegram", "1001", 60_000, t + 60_000), false, "expired");
  assert.equal(await seen(kv, "telegram", "1001", 60_000, t + 60_001), true, "marked again");
});

Deno.test("of many concurrent arrivals of one id exactly one is new", async () => {
  using kv = await Deno.openKv(":memory:");
  const results = await Promise.all(
    Array.from({ length: 20 }, () => seen(kv, "webhooks", "whd_abc", 60_000)),
  );
  assert.equal(results.filter((r) => r === false).length, 1);
});

Deno.test("forget() lets a message whose handling failed be handled on its retry", async () => {
  using kv = await Deno.openKv(":memory:");
  assert.equal(await seen(kv, "telegram", "7", 60_000), false);
  await forget(kv, "telegram", "7");
  assert.equal(await seen(kv, "telegram", "7", 60_000), false);
  assert.equal(await seen(kv, "telegram", "7", 60_000), true);
  await assert.rejects(() => seen(kv, "telegram", "8", 0), RangeError);
});
