/** Queue actor: auto mode offers, the single-writer property test, audit records, recovery. */
import assert from "node:assert/strict";
import {
  type OperatorStatus,
  type QueueCommand,
  queueEntity,
  type QueueState,
} from "../../actors/mod.ts";
import {
  admin,
  apply,
  assertInvariants,
  assignTell,
  auditKeys,
  autoConfig,
  claim,
  configure,
  empty,
  enq,
  enqueue,
  ids,
  listValues,
  loads,
  mulberry32,
  offerOf,
  online,
  QUEUE_CALLER,
  queueKit,
  rejected,
  requeueTell,
  self,
  send,
  status,
  T0,
  take,
  up,
  view,
  waiting,
} from "./_queue_helpers.ts";
import { canTakeMore } from "../../actors/_queue_routing.ts";
import type { AuditRecord } from "../../actors/_audit.ts";

const offerTimer = (chatId: string, operatorId: string, until: number, now: number) => ({
  kind: "timer",
  key: `offer:${chatId}`,
  delayMs: until - now,
  command: { type: "offer_expired", chatId, operatorId, until },
});
const expire = (s: QueueState, chatId: string, now: number) => {
  const offer = offerOf(s, chatId)!;
  return send(s, { type: "offer_expired", chatId, ...offer }, now);
};

// ---------------------------------------------------------------------------------------------
// auto mode

Deno.test("auto: each chat is offered to the fewest open chats, then the longest idle", () => {
  let s = online(waiting(empty(), ["x1", "x2", "x3"]), ["a", "b", "c"]);
  s = claim(claim(s, "x1", "a", T0 + 1).state, "x2", "a", T0 + 2).state;
  s = claim(s, "x3", "b", T0 + 3).state;
  s = configure(s, autoConfig(), T0 + 10).state;
  const y1 = enqueue(s, "y1", 0, T0 + 10, T0 + 10);
  const until = T0 + 10 + 30_000;
  assert.deepEqual(y1.events[1], {
    type: "offered",
    chatId: "y1",
    operatorId: "c",
    until,
    at: T0 + 10,
  });
  assert.deepEqual(y1.effects, [offerTimer("y1", "c", until, T0 + 10)]);
  assert.deepEqual(y1.reply, { position: 1 });
  // b and c both hold one; b has been idle since T0 + 3, c since its offer at T0 + 10.
  const y2 = enqueue(y1.state, "y2", 0, T0 + 20, T0 + 20);
  assert.equal(offerOf(y2.state, "y2")?.operatorId, "b");
  const y3 = enqueue(y2.state, "y3", 0, T0 + 30, T0 + 30);
  assert.equal(offerOf(y3.state, "y3")?.operatorId, "c");
  assert.deepEqual(loads(y3.state), { a: 2, b: 2, c: 2 });
});

Deno.test("auto: ties go to the smallest id; only role operator, online and connected, gets offers", () => {
  let s = configure(online(empty(), ["op-b", "op-a"]), autoConfig()).state;
  assert.equal(offerOf(waiting(s, ["x"]), "x")?.operatorId, "op-a");
  s = configure(online(empty(), ["adm1"], "admin"), autoConfig()).state;
  s = online(s, ["law1"], "lawyer");
  s = online(s, ["away", "busy", "gone", "offline", "op"]);
  s = status(s, "away", "away").state;
  s = status(s, "busy", "busy").state;
  s = status(s, "offline", "offline").state;
  s = send(s, { type: "operator_lost", operatorId: "gone" }).state;
  s = waiting(s, ["a", "b", "c"]);
  assert.deepEqual(view(s).waiting.map((w) => w.offer?.operatorId), ["op", "op", "op"]);
  s = status(s, "op", "offline").state;
  assert.deepEqual(view(s).waiting.map((w) => w.offer), [null, null, null]);
  assert.equal(
    view(claim(s, "a", "adm1").state).active.a.operatorId,
    "adm1",
    "admins still accept",
  );
});

