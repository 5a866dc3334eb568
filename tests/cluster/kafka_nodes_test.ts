/**
 * The whole chat flow across two engine processes through librdkafka's mock cluster (a mock that
 * speaks the Kafka protocol, NOT a real broker): the client on node 1, the operator on node 2;
 * then node 2 is killed (SIGKILL) and the chat goes on with everyone on node 1. Both processes
 * share one KV file.
 */
import assert from "node:assert/strict";
import { clusterTopics } from "../../src/cluster/topics.ts";
import {
  childAuth,
  type ChildServer,
  createChat,
  type Frame,
  spawnServer,
  WsClient,
  wsUrl,
} from "../integration/_harness.ts";
import { startKafkaMock } from "../kafka_mock/mock.ts";

const PARTITIONS = 6;
const auth = childAuth();

interface ClusterStatus {
  nodes: Array<{ node: string }>;
  partitions: Array<{ partition: number; node: string }>;
}

/** Polls the admin cluster view until `ok` holds (the mock's rebalances take seconds). */
async function untilCluster(node: ChildServer, ok: (s: ClusterStatus) => boolean, what: string) {
  const token = await auth.mintStaffToken({ sub: "adm", role: "admin", ttlSeconds: 3600 });
  const end = Date.now() + 60_000;
  for (;;) {
    const res = await fetch(`${node.url}/api/v1/chat/admin/cluster`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const status = await res.json() as ClusterStatus;
    if (res.ok && ok(status)) return status;
    if (Date.now() > end) {
      throw new Error(`cluster never reached: ${what}: ${JSON.stringify(status)}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const owners = (s: ClusterStatus) => new Set(s.partitions.map((p) => p.node));
const allOwned = (s: ClusterStatus) =>
  new Set(s.partitions.map((p) => p.partition)).size === PARTITIONS;

/** Sends until acknowledged, retrying retryable errors with the same client_msg_id. */
async function say(who: WsClient, chatId: string, text: string): Promise<number> {
  const id = crypto.randomUUID();
  let last: Frame | null = null;
  for (let attempt = 0; attempt < 40; attempt++) {
    last = await who.request("message", { chat_id: chatId, text, client_msg_id: id });
    if (last.type === "ack") return last.payload.seq as number;
    assert.equal(last.payload.retryable, true, JSON.stringify(last));
  }
  throw new Error(`"${text}" never acknowledged: ${JSON.stringify(last)}`);
}

const isMessage = (chatId: string, seq: number) => (f: Frame) =>
  f.type === "message" && f.payload.chat_id === chatId && f.payload.seq === seq;

Deno.test({
  name:
    "two engine processes on librdkafka's mock cluster (not a real broker): client on node 1, operator on node 2, node 2 killed, the chat goes on",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using mock = await startKafkaMock(clusterTopics(PARTITIONS));
    const dir = await Deno.makeTempDir({ prefix: "chat-kafka-" });
    const env = {
      KAFKA_BROKERS: mock.bootstrap,
      COMMAND_PARTITIONS: String(PARTITIONS),
      KAFKA_SESSION_TIMEOUT_MS: "3000",
      KAFKA_HEARTBEAT_MS: "300",
      KAFKA_MAX_WAIT_MS: "20",
      NODE_HEARTBEAT_S: "1",
      ASK_TIMEOUT_MS: "4000",
      LOG_LEVEL: "error",
    };
    const nodes: ChildServer[] = [];
    const sockets: WsClient[] = [];
    try {
      const n1 = await spawnServer(`${dir}/chat.kv`, { ...env, NODE_NAME: "node-1" });
      nodes.push(n1);
      const n2 = await spawnServer(`${dir}/chat.kv`, { ...env, NODE_NAME: "node-2" });
      nodes.push(n2);
      await untilCluster(
        n1,
        (s) => s.nodes.length === 2 && owners(s).size === 2 && allOwned(s),
        "two nodes sharing every partition",
      );

      const chat = await createChat(n1.url, "kafka-client");
      const client = await WsClient.connect(chat.ws_url);
      sockets.push(client);
      assert.ok(chat.ws_url.includes(`:${n1.port}/`), "the client is on node 1");
      const opToken = await auth.mintStaffToken({
        sub: "op-k",
        role: "operator",
        ttlSeconds: 3600,
      });
      const op = await WsClient.connect(wsUrl(n2.url, opToken));
      sockets.push(op);
      const ack = await op.request("accept_chat", { chat_id: chat.chat_id });
      assert.equal(ack.type, "ack", JSON.stringify(ack));
      await client.next((f) => f.type === "chat_assigned" && f.payload.chat_id === chat.chat_id);

      const acked: number[] = [];
      const c1 = await say(client, chat.chat_id, "hello from node 1");
      acked.push(c1);
      await op.next(isMessage(chat.chat_id, c1), { timeoutMs: 15_000 });
      const o1 = await say(op, chat.chat_id, "hello from node 2");
      await client.next(isMessage(chat.chat_id, o1), { timeoutMs: 15_000 });
      const opLast = Math.max(...op.seqs(chat.chat_id));

      // Node 2 dies. Its partitions move to node 1 after the session timeout; meanwhile the
      // client's sends wait, time out and are retried with the same client_msg_id.
      await n2.kill("SIGKILL");
      await op.closed();
      for (let i = 1; i <= 3; i++) acked.push(await say(client, chat.chat_id, `after ${i}`));
      await untilCluster(n1, (s) => owners(s).size === 1 && allOwned(s), "node 1 owns all");

      // The operator reconnects to node 1 and resumes from the last seq it saw.
      const op2 = await WsClient.connect(
        wsUrl(n1.url, opToken, { chat_id: chat.chat_id, last_seq: opLast }),
      );
      sockets.push(op2);
      const last = acked[acked.length - 1];
      await op2.next(isMessage(chat.chat_id, last), { timeoutMs: 15_000 });
      const seqs = op2.seqs(chat.chat_id);
      assert.deepEqual(seqs, Array.from({ length: seqs.length }, (_, i) => opLast + 1 + i));
      const reply = await say(op2, chat.chat_id, "back on node 1");
      await client.next(isMessage(chat.chat_id, reply), { timeoutMs: 15_000 });

      // Every acknowledged message is stored exactly once.
      const history = await fetch(
        `${n1.url}/api/v1/chat/chats/${chat.chat_id}/history?after_seq=0&limit=500`,
        { headers: { authorization: `Bearer ${chat.client_token}` } },
      ).then((r) => r.json()) as { events: Frame[] };
      const messages = history.events.filter((e) => e.type === "message");
      for (const seq of [...acked, o1, reply]) {
        assert.equal(messages.filter((m) => m.payload.seq === seq).length, 1, `seq ${seq}`);
      }
      const texts = messages.map((m) => m.payload.message);
      assert.equal(new Set(texts).size, texts.length, "no message stored twice");
    } finally {
      for (const s of sockets) await s.close().catch(() => {});
      for (const n of nodes) await n.kill("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
