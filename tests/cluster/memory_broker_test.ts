import assert from "node:assert/strict";
import {
  type ConsumeOptions,
  DEAD_LETTER_TOPIC,
  type DeadLetter,
  type InRecord,
  type TopicPartition,
} from "../../src/cluster/broker.ts";
import { MemoryBroker } from "../../src/cluster/memory_broker.ts";
import { partitionFor } from "../../src/cluster/murmur2.ts";
import { createLogger, silentLogger } from "../../src/log.ts";
import { brokerContract, type BrokerFixture, CONTRACT_TOPICS } from "./broker_contract.ts";

brokerContract("memory broker", () => {
  const broker = new MemoryBroker({ topics: CONTRACT_TOPICS, logger: silentLogger });
  const nodes = [broker];
  let groups = 0;
  const fixture: BrokerFixture = {
    broker,
    topics: CONTRACT_TOPICS,
    newGroupId: () => `group-${++groups}`,
    connect: () => {
      const node = broker.connect();
      nodes.push(node);
      return Promise.resolve(node);
    },
    waitFor: (what, check, timeoutMs) => broker.waitFor(what, check, timeoutMs),
    dispose: async () => {
      for (const node of nodes) await node.close();
    },
  };
  return Promise.resolve(fixture);
});

/** The first key `k<i>` that lands on the partition. */
const keyFor = (partition: number, partitions: number) => {
  for (let i = 0;; i++) if (partitionFor(`k${i}`, partitions) === partition) return `k${i}`;
};
const parts = (tps: readonly TopicPartition[]) => tps.map((tp) => tp.partition).join(",");
const macrotask = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A consumer on topic "t" that traces callbacks and records as `${who} ...` lines. */
function traced(
  trace: string[],
  who: string,
  extra: Partial<ConsumeOptions> & { slow?: (r: InRecord) => Promise<void> | void } = {},
): ConsumeOptions {
  const { slow, ...rest } = extra;
  return {
    groupId: "g",
    topics: ["t"],
    fromBeginning: true,
    onAssign: (tps) => void trace.push(`${who} assign ${parts(tps)}`),
    onRevoke: (tps) => void trace.push(`${who} revoke ${parts(tps)}`),
    onMessage: async (r) => {
      trace.push(`${who} got ${r.value}`);
      await slow?.(r);
    },
    ...rest,
  };
}

function cluster(partitions: number, logger = silentLogger) {
  const broker = new MemoryBroker({ topics: [{ name: "t", partitions }], logger });
  return { broker, other: broker.connect(), third: broker.connect() };
}

Deno.test("crash() moves partitions without onRevoke and redelivers what was not committed", async () => {
  const { broker, other } = cluster(2);
  const trace: string[] = [];
  const gate = Promise.withResolvers<void>();
  const a = await broker.consume(traced(trace, "a", {
    slow: async (r) => {
      if (r.value !== "v1") return;
      await gate.promise;
      trace.push("a finished v1");
      throw new Error("late failure");
    },
  }));
  const b = await other.consume(traced(trace, "b"));
  assert.deepEqual([parts(a.assignment), parts(b.assignment)], ["0", "1"]);
  const key = keyFor(0, 2);
  await broker.produce("t", ["v0", "v1", "v2"].map((value) => ({ key, value })));
  await broker.waitFor("a to be stuck on v1", () => trace.includes("a got v1") || undefined);
  assert.equal(broker.committed("g", "t", 0), 1);
  trace.length = 0;
  broker.crash(a);
  await broker.idle();
  // b keeps partition 1 and gains 0; v0 was committed by a, v1 was in flight: redelivered.
  assert.deepEqual(trace, ["b assign 0", "b got v1", "b got v2"]);
  assert.deepEqual(a.assignment, []);
  assert.equal(parts(b.assignment), "0,1");
  assert.equal(broker.committed("g", "t", 0), 3);
  gate.resolve();
  await broker.waitFor("a's late completion", () => trace.includes("a finished v1") || undefined);
  await macrotask();
  assert.equal(broker.committed("g", "t", 0), 3, "the dead member's completion commits nothing");
  assert.deepEqual(broker.records(DEAD_LETTER_TOPIC), [], "nor dead-letters");
  assert.ok(!trace.includes("a got v2"), "nor takes more records");
  await a.stop(); // a dead member's stop() is a no-op: no onRevoke
  assert.ok(!trace.some((line) => line.startsWith("a revoke")));
  await broker.close();
  await other.close();
});