Deno.test("auto: offers count toward load, so capacity is never exceeded", () => {
  let s = configure(online(empty(), ["op1"]), autoConfig({ defaultCapacity: 2 })).state;
  s = waiting(s, ["a", "b", "c"]);
  assert.deepEqual(view(s).waiting.map((w) => w.offer?.operatorId ?? null), ["op1", "op1", null]);
  assert.equal(view(s).operators.op1.load, 2);
  assert.equal(rejected(s, { type: "claim", chatId: "c", operatorId: "op1" }), "at_capacity");
  // The offeree's claim converts the offer: load unchanged, timer cancelled, nothing new offered.
  const r = claim(s, "a", "op1", T0 + 4_000);
  assert.deepEqual(r.events.map((e) => e.type), ["claimed"]);
  assert.deepEqual(r.effects, [
    { kind: "cancel_timer", key: "offer:a" },
    // Seq 8: a connect, the configuration, three enqueues and two offers, then this claim.
    assignTell("a", "op1", "auto", 8),
  ]);
  assert.equal(view(r.state).operators.op1.load, 2);
  // A closed chat frees the slot, and the next waiting chat is offered at once.
  const freed = send(r.state, { type: "release", chatId: "a", reason: "closed" }, T0 + 5_000);
  assert.deepEqual(freed.events.map((e) => e.type), ["released", "offered"]);
  assert.equal(offerOf(freed.state, "c")?.operatorId, "op1");
  assertInvariants(freed.state);
});

Deno.test("auto: a chat offered to one operator cannot be claimed by another", () => {
  const s = waiting(configure(online(empty(), ["op1", "op2"]), autoConfig()).state, ["a"]);
  assert.equal(offerOf(s, "a")?.operatorId, "op1");
  assert.equal(rejected(s, { type: "claim", chatId: "a", operatorId: "op2" }), "already_assigned");
});

Deno.test("auto: an expired offer goes to the next operator; whoever let it expire comes last", () => {
  let s = configure(online(empty(), ["op1", "op2", "op3"]), autoConfig()).state;
  s = waiting(s, ["a"]);
  const stale = send(s, { type: "offer_expired", chatId: "a", operatorId: "op1", until: 1 });
  assert.deepEqual([stale.events, stale.reply], [[], { expired: false }]);
  const order: string[] = [offerOf(s, "a")!.operatorId];
  for (let i = 1; i <= 3; i++) {
    const r = expire(s, "a", T0 + i * 30_000);
    assert.deepEqual(r.reply, { expired: true });
    assert.deepEqual(r.events.map((e) => e.type), ["offer_expired", "offered"]);
    s = r.state;
    order.push(offerOf(s, "a")!.operatorId);
  }
  assert.deepEqual(order, ["op1", "op2", "op3", "op1"]);
  assert.deepEqual(view(s).waiting[0].declined, ["op1", "op2", "op3"]);
  assert.deepEqual(loads(s), { op1: 1, op2: 0, op3: 0 });
});

for (const to of ["away", "busy", "offline"] as OperatorStatus[]) {
  Deno.test(`auto: an operator who goes ${to} loses their open offers to the next operator`, () => {
    let s = configure(online(empty(), ["op1", "op2"]), autoConfig()).state;
    s = waiting(s, ["a"]);
    const r = status(s, "op1", to, self("op1"), T0 + 100);
    assert.deepEqual(r.events.map((e) => e.type), ["status_changed", "offer_expired", "offered"]);
    assert.ok(
      r.effects.some((e) => e.kind === "cancel_timer" && e.key === "offer:a"),
      "the withdrawn offer's timer is cancelled",
    );
    assert.equal(offerOf(r.state, "a")?.operatorId, "op2");
    assert.deepEqual(loads(r.state), { op1: 0, op2: 1 });
  });
}

// ---------------------------------------------------------------------------------------------
// Property: random interleavings never break the single-writer invariants

const OPS = Array.from({ length: 20 }, (_, i) => `op${String(i).padStart(2, "0")}`);
const CHATS = Array.from({ length: 200 }, (_, i) => `c${String(i).padStart(3, "0")}`);
const STATUSES: OperatorStatus[] = ["online", "online", "online", "away", "busy", "offline"];

