/**
 * A node that cannot reach its broker (issue 12, item 9): reachability is tracked from answers and
 * connection failures and logged once per change; meanwhile asks and tells for other nodes fail at
 * once with `unavailable` (the waiting ones too), REST answers 503 with `Retry-After`, `/readyz`
 * is 503 at once, and tells the actors owed stay owed and go when the broker is back. In-memory
 * broker and ManualClock; the real outage on librdkafka's mock is kafka_outage_test.ts.
 */
import assert from "node:assert/strict";
import { type LogEntry, logLevel } from "kafkajs";
import { kafkaLogCreator } from "../../src/cluster/kafka_broker.ts";
import { MemoryBroker } from "../../src/cluster/memory_broker.ts";
import { Reachability } from "../../src/cluster/reachability.ts";
import { clusterTopics, partitionOf, TOPICS } from "../../src/cluster/topics.ts";
import { AppError } from "../../src/errors.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { accept, type Entity, tell } from "../../src/runtime/mod.ts";
import { counter } from "../runtime/_counter.ts";
import { startCluster } from "./_cluster.ts";
import { makeNode, PARTITIONS, until } from "./_nodes.ts";

/** A logger that keeps `LEVEL message` of each line (whatever format the real one writes). */
function capture() {
  const lines: string[] = [];
  const rec = (level: string) => (msg: string) => void lines.push(`${level} ${msg}`);
  const log: Logger = {
    ...silentLogger,
    debug: rec("DEBUG"),
    info: rec("INFO"),
    warn: rec("WARN"),
    error: rec("ERROR"),
  };
  return { lines, log };
}

Deno.test("reachability: failures without an answer for 500 ms make the broker unreachable, logged once; the first answer ends it, logged once", async () => {
  const clock = new ManualClock();
  const { lines, log } = capture();
  const h = new Reachability({ log, clock });
  const changes: boolean[] = [];
  h.onChange((up) => changes.push(up));
  // A blip: failures an answer ends within the window change nothing.
  h.failed("connect ECONNREFUSED");
  await clock.advance(100);
  h.succeeded();
  await clock.advance(1000);
  assert.equal(h.reachable, true);
  assert.deepEqual(changes, []);
  // An outage: 200 failures, no answer.
  const start = clock.now();
  for (let i = 0; i < 200; i++) h.failed(`connect ECONNREFUSED #${i}`);
  assert.equal(h.reachable, true, "not before the window has passed");
  await clock.advance(500);
  assert.equal(h.reachable, false);
  assert.equal(h.downSince, start);
  assert.equal(h.reason, "connect ECONNREFUSED #0");
  for (let i = 0; i < 300; i++) h.failed("connect ECONNREFUSED");
  assert.equal(h.quiet(), true, "other errors meanwhile are counted, not logged");
  await clock.advance(4500);
  h.succeeded();
  h.succeeded();
  assert.equal(h.reachable, true);
  assert.deepEqual(changes, [false, true]);
  const warned = lines.filter((l) => /^(WARN|ERROR) /.test(l));
  assert.equal(warned.length, 2, warned.join("\n"));
  assert.match(warned[0], /ERROR Kafka unreachable since 2026-01-01T00:00:01\.100Z/);
  assert.match(warned[1], /WARN Kafka reachable again after 5 s, 500 errors/);
  assert.equal(h.counts.outages, 1);
  assert.equal(h.counts.errors, 501);
  h.close();
});

Deno.test("kafkajs log lines: connection failures and what follows from them are counted, not logged; other lines pass", async () => {
  const clock = new ManualClock();
  const { lines, log } = capture();
  const health = new Reachability({ log, clock });
  const write = kafkaLogCreator(log, health)(logLevel.INFO);
  const entry = (level: logLevel, message: string, extra: Record<string, unknown> = {}) =>
    write({
      namespace: "Connection",
      level,
      label: "ERROR",
      log: { timestamp: "", logger: "kafkajs", message, ...extra },
    } as LogEntry);
  entry(logLevel.WARN, "Consumer group is slow"); // unrelated: logged
  for (let i = 0; i < 100; i++) {
    entry(logLevel.ERROR, "Connection error: connect ECONNREFUSED 127.0.0.1:9092");
    entry(logLevel.ERROR, "Failed to connect to seed broker", {
      error: "Connection error: connect ECONNREFUSED 127.0.0.1:9092",
    });
  }
  await clock.advance(600);
  for (let i = 0; i < 50; i++) entry(logLevel.ERROR, "Crash: KafkaJSNumberOfRetriesExceeded");
  health.succeeded();
  const kafka = lines.filter((l) => !l.startsWith("DEBUG "));
  assert.equal(kafka.length, 3, kafka.join("\n"));
  assert.equal(kafka[0], "WARN kafkajs: Consumer group is slow");
  assert.match(kafka[1], /Kafka unreachable since/);
  assert.match(kafka[2], /Kafka reachable again after 0\.6 s, 200 errors/);
  assert.equal(health.counts.quieted, 50);
  health.close();
});

