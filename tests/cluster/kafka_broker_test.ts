/**
 * `KafkaBroker` (kafkajs) against librdkafka's mock cluster: NOT a real Kafka broker, but an
 * in-memory implementation of the Kafka protocol (produce, fetch, metadata, consumer groups, offset
 * commits) that ships with librdkafka for its own tests, run as a child process on 127.0.0.1
 * (tests/kafka_mock/). It needs Debian's librdkafka-dev, gcc and pkg-config; without them these
 * tests fail (never skip) and say how to install them.
 *
 * Every test gets a fresh mock. The mock's group timing: a group's first join waits 3 s, every
 * later rebalance waits session timeout - 1 s (2 s here), so the file takes about a minute.
 * KAFKA_TEST_LOG=debug|info|warn prints the brokers' logs.
 */
import assert from "node:assert/strict";
import { Kafka, logLevel, Partitioners } from "kafkajs";
import { DEAD_LETTER_TOPIC, type TopicSpec } from "../../src/cluster/broker.ts";
import { KafkaBroker, type KafkaBrokerOptions } from "../../src/cluster/kafka_broker.ts";
import { partitionFor } from "../../src/cluster/murmur2.ts";
import { createLogger, type Level, silentLogger } from "../../src/log.ts";
import { startKafkaMock } from "../kafka_mock/mock.ts";
import {
  brokerContract,
  type BrokerFixture,
  CONTRACT_TOPICS,
  pollingWaitFor,
} from "./broker_contract.ts";

const MOCK = "librdkafka's mock cluster (not a real broker)";
const level = Deno.env.get("KAFKA_TEST_LOG") as Level | undefined;
const logFor = (name: string) =>
  level ? createLogger(level, (line) => console.error(`[${name}] ${line}`)) : silentLogger;

/** Short timings for the mock: rebalances wait sessionTimeout - 1 s, empty fetches maxWait. */
const TUNING: Partial<KafkaBrokerOptions> = {
  sessionTimeoutMs: 3_000,
  heartbeatIntervalMs: 300,
  rebalanceTimeoutMs: 5_000,
  maxWaitTimeMs: 100,
  joinTimeoutMs: 30_000,
  retry: { initialRetryTimeMs: 50, maxRetryTimeMs: 2_000, retries: 10 },
};

let run = 0;

brokerContract(`kafkajs on ${MOCK}`, async () => {
  const id = `${Date.now().toString(36)}-${++run}`;
  const mock = await startKafkaMock(CONTRACT_TOPICS, { brokers: 3 });
  const nodes: KafkaBroker[] = [];
  const connect = () => {
    const name = `node${nodes.length + 1}`;
    const node = new KafkaBroker({
      brokers: mock.brokers,
      clientId: `contract-${id}-${name}`,
      topics: CONTRACT_TOPICS,
      logger: logFor(name),
      ...TUNING,
    });
    nodes.push(node);
    return node;
  };
  const broker = connect();
  let groups = 0;
  const fixture: BrokerFixture = {
    broker,
    topics: CONTRACT_TOPICS,
    newGroupId: () => `group-${id}-${++groups}`,
    connect: () => Promise.resolve(connect()),
    waitFor: pollingWaitFor(25, 30_000),
    // Real sockets and timers: give a wrong implementation time to show itself.
    settle: () => new Promise((resolve) => setTimeout(resolve, 300)),
    dispose: async () => {
      try {
        await Promise.all(nodes.map((n) => n.close()));
      } finally {
        await mock.stop();
      }
    },
  };
  return fixture;
});