/** One random command: accepts, claims, expiries, status and presence changes, closes, moves. */
function randomCommand(s: QueueState, rnd: () => number, closed: number): QueueCommand {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)];
  const offered = view(s).waiting.filter((w) => w.offer);
  const active = Object.keys(view(s).active);
  const op = pick(OPS);
  const slot = view(s).operators[op];
  const r = rnd();
  if (r < 0.25 && offered.length) {
    const w = pick(offered);
    return { type: "claim", chatId: w.chatId, operatorId: w.offer!.operatorId };
  }
  if (r < 0.4) return { type: "claim", chatId: pick(CHATS), operatorId: op };
  if (r < 0.55 && offered.length) {
    const { chatId, offer } = pick(offered);
    const until = rnd() < 0.8 ? offer!.until : offer!.until - 1; // some stale timers
    return { type: "offer_expired", chatId, operatorId: offer!.operatorId, until };
  }
  if (r < 0.65) return { type: "set_status", operatorId: op, status: pick(STATUSES), by: self(op) };
  // Chats close until 40 are left: first a full house, later spare room for transfers.
  if (r < 0.73 && active.length && closed < 160) {
    return { type: "release", chatId: pick(active), reason: "closed" };
  }
  if (r < 0.8 && active.length) {
    const roomy = OPS.filter((id) => canTakeMore(s, view(s).operators[id]));
    const to = rnd() < 0.3 ? null : roomy.length && rnd() < 0.8 ? pick(roomy) : op;
    return { type: "transfer", chatId: pick(active), to, reason: "r", by: admin };
  }
  if (r < 0.9) {
    if (slot.connected && rnd() < 0.5) return { type: "operator_lost", operatorId: op };
    if (slot.lostAt !== null && rnd() < 0.3) {
      return { type: "grace_expired", operatorId: op, lostAt: slot.lostAt };
    }
    return { type: "operator_online", operatorId: op, role: "operator" };
  }
  return { type: "set_priority", chatId: pick(CHATS), priority: pick([0, 1, 2]), by: admin };
}

/** Runs `steps` random commands through pure decide/evolve, checking after every step. */
function raceRun(seed: number, steps: number): Record<string, number> {
  const rnd = mulberry32(seed);
  let now = T0;
  let s = online(configure(empty(), autoConfig({ defaultCapacity: 3 })).state, OPS);
  s = waiting(s, CHATS);
  const released = new Set<string>();
  const seen: Record<string, number> = {};
  const count = (key: string) => seen[key] = (seen[key] ?? 0) + 1;
  for (let i = 0; i < steps; i++) {
    now += 1 + Math.floor(rnd() * 2_000);
    const cmd = randomCommand(s, rnd, released.size);
    const d = queueEntity.decide(s, cmd, { id: "default", now, nextSeq: i + 1 });
    if (!d.ok) {
      count(`x:${cmd.type}:${d.code}`);
      continue;
    }
    for (const e of d.events) {
      s = queueEntity.evolve(s, e);
      count(e.type);
      if (e.type === "released") released.add(e.chatId);
      if (e.type === "offered") {
        assert.ok(d.effects.some((f) => f.kind === "timer" && f.key === `offer:${e.chatId}`));
      }
    }
    const where = `(seed ${seed}, step ${i}, ${cmd.type})`;
    assertInvariants(s, where);
    const placed = view(s).waiting.length + Object.keys(view(s).active).length + released.size;
    assert.equal(placed, CHATS.length, `every chat in exactly one place ${where}`);
    // Work-conserving: an unoffered chat waits only when no operator could take it.
    if (view(s).waiting.some((w) => !w.offer)) {
      const roomy = Object.values(view(s).operators).filter((o) => o.role === "operator");
      assert.ok(!roomy.some((o) => canTakeMore(s, o)), `unoffered chat, free operator ${where}`);
    }
  }
  return seen;
}

