/**
 * The `Broker` contract, run against every implementation: `memory_broker_test.ts` (simulated
 * groups, delivery on microtasks) and `kafka_broker_test.ts` (kafkajs on a Kafka protocol mock,
 * where a rebalance takes seconds). Tests wait on conditions (`fixture.waitFor`), never on time.
 *
 * Topics may be shared between tests (one Kafka mock per run): every test tags its values with a
 * fresh id and ignores records without its tag, and uses fresh group ids. Consumers start from the
 * beginning (filtered by tag) except where `fromBeginning: false` itself is under test.
 */
import assert from "node:assert/strict";
import {
  type Broker,
  type ConsumeOptions,
  DEAD_LETTER_TOPIC,
  type DeadLetter,
  type InRecord,
  type TopicPartition,
  type TopicSpec,
} from "../../src/cluster/broker.ts";
import { partitionFor } from "../../src/cluster/murmur2.ts";

const A = "contract.a";
const B = "contract.b";

/** The topics a fixture must provide (more partitions for the dead-letter topic are fine). */
export const CONTRACT_TOPICS: readonly TopicSpec[] = [
  { name: A, partitions: 4 },
  { name: B, partitions: 2 },
  { name: DEAD_LETTER_TOPIC, partitions: 1 },
];

export interface BrokerFixture {
  /** The first node's broker, with at least `CONTRACT_TOPICS`. */
  readonly broker: Broker;
  readonly topics: readonly TopicSpec[];
  /** A fresh group id on every call (also used to tag a test's records). */
  newGroupId(): string;
  /** Another broker instance on the same cluster, as a second node would have. */
  connect(): Promise<Broker>;
  /**
   * Resolves with the first value of `check()` that is not undefined (the contract's checks return
   * `true | undefined`); rejects, naming `what`, when it cannot or did not happen in time.
   */
  waitFor<T>(what: string, check: () => T | undefined, timeoutMs?: number): Promise<T>;
  /**
   * Gives a broken broker the chance to misbehave before a negative assertion ("stop() has not
   * resolved yet"). A passing run does not depend on it. Default: one macrotask turn.
   */
  settle?(): Promise<void>;
  /** Closes `broker` and every `connect()`ed broker, including ones the test already closed. */
  dispose(): Promise<void>;
}

export interface ContractOptions {
  readonly sanitizeOps?: boolean;
  readonly sanitizeResources?: boolean;
}

