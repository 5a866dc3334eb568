/**
 * Multi-node tests on the in-memory broker, in one process: three real nodes sharing one KV file.
 * Clients and operators on different nodes, a node killed mid-chat, 500 concurrent accepts over
 * the nodes, and a stale owner fenced out of KV.
 */
import assert from "node:assert/strict";
import { QUEUE, SESSION } from "../../actors/_common.ts";
import type { QueueSnapshot } from "../../actors/queue.ts";
import { partitionOf } from "../../src/cluster/topics.ts";
import {
  type CreatedChat,
  type Frame,
  type TestServer,
  WsClient,
} from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { untilCommitted } from "../integration/_routing_util.ts";
import { PARTITIONS, startCluster, type TestCluster } from "./_cluster.ts";

const isType = (type: string, chatId: string) => (f: Frame) =>
  f.type === type && f.payload.chat_id === chatId;

/** Creates chats on `via` until one is owned by `owner` (its session actor lives there). */
async function chatOwnedBy(c: TestCluster, via: TestServer, owner: TestServer) {
  for (let i = 0; i < 200; i++) {
    const chat = await via.createChat(`client-${crypto.randomUUID().slice(0, 8)}`);
    if (c.ownerOf(SESSION, chat.chat_id) === owner) return chat;
  }
  throw new Error("no chat landed on the wanted node");
}

async function accept(op: WsClient, chat: CreatedChat) {
  const ack = await op.request("accept_chat", { chat_id: chat.chat_id });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
}

/** Sends and returns the acked seq; retries with the same client_msg_id on retryable errors. */
async function say(who: WsClient, chatId: string, text: string, id = crypto.randomUUID()) {
  let last: Frame | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    const r = await who.request("message", { chat_id: chatId, text, client_msg_id: id });
    if (r.type === "ack") return r.payload.seq as number;
    assert.equal(r.payload.retryable, true, JSON.stringify(r));
    last = r;
  }
  throw new Error(`message "${text}" never acknowledged: ${JSON.stringify(last)}`);
}

Deno.test("cluster: client on node 0 and operator on node 1 chat through an owner on node 2", async () => {
  await using c = await startCluster(3);
  await using sockets = new Sockets();
  const [n0, n1, n2] = c.nodes;
  // Every partition has exactly one owner.
  const owned = c.nodes.flatMap((s) => s.cluster!.ownership.owned).sort((a, b) => a - b);
  assert.deepEqual(owned, [...Array(PARTITIONS).keys()]);

  const chat = await chatOwnedBy(c, n0, n2);
  const client = await sockets.connect(chat.ws_url);
  const op = await sockets.connect(n1.wsUrl(await n1.staffToken("op-a")));
  await accept(op, chat);
  await client.next(isType("chat_assigned", chat.chat_id));

  const fromClient = await say(client, chat.chat_id, "hello from node 0");
  const fromOp = await say(op, chat.chat_id, "hello from node 1");
  assert.equal(fromOp, fromClient + 1);
  const seen = await op.next((f) =>
    isType("message", chat.chat_id)(f) && f.payload.seq === fromClient
  );
  assert.equal(seen.payload.message, "hello from node 0");
  const back = await client.next((f) =>
    isType("message", chat.chat_id)(f) && f.payload.seq === fromOp
  );
  assert.equal(back.payload.message, "hello from node 1");
  // Both sides saw every stored event once, in order, with no gap.
  for (const ws of [client, op]) {
    const seqs = ws.seqs(chat.chat_id);
    assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    assert.equal(new Set(seqs).size, seqs.length);
  }
  // Typing (not stored) crosses nodes too.
  client.send("typing", { chat_id: chat.chat_id, is_typing: true });
  await op.next(isType("typing", chat.chat_id));
});

