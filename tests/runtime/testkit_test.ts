import assert from "node:assert/strict";
import { ActorTestKit } from "../../src/runtime/mod.ts";
import { counter } from "./_counter.ts";

Deno.test("ActorTestKit.run() reports reply, events and state", async () => {
  const kit = await ActorTestKit.create(counter, "k");
  const r = await kit.run({ type: "add", n: 2, note: "hi" });
  assert.deepEqual(r.reply, { total: 2 });
  assert.deepEqual(r.events, [{ type: "added", n: 2, note: "hi" }]);
  assert.deepEqual(r.state, { total: 2, notes: ["hi"] });
  const refused = await kit.run({ type: "refuse" });
  assert.equal(refused.error?.code, "invalid_state");
  assert.deepEqual(refused.events, []);
  kit.restart();
  const after = await kit.run({ type: "get" });
  assert.deepEqual(after.state, { total: 2, notes: ["hi"] }, "state survives a restart");
  await kit.close();
});
