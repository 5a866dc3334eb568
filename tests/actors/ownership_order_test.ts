/**
 * The queue's ownership decisions reach a chat out of order or twice, and the chat still ends as
 * the queue last decided: an accepting operator's own `assign` that arrives after the queue took
 * the chat back, and an owed `assign` sent again after the requeue that undid it (also after a
 * restart, from what is stored). One process, an in-memory KV, the injected clock; the order is
 * forced by a router of the test's own, not by timing.
 */
import assert from "node:assert/strict";
import { queueCaller } from "../../actors/_common.ts";
import { type SessionCommand, sessionEntity } from "../../actors/session.ts";
import type { OutboundFrame } from "../../src/protocol/mod.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import type { AnyEntity, CommandOf, ReplyOf } from "../../src/runtime/entity.ts";
import type { ActorRouter, ActorSystem, AskOptions } from "../../src/runtime/system.ts";
import { Node, type Peer, QUEUE_NAME, storedQueue, storedSession } from "../crash/_world.ts";

/** Passes every ask through, but runs `before` (once) ahead of the first that `hold` picks. */
function holdingRouter(
  system: ActorSystem,
  hold: (type: string, command: unknown) => boolean,
  before: () => Promise<void>,
): ActorRouter {
  let held = false;
  const gate = async (type: string, command: unknown) => {
    if (held || !hold(type, command)) return;
    held = true;
    await before();
  };
  return {
    async ask<T extends AnyEntity>(
      entity: T,
      id: string,
      command: CommandOf<T>,
      opts?: AskOptions,
    ): Promise<ReplyOf<T>> {
      await gate(entity.type, command);
      return await system.ask(entity, id, command, opts);
    },
    async askType(type: string, id: string, command: unknown, opts?: AskOptions) {
      await gate(type, command);
      return await system.askType(type, id, command, opts);
    },
    tellType: (type, id, command, opts) => system.tellType(type, id, command, opts),
  };
}

const isAccept = (type: string, command: unknown) =>
  type === sessionEntity.type && (command as SessionCommand).type === "assign" &&
  (command as { reason?: string }).reason === "accepted";

function code(reply: OutboundFrame | null): string {
  if (reply?.type !== "error") return `not an error: ${JSON.stringify(reply)}`;
  return String((reply.payload as { code: string }).code);
}

async function chatOf(node: Node, clientId: string): Promise<string> {
  const chatId = crypto.randomUUID();
  await node.svc.createChat(clientId, chatId, {});
  await node.settle();
  return chatId;
}

Deno.test("an accept whose own assign reaches the chat after the queue took it back does not take it again", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  let opX: Peer | null = null;
  let node: Node | null = null;
  // Between the queue's claim and the operator's own `assign`: op-x goes offline, so the queue
  // returns the chat (its requeue reaches the chat first).
  node = Node.create(kv, clock, "manual", (system) =>
    holdingRouter(system, isAccept, async () => {
      const r = await node!.frame(opX!, "set_status", { status: "offline" });
      assert.equal(r?.type, "ack");
      await node!.quiesce();
    }));
  await node.start();
  opX = await node.connect(node.staff("op-x"));
  const chatId = await chatOf(node, "alice");

  const accept = await node.frame(opX, "accept_chat", { chat_id: chatId });
  await node.settle();

  assert.equal(code(accept), "invalid_state");
  const session = await storedSession(kv, chatId);
  assert.equal(session.status, "queued");
  assert.equal(session.operatorId, null);
  const queue = await storedQueue(kv);
  assert.deepEqual(queue.waiting.map((w) => w.chatId), [chatId]);
  assert.deepEqual(Object.keys(queue.active), []);
  // op-x may not write in it: the chat agrees with the queue.
  const say = await node.frame(opX, "message", { chat_id: chatId, text: "still mine?" });
  assert.equal(code(say), "forbidden");
  await node.system.shutdown();
});

Deno.test("an owed assign sent again after the requeue that undid it changes nothing, also after a restart", async () => {
  using kv = await Deno.openKv(":memory:");
  const clock = new ManualClock();
  const first = Node.create(kv, clock, "manual");
  await first.start();
  const opX = await first.connect(first.staff("op-x"));
  const chatId = await chatOf(first, "bob");
  assert.equal((await first.frame(opX, "accept_chat", { chat_id: chatId }))?.type, "ack");
  await first.settle();
  // The queue's `assign` as it sent it: the claim's decision is the one the chat stored.
  const assigned = await storedSession(kv, chatId);
  assert.equal(assigned.operatorId, "op-x");
  const assign: SessionCommand = {
    type: "assign",
    by: queueCaller(QUEUE_NAME),
    operatorId: "op-x",
    reason: "accepted",
    ...(assigned.queueDecision === undefined ? {} : { decision: assigned.queueDecision }),
  };
  assert.equal((await first.frame(opX, "set_status", { status: "offline" }))?.type, "ack");
  await first.settle();
  assert.equal((await storedSession(kv, chatId)).status, "queued");

  // Sent again (an owed command's redelivery) to the live chat, then to a restarted one.
  await assert.rejects(first.system.ask(sessionEntity, chatId, assign), /decided otherwise/);
  await first.system.shutdown();
  const second = Node.create(kv, clock, "manual");
  await second.start();
  second.system.tellType(sessionEntity.type, chatId, assign);
  await second.settle();

  const session = await storedSession(kv, chatId);
  assert.equal(session.status, "queued");
  assert.equal(session.operatorId, null);
  const queue = await storedQueue(kv);
  assert.deepEqual(queue.waiting.map((w) => w.chatId), [chatId]);
  await second.system.shutdown();
});
