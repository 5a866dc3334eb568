/**
 * Session: what issue 14 adds to a chat — the hourly range counters its events write (wait,
 * first response, resolution, ratings per scope), offline messages, and the lawyer context
 * (why a lawyer chat was opened, which lawyers may read the support chat).
 */
import assert from "node:assert/strict";
import { hourKey, rangeKey, SCOPE_PREFIX } from "../../actors/_stats_range.ts";
import {
  type Caller,
  queueCaller,
  type SessionCommand,
  sessionEntity,
  type SessionEvent,
  type SessionState,
} from "../../actors/mod.ts";
import type { Envelope, KvWrite } from "../../src/runtime/entity.ts";
import { run, T0 } from "./_queue_helpers.ts";

const client: Caller = { id: "c1", role: "client" };
const op: Caller = { id: "op-1", role: "operator" };
const Q = queueCaller("default");
const MIN = 60_000;

/** Runs commands in order, collecting each event's writes as the runtime would. */
function play(
  steps: Array<[SessionCommand, number]>,
  start = sessionEntity.initialState("chat-1"),
) {
  let s: SessionState = start;
  const writes: KvWrite[] = [];
  for (const [cmd, now] of steps) {
    const r = run(sessionEntity, s, cmd, { id: "chat-1", now, nextSeq: s.seq + 1 });
    for (const event of r.events) {
      const before = s;
      s = sessionEntity.evolve(s, event);
      const env: Envelope<SessionEvent> = { seq: s.seq, at: now, event };
      writes.push(...sessionEntity.writes!(before, env, s));
    }
  }
  return { state: s, writes };
}

/** The sum written to one range counter. */
function total(writes: KvWrite[], key: Deno.KvKey): number {
  const k = JSON.stringify(key);
  return writes.filter((w) => w.op === "sum" && JSON.stringify(w.key) === k)
    .reduce((n, w) => n + Number((w as { n: bigint }).n), 0);
}

const create = (extra: Partial<Extract<SessionCommand, { type: "create" }>> = {}) =>
  ({
    type: "create",
    by: client,
    clientId: "c1",
    kind: "support",
    queue: "default",
    priority: 0,
    ...extra,
  }) as SessionCommand;

Deno.test("session range counters: wait, first response, resolution and rating land in their hour and scopes", () => {
  const t1 = T0 + 2 * MIN; // assigned
  const t2 = T0 + 5 * MIN; // first answer
  const t3 = T0 + 70 * MIN; // closed, the next hour
  const { writes } = play([
    [create(), T0],
    [{ type: "assign", by: Q, operatorId: "op-1", reason: "accepted" }, t1],
    [{ type: "message", by: client, text: "hello?" }, t1 + 1000],
    [{ type: "message", by: op, text: "Hi!" }, t2],
    [{ type: "message", by: op, text: "anything else?" }, t2 + 1000],
    [{ type: "close", by: op }, t3],
    [{ type: "rate", by: client, score: 4 }, t3 + MIN],
  ]);
  const h0 = hourKey(T0), h1 = hourKey(t3);
  for (const scope of ["all", "queue:default"]) {
    assert.equal(total(writes, rangeKey(scope, h0, "created")), 1, scope);
  }
  assert.equal(total(writes, rangeKey("op:op-1", h0, "created")), 0);
  for (const scope of ["all", "queue:default", "op:op-1"]) {
    assert.equal(total(writes, rangeKey(scope, h0, "served")), 1, scope);
    assert.equal(total(writes, rangeKey(scope, h0, "wait_ms")), 2 * MIN, scope);
    // One first response, counted from the chat's start (not from the assignment).
    assert.equal(total(writes, rangeKey(scope, h0, "frt_n")), 1, scope);
    assert.equal(total(writes, rangeKey(scope, h0, "frt_ms")), 5 * MIN, scope);
    assert.equal(total(writes, rangeKey(scope, h1, "closed")), 1, scope);
    assert.equal(total(writes, rangeKey(scope, h1, "res_n")), 1, scope);
    assert.equal(total(writes, rangeKey(scope, h1, "res_ms")), 70 * MIN, scope);
    assert.equal(total(writes, rangeKey(scope, h1, "rated")), 1, scope);
    assert.equal(total(writes, rangeKey(scope, h1, "rating_sum")), 4, scope);
    assert.equal(total(writes, rangeKey(scope, h1, "r4")), 1, scope);
  }
  // Every scope is listed once for readers (a `max`, merged per batch).
  const scopes = writes.filter((w) => w.op === "max" && w.key[1] === SCOPE_PREFIX[1])
    .map((w) => w.key[2]);
  assert.deepEqual([...new Set(scopes)].sort(), ["all", "op:op-1", "queue:default"]);
});

Deno.test("session range counters: a chat closed while waiting is closed but not resolved; lawyer chats count nowhere", () => {
  const abandoned = play([[create(), T0], [{ type: "close", by: client }, T0 + MIN]]).writes;
  assert.equal(total(abandoned, rangeKey("all", hourKey(T0), "closed")), 1);
  assert.equal(total(abandoned, rangeKey("all", hourKey(T0), "res_n")), 0);
  const lawyer = play([
    [
      create({
        by: op,
        kind: "lawyer",
        lawyerId: "law-1",
        linkedChatId: "chat-0",
        reason: "Contract review",
      }),
      T0,
    ],
    [{ type: "message", by: { id: "law-1", role: "lawyer" }, text: "Hello" }, T0 + MIN],
  ]);
  assert.deepEqual(lawyer.writes.filter((w) => w.key[1] === "h"), []);
});

Deno.test("session: an offline message is marked on its creation and its view", () => {
  const { state } = play([[create({ offline: true }), T0]]);
  const created = run(sessionEntity, sessionEntity.initialState("x"), create({ offline: true }), {
    id: "x",
    now: T0,
    nextSeq: 1,
  }).events[0];
  assert.equal((created as { offline?: boolean }).offline, true);
  assert.equal(state.offline, true);
  assert.equal(state.status, "queued");
});

Deno.test("session: the lawyer context — the reason on both chats, and the lawyers a support chat knows", () => {
  const lawyerChat = play([[
    create({ by: op, kind: "lawyer", lawyerId: "law-1", linkedChatId: "s-1", reason: "Claim" }),
    T0,
  ]]);
  const created = run(
    sessionEntity,
    sessionEntity.initialState("l"),
    create({
      by: op,
      kind: "lawyer",
      lawyerId: "law-1",
      linkedChatId: "s-1",
      reason: "Claim",
    }),
    { id: "l", now: T0, nextSeq: 1 },
  ).events[0] as Extract<SessionEvent, { type: "created" }>;
  assert.deepEqual([created.reason, created.byId, created.linkedChatId], ["Claim", "op-1", "s-1"]);
  assert.equal(lawyerChat.state.operatorId, "law-1");

  const support = play([
    [create(), T0],
    [{ type: "assign", by: Q, operatorId: "op-1", reason: "accepted" }, T0],
    [{ type: "link_lawyer", by: op, lawyerId: "law-1", lawyerChatId: "l-1", reason: "Claim" }, T0],
  ]);
  assert.deepEqual(support.state.lawyers, { "law-1": "l-1" });
  const linked = run(sessionEntity, support.state, {
    type: "link_lawyer",
    by: op,
    lawyerId: "law-2",
    lawyerChatId: "l-2",
  }, { id: "chat-1", now: T0, nextSeq: support.state.seq + 1 });
  assert.deepEqual(linked.state.lawyers, { "law-1": "l-1", "law-2": "l-2" });
  assert.equal((linked.events[0] as { reason?: string }).reason, undefined);
});
