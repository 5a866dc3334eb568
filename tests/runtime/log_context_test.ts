/**
 * An actor's mailbox loop serves every caller: what it logs must not carry the request id of
 * whichever caller happened to wake it.
 */
import assert from "node:assert/strict";
import { createLogger, withLogContext } from "../../src/log.ts";
import { ActorSystem, ManualClock } from "../../src/runtime/mod.ts";
import { counter } from "./_counter.ts";

Deno.test("an actor's mailbox loop logs without the context of the request that woke it", async () => {
  // deno-lint-ignore no-explicit-any -- parsed JSON lines, read field by field
  const lines: Array<Record<string, any>> = [];
  const log = createLogger("debug", { write: (l) => lines.push(JSON.parse(l)) });
  const kv = await Deno.openKv(":memory:");
  const system = new ActorSystem({
    kv,
    clock: new ManualClock(),
    entities: [counter],
    passivateAfterMs: 0,
    logger: log,
  });
  system.onCommitted((_, envs) => log.info("committed", { events: envs.length }));
  await Promise.all([
    withLogContext({ request_id: "r-1" }, () => system.ask(counter, "a", { type: "add", n: 1 })),
    withLogContext({ request_id: "r-2" }, () => system.ask(counter, "a", { type: "add", n: 2 })),
  ]);
  await withLogContext({ request_id: "r-3" }, async () => {
    await system.ask(counter, "a", { type: "add", n: 3 });
    log.info("answered");
  });
  const committed = lines.filter((l) => l.msg === "committed");
  assert.ok(committed.length >= 2);
  assert.deepEqual(committed.map((l) => l.request_id), committed.map(() => undefined));
  assert.equal(lines.find((l) => l.msg === "answered")?.request_id, "r-3");
  await system.shutdown();
  kv.close();
});
