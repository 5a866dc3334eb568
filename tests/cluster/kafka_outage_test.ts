/**
 * A real Kafka outage and its end (issue 12, item 9): two engine processes on librdkafka's mock
 * cluster (a mock speaking the Kafka protocol, NOT a real broker), whose broker the test takes down
 * (`rd_kafka_mock_broker_set_down`: connections closed, new ones refused) and up again. Meanwhile
 * the node that does not own the queue answers chat creation at once with 503 `unavailable` and a
 * `Retry-After`, `/readyz` is 503 at once, and each node's log says "unreachable" once rather than
 * once per failed request; after `up`, chats are created again. On the code before this change a
 * creation took ASK_TIMEOUT_MS and ended in 504, `/readyz` as long, and the log had dozens of
 * kafkajs lines a second.
 */
import assert from "node:assert/strict";
import { clusterTopics, partitionOf } from "../../src/cluster/topics.ts";
import { startKafkaMock } from "../kafka_mock/mock.ts";
import { clusterStatus, type KafkaNode, spawnNode, until, untilOwners } from "./_kafka_nodes.ts";

const PARTITIONS = 6;
const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** How long the outage lasts (the test sends requests all along: it is the subject, not a wait). */
const OUTAGE_MS = 4000;

async function timed(url: string, init?: RequestInit) {
  const t0 = Date.now();
  const res = await fetch(url, init);
  const body = await res.json();
  return { res, body, ms: Date.now() - t0 };
}

const createChat = (node: KafkaNode) =>
  timed(`${node.url}/api/v1/chat/chats`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
  });

/** Log lines about Kafka (kafkajs's own and ours), in whatever format the logger writes. */
const kafkaLines = (lines: readonly string[]) => lines.filter((l) => /kafka/i.test(l));

Deno.test({
  name:
    "librdkafka's mock cluster (not a real broker): while Kafka is down, chat creation and /readyz answer 503 at once with Retry-After, the log says so once; after it is back they work",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using mock = await startKafkaMock(clusterTopics(PARTITIONS));
    const dir = await Deno.makeTempDir({ prefix: "chat-kafka-outage-" });
    const env = {
      KAFKA_BROKERS: mock.bootstrap,
      COMMAND_PARTITIONS: String(PARTITIONS),
      KAFKA_SESSION_TIMEOUT_MS: "3000",
      KAFKA_HEARTBEAT_MS: "300",
      KAFKA_MAX_WAIT_MS: "20",
      NODE_HEARTBEAT_S: "1",
      ASK_TIMEOUT_MS: "5000",
    };
    const nodes: KafkaNode[] = [];
    try {
      nodes.push(await spawnNode("node-1", `${dir}/chat.kv`, env));
      nodes.push(await spawnNode("node-2", `${dir}/chat.kv`, env));
      const view = await untilOwners(nodes[0], PARTITIONS, ["node-1", "node-2"], "two owners");
      const queueAt = partitionOf({ type: "queue", id: "default" }, PARTITIONS);
      const owner = view.partitions.find((p) => p.partition === queueAt)!.name;
      const other = nodes.find((n) => n.name !== owner)!;
      const before = await createChat(other);
      assert.equal(before.res.status, 201, JSON.stringify(before.body));
      const marks = nodes.map((n) => n.log.length);

      await mock.down("all");
      // Requests from the first moment of the outage on: each is answered within about a
      // second (the node takes 500 ms of failures without an answer for an outage).
      const outageEnd = Date.now() + OUTAGE_MS;
      let answered = 0;
      while (Date.now() < outageEnd) {
        const { res, body, ms } = await createChat(other);
        assert.equal(res.status, 503, JSON.stringify(body));
        assert.ok(ms < 1500, `chat creation answered in ${ms} ms`);
        assert.equal(res.headers.get("retry-after"), "5");
        assert.equal(body.error.code, "unavailable");
        assert.equal(body.error.retryable, true);
        assert.match(body.error.message, /Kafka is unreachable from this node since/);
        const ready = await timed(`${other.url}/readyz`);
        assert.equal(ready.res.status, 503);
        assert.ok(ready.ms < 1000, `/readyz answered in ${ready.ms} ms`);
        assert.deepEqual(ready.body, { status: "not_ready", reason: "kafka_unreachable" });
        answered++;
      }
      const during = nodes.map((n, i) => kafkaLines(n.log.slice(marks[i])));

      await mock.up("all");
      const upAt = Date.now();
      await until("chats are created again", async () => {
        const { res } = await createChat(other);
        return res.status === 201 ? true : undefined;
      }, 30_000).catch(async (err) => {
        // Say whether the node is still there, and what it logged (it exits on a fatal consumer
        // error, for a supervisor to restart it), so a failure here can be told apart.
        const exited = await Promise.race([other.status, delay(100).then(() => null)]);
        throw new Error(
          `${err.message}; ${other.name} ${
            exited ? `exited with ${exited.code}` : "is running"
          }; its last log lines:\n${other.log.slice(-30).join("\n")}`,
        );
      });
      const recoveredMs = Date.now() - upAt;
      await until("ready again", async () => {
        const res = await fetch(`${other.url}/readyz`);
        await res.body?.cancel();
        return res.status === 200 ? true : undefined;
      }, 30_000);
      const counters = (await clusterStatus(other)).local!.counters;

      for (const [i, n] of nodes.entries()) {
        const lines = kafkaLines(n.log.slice(marks[i]));
        const down = lines.filter((l) => /Kafka unreachable since/.test(l));
        const back = lines.filter((l) => /Kafka reachable again after/.test(l));
        assert.equal(down.length, 1, `${n.name}:\n${lines.join("\n")}`);
        assert.equal(back.length, 1, `${n.name}:\n${lines.join("\n")}`);
        // During the outage: the one line. Around the end: a few state changes (re-joins).
        assert.ok(during[i].length <= 2, `${n.name} during:\n${during[i].join("\n")}`);
        assert.ok(lines.length <= 12, `${n.name}:\n${lines.join("\n")}`);
      }
      assert.ok(counters.kafka_errors > 0, JSON.stringify(counters));
      assert.equal(counters.kafka_outages, 1);
      console.log(
        `outage ${OUTAGE_MS} ms: ${answered} creations and probes answered 503 at once; ` +
          `Kafka log lines during it per node: ${during.map((d) => d.length).join(", ")}; ` +
          `kafka_errors counted on ${other.name}: ${counters.kafka_errors}; ` +
          `chats created again ${recoveredMs} ms after the broker came back`,
      );
    } finally {
      for (const n of nodes) await n.kill("SIGKILL");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
});