Deno.test("a rebalance waits for in-flight handlers, then onRevoke, then onAssign", async () => {
  const { broker, other } = cluster(4);
  const trace: string[] = [];
  const handler = Promise.withResolvers<void>();
  const revoke = Promise.withResolvers<void>();
  const a = await broker.consume(traced(trace, "a", {
    slow: async (r) => {
      if (r.value !== "slow") return;
      await handler.promise;
      trace.push("a done slow");
    },
    onRevoke: async (tps) => {
      trace.push(`a revoke ${parts(tps)}`);
      await revoke.promise;
      trace.push("a revoked");
    },
  }));
  const moving = keyFor(1, 4); // round robin in join order: a keeps 0 and 2, b gets 1 and 3
  await broker.produce("t", [{ key: moving, value: "slow" }]);
  await broker.waitFor("a to handle slow", () => trace.includes("a got slow") || undefined);
  const joined = other.consume(traced(trace, "b")).then((b) => (trace.push("b joined"), b));
  await macrotask();
  assert.deepEqual(trace, ["a assign 0,1,2,3", "a got slow"], "nothing moves during a handler");
  handler.resolve();
  await broker.waitFor("a's onRevoke", () => trace.includes("a revoke 1,3") || undefined);
  await macrotask();
  assert.ok(!trace.some((line) => line.startsWith("b ")), "b waits for a's onRevoke");
  revoke.resolve();
  const b = await joined;
  assert.deepEqual(trace, [
    "a assign 0,1,2,3",
    "a got slow",
    "a done slow",
    "a revoke 1,3",
    "a revoked",
    "b assign 1,3",
    "b joined",
  ]);
  assert.deepEqual([parts(a.assignment), parts(b.assignment)], ["0,2", "1,3"]);
  assert.equal(broker.committed("g", "t", 1), 1, "a committed slow before the move");
  await broker.produce("t", [{ key: moving, value: "next" }]);
  await broker.idle();
  assert.deepEqual(trace.slice(7), ["b got next"], "b starts after the committed offset");
  await broker.close();
  await other.close();
});

Deno.test("records of a partition nobody holds wait for the next member", async () => {
  const { broker } = cluster(2);
  const trace: string[] = [];
  const a = await broker.consume(traced(trace, "a", { fromBeginning: false }));
  const keys = [keyFor(0, 2), keyFor(1, 2)];
  await broker.produce("t", keys.map((key) => ({ key, value: `first ${key}` })));
  await broker.idle();
  await a.stop();
  await broker.produce("t", keys.map((key) => ({ key, value: `waiting ${key}` })));
  assert.ok(broker.isIdle(), "records without a member do not count as pending");
  await broker.idle();
  const c = await broker.consume(traced(trace, "c", { fromBeginning: false }));
  await broker.idle();
  assert.deepEqual(trace, [
    "a assign 0,1",
    `a got first ${keys[0]}`,
    `a got first ${keys[1]}`,
    "a revoke 0,1",
    "c assign 0,1",
    `c got waiting ${keys[0]}`,
    `c got waiting ${keys[1]}`,
  ]);
  assert.equal(parts(c.assignment), "0,1");
  await broker.close();
});

Deno.test("different partitions are delivered concurrently", async () => {
  const { broker } = cluster(2);
  const trace: string[] = [];
  const gate = Promise.withResolvers<void>();
  await broker.consume(traced(trace, "a", {
    slow: (r) => r.partition === 0 ? gate.promise : undefined,
  }));
  const [k0, k1] = [keyFor(0, 2), keyFor(1, 2)];
  await broker.produce("t", [{ key: k0, value: "x0" }, { key: k0, value: "y0" }]);
  await broker.produce("t", [{ key: k1, value: "x1" }, { key: k1, value: "y1" }]);
  await broker.waitFor("partition 1 to drain", () => trace.includes("a got y1") || undefined);
  assert.deepEqual(trace.slice(1), ["a got x0", "a got x1", "a got y1"]);
  gate.resolve();
  await broker.idle();
  assert.deepEqual(trace.slice(4), ["a got y0"]);
  await broker.close();
});

Deno.test("members beyond the partition count wait empty; a leave reassigns in join order", async () => {
  const { broker, other, third } = cluster(2);
  const trace: string[] = [];
  const a = await broker.consume(traced(trace, "a"));
  const b = await other.consume(traced(trace, "b"));
  const c = await third.consume(traced(trace, "c"));
  assert.deepEqual([a, b, c].map((m) => parts(m.assignment)), ["0", "1", ""]);
  trace.length = 0;
  await a.stop();
  await broker.idle();
  assert.deepEqual(trace, ["a revoke 0", "b revoke 1", "b assign 0", "c assign 1"]);
  assert.deepEqual([b, c].map((m) => parts(m.assignment)), ["0", "1"]);
  for (const node of [broker, other, third]) await node.close();
});