Deno.test(`kafkajs's DefaultPartitioner agrees with partitionFor (pure, and on ${MOCK})`, async () => {
  // The partitioner function itself, for many keys and partition counts.
  const partitioner = Partitioners.DefaultPartitioner();
  const keys = [
    "",
    "a",
    "chat:42",
    "operator:7f3c",
    "ünïcødé-ключ-鍵",
    "🙂 emoji key",
    ...Array.from({ length: 500 }, (_, i) => `key-${i}-${(i * 7919).toString(36)}`),
  ];
  for (const n of [1, 2, 3, 4, 7, 12, 16, 100]) {
    const partitionMetadata = Array.from({ length: n }, (_, partitionId) => ({
      partitionId,
      leader: 1,
      partitionErrorCode: 0,
      replicas: [1],
      isr: [1],
    }));
    for (const key of keys) {
      const got = partitioner({ topic: "t", partitionMetadata, message: { key, value: "v" } });
      assert.equal(got, partitionFor(key, n), `key ${JSON.stringify(key)} on ${n} partitions`);
    }
  }

  // End to end: the partition the mock acknowledges for each keyed record.
  const topics: TopicSpec[] = [{ name: "partitioner.t", partitions: 7 }];
  await using mock = await startKafkaMock(topics);
  const kafka = new Kafka({
    clientId: "partitioner-test",
    brokers: mock.brokers,
    logLevel: logLevel.NOTHING,
  });
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner,
    allowAutoTopicCreation: false,
  });
  await producer.connect();
  try {
    for (const key of keys.slice(0, 60)) {
      const [meta] = await producer.send({
        topic: "partitioner.t",
        acks: -1,
        messages: [{ key, value: "v" }],
      });
      assert.equal(
        meta.partition,
        partitionFor(key, 7),
        `acked partition of ${JSON.stringify(key)}`,
      );
    }
  } finally {
    await producer.disconnect();
  }
});

Deno.test(`${MOCK}: listens on 127.0.0.1 only and stops when asked`, async () => {
  const mock = await startKafkaMock([{ name: "t", partitions: 1 }, {
    name: DEAD_LETTER_TOPIC,
    partitions: 1,
  }], {
    brokers: 3,
  });
  try {
    assert.equal(mock.brokers.length, 3);
    for (const b of mock.brokers) assert.match(b, /^127\.0\.0\.1:\d+$/);
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: Number(mock.brokers[0].split(":")[1]),
    });
    conn.close();
  } finally {
    await mock.stop();
  }
  const port = Number(mock.brokers[0].split(":")[1]);
  await assert.rejects(
    () => Deno.connect({ hostname: "127.0.0.1", port }),
    "stopped: nobody listens",
  );
});

