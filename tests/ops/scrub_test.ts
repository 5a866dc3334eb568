/**
 * Scrubbing ids out of other actors' logs (src/ops/scrub.ts): JSON-aware replacement, one
 * pseudonym per id, snapshot and chunks rewritten together; an actor recovered from the scrubbed
 * log has the state it had (no phantom entry), and nothing in KV names the id any more. Also the
 * client actor's `forget_chat`.
 */
import assert from "node:assert/strict";
import { CLIENT } from "../../actors/_common.ts";
import { clientEntity, type ClientListReply } from "../../actors/client.ts";
import { redactJson, scrubActor } from "../../src/ops/scrub.ts";
import { ActorSystem } from "../../src/runtime/system.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { dumpKv, mentioning } from "./_lifecycle.ts";

Deno.test("redactJson: exact strings and keys always, long ids inside text too, short ones not", () => {
  const names = new Map([["c1", "erased-1"], ["4f0c2a8e-1111-2222-3333-444455556666", "erased-2"]]);
  const text = JSON.stringify({
    a: "c1",
    b: "c10",
    c1: 1,
    r: "moved chat 4f0c2a8e-1111-2222-3333-444455556666 (c1)",
    l: ["c1", { "4f0c2a8e-1111-2222-3333-444455556666": true }],
  });
  assert.deepEqual(JSON.parse(redactJson(text, names)), {
    a: "erased-1",
    b: "c10",
    "erased-1": 1,
    r: "moved chat erased-2 (c1)",
    l: ["erased-1", { "erased-2": true }],
  });
});

function system(kv: Deno.Kv, clock: ManualClock) {
  return new ActorSystem({
    kv,
    clock,
    entities: [clientEntity],
    passivateAfterMs: 0,
    owedSweepMs: 0,
    snapshotEvery: 3,
  });
}

Deno.test("scrubActor + forget_chat: the client forgets a chat, its log and snapshot lose the id, and it recovers the same list", async () => {
  const kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const gone = "0e7c1d52-9a1b-4c3d-8e5f-60718293a4b5";
  const kept = ["1a2b3c4d-0000-4000-8000-000000000001", "1a2b3c4d-0000-4000-8000-000000000002"];
  let s = system(kv, clock);
  for (const chatId of [gone, ...kept]) {
    await s.askType(CLIENT, "client-7", {
      type: "chat_linked",
      chatId,
      kind: "support",
      createdAt: 1,
    });
  }
  // Three events: a snapshot (every 3) holds the chat; the forget comes after it.
  const reply = await s.askType(CLIENT, "client-7", {
    type: "forget_chat",
    chatId: gone,
  }) as ClientListReply;
  assert.deepEqual(reply.chats.map((c) => c.chatId), kept);
  const again = await s.askType(CLIENT, "client-7", { type: "forget_chat", chatId: gone });
  assert.deepEqual((again as ClientListReply).chats.map((c) => c.chatId), kept);
  assert.ok(mentioning(await dumpKv(kv), [gone]).length >= 2, "in the snapshot and the log");

  assert.equal(await scrubActor(kv, CLIENT, "client-7", new Set([gone])), "scrubbed");
  assert.deepEqual(mentioning(await dumpKv(kv), [gone]), []);
  assert.equal(await scrubActor(kv, CLIENT, "client-7", new Set([gone])), "clean");

  // A new system (a restart) recovers the scrubbed log: the same list, no phantom entry.
  s.halt();
  s = system(kv, clock);
  const list = await s.askType(CLIENT, "client-7", { type: "list" }) as ClientListReply;
  assert.deepEqual(list.chats.map((c) => c.chatId), kept);
  s.halt();
  kv.close();
});

Deno.test("scrubActor: an actor whose log names none of the ids is clean", async () => {
  const kv = await Deno.openKv(":memory:");
  assert.equal(await scrubActor(kv, CLIENT, "nobody", new Set(["x-123456789012"])), "clean");
  kv.close();
});
