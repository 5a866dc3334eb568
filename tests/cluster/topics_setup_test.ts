/**
 * `deno task kafka:topics` (scripts/kafka_topics.ts) against a stand-in for the kafkajs admin
 * client: which topics it creates with which settings, that a second run changes nothing, and that
 * a topic with another partition count is reported as an error. (librdkafka's mock cluster, used
 * by the broker tests, does not name a reachable controller, so kafkajs's createTopics cannot run
 * against it.)
 */
import assert from "node:assert/strict";
import type { Admin, ITopicConfig } from "kafkajs";
import { clusterTopics, TOPICS } from "../../src/cluster/topics.ts";
import {
  ensureTopics,
  main,
  renderReport,
  TOPIC_RETENTION,
  topicPlan,
} from "../../scripts/kafka_topics.ts";

const HOUR = 3_600_000;

/** The admin calls the script makes, on an in-memory topic list. */
function fakeAdmin(existing: Record<string, number>, configs: Record<string, string> = {}) {
  const topics = new Map(Object.entries(existing));
  const created: ITopicConfig[] = [];
  const admin = {
    listTopics: () => Promise.resolve([...topics.keys()]),
    createTopics: ({ topics: ts }: { topics: ITopicConfig[] }) => {
      for (const t of ts) {
        created.push(t);
        topics.set(t.topic, t.numPartitions!);
      }
      return Promise.resolve(true);
    },
    fetchTopicMetadata: ({ topics: names }: { topics: string[] }) =>
      Promise.resolve({
        topics: names.filter((n) => topics.has(n)).map((name) => ({
          name,
          partitions: [...Array(topics.get(name)!).keys()].map((partitionId) => ({ partitionId })),
        })),
      }),
    describeConfigs: ({ resources }: { resources: Array<{ name: string }> }) =>
      Promise.resolve({
        resources: resources.map((r) => ({
          resourceName: r.name,
          errorCode: 0,
          configEntries: Object.entries(configs).map(([configName, configValue]) => ({
            configName,
            configValue,
          })),
        })),
      }),
  };
  return { admin: admin as unknown as Admin, created, topics };
}

Deno.test("kafka topics: the plan covers every cluster topic with its retention", () => {
  const plan = topicPlan(12, 3);
  assert.deepEqual(
    plan.map((t) => [t.topic, t.partitions]),
    clusterTopics(12).map((t) => [t.name, t.partitions]),
  );
  const retention = Object.fromEntries(plan.map((t) => [t.topic, t.configs["retention.ms"]]));
  assert.equal(retention[TOPICS.commands], String(HOUR));
  assert.equal(retention[TOPICS.replies], String(HOUR));
  assert.equal(retention[TOPICS.events], String(24 * HOUR));
  assert.equal(retention[TOPICS.dead], String(14 * 24 * HOUR));
  assert.equal(retention[TOPICS.audit], String(30 * 24 * HOUR));
  assert.deepEqual(Object.keys(TOPIC_RETENTION).sort(), plan.map((t) => t.topic).sort());
  for (const t of plan) {
    assert.equal(t.replication, 3);
    assert.equal(t.configs["min.insync.replicas"], "2");
    assert.equal(t.configs["cleanup.policy"], "delete");
  }
  assert.equal(topicPlan(12, 1)[0].configs["min.insync.replicas"], "1");
});

Deno.test("kafka topics: creates what is missing, keeps what exists, and a rerun changes nothing", async () => {
  const plan = topicPlan(12, 1);
  const k = fakeAdmin({ [TOPICS.commands]: 12 }, { "retention.ms": String(7 * 24 * HOUR) });
  const first = await ensureTopics(k.admin, plan);
  assert.deepEqual(
    first.map((r) => [r.topic, r.status, r.partitions]),
    plan.map((t) => [t.topic, t.topic === TOPICS.commands ? "exists" : "created", t.partitions]),
  );
  assert.deepEqual(k.created.map((t) => t.topic), plan.slice(1).map((t) => t.topic));
  for (const t of k.created) {
    assert.equal(t.replicationFactor, 1);
    assert.deepEqual(
      t.configEntries?.find((e) => e.name === "retention.ms")?.value,
      String(TOPIC_RETENTION[t.topic].ms),
    );
  }
  // The existing topic keeps its own retention; the report says how it differs.
  assert.deepEqual(first[0].drift, {
    "retention.ms": { actual: String(7 * 24 * HOUR), planned: String(HOUR) },
  });
  const text = renderReport(first, plan).split("\n");
  assert.match(text[0], /^already there\s+chat\.commands\s+12 partitions; retention\.ms=604800000/);
  assert.match(text[1], /^created\s+chat\.replies\s+4 partitions, replication 1, retention/);

  const again = await ensureTopics(k.admin, plan);
  assert.ok(again.every((r) => r.status === "exists"), JSON.stringify(again));
  assert.equal(k.created.length, plan.length - 1);
});

Deno.test("kafka topics: another partition count than COMMAND_PARTITIONS is an error", async () => {
  const k = fakeAdmin({ [TOPICS.commands]: 6 });
  const plan = topicPlan(12, 1);
  const reports = await ensureTopics(k.admin, plan);
  assert.equal(reports[0].status, "wrong_partitions");
  assert.match(
    renderReport(reports, plan),
    /^WRONG PARTITIONS chat\.commands\s+6 partitions; the engine expects 12 \(COMMAND_PARTITIONS\)$/m,
  );
  // Without brokers or with a bad replication factor the script stops before connecting.
  const err = console.error;
  console.error = () => {};
  try {
    assert.equal(await main({}), 2);
    assert.equal(await main({ KAFKA_BROKERS: "kafka:9092", KAFKA_REPLICATION: "0" }), 2);
  } finally {
    console.error = err;
  }
});
