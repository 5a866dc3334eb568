/**
 * The indexed queue against a plain reference model (tests/actors/_queue_model.ts) over random
 * command sequences (fast-check, seeded): after every step the same waiting order, owners,
 * roster and statistics, the same positions, pages and per-operator lists, and the same choice of
 * operator for every unoffered chat as a scan of the whole roster gives.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  activeChatsOf,
  offersOf,
  type OperatorStatus,
  type QueueCommand,
  queueEntity,
  queuePosition,
  type QueueState,
  toSnapshot,
  waitingPage,
} from "../../actors/mod.ts";
import { pickOperator } from "../../actors/_queue_routing.ts";
import { emptyModel, type Model, modelEvolve, modelPick } from "./_queue_model.ts";
import { admin, assertIndexes, T0 } from "./_queue_helpers.ts";

const CHATS = Array.from({ length: 12 }, (_, i) => `c${i}`);
const OPS = ["o0", "o1", "o2", "o3", "o4", "adm", "law"];
const STATUSES: OperatorStatus[] = ["online", "away", "busy", "offline"];

type Step = [kind: number, a: number, b: number, c: number];

/** A command from four random numbers, made mostly valid by looking at the model. */
function command([kind, a, b, c]: Step, m: Model): QueueCommand {
  const chat = CHATS[a % CHATS.length];
  const op = OPS[b % OPS.length];
  // Claims and transfers mostly name a waiting (or taken) chat and a present operator.
  const present = Object.keys(m.operators)
    .filter((id) => m.operators[id].connected && m.operators[id].status === "online");
  const someOp = c % 4 !== 0 && present.length ? present[b % present.length] : op;
  const taken = Object.keys(m.active);
  const someWaiting = c % 5 !== 0 && m.waiting.length
    ? m.waiting[a % m.waiting.length].chatId
    : chat;
  const someTaken = c % 5 !== 0 && taken.length ? taken[a % taken.length] : chat;
  switch (kind) {
    case 0:
      return {
        type: "enqueue",
        chatId: chat,
        clientId: `client-${chat}`,
        priority: c % 3,
        enqueuedAt: T0 + (b % 5),
      };
    case 1:
    case 2:
      return { type: "claim", chatId: someWaiting, operatorId: someOp };
    case 3:
      return { type: "release", chatId: c % 2 ? someTaken : someWaiting, reason: "closed" };
    case 4: {
      const offered = m.waiting.filter((w) => w.offer);
      const w = offered[a % Math.max(1, offered.length)];
      if (!w) return { type: "stats" };
      return {
        type: "offer_expired",
        chatId: w.chatId,
        operatorId: w.offer!.operatorId,
        until: w.offer!.until,
      };
    }
    case 5: {
      const others = present.filter((id) => id !== m.active[someTaken]?.operatorId);
      const to = c % 3 === 0 ? null : others.length ? others[b % others.length] : op;
      return { type: "transfer", chatId: someTaken, to, reason: "r", by: admin };
    }
    case 6:
      return { type: "set_status", operatorId: op, status: STATUSES[c % 4], by: admin };
    case 7:
      return {
        type: "set_capacity",
        operatorId: op,
        capacity: c % 5 === 4 ? null : c % 4,
        by: admin,
      };
    case 8:
      return { type: "set_priority", chatId: chat, priority: c % 3, by: admin };
    case 9:
      return {
        type: "operator_online",
        operatorId: op,
        role: op === "adm" ? "admin" : op === "law" ? "lawyer" : "operator",
      };
    case 10:
      return { type: "operator_lost", operatorId: op };
    case 11: {
      const lostAt = m.operators[op]?.lostAt;
      return lostAt == null
        ? { type: "audit_presence" }
        : { type: "grace_expired", operatorId: op, lostAt };
    }
    default:
      return {
        type: "configure",
        config: {
          mode: c % 2 === 0 ? "auto" : "manual",
          acceptTimeoutMs: 30_000,
          defaultCapacity: 1 + (a % 3),
          graceMs: 30_000,
        },
      };
  }
}

function assertSame(s: QueueState, m: Model, where: string): void {
  assertIndexes(s, where);
  const v = toSnapshot(s);
  assert.deepEqual(v.waiting, m.waiting, `waiting ${where}`);
  assert.deepEqual(Object.entries(v.active), Object.entries(m.active), `active ${where}`);
  const sorted = (r: Record<string, unknown>) =>
    Object.entries(r).sort(([x], [y]) => (x < y ? -1 : 1));
  assert.deepEqual(sorted(v.operators), sorted(m.operators), `operators ${where}`);
  assert.deepEqual(
    [v.servedCount, v.waitSumMs, v.recentWaits, v.recentClaims, v.config],
    [m.servedCount, m.waitSumMs, m.recentWaits, m.recentClaims, m.config],
    `figures ${where}`,
  );
  for (const id of CHATS) {
    const i = m.waiting.findIndex((w) => w.chatId === id);
    assert.equal(queuePosition(s, id), i + 1, `position of ${id} ${where}`);
  }
  for (let from = 0; from <= m.waiting.length; from += 3) {
    assert.deepEqual(
      waitingPage(s, from, 3).map((w) => w.chatId),
      m.waiting.slice(from, from + 3).map((w) => w.chatId),
      `page at ${from} ${where}`,
    );
  }
  for (const op of OPS) {
    const held = Object.keys(m.active).filter((id) => m.active[id].operatorId === op);
    assert.deepEqual(activeChatsOf(s, op), held, `chats of ${op} ${where}`);
    const offered = m.waiting.filter((w) => w.offer?.operatorId === op).map((w) => w.chatId);
    assert.deepEqual(offersOf(s, op), offered, `offers to ${op} ${where}`);
  }
  for (const w of m.waiting) {
    if (w.offer) continue;
    assert.equal(pickOperator(s, w), modelPick(m, w), `operator for ${w.chatId} ${where}`);
  }
}