/** An entity whose one command stores an event and tells a counter: an owed tell. */
interface RelayCommand {
  type: "send";
  to: string;
  n: number;
}
const relay: Entity<{ sent: number }, RelayCommand, { type: "sent" }, { sent: number }> = {
  type: "relay",
  initialState: () => ({ sent: 0 }),
  decide: (s, cmd) =>
    accept([{ type: "sent" }], { sent: s.sent + 1 }, [
      tell("counter", cmd.to, { type: "add", n: cmd.n }),
    ]),
  evolve: (s) => ({ sent: s.sent + 1 }),
};

Deno.test("outage: a node that cannot reach its broker refuses remote asks and tells at once, fails the waiting ones, keeps owed tells and sends them when it is back", async () => {
  const kv = await Deno.openKv(":memory:");
  const broker = new MemoryBroker({ topics: clusterTopics(PARTITIONS), logger: silentLogger });
  const aBroker = broker.connect();
  const entities = [counter, relay];
  const a = makeNode("a", aBroker, kv, { entities, askTimeoutMs: 30_000 });
  const b = makeNode("b", broker.connect(), kv, { entities, askTimeoutMs: 30_000 });
  try {
    await a.start();
    await b.start();
    const ownedBy = (n: typeof a, prefix: string) => {
      for (let i = 0;; i++) {
        const id = `${prefix}${i}`;
        if (n.node.ownership.owns(partitionOf({ type: "counter", id }, PARTITIONS))) return id;
      }
    };
    const far = ownedBy(b, "far"); // a counter on b
    const near = ownedBy(a, "near"); // a relay on a
    await a.node.ask(counter, far, { type: "add", n: 1 });

    // An ask to b is waiting for its reply (b is not reading) when a loses the broker.
    broker.pause(b.node.consumers.owners!);
    const produced = broker.records(TOPICS.commands).length;
    const waiting = a.node.ask(counter, far, { type: "get" });
    await until("the ask is on its way", () => broker.records(TOPICS.commands).length > produced);
    const t0 = Date.now();
    aBroker.outage(true);
    await assert.rejects(waiting, (e: AppError) => {
      assert.equal(e.code, "unavailable");
      assert.match(e.message, /Kafka is unreachable from this node since .*; retry in 5 s/);
      return true;
    });
    assert.ok(Date.now() - t0 < 1000, "at once, not after the 30 s ask timeout");
    broker.resume(b.node.consumers.owners!);

    // New asks and tells for b fail at once, with a Retry-After for REST.
    await assert.rejects(a.node.ask(counter, far, { type: "get" }), (e: AppError) => {
      assert.equal(e.code, "unavailable");
      assert.equal((e as AppError & { retryAfterS?: number }).retryAfterS, 5);
      return true;
    });
    assert.throws(
      () => a.node.tellType("counter", far, { type: "add", n: 1 }),
      (e: AppError) => e.code === "unavailable",
    );
    assert.ok(a.node.kafkaUnreachable);
    assert.equal(a.node.counters.kafkaOutages, 1);
    // Actors on a still work; the tell the relay owes b's counter stays owed meanwhile.
    assert.deepEqual(await a.node.ask(relay, near, { type: "send", to: far, n: 7 }), { sent: 1 });
    assert.deepEqual(await b.node.ask(counter, far, { type: "get" }), { total: 1 });

    aBroker.outage(false);
    assert.equal(a.node.kafkaUnreachable, null);
    await until("the owed tell arrived", async () => {
      const r = await b.node.ask(counter, far, { type: "get" }) as { total: number };
      return r.total === 8;
    });
    assert.deepEqual(await a.node.ask(counter, far, { type: "add", n: 2 }), { total: 10 });
  } finally {
    await b.stop();
    await a.stop();
    await broker.close();
    kv.close();
  }
});

Deno.test("outage: REST answers 503 unavailable with Retry-After at once, /readyz is 503 at once, and both recover", async () => {
  await using c = await startCluster(2);
  const owner = c.ownerOf("queue", "default")!;
  const other = c.nodes.find((n) => n !== owner)!;
  const create = () =>
    fetch(`${other.url}/api/v1/chat/chats`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
  assert.equal(await create().then(async (r) => (await r.body?.cancel(), r.status)), 201);

  c.brokerOf(other).outage(true);
  const t0 = Date.now();
  const res = await create();
  const body = await res.json();
  assert.equal(res.status, 503);
  assert.equal(res.headers.get("retry-after"), "5");
  assert.equal(body.error.code, "unavailable");
  assert.equal(body.error.retryable, true);
  assert.match(body.error.message, /Kafka is unreachable/);
  const ready = await fetch(`${other.url}/readyz`);
  assert.equal(ready.status, 503);
  assert.equal(ready.headers.get("retry-after"), "5");
  assert.deepEqual(await ready.json(), { status: "not_ready", reason: "kafka_unreachable" });
  assert.ok(Date.now() - t0 < 1000, "answered at once");

  c.brokerOf(other).outage(false);
  const again = await create();
  await again.body?.cancel();
  assert.equal(again.status, 201);
  const readyAgain = await fetch(`${other.url}/readyz`);
  assert.equal(readyAgain.status, 200);
  await readyAgain.body?.cancel();
});