Deno.test(`kafkajs on ${MOCK}: records keep flowing through a join and a leave, none lost`, async () => {
  const topics: TopicSpec[] = [{ name: "flow.t", partitions: 6 }, {
    name: DEAD_LETTER_TOPIC,
    partitions: 1,
  }];
  await using mock = await startKafkaMock(topics, { brokers: 3 });
  const make = (name: string) =>
    new KafkaBroker({
      brokers: mock.brokers,
      clientId: name,
      topics,
      logger: logFor(name),
      ...TUNING,
    });
  const [n1, n2] = [make("flow1"), make("flow2")];
  const handled: { who: string; partition: number; value: string }[] = [];
  const trace: string[] = [];
  const consumers: Record<string, { assignment: readonly { partition: number }[] }> = {};
  const opts = (who: string) => ({
    groupId: "flow",
    topics: ["flow.t"],
    fromBeginning: true,
    onAssign: (tps: readonly { partition: number }[]) =>
      void trace.push(`${who} assign ${tps.map((t) => t.partition)}`),
    onRevoke: (tps: readonly { partition: number }[]) =>
      void trace.push(`${who} revoke ${tps.map((t) => t.partition)}`),
    onMessage: (r: { partition: number; value: string }) => {
      const held = consumers[who]?.assignment.some((t) => t.partition === r.partition);
      assert.ok(held ?? true, `${who} got a record of partition ${r.partition} it does not hold`);
      handled.push({ who, partition: r.partition, value: r.value });
    },
  });
  let produced = 0;
  let producing = true;
  const producer = (async () => {
    while (producing) {
      await n1.produce("flow.t", [{ key: `k${produced % 20}`, value: `${produced}` }]);
      produced++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  try {
    consumers.one = await n1.consume(opts("one"));
    const two = await n2.consume(opts("two"));
    consumers.two = two;
    const wait = pollingWaitFor(25, 30_000);
    await wait("a split", () =>
      consumers.one.assignment.length + two.assignment.length === 6 &&
        two.assignment.length > 0 && consumers.one.assignment.length > 0
        ? true
        : undefined);
    await wait(
      "both to handle records",
      () =>
        handled.some((h) => h.who === "two") && handled.some((h) => h.who === "one")
          ? true
          : undefined,
    );
    await two.stop();
    await wait(
      "one to hold everything",
      () => consumers.one.assignment.length === 6 ? true : undefined,
    );
    producing = false;
    await producer;
    await wait(
      `all ${produced} records`,
      () => new Set(handled.map((h) => h.value)).size === produced ? true : undefined,
    );
    // Per member, a partition is revoked before it is assigned again, never assigned twice.
    const moved = new Set<string>();
    for (const who of ["one", "two"]) {
      const held = new Set<string>();
      for (const line of trace.filter((l) => l.startsWith(`${who} `))) {
        const [, kind, list] = line.split(" ");
        for (const p of list.split(",")) {
          if (kind === "assign") {
            assert.ok(!held.has(p), `${who} assigned ${p} twice`);
            held.add(p);
          } else {
            assert.ok(held.delete(p), `${who} revoked ${p} it did not hold`);
            moved.add(p);
          }
        }
      }
    }
    // At-least-once: a record whose commit a rebalance refused is handled again by the next
    // owner. A partition that never changed hands has each record handled exactly once, although
    // the mock refuses commits while the group rebalances (kafkajs fetches those records again;
    // the member skips what it already handled).
    const stayed = handled.filter((h) => !moved.has(String(h.partition)));
    assert.ok(stayed.length > 0, "some partitions stayed with the first member");
    assert.equal(new Set(stayed.map((h) => h.value)).size, stayed.length, "no duplicates there");
  } finally {
    producing = false;
    await producer.catch(() => {});
    await Promise.all([n1.close(), n2.close()]);
  }
});

Deno.test(`kafkajs on ${MOCK}: a failing dead-letter handler does not loop or stop the consumer`, async () => {
  const topics: TopicSpec[] = [{ name: DEAD_LETTER_TOPIC, partitions: 1 }];
  await using mock = await startKafkaMock(topics);
  const broker = new KafkaBroker({
    brokers: mock.brokers,
    clientId: "dl",
    topics,
    logger: logFor("dl"),
    ...TUNING,
  });
  try {
    const seen: string[] = [];
    await broker.consume({
      groupId: "dl-readers",
      topics: [DEAD_LETTER_TOPIC],
      fromBeginning: true,
      onMessage: (r) => {
        seen.push(r.value);
        if (r.value === "bad") throw new Error("cannot handle this dead letter");
      },
    });
    await broker.produce(DEAD_LETTER_TOPIC, [{ key: "x", value: "bad" }, {
      key: "x",
      value: "good",
    }]);
    await pollingWaitFor(25, 20_000)("both", () => (seen.includes("good") ? true : undefined));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(seen, ["bad", "good"], "the failed dead letter is dropped, not re-produced");
  } finally {
    await broker.close();
  }
});

Deno.test("KafkaBroker: unknown topics and a closed broker are refused before any network I/O", async () => {
  const broker = new KafkaBroker({
    brokers: ["127.0.0.1:9"],
    clientId: "offline",
    topics: [{ name: "t", partitions: 3 }],
  });
  assert.equal(broker.partitions("t"), 3);
  assert.throws(() => broker.partitions("nope"), /unknown topic nope/);
  await assert.rejects(() => broker.produce("nope", [{ key: "k", value: "v" }]), /unknown topic/);
  await assert.rejects(
    () => broker.consume({ groupId: "g", topics: ["nope"], onMessage: () => {} }),
    /unknown topic/,
  );
  await broker.produce("t", []); // nothing to send: no connection needed
  await broker.close();
  await assert.rejects(() => broker.produce("t", [{ key: "k", value: "v" }]), /closed/);
});
