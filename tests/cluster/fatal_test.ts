/**
 * A Kafka consumer that stops for good (kafkajs crashed and will not restart) after it joined:
 * the member says so (`onFatal`) once, with everything it held revoked; the cluster node is then
 * `failed`, `/readyz` answers 503, and the server's `onFatal` runs (by default it exits the
 * process for its supervisor to restart it).
 */
import assert from "node:assert/strict";
import type { Consumer as KafkaConsumer } from "kafkajs";
import { KafkaMember, type MemberHost } from "../../src/cluster/_kafka_member.ts";
import type { Broker, ConsumeOptions, TopicPartition } from "../../src/cluster/broker.ts";
import { MemoryBroker } from "../../src/cluster/memory_broker.ts";
import { clusterTopics } from "../../src/cluster/topics.ts";
import { loadConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { startServer } from "../../src/server/server.ts";
import { TEST_SECRET } from "../integration/_harness.ts";

const EVENTS = { GROUP_JOIN: "group_join", REBALANCING: "rebalancing", CRASH: "crash" };

/** Enough of a kafkajs consumer for the member: events are fired by the test. */
function fakeConsumer() {
  const handlers = new Map<string, ((e: { payload: unknown }) => void)[]>();
  const consumer = {
    events: EVENTS,
    on(event: string, fn: (e: { payload: unknown }) => void) {
      handlers.set(event, [...(handlers.get(event) ?? []), fn]);
      return () => handlers.set(event, (handlers.get(event) ?? []).filter((f) => f !== fn));
    },
    connect: () => Promise.resolve(),
    subscribe: () => Promise.resolve(),
    run: () => Promise.resolve(),
    pause: () => {},
    disconnect: () => Promise.resolve(),
    commitOffsets: () => Promise.resolve(),
  };
  const fire = (event: string, payload: unknown) => {
    for (const fn of handlers.get(event) ?? []) fn({ payload });
  };
  return { consumer: consumer as unknown as KafkaConsumer, fire };
}

function member(opts: Partial<ConsumeOptions> = {}) {
  const fake = fakeConsumer();
  const made = { count: 0 };
  const host: MemberHost = {
    log: silentLogger,
    options: { brokers: ["127.0.0.1:1"], clientId: "test", topics: [], commitIntervalMs: 60_000 },
    forget: () => {},
    newConsumer: () => (made.count++, fake.consumer),
    sendDeadLetter: () => Promise.resolve(),
    admin: () => Promise.reject(new Error("no admin in this test")),
  };
  const fatal: Error[] = [];
  const revoked: TopicPartition[][] = [];
  const m = new KafkaMember(host, {
    groupId: "g",
    topics: ["t"],
    fromBeginning: true,
    onMessage: () => {},
    onRevoke: (ps) => void revoked.push([...ps]),
    onFatal: (e) => void fatal.push(e),
    ...opts,
  });
  return { m, fake, fatal, revoked, made };
}

Deno.test("kafka member: a crash kafkajs will not restart from, after joining, is fatal once", async () => {
  const { m, fake, fatal, revoked } = member();
  const started = m.start();
  fake.fire(EVENTS.GROUP_JOIN, { memberId: "m-1", memberAssignment: { t: [0, 1] } });
  await started;
  assert.deepEqual(m.assignment.map((p) => p.partition), [0, 1]);

  fake.fire(EVENTS.CRASH, { error: new Error("retriable"), groupId: "g", restart: true });
  assert.equal(fatal.length, 0, "kafkajs restarts: not fatal");
  fake.fire(EVENTS.GROUP_JOIN, { memberId: "m-2", memberAssignment: { t: [1] } });
  fake.fire(EVENTS.CRASH, { error: new Error("SyncGroup failed"), groupId: "g", restart: false });
  assert.deepEqual(fatal.map((e) => e.message), ["SyncGroup failed"]);
  await m.stop();
  assert.ok(revoked.flat().some((p) => p.partition === 1), "what it held was revoked");
});

Deno.test("kafka member: a re-join refused with INVALID_REQUEST (librdkafka's mock, a late SyncGroup) is retried by a new member, not fatal", async () => {
  const { m, fake, fatal, revoked, made } = member();
  const started = m.start();
  fake.fire(EVENTS.GROUP_JOIN, { memberId: "m-1", memberAssignment: { t: [0, 1] } });
  await started;
  const refused = Object.assign(new Error("request being malformed"), { type: "INVALID_REQUEST" });
  fake.fire(EVENTS.CRASH, { error: refused, groupId: "g", restart: false });
  await until(() => made.count === 2);
  assert.equal(fatal.length, 0);
  fake.fire(EVENTS.GROUP_JOIN, { memberId: "m-2", memberAssignment: { t: [1] } });
  await until(() => m.assignment.length === 1);
  assert.deepEqual(revoked.flat().map((p) => p.partition), [0, 1], "the crash revoked all");
  // Refused again and again: after five new members in a row it is fatal after all.
  for (let i = 0; i < 6; i++) {
    fake.fire(EVENTS.CRASH, { error: refused, groupId: "g", restart: false });
    await until(() => made.count === Math.min(3 + i, 7) || fatal.length > 0);
  }
  assert.equal(fatal.length, 1);
  await m.stop();
});

/** Waits for a condition the member reaches after a few promise turns (a guard, not a delay). */
async function until(check: () => boolean) {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 0));
  assert.ok(check());
}