Deno.test("cluster: killing the node that owns a chat and holds its operator; the chat goes on", async () => {
  await using c = await startCluster(3, { ASK_TIMEOUT_MS: "1500" });
  await using sockets = new Sockets();
  const [n0, n1, n2] = c.nodes;
  const chat = await chatOwnedBy(c, n0, n2);
  const client = await sockets.connect(chat.ws_url);
  const opToken = await n2.staffToken("op-k");
  const op = await sockets.connect(n2.wsUrl(opToken));
  await accept(op, chat);
  const acked: number[] = [];
  for (let i = 1; i <= 5; i++) acked.push(await say(client, chat.chat_id, `before ${i}`));
  const lastSeen = Math.max(...op.seqs(chat.chat_id));

  // A message is on its way while the owner dies; its sender retries with the same id.
  const retryId = crypto.randomUUID();
  const inFlight = say(client, chat.chat_id, "during the kill", retryId);
  await n2.kill();
  await op.closed();
  acked.push(await inFlight);
  for (let i = 1; i <= 5; i++) acked.push(await say(client, chat.chat_id, `after ${i}`));

  // The session now lives on a surviving node; the operator reconnects to another node.
  const newOwner = c.ownerOf(SESSION, chat.chat_id);
  assert.ok(newOwner === n0 || newOwner === n1, "the chat moved to a surviving node");
  const op2 = await sockets.connect(
    n1.wsUrl(opToken, { chat_id: chat.chat_id, last_seq: lastSeen }),
  );
  const lastAck = acked[acked.length - 1];
  await op2.next((f) => isType("message", chat.chat_id)(f) && f.payload.seq === lastAck);
  // The resumed operator got exactly the events after its last seq, gap-free, no duplicates.
  const seqs = op2.seqs(chat.chat_id);
  assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => lastSeen + 1 + i));
  // Every acknowledged message is stored once, the retried one included.
  const history = await fetch(
    `${n0.url}/api/v1/chat/chats/${chat.chat_id}/history?after_seq=0&limit=500`,
    { headers: { authorization: `Bearer ${chat.client_token}` } },
  ).then((r) => r.json()) as { events: Frame[] };
  const messages = history.events.filter((e) => e.type === "message");
  for (const seq of acked) assert.ok(messages.some((m) => m.payload.seq === seq), `seq ${seq}`);
  assert.equal(messages.filter((m) => m.payload.message === "during the kill").length, 1);
  // The operator replies from the new node.
  const reply = await say(op2, chat.chat_id, "still here");
  await client.next((f) => isType("message", chat.chat_id)(f) && f.payload.seq === reply);
});

Deno.test("cluster: 500 concurrent accepts over three nodes give one owner per chat, capacity held", async () => {
  await using c = await startCluster(3, { DEFAULT_CAPACITY: "5" });
  await using sockets = new Sockets();
  const chats: CreatedChat[] = [];
  for (let i = 0; i < 50; i++) chats.push(await c.nodes[i % 3].createChat(`cl-${i}`));
  const ops: WsClient[] = [];
  for (let i = 0; i < 10; i++) {
    const node = c.nodes[i % 3];
    ops.push(await sockets.connect(node.wsUrl(await node.staffToken(`op-${i}`))));
  }
  const replies = await Promise.all(
    ops.flatMap((op) => chats.map((ch) => op.request("accept_chat", { chat_id: ch.chat_id }))),
  );
  assert.equal(replies.length, 500);
  const acks = replies.filter((r) => r.type === "ack").length;
  const codes = new Set(replies.filter((r) => r.type === "error").map((r) => r.payload.code));
  assert.ok([...codes].every((code) => code === "already_assigned" || code === "at_capacity"));
  // 10 operators x capacity 5 = 50 chats: every chat taken exactly once.
  assert.equal(acks, 50);
  const snap = await c.nodes[0].svc.queueSnapshot() as QueueSnapshot;
  assert.equal(snap.waiting.length, 0);
  assert.equal(Object.keys(snap.active).length, 50);
  const load = new Map<string, number>();
  for (const a of Object.values(snap.active)) {
    load.set(a.operatorId, (load.get(a.operatorId) ?? 0) + 1);
  }
  for (const [id, n] of load) assert.ok(n <= 5, `${id} holds ${n}`);
  // Each chat's log has exactly one assignment.
  for (const ch of chats) {
    const view = await c.nodes[1].svc.peek(ch.chat_id);
    assert.equal(view.status, "assigned");
    const events = await c.nodes[2].svc.system.readEvents<{ type: string }>(
      SESSION,
      ch.chat_id,
      0,
      100,
    );
    assert.equal(events.filter((e) => e.event.type === "assigned").length, 1, ch.chat_id);
  }
});