Deno.test("race: 200 chats, 20 operators of capacity 3, random interleavings keep the invariants", () => {
  for (const seed of [1, 42, 20260101]) {
    const seen = raceRun(seed, 3_000);
    for (const type of ["claimed", "offered", "offer_expired", "requeued", "status_changed"]) {
      assert.ok((seen[type] ?? 0) > 50, `seed ${seed} exercised ${type}: ${seen[type]}`);
    }
    for (const type of ["transferred", "operator_expired", "x:claim:at_capacity"]) {
      assert.ok((seen[type] ?? 0) > 5, `seed ${seed} exercised ${type}: ${seen[type]}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// Audit records

Deno.test("audit: routing events write records by chat and by operator; enqueued writes none", () => {
  const chat = ["audit", "chat", "a"];
  const op = (id: string) => ["audit", "op", id];
  let s = online(empty(), ["op1", "op2"]);
  const enqueueA: QueueCommand = {
    type: "enqueue",
    chatId: "a",
    clientId: "c",
    priority: 0,
    enqueuedAt: T0,
  };
  assert.deepEqual(auditKeys(s, enqueueA), [["enqueued", []]]);
  s = apply(s, enqueueA);
  const steps: Array<[QueueCommand, Array<[string, unknown[]]>]> = [
    [{ type: "configure", config: autoConfig() }, [
      ["configured", []],
      ["offered", [chat, op("op1")]],
    ]],
    [{ type: "claim", chatId: "a", operatorId: "op1" }, [["claimed", [chat, op("op1")]]]],
    [{ type: "transfer", chatId: "a", to: "op2", reason: "r", by: admin }, [
      ["transferred", [chat, op("op1"), op("op2")]],
    ]],
    [{ type: "transfer", chatId: "a", to: null, reason: "r", by: admin }, [
      ["requeued", [chat, op("op2")]],
      ["offered", [chat, op("op1")]],
    ]],
    [{ type: "set_status", operatorId: "op2", status: "away", by: self("op2") }, [
      ["status_changed", [op("op2")]],
    ]],
    [{ type: "set_priority", chatId: "a", priority: 3, by: admin }, [
      ["priority_changed", [chat]],
    ]],
    [{ type: "operator_lost", operatorId: "op1" }, [["operator_lost", [op("op1")]]]],
    [{ type: "grace_expired", operatorId: "op1", lostAt: T0 }, [
      ["operator_expired", [op("op1")]],
      ["offer_expired", [chat, op("op1")]],
    ]],
  ];
  for (const [cmd, expected] of steps) {
    assert.deepEqual(auditKeys(s, cmd), expected, cmd.type);
    s = apply(s, cmd);
  }
});

// ---------------------------------------------------------------------------------------------
// Recovery

Deno.test("recovery: re-arms offer and grace timers, marks connected operators lost, re-sends after a crash", () => {
  let s = online(waiting(empty(), ["a", "b", "c"]), ["op1", "op2", "op3"]);
  s = claim(claim(s, "a", "op1").state, "b", "op2").state;
  s = send(s, { type: "transfer", chatId: "b", to: null, reason: "r", by: self("op2") }).state;
  s = send(s, { type: "operator_lost", operatorId: "op3" }, T0 + 1_000).state;
  s = configure(s, autoConfig(), T0 + 2_000).state;
  // b (requeued, op2 declined it) goes to op1; c to the least loaded, op2.
  assert.deepEqual([offerOf(s, "b")?.operatorId, offerOf(s, "c")?.operatorId], ["op1", "op2"]);
  const now = T0 + 5_000;
  const until = T0 + 32_000;
  const lostTell = (operatorId: string) => ({
    kind: "tell",
    to: { type: "queue", id: "default" },
    command: { type: "operator_lost", operatorId },
  });
  const clean = [
    offerTimer("b", "op1", until, now),
    offerTimer("c", "op2", until, now),
    lostTell("op1"),
    lostTell("op2"),
    {
      kind: "timer",
      key: "grace:op3",
      delayMs: 26_000,
      command: { type: "grace_expired", operatorId: "op3", lostAt: T0 + 1_000 },
    },
  ];
  const ctx = { id: "default", now, nextSeq: 20, cleanStop: true };
  assert.deepEqual(queueEntity.onRecover!(s, ctx), clean);
  assert.deepEqual(queueEntity.onRecover!(s, { ...ctx, cleanStop: false }), [
    ...clean,
    // Each with its decision: a's claim (seq 7, after 3 enqueues, 3 connects) and b's return (9).
    assignTell("a", "op1", "reconcile", 7),
    requeueTell("b", "op2", "reconcile", QUEUE_CALLER, 9),
  ]);
  assert.deepEqual(queueEntity.onRecover!(empty(), { ...ctx, cleanStop: false }), []);
  assert.deepEqual(ids(s), ["b", "c"]);
});

// ---------------------------------------------------------------------------------------------
// With the test kit: timers on the ManualClock, records in KV

Deno.test("kit: a reconnect within the grace period changes nothing when the grace passes", async () => {
  const { kit } = await queueKit();
  for (const cmd of [up("op1"), enq("a"), take("a", "op1")]) await kit.run(cmd);
  assert.deepEqual((await kit.run({ type: "operator_lost", operatorId: "op1" })).reply, {
    lostAt: T0,
  });
  await kit.clock.advance(10_000);
  const back = await kit.run(up("op1"));
  assert.deepEqual(back.events.map((e) => e.type), ["operator_connected"]);
  const before = kit.state();
  assert.equal(view(before).operators.op1.lostAt, null);
  await kit.clock.advance(60_000);
  assert.deepEqual(await kit.settled(), before);
  assert.equal(kit.system.pendingTimers, 0, "the grace timer was cancelled");
  await kit.close();
});

Deno.test("kit: without a reconnect the operator goes offline after graceMs and chats go to the front", async () => {
  const { kit, told } = await queueKit();
  for (const cmd of [up("op1"), up("op2"), enq("a", T0), enq("b", T0 + 1)]) await kit.run(cmd);
  await kit.clock.advance(5_000);
  await kit.run(take("a", "op1"));
  await kit.run({ type: "operator_lost", operatorId: "op1" });
  await kit.clock.advance(29_999);
  assert.equal(
    view(await kit.settled()).active.a?.operatorId,
    "op1",
    "still within the grace period",
  );
  await kit.clock.advance(1);
  // The grace timer's command goes through the mailbox and a KV commit: a read behind it sees it.
  const s = (await kit.run({ type: "snapshot" })).state;
  assert.deepEqual([view(s).operators.op1.status, view(s).operators.op1.lostAt], ["offline", null]);
  assert.deepEqual(ids(s), ["a", "b"]);
  assert.deepEqual([view(s).waiting[0].enqueuedAt, view(s).waiting[0].requeued], [T0, true]);
  const reason = "requeued: operator offline after 30 s grace";
  assert.deepEqual(told("requeue"), [{
    id: "a",
    // Seq 8: 2 connects, 2 enqueues, the claim, the loss, the expiry, then this requeue.
    command: {
      type: "requeue",
      by: QUEUE_CALLER,
      from: "op1",
      reason,
      actor: QUEUE_CALLER,
      decision: 8,
    },
  }]);
  const chat = await listValues<AuditRecord>(kit.kv, ["audit", "chat", "a"]);
  const requeued = chat.find((r) => r.action === "requeued");
  assert.ok(
    requeued?.reason.includes("operator offline after 30 s grace"),
    requeued?.reason ?? "no requeued record",
  );
  const op = await listValues<AuditRecord>(kit.kv, ["audit", "op", "op1"]);
  assert.deepEqual(op.map((r) => r.action), [
    "assigned",
    "presence_lost",
    "presence_expired",
    "requeued",
  ]);
  assert.equal(op[2].reason, "offline after 30 s grace");
  await kit.close();
});

Deno.test("kit: an unaccepted offer expires after acceptTimeoutMs and goes to the next operator", async () => {
  const { kit, told } = await queueKit();
  await kit.run({ type: "configure", config: autoConfig({ acceptTimeoutMs: 20_000 }) });
  for (const cmd of [up("op1"), up("op2"), enq("a")]) await kit.run(cmd);
  assert.deepEqual(offerOf(kit.state(), "a"), { operatorId: "op1", until: T0 + 20_000 });
  await kit.clock.advance(19_999);
  assert.equal(offerOf(await kit.settled(), "a")?.operatorId, "op1");
  await kit.clock.advance(1);
  const expired = await kit.settled();
  assert.deepEqual(offerOf(expired, "a"), { operatorId: "op2", until: T0 + 40_000 });
  assert.deepEqual(loads(expired), { op1: 0, op2: 1 });
  await kit.clock.advance(5_000);
  const r = await kit.run(take("a", "op2"));
  assert.deepEqual(r.events.map((e) => e.type), ["claimed"]);
  assert.deepEqual(loads(r.state), { op1: 0, op2: 1 });
  assert.equal(kit.system.pendingTimers, 0, "the offer timer was cancelled");
  await kit.clock.advance(60_000);
  assert.equal(view(await kit.settled()).active.a.operatorId, "op2");
  assert.deepEqual(told("assign").map((m) => m.command.reason), ["auto"]);
  await kit.close();
});

Deno.test("kit: a claim stores its audit record by chat and by operator in the same commit", async () => {
  const { kit } = await queueKit();
  for (const cmd of [up("op1"), enq("a")]) await kit.run(cmd);
  assert.deepEqual(await listValues(kit.kv, ["audit"]), [], "enqueue writes no record");
  await kit.clock.advance(3_000);
  await kit.run(take("a", "op1"));
  const byChat = await listValues<AuditRecord>(kit.kv, ["audit", "chat", "a"]);
  assert.deepEqual(byChat, [{
    at: T0 + 3_000,
    source: "queue/default#3",
    action: "assigned",
    actor: { id: "op1", role: "operator" },
    chat_id: "a",
    operator_ids: ["op1"],
    reason: "accepted after waiting 3 s",
  }]);
  assert.deepEqual(await listValues(kit.kv, ["audit", "op", "op1"]), byChat);
  await kit.close();
});

Deno.test("kit: after a clean restart offers and grace periods run on; connected operators are lost", async () => {
  const { kit, told } = await queueKit();
  await kit.run({ type: "configure", config: autoConfig() });
  for (const cmd of [up("op1"), up("op2"), enq("a")]) await kit.run(cmd);
  await kit.run({ type: "operator_lost", operatorId: "op2" });
  await kit.clock.advance(10_000);
  await kit.system.shutdown();
  kit.restart();
  await kit.run({ type: "snapshot" });
  await kit.clock.advance(0);
  assert.equal(
    view(await kit.settled()).operators.op1.lostAt,
    T0 + 10_000,
    "op1 lost its socket in the restart",
  );
  await kit.clock.advance(20_000);
  // The timers' commands go through the mailbox and a KV commit: a read behind them sees them.
  let s = (await kit.run({ type: "snapshot" })).state;
  assert.deepEqual([view(s).waiting[0].offer, view(s).waiting[0].declined], [null, ["op1"]]);
  assert.equal(view(s).operators.op2.status, "offline");
  assert.equal(view(s).operators.op1.status, "online");
  await kit.clock.advance(10_000);
  s = (await kit.run({ type: "snapshot" })).state;
  assert.equal(view(s).operators.op1.status, "offline");
  assert.deepEqual([told("assign"), told("requeue")], [[], []], "a clean stop re-sends nothing");
  await kit.close();
});

Deno.test("kit: after a crash the queue re-sends assignments and requeues to the sessions", async () => {
  const { kit, session, told } = await queueKit();
  for (
    const cmd of [up("op1"), up("op2"), enq("a"), enq("b"), take("a", "op1"), take("b", "op2")]
  ) {
    await kit.run(cmd);
  }
  await kit.run({ type: "transfer", chatId: "b", to: null, reason: "r", by: self("op2") });
  await kit.clock.advance(0);
  session.seen.length = 0;
  kit.restart();
  await kit.run({ type: "snapshot" });
  await kit.clock.advance(0);
  await Promise.all(["a", "b"].map((id) => kit.system.settled("session", id)));
  // Different sessions are different actors: their relative order is not defined.
  const seen = [...session.seen].sort((x, y) => x.id.localeCompare(y.id));
  assert.deepEqual(seen, [
    // With their stored decisions: a's claim (seq 5) and b's return (seq 7).
    { id: "a", command: assignTell("a", "op1", "reconcile", 5).command },
    { id: "b", command: requeueTell("b", "op2", "reconcile", QUEUE_CALLER, 7).command },
  ]);
  assert.equal(told("assign").length, 1);
  const s = await kit.settled();
  assert.deepEqual([view(s).operators.op1.connected, view(s).operators.op2.connected], [
    false,
    false,
  ]);
  await kit.close();
});

// ---------------------------------------------------------------------------------------------
// Cluster presence audit

Deno.test("audit_presence: every connected operator starts a grace period; lost ones stay as they are", () => {
  let s = online(empty(), ["op1", "op2", "op3"]);
  s = send(s, { type: "operator_lost", operatorId: "op3" }, T0 + 1_000).state;
  const r = send(s, { type: "audit_presence" }, T0 + 2_000);
  assert.deepEqual(r.reply, { lost: 2 });
  assert.deepEqual(r.events, [
    { type: "operator_lost", operatorId: "op1", at: T0 + 2_000 },
    { type: "operator_lost", operatorId: "op2", at: T0 + 2_000 },
  ]);
  assert.deepEqual(r.effects.map((e) => e.kind === "timer" ? e.key : e.kind), [
    "grace:op1",
    "grace:op2",
  ]);
  assert.equal(
    view(r.state).operators.op3.lostAt,
    T0 + 1_000,
    "op3's grace period keeps its start",
  );
  // A node that holds op1's socket answers; op1 is back, op2 is still in grace.
  const back = send(r.state, { type: "operator_online", operatorId: "op1", role: "operator" });
  assert.equal(view(back.state).operators.op1.connected, true);
  assert.equal(view(back.state).operators.op2.connected, false);
});