Deno.test("kafka member: a crash before the first assignment fails start(), not onFatal", async () => {
  const { m, fake, fatal } = member();
  const started = m.start();
  fake.fire(EVENTS.CRASH, { error: new Error("no coordinator"), groupId: "g", restart: false });
  await assert.rejects(started, /no coordinator/);
  assert.equal(fatal.length, 0);
  await m.stop();
});

Deno.test("cluster node: a consumer lost for good makes the node failed, not ready, and calls onFatal", async () => {
  const mem = new MemoryBroker({ topics: clusterTopics(4), logger: silentLogger });
  const inner = mem.connect();
  const seen: ConsumeOptions[] = [];
  const broker: Broker = {
    partitions: (t) => inner.partitions(t),
    produce: (t, r) => inner.produce(t, r),
    consume: (o) => (seen.push(o), inner.consume(o)),
    close: () => inner.close(),
  };
  const dir = await Deno.makeTempDir({ prefix: "chat-fatal-" });
  const fatal: Error[] = [];
  const server = await startServer(
    loadConfig({
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: `${dir}/chat.kv`,
      LOG_LEVEL: "error",
      COMMAND_PARTITIONS: "4",
      BOT_MODE: "off",
      TITLE_MODE: "off",
    }),
    {
      logger: silentLogger,
      env: { get: (k) => (k === "JWT_SECRET" ? TEST_SECRET : undefined) },
      broker,
      onFatal: (e) => void fatal.push(e),
    },
  );
  try {
    const ready = async () => (await fetch(`${server.url}/readyz`).then((r) =>
      r.body?.cancel().then(() =>
        r.status
      )
    ));
    assert.equal(await ready(), 200);
    const failed = () => server.cluster!.failed;
    assert.equal(failed(), null);
    assert.equal(seen.length, 2, "replies/events and commands");
    for (const o of seen) assert.equal(typeof o.onFatal, "function");
    seen[1].onFatal!(new Error("consumer gone"));
    seen[0].onFatal!(new Error("the other one too"));
    assert.deepEqual(fatal.map((e) => e.message), ["consumer gone"], "told once");
    assert.equal(failed()?.message, "consumer gone");
    assert.equal(await ready(), 503);
  } finally {
    await server.shutdown();
    await mem.close();
    await Deno.remove(dir, { recursive: true });
  }
});
