/**
 * Reads of the queue across nodes stay within one broker record, whatever the queue's length:
 * Kafka refuses a record over `message.max.bytes` (about 1 MiB; the whole queue is more at 10,000
 * waiting), and the in-memory broker refuses one over its `maxRecordBytes` the same way. With a
 * 16 kB limit and 150 waiting chats (about 30 kB as a whole queue): an operator connecting on a
 * node that does not hold the queue is told its open offers, and an erasure run from that node
 * takes the client's waiting chat out of the queue.
 */
import assert from "node:assert/strict";
import { QUEUE, SESSION } from "../../actors/_common.ts";
import { toSnapshot } from "../../actors/_queue_codec.ts";
import { offersOf } from "../../actors/_queue_state.ts";
import type { QueueState } from "../../actors/queue.ts";
import { MemoryBroker } from "../../src/cluster/memory_broker.ts";
import type { Frame } from "../integration/_harness.ts";
import { api } from "../ops/_lifecycle.ts";
import { Sockets } from "../integration/_util.ts";
import { PARTITIONS, startCluster, type TestCluster } from "./_cluster.ts";
import { clusterTopics } from "../../src/cluster/topics.ts";
import { silentLogger } from "../../src/log.ts";

const LIMIT = 16_000;
const WAITING = 150;

async function bigQueue(c: TestCluster) {
  const home = c.ownerOf(QUEUE, "default")!;
  const away = c.nodes.find((n) => n !== home)!;
  for (let i = 0; i < WAITING; i++) await home.svc.createChat(`client-${i}`, crypto.randomUUID());
  const state = home.svc.queueState()!;
  assert.equal(state.waitingById.size, WAITING);
  assert.ok(JSON.stringify(toSnapshot(state)).length > LIMIT, "the whole queue is over a record");
  return { home, away, state: () => home.svc.queueState() as QueueState };
}

Deno.test("memory broker: a record over maxRecordBytes is refused, as Kafka refuses one", async () => {
  const broker = new MemoryBroker({
    topics: clusterTopics(PARTITIONS),
    logger: silentLogger,
    maxRecordBytes: 100,
  });
  try {
    await broker.produce("chat.commands", [{ key: "k", value: "x".repeat(50) }]);
    await assert.rejects(
      broker.produce("chat.commands", [{ key: "k", value: "я".repeat(60) }]),
      /larger than the max message size/,
    );
  } finally {
    await broker.close();
  }
});

Deno.test("cluster: an operator connecting away from the queue is told its open offers, however long the queue", async () => {
  await using c = await startCluster(2, { ROUTING_MODE: "auto", DEFAULT_CAPACITY: "3" }, {
    maxRecordBytes: LIMIT,
  });
  await using sockets = new Sockets();
  const { away, state } = await bigQueue(c);
  const op = await sockets.connect(away.wsUrl(await away.staffToken("op-far")));
  const first = await op.next((f: Frame) => f.type === "chat_offered", { timeoutMs: 4_000 });
  assert.ok(offersOf(state(), "op-far").includes(first.payload.chat_id as string));
});

Deno.test("cluster: an erasure purged away from the queue takes the client's waiting chat out of it", async () => {
  await using c = await startCluster(2, {}, { maxRecordBytes: LIMIT });
  const { away, state } = await bigQueue(c);
  // A chat whose session (and so its purge) lives on the node without the queue.
  const victim = [...state().waitingById.values()].find((w) =>
    c.ownerOf(SESSION, w.chatId) === away
  )!;
  const res = await api(away, "POST", "admin/erase-client", await away.staffToken("adm", "admin"), {
    client_id: victim.clientId,
    reason: "request 7",
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  assert.equal(res.body.chats, 1);
  assert.equal(state().waitingById.has(victim.chatId), false);
  assert.equal(state().waitingById.size, WAITING - 1);
});