const steps = fc.array(
  fc.tuple(fc.nat(12), fc.nat(1000), fc.nat(1000), fc.nat(1000)),
  { minLength: 20, maxLength: 150, size: "max" },
);

Deno.test("queue model: random command sequences give the same state as the plain model (seeded)", () => {
  const seen: Record<string, number> = {};
  fc.assert(
    fc.property(steps, (run: Step[]) => {
      let s = queueEntity.initialState("default");
      let m = emptyModel();
      let now = T0;
      run.forEach((step, i) => {
        now += 1 + (step[3] % 3) * 700;
        const cmd = command(step, m);
        const d = queueEntity.decide(s, cmd, { id: "default", now, nextSeq: i + 1 });
        if (!d.ok) return;
        for (const e of d.events) {
          s = queueEntity.evolve(s, e);
          m = modelEvolve(m, e);
          seen[e.type] = (seen[e.type] ?? 0) + 1;
        }
        assertSame(s, m, `(step ${i}, ${cmd.type})`);
      });
      // And through the snapshot codec: JSON out and back gives the same queue.
      const stored = JSON.parse(JSON.stringify(queueEntity.toSnapshot!(s)));
      const back = queueEntity.fromSnapshot!(stored, "default");
      assertSame(back, m, "(after a snapshot round trip)");
    }),
    { seed: 1301, numRuns: 250 },
  );
  for (const type of ["claimed", "offered", "offer_expired", "requeued", "released", "enqueued"]) {
    assert.ok((seen[type] ?? 0) > 100, `exercised ${type}: ${seen[type]}`);
  }
  for (const type of ["transferred", "priority_changed", "operator_expired", "configured"]) {
    assert.ok((seen[type] ?? 0) > 20, `exercised ${type}: ${seen[type]}`);
  }
});

Deno.test("queue model: a snapshot in the stored shape of earlier versions still loads", () => {
  // The shape JSON.stringify(state) gave before the state was indexed: plain arrays and records.
  const stored = {
    name: "default",
    config: { mode: "manual", acceptTimeoutMs: 30000, defaultCapacity: 5, graceMs: 30000 },
    waiting: [
      {
        chatId: "urgent",
        clientId: "u",
        priority: 2,
        enqueuedAt: T0 + 9,
        requeued: false,
        offer: null,
        declined: [],
      },
      {
        chatId: "back",
        clientId: "b",
        priority: 0,
        enqueuedAt: T0 + 5,
        requeued: true,
        offer: null,
        declined: ["op1"],
      },
      // Same key as the next one: the stored order decides.
      {
        chatId: "x",
        clientId: "x",
        priority: 0,
        enqueuedAt: T0,
        requeued: false,
        offer: null,
        declined: [],
      },
      {
        chatId: "y",
        clientId: "y",
        priority: 0,
        enqueuedAt: T0,
        requeued: false,
        offer: null,
        declined: [],
      },
    ],
    active: {
      a: { operatorId: "op1", clientId: "ca", assignedAt: T0, enqueuedAt: T0, priority: 0 },
    },
    operators: {
      op1: {
        role: "operator",
        status: "online",
        capacity: null,
        connected: true,
        lostAt: null,
        load: 1,
        idleSince: T0,
      },
    },
    servedCount: 1,
    waitSumMs: 500,
    recentWaits: [500],
    recentClaims: [T0],
  };
  const s = queueEntity.fromSnapshot!(JSON.parse(JSON.stringify(stored)), "default");
  assertIndexes(s, "(old snapshot)");
  assert.deepEqual(toSnapshot(s), stored);
  assert.equal(queuePosition(s, "y"), 4);
  // An older shape still: no routing config, no roster, no offers or requeues.
  const oldest = queueEntity.fromSnapshot!({
    name: "default",
    waiting: [{ chatId: "w", clientId: "c", priority: 0, enqueuedAt: T0 }],
    active: {},
    servedCount: 3,
    recentWaits: [1, 2, 3],
  }, "default");
  assertIndexes(oldest, "(oldest snapshot)");
  assert.deepEqual(toSnapshot(oldest).waiting[0], {
    chatId: "w",
    clientId: "c",
    priority: 0,
    enqueuedAt: T0,
    requeued: false,
    offer: null,
    declined: [],
  });
  assert.equal(toSnapshot(oldest).config.mode, "manual");
});