Deno.test("cluster: a stale owner's write is fenced in KV and it gives the partition up", async () => {
  await using c = await startCluster(2);
  const [a, b] = c.nodes;
  const chat = await chatOwnedBy(c, b, a);
  const p = partitionOf({ type: SESSION, id: chat.chat_id }, PARTITIONS);
  const stored = () => b.svc.system.readEvents<{ type: string }>(SESSION, chat.chat_id, 0, 100);
  const before = (await stored()).length;
  // Node a stalls (a long pause): the group expels it and b takes its partitions, bumping the
  // epochs. a does not know yet.
  c.broker.crash(a.cluster!.consumers.owners!);
  await c.settled(); // b waits for a's hand-over up to the bound (a is alive, but never hands over)
  assert.ok(b.cluster!.ownership.owns(p));
  assert.ok(a.cluster!.ownership.owns(p), "a still believes it owns the partition");
  // a wakes up and writes through its own system: the epoch check refuses it.
  await assert.rejects(
    a.svc.system.askType(SESSION, chat.chat_id, {
      type: "message",
      by: { id: chat.client_id, role: "client" },
      text: "from the stale owner",
    }),
    (err: Error & { code?: string }) => err.code === "unavailable",
  );
  assert.equal((await stored()).length, before, "nothing of the stale owner was stored");
  // a learns from the refusal and drops the partition; b serves the chat.
  await a.cluster!.dropping;
  assert.equal(a.cluster!.ownership.owns(p), false);
  const client = await WsClient.connect(chat.ws_url);
  try {
    await say(client, chat.chat_id, "from the real owner");
  } finally {
    await client.close();
  }
});

Deno.test("cluster: when a node dies, its operators are lost to the queue; others stay", async () => {
  await using c = await startCluster(3);
  await using sockets = new Sockets();
  const [n0, n1, n2] = c.nodes;
  await sockets.connect(n0.wsUrl(await n0.staffToken("op-stays")));
  await sockets.connect(n2.wsUrl(await n2.staffToken("op-gone")));
  const online = async () => {
    const snap = await n1.svc.queueSnapshot();
    return (id: string) => snap.operators[id]?.connected === true;
  };
  const nodes = c.nodes.map((n) => n.svc.system);
  await untilCommitted(
    nodes,
    async () => (await online())("op-gone") && (await online())("op-stays"),
    "both operators online",
  );
  await n2.kill();
  await untilCommitted(
    nodes,
    async () => !(await online())("op-gone") && (await online())("op-stays"),
    "op-gone lost, op-stays online",
  );
  const snap = await n1.svc.queueSnapshot();
  assert.ok(snap.operators["op-gone"].lostAt !== null, "grace period started");
  assert.notEqual(c.ownerOf(QUEUE, "default"), n2);
});

Deno.test("cluster: /metrics reports owned partitions, live nodes and remote traffic; queue gauges only on its owner", async () => {
  await using c = await startCluster(2);
  const [a, b] = c.nodes;
  await a.createChat("metrics-client");
  await Promise.all(c.nodes.map((n) => n.cluster!.registry.beat()));
  const read = async (s: TestServer) => await (await fetch(`${s.url}/metrics`)).text();
  const value = (text: string, name: string) => {
    const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? undefined : Number(line.split(" ").pop());
  };
  const [ta, tb] = [await read(a), await read(b)];
  assert.equal(
    value(ta, "chat_cluster_partitions_owned")! + value(tb, "chat_cluster_partitions_owned")!,
    PARTITIONS,
  );
  assert.equal(value(ta, "chat_cluster_nodes_live"), 2);
  assert.ok(
    value(ta, "chat_cluster_remote_asks_total")! + value(tb, "chat_cluster_remote_asks_total")! > 0,
  );
  const queueOwner = c.ownerOf(QUEUE, "default");
  for (const [s, text] of [[a, ta], [b, tb]] as const) {
    assert.equal(value(text, "chat_queue_waiting") !== undefined, s === queueOwner);
  }
});
