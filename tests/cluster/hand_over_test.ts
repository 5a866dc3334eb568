/**
 * Moves are hand-overs (issue 12, item 6): the old owner lets its actors finish and marks the
 * owner record released; the new owner claims (bumps the epoch) only after that mark, the old
 * owner's death, or a bound. And an ask fenced anyway on a stale owner is routed again, to the new
 * owner, instead of failing. Cluster nodes with actor systems on the in-memory broker and KV.
 */
import assert from "node:assert/strict";
import { MemoryBroker } from "../../src/cluster/memory_broker.ts";
import type { ClusterNode } from "../../src/cluster/node.ts";
import { listOwners, Ownership } from "../../src/cluster/ownership.ts";
import { clusterTopics, partitionOf } from "../../src/cluster/topics.ts";
import { silentLogger } from "../../src/log.ts";
import { counter } from "../runtime/_counter.ts";
import { makeNode, PARTITIONS, until } from "./_nodes.ts";

/** A KV handle whose atomic commits wait while the gate is closed (the rest passes through). */
function gatedKv(kv: Deno.Kv) {
  let gate: PromiseWithResolvers<void> | null = null;
  const wrapOp = (op: Deno.AtomicOperation): Deno.AtomicOperation => {
    const proxy: Deno.AtomicOperation = new Proxy(op, {
      get(target, key) {
        if (key === "commit") {
          return async () => {
            while (gate) await gate.promise;
            return await target.commit();
          };
        }
        const v = Reflect.get(target, key, target);
        if (typeof v !== "function") return v;
        return (...args: unknown[]) => {
          const r = v.apply(target, args);
          return r === target ? proxy : r;
        };
      },
    });
    return proxy;
  };
  const gated = new Proxy(kv, {
    get(target, key) {
      if (key === "atomic") return () => wrapOp(target.atomic());
      const v = Reflect.get(target, key, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return {
    kv: gated,
    close: () => void (gate ??= Promise.withResolvers<void>()),
    open: () => {
      const g = gate;
      gate = null;
      g?.resolve();
    },
  };
}

const idsIn = (node: ClusterNode, n: number, prefix: string) => {
  const out: string[] = [];
  for (let i = 0; out.length < n; i++) {
    const id = `${prefix}${i}`;
    if (node.ownership.owns(partitionOf({ type: "counter", id }, PARTITIONS))) out.push(id);
  }
  return out;
};

Deno.test("ownership: a partition may be claimed when free, own, released, or its owner dead; else wait up to the bound", async () => {
  const kv = await Deno.openKv(":memory:");
  try {
    const a = new Ownership(kv, "A", "a");
    const b = new Ownership(kv, "B", "b");
    const limits = { boundMs: 1000, deadAfterMs: 200 };
    const state = async (o: Ownership, now: number, waited = 0) =>
      (await o.handOverState(0, now, waited, limits)).state;
    assert.equal(await state(b, 1000), "free");
    assert.equal(await a.claim(0, 1000), 1);
    assert.equal(await state(b, 1000), "dead", "no heartbeat record: its node is gone");
    await kv.set(["cluster", "node", "A"], {
      node: "A",
      name: "a",
      url: "",
      startedAt: 0,
      at: 1000,
    });
    assert.equal(await state(b, 1100), "wait", "alive and still holding it");
    assert.equal(await state(b, 1100, 1000), "bound");
    assert.equal(await state(b, 1300), "dead", "heartbeat older than deadAfterMs");
    assert.equal(await state(a, 1100), "self");

    assert.equal(await a.release(0, 1150), true);
    assert.equal(await state(b, 1100), "released");
    const [rec] = await listOwners(kv);
    assert.equal(rec.released, true);
    assert.equal(rec.epoch, 1, "a release keeps the epoch");
    // Once released, the old owner's fence refuses its own writes.
    const late = await kv.atomic().check(...a.fence(0)).set(["late"], 1).commit();
    assert.equal(late.ok, false);
    assert.equal(await b.claim(0, 1200), 2);
    assert.equal(await a.release(0, 1250), false, "nothing to release once another claimed it");
    assert.equal((await listOwners(kv))[0].released, undefined, "a claim starts unreleased");
  } finally {
    kv.close();
  }
});

Deno.test("hand-over: a node joining under load (old and new owner told at once, as kafkajs does) waits for the old owner; no ask fails, nothing is fenced", async () => {
  const kv = await Deno.openKv(":memory:");
  const gate = gatedKv(kv);
  const broker = new MemoryBroker({
    topics: clusterTopics(PARTITIONS),
    logger: silentLogger,
    eager: true,
  });
  const a = makeNode("a", broker.connect(), kv, { systemKv: gate.kv });
  const b = makeNode("b", broker.connect(), kv);
  try {
    await a.start();
    const ids = idsIn(a.node, 36, "c");
    for (const id of ids) await a.node.ask(counter, id, { type: "add", n: 1 });

    // The old owner's writes stall (a slow disk, a long batch): its actors have work in flight
    // when the group moves half of the partitions to b.
    gate.close();
    const inFlight = ids.map((id) =>
      a.node.ask(counter, id, { type: "add", n: 10 }).then(
        () => null,
        (err: Error) => `${id}: ${err.message}`,
      )
    );
    const joined = b.start();
    const bOwns = async () =>
      (await listOwners(kv)).some((o) => o.node === b.node.nodeId && !o.released);
    // b has its assignment and waits for a's hand-over (the code before this change claimed at
    // once instead: the owner records named b here already).
    await until("b assigned", async () => b.node.claiming?.length > 0 || await bOwns());
    gate.open();
    await joined;
    await b.node.claimed();
    await broker.idle();

    assert.deepEqual((await Promise.all(inFlight)).filter((e) => e !== null), []);
    assert.equal(a.node.counters.fenced, 0, "no write of a was fenced");
    assert.ok(b.node.counters.handOverWaits > 0, "b waited for the hand-over");
    assert.ok(b.node.ownership.owned.length > 0 && a.node.ownership.owned.length > 0);
    // Every counter has both additions, wherever it lives now, asked through either node.
    for (const [i, id] of ids.entries()) {
      const via = i % 2 === 0 ? a.node : b.node;
      assert.deepEqual(await via.ask(counter, id, { type: "add", n: 100 }), { total: 111 });
    }
  } finally {
    gate.open();
    await b.stop();
    await a.stop();
    await broker.close();
    kv.close();
  }
});

Deno.test("hand-over: a clean leave marks every partition released, and the other node claims without waiting", async () => {
  const kv = await Deno.openKv(":memory:");
  const broker = new MemoryBroker({ topics: clusterTopics(PARTITIONS), logger: silentLogger });
  const a = makeNode("a", broker.connect(), kv);
  const b = makeNode("b", broker.connect(), kv);
  try {
    await a.start();
    await b.start();
    const ids = idsIn(b.node, 6, "l");
    for (const id of ids) await a.node.ask(counter, id, { type: "add", n: 1 });
    await b.stop();
    await a.node.claimed();
    assert.equal(a.node.ownership.owned.length, PARTITIONS);
    assert.equal(a.node.counters.handOverWaits, 0);
    assert.equal(a.node.counters.handOverBound, 0);
    for (const id of ids) {
      assert.deepEqual(await a.node.ask(counter, id, { type: "get" }), { total: 1 });
    }
  } finally {
    await a.stop();
    await broker.close();
    kv.close();
  }
});

Deno.test("hand-over: an ask fenced on a stale owner (the partition moved under it) is routed again to the new owner, not failed", async () => {
  const kv = await Deno.openKv(":memory:");
  const broker = new MemoryBroker({ topics: clusterTopics(PARTITIONS), logger: silentLogger });
  const bBroker = broker.connect();
  const a = makeNode("a", broker.connect(), kv);
  // b does not wait long for a hand-over that will not come.
  const b = makeNode("b", bBroker, kv, { handOverBoundMs: 20 });
  try {
    await a.start();
    await b.start();
    const [id] = idsIn(a.node, 1, "f");
    const p = partitionOf({ type: "counter", id }, PARTITIONS);
    await a.node.ask(counter, id, { type: "add", n: 1 });
    // a stalls: the group expels it, b gets its partitions and, a never handing over, claims
    // them after the bound. a still believes it owns p.
    broker.crash(a.node.consumers.owners!);
    await broker.idle();
    await b.node.claimed();
    assert.ok(b.node.ownership.owns(p));
    assert.ok(a.node.ownership.owns(p), "a does not know yet");
    // A user's ask reaches a, which runs it locally: its write is fenced, nothing is stored, and
    // the ask goes again through the router, now to b.
    assert.deepEqual(await a.node.ask(counter, id, { type: "add", n: 10 }), { total: 11 });
    assert.equal(a.node.counters.fencedRetries, 1);
    await a.node.dropping;
    assert.equal(a.node.ownership.owns(p), false, "a gave the partition up");
    assert.deepEqual(await b.node.ask(counter, id, { type: "get" }), { total: 11 });
  } finally {
    await b.stop();
    await a.stop();
    await broker.close();
    kv.close();
  }
});
