/**
 * A reconnect storm reads the log a bounded number at a time: every client of a node resuming
 * at once (after a deploy) puts at most MAX_CONCURRENT_LOG_READS reads of the stored events in
 * flight, and each still gets its whole history. One process, an in-memory KV.
 */
import assert from "node:assert/strict";
import { ManualClock, settle } from "../../src/runtime/clock.ts";
import { MAX_CONCURRENT_LOG_READS } from "../../src/server/chat_service.ts";
import { Node } from "../crash/_world.ts";

/** A node on a still clock with `n` new chats (created and queued: two events each). */
async function nodeWithChats(kv: Deno.Kv, n: number) {
  const node = Node.create(kv, new ManualClock(), "manual");
  await node.start();
  const chats = Array.from({ length: n }, () => crypto.randomUUID());
  for (const [i, chatId] of chats.entries()) await node.svc.createChat(`client-${i}`, chatId, {});
  await node.settle();
  return { node, chats };
}

Deno.test("300 clients resuming at once read the log at most 32 at a time and each gets its chat's history", async () => {
  using kv = await Deno.openKv(":memory:");
  const { node, chats } = await nodeWithChats(kv, 300);

  let inFlight = 0;
  let most = 0;
  const read = node.system.readEvents.bind(node.system);
  node.system.readEvents = async (...args: Parameters<typeof read>) => {
    most = Math.max(most, ++inFlight);
    try {
      return await read(...args);
    } finally {
      inFlight--;
    }
  };
  const peers = await Promise.all(
    chats.map((chatId, i) =>
      node.connect(node.client(`client-${i}`, chatId), { chatId, lastSeq: 0 })
    ),
  );
  await node.settle();

  assert.ok(most <= MAX_CONCURRENT_LOG_READS, `${most} reads at once`);
  assert.ok(most >= 2, "the reads overlapped");
  for (const [i, peer] of peers.entries()) {
    // created, queued: the chat's whole log so far, in order.
    assert.deepEqual(peer.conn.seqs(chats[i]), [1, 2], `client ${i}`);
  }
  await node.system.shutdown();
});

Deno.test("a client gone while its resume waits for a turn reads nothing", async () => {
  using kv = await Deno.openKv(":memory:");
  const { node, chats } = await nodeWithChats(kv, 100);

  // The reads under way are held until let go: the later resumes queue for their turn.
  const gate = Promise.withResolvers<void>();
  const readFor = new Map<string, number>();
  const read = node.system.readEvents.bind(node.system);
  node.system.readEvents = async (...args: Parameters<typeof read>) => {
    readFor.set(args[1], (readFor.get(args[1]) ?? 0) + 1);
    await gate.promise;
    return await read(...args);
  };
  // (A resume holds its connection's open until it is done: not awaited while the gate is shut.)
  const opened = Promise.all(
    chats.map((chatId, i) =>
      node.connect(node.client(`client-${i}`, chatId), { chatId, lastSeq: 0 })
    ),
  );
  for (let turn = 0; turn < 1000 && readFor.size < MAX_CONCURRENT_LOG_READS; turn++) {
    await settle(1);
  }
  await settle();
  assert.equal(readFor.size, MAX_CONCURRENT_LOG_READS, "the rest wait for a turn");
  // Every client whose read has not started hangs up (a flapping network, a closed tab).
  const waiting = node.peers.filter((p) =>
    !readFor.has((p.conn.principal as { chatId: string }).chatId)
  );
  assert.equal(waiting.length, chats.length - MAX_CONCURRENT_LOG_READS);
  for (const p of waiting) p.handler.onClose();
  gate.resolve();
  const peers = await opened;
  await node.settle();

  assert.equal(readFor.size, MAX_CONCURRENT_LOG_READS, "no read for a connection gone");
  for (const [i, peer] of peers.entries()) {
    if (readFor.has(chats[i])) assert.deepEqual(peer.conn.seqs(chats[i]), [1, 2], `client ${i}`);
  }
  await node.system.shutdown();
});