Deno.test("pause() holds delivery and idle() ignores the paused member; resume() delivers", async () => {
  const { broker } = cluster(1);
  const trace: string[] = [];
  const a = await broker.consume(traced(trace, "a"));
  broker.pause(a);
  await broker.produce("t", ["1", "2", "3"].map((value) => ({ key: "k", value })));
  await broker.idle();
  assert.deepEqual(trace, ["a assign 0"]);
  broker.resume(a);
  await broker.idle();
  assert.deepEqual(trace, ["a assign 0", "a got 1", "a got 2", "a got 3"]);
  await broker.close();
});

Deno.test("poison records: dead letter (auto-created topic), warning, no loop on the dead-letter topic", async () => {
  const lines: string[] = [];
  const { broker } = cluster(3, createLogger("warn", (line) => void lines.push(line)));
  assert.equal(broker.partitions(DEAD_LETTER_TOPIC), 1);
  const trace: string[] = [];
  await broker.consume(traced(trace, "a", {
    slow: (r) => {
      if (r.value === "bad") throw new Error("cannot parse");
    },
  }));
  await broker.consume({
    groupId: "ops",
    topics: [DEAD_LETTER_TOPIC],
    onMessage: () => Promise.reject(new Error("ops handler broken")),
  });
  await broker.produce("t", ["ok1", "bad", "ok2"].map((value) => ({ key: "order-7", value })));
  await broker.idle();
  assert.deepEqual(trace.slice(1), ["a got ok1", "a got bad", "a got ok2"]);
  const letters = broker.records(DEAD_LETTER_TOPIC);
  assert.equal(letters.length, 1);
  assert.equal(letters[0].key, "order-7");
  const letter: DeadLetter = JSON.parse(letters[0].value);
  assert.deepEqual(letter, {
    topic: "t",
    partition: partitionFor("order-7", 3),
    offset: "1",
    key: "order-7",
    value: "bad",
    error: "cannot parse",
    groupId: "g",
  });
  assert.equal(broker.committed("g", "t", partitionFor("order-7", 3)), 3);
  // Either log format: `time LEVEL msg …` or one JSON object per line.
  const at = (level: string) => (l: string) =>
    l.includes(` ${level.toUpperCase()} `) || l.includes(`"level":"${level}"`);
  assert.equal(lines.filter((l) => at("warn")(l) && l.includes("dead-letter")).length, 1);
  assert.equal(lines.filter((l) => at("error")(l) && l.includes("dropped")).length, 1);
  await broker.close();
});

Deno.test("unknown topics, bad records and a closed broker fail clearly", async () => {
  const { broker, other } = cluster(1);
  assert.throws(() => broker.partitions("nope"), /unknown topic "nope"/);
  await assert.rejects(broker.produce("nope", [{ key: "k", value: "v" }]), /unknown topic "nope"/);
  await assert.rejects(
    broker.consume({ groupId: "g", topics: ["nope"], onMessage: () => {} }),
    /unknown topic "nope"/,
  );
  await assert.rejects(
    broker.produce("t", [{ key: 1 as unknown as string, value: "v" }]),
    TypeError,
  );
  assert.deepEqual(broker.records("t"), [], "a refused batch appends nothing");
  assert.throws(() => new MemoryBroker({ topics: [{ name: "x", partitions: 0 }] }), RangeError);
  const close = broker.close();
  assert.equal(broker.close(), close, "close() is idempotent");
  await close;
  await assert.rejects(broker.produce("t", [{ key: "k", value: "v" }]), /closed/);
  await other.produce("t", [{ key: "k", value: "v" }]); // another node is still open
  await assert.rejects(broker.waitFor("nothing", () => undefined), /idle/);
  await other.close();
});

Deno.test("close() leaves all of the node's consumers in one rebalance per group", async () => {
  const { broker, other } = cluster(4);
  const trace: string[] = [];
  const a = await broker.consume(traced(trace, "a"));
  await other.consume(traced(trace, "b1"));
  await other.consume(traced(trace, "b2"));
  assert.equal(parts(a.assignment), "0,3");
  trace.length = 0;
  await other.close();
  assert.deepEqual(trace.sort(), ["a assign 1,2", "b1 revoke 1", "b2 revoke 2"]);
  assert.equal(parts(a.assignment), "0,1,2,3");
  await assert.rejects(other.consume(traced(trace, "late")), /closed/);
  await broker.close();
});