/** A `waitFor` that polls (for brokers that work on real sockets and timers). */
export function pollingWaitFor(
  intervalMs = 25,
  defaultTimeoutMs = 60_000,
): BrokerFixture["waitFor"] {
  return async <T>(what: string, check: () => T | undefined, timeoutMs = defaultTimeoutMs) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) throw new Error(`waitFor ${what}: not true after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  };
}

const KEYS = Array.from({ length: 20 }, (_, i) => `k${i}`); // cover all partitions of A and B
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const tpKey = (tp: TopicPartition) => `${tp.topic}/${tp.partition}`;
const keysOf = (tps: readonly TopicPartition[]) => tps.map(tpKey).sort();
const everyPartition = (broker: Broker, topics: string[]) =>
  keysOf(
    topics.flatMap((topic) =>
      range(broker.partitions(topic)).map((p) => ({ topic, partition: p }))
    ),
  );

interface Callback {
  readonly who: string;
  readonly kind: "assign" | "revoke";
  readonly tps: string[];
}

/** Records what the test's consumers see: its own records (by tag) and assign/revoke calls. */
class Probe {
  readonly handled: { who: string; record: InRecord }[] = [];
  readonly callbacks: Callback[] = [];
  constructor(readonly tag: string) {}

  value(label: string): string {
    return `${this.tag}|${label}`;
  }
  mine(record: InRecord): boolean {
    return record.value.startsWith(`${this.tag}|`);
  }
  label(record: InRecord): string {
    return record.value.slice(this.tag.length + 1);
  }
  labels(who?: string, prefix = ""): string[] {
    return this.handled.filter((h) => who === undefined || h.who === who)
      .map((h) => this.label(h.record)).filter((l) => l.startsWith(prefix));
  }
  distinct(who?: string, prefix = ""): number {
    return new Set(this.labels(who, prefix)).size;
  }
  options(
    who: string,
    groupId: string,
    topics: string[],
    extra: Partial<ConsumeOptions> & { onMine?: (r: InRecord) => Promise<void> | void } = {},
  ): ConsumeOptions {
    const { onMine, ...rest } = extra;
    return {
      groupId,
      topics,
      fromBeginning: true,
      onAssign: (tps) => void this.callbacks.push({ who, kind: "assign", tps: keysOf(tps) }),
      onRevoke: (tps) => void this.callbacks.push({ who, kind: "revoke", tps: keysOf(tps) }),
      onMessage: async (record) => {
        if (!this.mine(record)) return;
        this.handled.push({ who, record });
        await onMine?.(record);
      },
      ...rest,
    };
  }
}

function isSplit(all: string[], ...members: { assignment: readonly TopicPartition[] }[]): boolean {
  const held = members.map((m) => keysOf(m.assignment));
  const union = held.flat().sort();
  return held.every((h) => h.length > 0) && new Set(union).size === union.length &&
    JSON.stringify(union) === JSON.stringify(all);
}

export function brokerContract(
  name: string,
  make: () => Promise<BrokerFixture>,
  options: ContractOptions = {},
): void {
  const test = (title: string, fn: (fx: BrokerFixture, p: Probe) => Promise<void>) =>
    Deno.test({
      name: `${name}: ${title}`,
      sanitizeOps: options.sanitizeOps ?? true,
      sanitizeResources: options.sanitizeResources ?? true,
      async fn() {
        const fx = await make();
        try {
          await fn(fx, new Probe(fx.newGroupId()));
        } finally {
          await fx.dispose();
        }
      },
    });
  const until = (fx: BrokerFixture, what: string, cond: () => boolean) =>
    fx.waitFor(what, () => (cond() ? true : undefined));
  const settle = (fx: BrokerFixture) =>
    fx.settle ? fx.settle() : new Promise<void>((resolve) => setTimeout(resolve, 0));

  test("keyed records land on partitionFor(key, n), in order per partition", async (fx, p) => {
    for (const spec of CONTRACT_TOPICS.slice(0, 2)) {
      assert.ok(fx.topics.some((t) => t.name === spec.name && t.partitions === spec.partitions));
      assert.equal(fx.broker.partitions(spec.name), spec.partitions);
    }
    const busy = new Set<number>();
    let overlaps = 0;
    const consumer = await fx.broker.consume(p.options("one", fx.newGroupId(), [A], {
      onMine: async (r) => {
        if (busy.has(r.partition)) overlaps++;
        busy.add(r.partition);
        await new Promise((resolve) => setTimeout(resolve, 0)); // room for a wrong overlap
        busy.delete(r.partition);
      },
    }));
    const all = everyPartition(fx.broker, [A]);
    assert.deepEqual(keysOf(consumer.assignment), all, "consume() resolves once assigned");
    assert.deepEqual(p.callbacks[0], { who: "one", kind: "assign", tps: all }, "after onAssign");
    for (let batch = 0; batch < 4; batch++) {
      await fx.broker.produce(
        A,
        range(50).map((j) => batch * 50 + j).map((i) => ({
          key: KEYS[i % 20],
          value: p.value(`${i}`),
        })),
      );
    }
    await until(fx, "200 records handled", () => p.distinct() >= 200);
    await settle(fx);
    assert.equal(p.handled.length, 200, "every record handled once");
    assert.equal(overlaps, 0, "one record at a time per partition");
    const lastOffset = new Map<number, bigint>();
    for (const { record } of p.handled) {
      assert.equal(record.topic, A);
      assert.equal(record.key, KEYS[Number(p.label(record)) % 20]);
      assert.equal(record.partition, partitionFor(record.key, 4), `partition of ${record.key}`);
      const offset = BigInt(record.offset);
      assert.ok(offset > (lastOffset.get(record.partition) ?? -1n), "offsets rise per partition");
      lastOffset.set(record.partition, offset);
    }
    assert.equal(lastOffset.size, 4, "the keys cover every partition");
    for (const [k, key] of KEYS.entries()) {
      const got = p.handled.filter((h) => h.record.key === key).map((h) => p.label(h.record));
      assert.deepEqual(got, range(10).map((n) => `${n * 20 + k}`), `order of ${key}`);
    }
  });

  test("two members of a group split the partitions and handle each record once", async (fx, p) => {
    const other = await fx.connect();
    const group = fx.newGroupId();
    const all = everyPartition(fx.broker, [A, B]);
    const one = await fx.broker.consume(p.options("one", group, [A, B]));
    const two = await other.consume(p.options("two", group, [A, B]));
    await until(fx, "a disjoint, complete split", () => isSplit(all, one, two));
    const held: Record<string, string[]> = {
      one: keysOf(one.assignment),
      two: keysOf(two.assignment),
    };
    await fx.broker.produce(
      A,
      range(100).map((i) => ({ key: KEYS[i % 20], value: p.value(`a${i}`) })),
    );
    await other.produce(B, range(40).map((i) => ({ key: KEYS[i % 20], value: p.value(`b${i}`) })));
    await until(fx, "140 records handled", () => p.distinct() >= 140);
    await settle(fx);
    assert.deepEqual(
      { one: keysOf(one.assignment), two: keysOf(two.assignment) },
      held,
      "no rebalance",
    );
    assert.equal(p.handled.length, 140, "no record handled twice");
    for (const { who, record } of p.handled) {
      assert.ok(held[who].includes(tpKey(record)), `${who} handled ${tpKey(record)}, not its own`);
    }
    assert.ok(p.labels("one").length > 0 && p.labels("two").length > 0, "both members work");
  });

  test(
    "a member leaving gracefully is revoked, the other takes over, nothing lost",
    async (fx, p) => {
      const other = await fx.connect();
      const group = fx.newGroupId();
      const all = everyPartition(fx.broker, [A, B]);
      const one = await fx.broker.consume(p.options("one", group, [A, B]));
      const two = await other.consume(p.options("two", group, [A, B]));
      await until(fx, "a disjoint, complete split", () => isSplit(all, one, two));
      const held = keysOf(one.assignment);
      const mark = p.callbacks.length;
      await one.stop();
      assert.deepEqual(one.assignment, [], "a stopped member holds nothing");
      const revoked = p.callbacks.slice(mark).filter((c) => c.who === "one" && c.kind === "revoke");
      assert.deepEqual(
        [...new Set(revoked.flatMap((c) => c.tps))].sort(),
        held,
        "onRevoke on stop",
      );
      await until(fx, "the other member to hold everything", () => isSplit(all, two));
      const after = p.callbacks.slice(mark);
      for (const tp of held) {
        const at = (who: string, kind: string) =>
          after.findIndex((c) => c.who === who && c.kind === kind && c.tps.includes(tp));
        assert.ok(at("two", "assign") >= 0, `the remaining member got onAssign for ${tp}`);
        assert.ok(
          at("one", "revoke") < at("two", "assign"),
          `${tp} revoked before it was reassigned`,
        );
      }
      await fx.broker.produce(
        A,
        range(40).map((i) => ({ key: KEYS[i % 20], value: p.value(`c${i}`) })),
      );
      await fx.broker.produce(
        B,
        range(20).map((i) => ({ key: KEYS[i], value: p.value(`cb${i}`) })),
      );
      await until(
        fx,
        "the remaining member to handle 60 records",
        () => p.distinct("two", "c") >= 60,
      );
      assert.deepEqual(p.labels("one", "c"), [], "the member that left handles nothing more");
    },
  );

  test("two groups each receive every record", async (fx, p) => {
    await fx.broker.consume(p.options("first", fx.newGroupId(), [A]));
    await (await fx.connect()).consume(p.options("second", fx.newGroupId(), [A]));
    await fx.broker.produce(
      A,
      range(40).map((i) => ({ key: KEYS[i % 20], value: p.value(`${i}`) })),
    );
    await until(
      fx,
      "both groups to get 40",
      () => p.distinct("first") + p.distinct("second") >= 80,
    );
    await settle(fx);
    const expected = range(40).map(String).sort();
    assert.deepEqual(p.labels("first").sort(), expected);
    assert.deepEqual(p.labels("second").sort(), expected);
  });

  test("a poison record goes to the dead-letter topic and the partition goes on", async (fx, p) => {
    const letters: InRecord[] = [];
    await fx.broker.consume({
      groupId: fx.newGroupId(),
      topics: [DEAD_LETTER_TOPIC],
      fromBeginning: true,
      onMessage: (r) => {
        if (r.value.includes(JSON.stringify(p.value("poison")))) letters.push(r);
      },
    });
    const group = fx.newGroupId();
    const poisonOffsets = new Set<string>();
    await fx.broker.consume(p.options("one", group, [A], {
      onMine: (r) => {
        if (p.label(r) !== "poison") return;
        poisonOffsets.add(r.offset);
        throw new Error(`poison pill ${p.tag}`);
      },
    }));
    const key = "k7";
    const labels = ["before", "poison", "after1", "after2"];
    await fx.broker.produce(A, labels.map((l) => ({ key, value: p.value(l) })));
    await until(
      fx,
      "the dead letter and the later records",
      () => letters.length > 0 && p.labels().includes("after2"),
    );
    await settle(fx);
    const seen = p.labels();
    assert.deepEqual([...new Set(seen)], labels, "handled in order, the poison record too");
    assert.ok(seen.lastIndexOf("poison") < seen.indexOf("after1"), "later records wait for it");
    assert.equal(letters.length, 1, "one dead letter");
    assert.equal(letters[0].key, key, "keyed by the original key");
    assert.equal(poisonOffsets.size, 1);
    const letter = JSON.parse(letters[0].value) as DeadLetter;
    assert.deepEqual({ ...letter, error: undefined }, {
      topic: A,
      partition: partitionFor(key, 4),
      offset: [...poisonOffsets][0],
      key,
      value: p.value("poison"),
      error: undefined,
      groupId: group,
    });
    assert.ok(letter.error.includes(`poison pill ${p.tag}`), `error text: ${letter.error}`);
  });

  for (const how of ["stop", "close"] as const) {
    test(`${how}() waits for the in-flight handler, then revokes`, async (fx, p) => {
      const node = how === "close" ? await fx.connect() : fx.broker;
      const trace: string[] = [];
      const gate = Promise.withResolvers<void>();
      const group = fx.newGroupId();
      const consumer = await node.consume(p.options("one", group, [A], {
        onMine: async (r) => {
          if (p.label(r) !== "slow") return;
          trace.push("start");
          await gate.promise;
          trace.push("end");
        },
        onRevoke: () => void trace.push("revoke"),
      }));
      await node.produce(A, [{ key: "k1", value: p.value("slow") }]);
      await until(fx, "the handler to start", () => trace.includes("start"));
      const done = (how === "stop" ? consumer.stop() : node.close()).then(() => trace.push(how));
      await settle(fx);
      assert.deepEqual(trace, ["start"], `${how}() must wait for the running handler`);
      gate.resolve();
      await done;
      assert.deepEqual(trace, ["start", "end", "revoke", how]);
      // The record was committed: the group's next member starts after it.
      await fx.broker.consume(p.options("next", group, [A]));
      await fx.broker.produce(A, [{ key: "k1", value: p.value("later") }]);
      await until(
        fx,
        "the next member to get the later record",
        () => p.labels("next").includes("later"),
      );
      assert.deepEqual(p.labels("next"), ["later"], "the slow record is not delivered again");
    });
  }

  test(
    "fromBeginning: a new group starts at the end (false) or the start (true)",
    async (fx, p) => {
      await fx.broker.produce(A, KEYS.map((key) => ({ key, value: p.value(`before-${key}`) })));
      await fx.broker.consume(p.options("late", fx.newGroupId(), [A], { fromBeginning: false }));
      await fx.broker.consume(p.options("early", fx.newGroupId(), [A], { fromBeginning: true }));
      await fx.broker.produce(A, KEYS.map((key) => ({ key, value: p.value(`after-${key}`) })));
      await until(
        fx,
        "both groups to get the later records",
        () => p.distinct("late", "after-") >= 20 && p.distinct("early", "after-") >= 20,
      );
      // Every key has a "before" record ahead of its "after" one on the same partition.
      assert.deepEqual(p.labels("late", "before-"), [], "fromBeginning false skips older records");
      assert.equal(p.distinct("early", "before-"), 20, "fromBeginning true reads older records");
    },
  );
}
