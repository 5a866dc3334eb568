import assert from "node:assert/strict";
import { BLOCK, recentList } from "../../actors/_recent.ts";
import { lastReadOf } from "../../actors/_session_view.ts";
import type { Effect } from "../../src/runtime/entity.ts";
import type { ErrorCode } from "../../src/errors.ts";
import { ActorTestKit } from "../../src/runtime/testkit.ts";
import {
  counter,
  deepFreeze,
  listValues,
  probe,
  type Ran,
  rejectedBy,
  run as decideFold,
  T0,
} from "./_queue_helpers.ts";
import {
  type Caller,
  isParticipant,
  queueCaller,
  RECENT_MESSAGES_LIMIT,
  type SessionCommand,
  sessionEntity,
  type SessionEvent,
  type SessionReplies,
  type SessionState,
} from "../../actors/mod.ts";

// ---------------------------------------------------------------------------------------------
// Local kit (see _queue_helpers.ts): decide, then fold evolve over the events. Inputs are
// deep-frozen, so any mutation inside decide or evolve throws.

const run = (
  e: typeof sessionEntity,
  s: SessionState,
  cmd: SessionCommand,
  now: number,
  nextSeq: number,
) => decideFold(e, s, cmd, { id: "chat-1", now, nextSeq });

type Cmd<K extends SessionCommand["type"]> = Extract<SessionCommand, { type: K }>;

/** One command against a session; the runtime numbers the next event `state.seq + 1`. */
function send<K extends SessionCommand["type"]>(
  state: SessionState,
  cmd: Cmd<K>,
  now = T0,
): Ran<SessionState, SessionEvent, SessionReplies[K]> {
  return run(sessionEntity, state, cmd, now, state.seq + 1) as Ran<
    SessionState,
    SessionEvent,
    SessionReplies[K]
  >;
}

const rejected = (state: SessionState, cmd: SessionCommand, now = T0): ErrorCode =>
  rejectedBy(sessionEntity, state, cmd, { id: state.id, now, nextSeq: state.seq + 1 });

const client: Caller = { id: "c1", role: "client" };
const otherClient: Caller = { id: "c2", role: "client" };
const op: Caller = { id: "op1", role: "operator" };
const op2: Caller = { id: "op2", role: "operator" };
const lawyer: Caller = { id: "law1", role: "lawyer" };
const admin: Caller = { id: "adm", role: "admin" };
const queueActor: Caller = { id: "queue:default", role: "admin" };

const empty = () => sessionEntity.initialState("chat-1");
const createCmd: Cmd<"create"> = {
  type: "create",
  by: client,
  clientId: "c1",
  kind: "support",
  queue: "default",
  priority: 0,
};
const queued = () => send(empty(), createCmd, T0).state;
const assigned = () =>
  send(queued(), { type: "assign", by: queueActor, operatorId: "op1", reason: "accepted" }, T0 + 10)
    .state;
const closed = () => send(assigned(), { type: "close", by: client }, T0 + 20).state;
/** A message, answered with a seq (not with a `lookup` of the stored index). */
function say(s: SessionState, by: Caller, text: string, clientMsgId?: string, now = T0 + 100) {
  const r = send(s, { type: "message", by, text, ...(clientMsgId ? { clientMsgId } : {}) }, now);
  if ("lookup" in r.reply) throw new Error("the session asked for a lookup");
  return { ...r, reply: r.reply };
}

// ---------------------------------------------------------------------------------------------
// create

Deno.test("session: create of a support chat emits created then queued and asks the queue to enqueue it", () => {
  const r = send(empty(), { ...createCmd, priority: 3 }, T0);
  assert.deepEqual(r.events.map((e) => e.type), ["created", "queued"]);
  assert.equal(r.state.status, "queued");
  assert.equal(r.state.seq, 2);
  assert.equal(r.state.createdAt, T0);
  assert.equal(r.state.queuedAt, T0);
  assert.equal(r.reply.status, "queued");
  assert.equal(r.reply.chatId, "chat-1");
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "queue", id: "default" },
    command: { type: "enqueue", chatId: "chat-1", clientId: "c1", priority: 3, enqueuedAt: T0 },
  }, {
    kind: "tell",
    to: { type: "client", id: "c1" },
    command: { type: "chat_linked", chatId: "chat-1", kind: "support", createdAt: T0 },
  }]);
});

Deno.test("session: create of a lawyer chat starts assigned to the lawyer and tells the lawyer", () => {
  const r = send(empty(), {
    ...createCmd,
    by: op,
    kind: "lawyer",
    lawyerId: "law1",
    linkedChatId: "chat-0",
  });
  assert.deepEqual(r.events.map((e) => e.type), ["created", "assigned"]);
  assert.equal(r.state.status, "assigned");
  assert.equal(r.state.operatorId, "law1");
  assert.equal(r.state.linkedChatId, "chat-0");
  assert.equal(r.reply.linkedChatId, "chat-0");
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "operator", id: "law1" },
    command: { type: "chat_opened", chatId: "chat-1" },
  }, {
    kind: "tell",
    to: { type: "client", id: "c1" },
    command: {
      type: "chat_linked",
      chatId: "chat-1",
      kind: "lawyer",
      createdAt: T0,
      lawyerId: "law1",
      linkedChatId: "chat-0",
    },
  }]);
  assert.ok(isParticipant(r.state, lawyer));
});

Deno.test("session: a lawyer chat without lawyerId is rejected as invalid_payload", () => {
  assert.equal(rejected(empty(), { ...createCmd, by: op, kind: "lawyer" }), "invalid_payload");
});

Deno.test("session: a client may create only its own support chat", () => {
  assert.equal(rejected(empty(), { ...createCmd, by: otherClient }), "forbidden");
  assert.equal(
    rejected(empty(), { ...createCmd, kind: "lawyer", lawyerId: "law1" }),
    "forbidden",
  );
});

Deno.test("session: create again for the same client is accepted with no events; another client gets invalid_state", () => {
  const s = queued();
  const again = send(s, createCmd);
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.effects, []);
  assert.equal(again.reply.seq, 2);
  assert.equal(rejected(s, { ...createCmd, by: otherClient, clientId: "c2" }), "invalid_state");
});

Deno.test("session: every command but create on a missing chat is rejected as not_found", () => {
  const s = empty();
  const cmds: SessionCommand[] = [
    { type: "assign", by: queueActor, operatorId: "op1", reason: "accepted" },
    { type: "message", by: client, text: "hi" },
    { type: "typing", by: client, isTyping: true },
    { type: "read", by: client, seq: 0 },
    { type: "close", by: client },
    { type: "rate", by: client, score: 5 },
    { type: "get", by: admin },
  ];
  for (const cmd of cmds) assert.equal(rejected(s, cmd), "not_found", cmd.type);
});

// ---------------------------------------------------------------------------------------------
// assign

Deno.test("session: assign of a queued chat records the owner and tells the operator", () => {
  const r = send(queued(), {
    type: "assign",
    by: queueActor,
    operatorId: "op1",
    reason: "accepted",
  }, T0 + 10);
  assert.deepEqual(r.events, [{
    type: "assigned",
    operatorId: "op1",
    reason: "accepted",
    at: T0 + 10,
  }]);
  assert.deepEqual(r.reply, { status: "assigned", operatorId: "op1" });
  assert.equal(r.state.status, "assigned");
  assert.equal(r.state.assignedAt, T0 + 10);
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "operator", id: "op1" },
    command: { type: "chat_opened", chatId: "chat-1" },
  }]);
});

Deno.test("session: a re-sent assign to the same operator stores nothing and re-delivers chat_opened", () => {
  const r = send(assigned(), {
    type: "assign",
    by: queueActor,
    operatorId: "op1",
    reason: "reconcile",
  });
  assert.deepEqual(r.events, []);
  assert.deepEqual(r.reply, { status: "assigned", operatorId: "op1" });
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "operator", id: "op1" },
    command: { type: "chat_opened", chatId: "chat-1" },
  }]);
});

Deno.test("session: assign to another operator than the owner is rejected as already_assigned", () => {
  const cmd: SessionCommand = {
    type: "assign",
    by: queueActor,
    operatorId: "op2",
    reason: "accepted",
  };
  assert.equal(rejected(assigned(), cmd), "already_assigned");
});

Deno.test("session: assign of a closed chat stores nothing, replies closed and tells the queue to release", () => {
  const r = send(closed(), {
    type: "assign",
    by: queueActor,
    operatorId: "op1",
    reason: "reconcile",
  });
  assert.deepEqual(r.events, []);
  assert.deepEqual(r.reply, { status: "closed" });
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "queue", id: "default" },
    command: { type: "release", chatId: "chat-1", reason: "closed" },
  }]);
});

Deno.test("session: assign from anyone but the chat's own queue is forbidden", () => {
  for (const by of [op, admin, client, { id: "queue:other", role: "admin" } as const]) {
    const cmd: SessionCommand = { type: "assign", by, operatorId: "op1", reason: "accepted" };
    assert.equal(rejected(queued(), cmd), "forbidden", by.id);
  }
  assert.deepEqual(queueCaller("default"), queueActor);
});

// ---------------------------------------------------------------------------------------------
// transfer, requeue and lawyers

const transferCmd = (to: string, actor: Caller = op): Cmd<"transfer"> => ({
  type: "transfer",
  by: queueActor,
  from: "op1",
  to,
  reason: "billing",
  actor,
});
const requeueCmd: Cmd<"requeue"> = {
  type: "requeue",
  by: queueActor,
  from: "op1",
  reason: "requeued: operator went offline",
  actor: op,
};
/** The `transferred` event of {@link requeueCmd} applied to a chat of op1. */
const returned = (at: number): SessionEvent => ({
  type: "transferred",
  from: "op1",
  to: null,
  reason: "requeued: operator went offline",
  byId: "op1",
  byRole: "operator",
  at,
});
const opened = (operatorId: string): Effect => ({
  kind: "tell",
  to: { type: "operator", id: operatorId },
  command: { type: "chat_opened", chatId: "chat-1" },
});
const closedAt = (operatorId: string): Effect => ({
  kind: "tell",
  to: { type: "operator", id: operatorId },
  command: { type: "chat_closed", chatId: "chat-1" },
});
const release: Effect = {
  kind: "tell",
  to: { type: "queue", id: "default" },
  command: { type: "release", chatId: "chat-1", reason: "closed" },
};

Deno.test("session: transfer and requeue are accepted only from the chat's own queue", () => {
  for (const by of [op, op2, admin, client, { id: "queue:other", role: "admin" } as const]) {
    assert.equal(rejected(assigned(), { ...transferCmd("op2"), by }), "forbidden", by.id);
    assert.equal(rejected(assigned(), { ...requeueCmd, by }), "forbidden", by.id);
  }
});

Deno.test("session: transferred moves the owner; the old operator loses write access at once", () => {
  const r = send(assigned(), transferCmd("op2", admin), T0 + 50);
  assert.deepEqual(r.events, [{
    type: "transferred",
    from: "op1",
    to: "op2",
    reason: "billing",
    byId: "adm",
    byRole: "admin",
    at: T0 + 50,
  }]);
  assert.deepEqual(r.reply, { status: "assigned", operatorId: "op2" });
  assert.deepEqual(r.effects, [opened("op2"), closedAt("op1")]);
  assert.deepEqual([r.state.status, r.state.operatorId, r.state.assignedAt], [
    "assigned",
    "op2",
    T0 + 50,
  ]);
  assert.equal(rejected(r.state, { type: "message", by: op, text: "still here?" }), "forbidden");
  assert.equal(say(r.state, op2, "hello, I take over").events.length, 1);
  // Sent again (a retry of the queue's effect): nothing new, chat_opened re-delivered.
  const again = send(r.state, transferCmd("op2", admin));
  assert.deepEqual([again.events, again.effects], [[], [opened("op2")]]);
});

Deno.test("session: requeue sends the chat back to queued with no owner", () => {
  const r = send(assigned(), requeueCmd, T0 + 60);
  assert.deepEqual(r.events, [returned(T0 + 60)]);
  assert.deepEqual(r.reply, { status: "queued" });
  assert.deepEqual(r.effects, [closedAt("op1")]);
  assert.deepEqual([r.state.status, r.state.operatorId, r.state.queuedAt], ["queued", null, T0]);
  assert.equal(rejected(r.state, { type: "message", by: op, text: "x" }), "forbidden");
  assert.equal(say(r.state, client, "hello?").events.length, 1);
  const again = send(r.state, requeueCmd);
  assert.deepEqual([again.events, again.reply, again.effects], [[], { status: "queued" }, []]);
  const next = { type: "assign", by: queueActor, operatorId: "op2", reason: "auto" } as const;
  assert.equal(send(r.state, next).state.operatorId, "op2");
});

Deno.test("session: a closed chat answers transfer and requeue with a release and no event", () => {
  for (const cmd of [transferCmd("op2"), requeueCmd]) {
    const r = send(closed(), cmd);
    assert.deepEqual([r.events, r.reply, r.effects], [[], { status: "closed" }, [release]]);
  }
});

Deno.test("session: a reconcile assign to another operator adopts the queue's owner as a transfer", () => {
  const cmd = { type: "assign", by: queueActor, operatorId: "op2", reason: "reconcile" } as const;
  const r = send(assigned(), cmd, T0 + 70);
  assert.deepEqual(r.events, [{
    type: "transferred",
    from: "op1",
    to: "op2",
    reason: "reconcile",
    byId: "queue:default",
    byRole: "admin",
    at: T0 + 70,
  }]);
  assert.deepEqual(r.reply, { status: "assigned", operatorId: "op2" });
  assert.deepEqual(r.effects, [opened("op2"), closedAt("op1")]);
});

// Ownership decisions: each queue command carries the queue seq of its decision.

const assignAt = (decision: number, operatorId = "op1", reason = "accepted"): Cmd<"assign"> => ({
  type: "assign",
  by: queueActor,
  operatorId,
  reason,
  decision,
});

Deno.test("session: a queue command older than the decision the chat applied is late and changes nothing", () => {
  const taken = send(queued(), assignAt(5), T0 + 10);
  assert.deepEqual(taken.events, [{
    type: "assigned",
    operatorId: "op1",
    reason: "accepted",
    at: T0 + 10,
    decision: 5,
  }]);
  assert.equal(taken.state.queueDecision, 5);
  const back = send(taken.state, { ...requeueCmd, decision: 7 }, T0 + 20).state;
  assert.deepEqual([back.status, back.operatorId, back.queueDecision], ["queued", null, 7]);
  // The claim's own assign (or its owed copy sent again) comes after the requeue.
  assert.equal(rejected(back, assignAt(5)), "invalid_state");
  assert.equal(rejected(back, { ...transferCmd("op2"), decision: 6 }), "invalid_state");
  // Once assigned by a later decision, an older requeue cannot undo it either.
  const again = send(back, assignAt(9, "op2", "auto"), T0 + 30).state;
  assert.deepEqual([again.operatorId, again.queueDecision], ["op2", 9]);
  assert.equal(rejected(again, { ...requeueCmd, decision: 8 }), "invalid_state");
  // The same decision again is a repeat: no event, chat_opened re-delivered.
  const repeat = send(again, assignAt(9, "op2", "reconcile"));
  assert.deepEqual([repeat.events, repeat.effects], [[], [opened("op2")]]);
});

Deno.test("session: a newer decision that finds the chat as decided is stored, so no older one undoes it", () => {
  // Queued, and the assignment to op1 (decision 5) is still on its way when its undoing (7)
  // arrives: the return is stored with the decision, and the late assignment is refused.
  const r = send(queued(), { ...requeueCmd, decision: 7 }, T0 + 20);
  assert.deepEqual(r.events, [{ ...returned(T0 + 20), decision: 7 }]);
  assert.deepEqual(r.effects, [closedAt("op1")]);
  assert.equal(rejected(r.state, assignAt(5)), "invalid_state");
  // Assigned to op1 (5); its requeue (7) is on its way when the queue gives it to op1 again (9).
  const mine = send(queued(), assignAt(5)).state;
  const retaken = send(mine, assignAt(9, "op1", "auto"), T0 + 30);
  assert.equal(retaken.events.length, 1);
  assert.equal(retaken.state.queueDecision, 9);
  assert.equal(rejected(retaken.state, { ...requeueCmd, decision: 7 }), "invalid_state");
  // A newer assignment to another operator is the queue's word: a transfer, whatever its reason.
  const moved = send(mine, assignAt(11, "op2", "accepted"), T0 + 40);
  assert.deepEqual(moved.events.map((e) => e.type), ["transferred"]);
  assert.deepEqual([moved.state.operatorId, moved.state.queueDecision], ["op2", 11]);
});

Deno.test("session: link_lawyer by the owning operator or an admin logs lawyer_assigned", () => {
  const s = assigned();
  const cmd: Cmd<"link_lawyer"> = {
    type: "link_lawyer",
    by: op,
    lawyerId: "law1",
    lawyerChatId: "c9",
  };
  const r = send(s, cmd, T0 + 80);
  assert.deepEqual(r.events, [{
    type: "lawyer_assigned",
    lawyerId: "law1",
    lawyerChatId: "c9",
    byId: "op1",
    byRole: "operator",
    at: T0 + 80,
  }]);
  assert.deepEqual(r.reply, { seq: s.seq + 1 });
  assert.equal(r.state.seq, s.seq + 1);
  assert.equal(send(s, { ...cmd, by: admin }).events.length, 1);
  for (const by of [op2, client, lawyer]) assert.equal(rejected(s, { ...cmd, by }), "forbidden");
  assert.equal(rejected(queued(), cmd), "forbidden", "no owner yet");
});

// ---------------------------------------------------------------------------------------------
// message

Deno.test("session: a message is stored with the next seq and acknowledged with that seq", () => {
  const s = assigned();
  const r = say(s, client, "hello", "m1", T0 + 50);
  assert.deepEqual(r.reply, { seq: s.seq + 1, duplicate: false, at: T0 + 50 });
  assert.deepEqual(r.events, [{
    type: "message",
    senderId: "c1",
    senderRole: "client",
    text: "hello",
    clientMsgId: "m1",
    at: T0 + 50,
  }]);
  assert.equal(r.state.seq, r.reply.seq);
  assert.equal(r.state.messageCount, 1);
  assert.deepEqual(recentList(r.state.recentMessages), [{
    seq: r.reply.seq,
    senderId: "c1",
    by: "c:c1",
    clientMsgId: "m1",
  }]);
});

Deno.test("session: a retried message with the same clientMsgId is stored once and gets the same seq", () => {
  const first = say(assigned(), client, "hello", "m1");
  const retry = say(first.state, client, "hello", "m1", T0 + 500);
  assert.deepEqual(retry.events, []);
  assert.deepEqual(retry.reply, { seq: first.reply.seq, duplicate: true });
  assert.equal(retry.state.messageCount, 1);
  // The same client-made id from another sender is a different message.
  const other = say(first.state, op, "hi", "m1");
  assert.equal(other.events.length, 1);
  assert.equal(other.reply.duplicate, false);
});

Deno.test("session: a command delivered again with the node's requestId is stored once; it never meets client ids", () => {
  const cmd = {
    type: "message" as const,
    by: client,
    text: "no id from the client",
    requestId: "r-1",
  };
  const first = send(assigned(), cmd);
  assert.equal(first.events.length, 1);
  assert.equal((first.events[0] as { requestId?: string }).requestId, "r-1");
  assert.equal((first.events[0] as { clientMsgId?: string }).clientMsgId, undefined);
  const again = send(first.state, cmd);
  assert.deepEqual(again.events, []);
  assert.deepEqual(again.reply, { seq: (first.reply as { seq: number }).seq, duplicate: true });
  // A client id that spells the request id is another message, and the other way round.
  const client1 = say(first.state, client, "mine", "r-1");
  assert.equal(client1.reply.duplicate, false);
  const req = send(say(assigned(), client, "x", "r-2").state, { ...cmd, requestId: "r-2" });
  assert.equal((req.reply as { duplicate: boolean }).duplicate, false);
  // With a client id the request id is not stored: the client's id is the message's key.
  const both = send(assigned(), { ...cmd, clientMsgId: "c-9" });
  assert.equal((both.events[0] as { requestId?: string }).requestId, undefined);
  assert.equal(say(both.state, client, "retry", "c-9").reply.duplicate, true);
});

Deno.test("session: a retry of a stored message is acknowledged even after the chat closed", () => {
  const first = say(assigned(), client, "bye", "m9");
  const s = send(first.state, { type: "close", by: op }).state;
  const retry = say(s, client, "bye", "m9");
  assert.deepEqual(retry.reply, { seq: first.reply.seq, duplicate: true });
  assert.equal(
    rejected(s, { type: "message", by: client, text: "new", clientMsgId: "m10" }),
    "chat_closed",
  );
});

Deno.test("session: only the chat's client, its operator and admins may send messages", () => {
  const s = assigned();
  assert.equal(say(s, client, "a").events.length, 1);
  assert.equal(say(s, op, "b").events.length, 1);
  assert.equal(say(s, admin, "c").events.length, 1);
  assert.equal(rejected(s, { type: "message", by: otherClient, text: "x" }), "forbidden");
  assert.equal(rejected(s, { type: "message", by: op2, text: "x" }), "forbidden");
  assert.equal(
    rejected(s, { type: "message", by: { id: "op1", role: "client" }, text: "x" }),
    "forbidden",
  );
  // While queued there is no operator yet, but the client can already write.
  assert.equal(say(queued(), client, "waiting").events.length, 1);
  assert.equal(rejected(queued(), { type: "message", by: op, text: "x" }), "forbidden");
});

Deno.test("session: firstResponseAt is the time of the first staff message, not of client messages", () => {
  let s = say(assigned(), client, "help", undefined, T0 + 100).state;
  assert.equal(s.firstResponseAt, null);
  s = say(s, op, "on it", undefined, T0 + 200).state;
  s = say(s, op, "done", undefined, T0 + 300).state;
  assert.equal(s.firstResponseAt, T0 + 200);
});

Deno.test("session: the recent window keeps at least the last 1000 messages and no more than a block over", () => {
  let s = assigned();
  const total = RECENT_MESSAGES_LIMIT + 200;
  for (let i = 0; i < total; i++) {
    // New ids, as the service sends them once the stored index said so (`storedChecked`).
    const cmd = { type: "message", by: client, text: `m${i}`, clientMsgId: `id-${i}` } as const;
    s = send(s, { ...cmd, storedChecked: true }).state;
  }
  const list = recentList(s.recentMessages);
  assert.ok(list.length >= RECENT_MESSAGES_LIMIT, `kept ${list.length}`);
  assert.ok(list.length < RECENT_MESSAGES_LIMIT + BLOCK, `kept ${list.length}`);
  assert.equal(s.messageCount, total);
  assert.equal(list.at(-1)?.seq, s.seq);
  assert.deepEqual(
    list.map((m) => m.seq),
    list.map((_, i) => list[0].seq + i),
    "in order, no holes",
  );
  // Ids still in the window are recognised as retries, in full blocks and in the open one.
  assert.equal(say(s, client, "again", `id-${total - 1}`).reply.duplicate, true);
  assert.equal(
    say(s, client, "again", `id-${total - RECENT_MESSAGES_LIMIT}`).reply.duplicate,
    true,
  );
  // The same id from another sender is not a retry of the client's (the index is asked).
  const fromOp = send(s, { type: "message", by: op, text: "op", clientMsgId: `id-${total - 1}` });
  assert.deepEqual(fromOp.reply, { lookup: true });
  // Ids that left the window are looked up in the stored index (the service does that).
  const old = send(s, { type: "message", by: client, text: "again", clientMsgId: "id-0" });
  assert.deepEqual(old.reply, { lookup: true });
});

// ---------------------------------------------------------------------------------------------
// typing and read

Deno.test("session: typing stores nothing and emits one typing effect", () => {
  const r = send(assigned(), { type: "typing", by: op, isTyping: true });
  assert.deepEqual(r.events, []);
  assert.deepEqual(r.reply, {});
  assert.deepEqual(r.effects, [{
    kind: "custom",
    name: "typing",
    data: { chatId: "chat-1", userId: "op1", role: "operator", isTyping: true },
  }]);
  assert.equal(rejected(assigned(), { type: "typing", by: op2, isTyping: true }), "forbidden");
});

Deno.test("session: read moves the read marker forward and counts others' unread messages", () => {
  let s = say(assigned(), client, "q1").state; // seq 4
  s = say(s, op, "a1").state; // 5
  s = say(s, op, "a2").state; // 6
  s = say(s, client, "q2").state; // 7
  const r = send(s, { type: "read", by: client, seq: 5 });
  assert.deepEqual(r.events, [{ type: "read", participantId: "c1", role: "client", seq: 5 }]);
  assert.deepEqual(r.reply, { lastReadSeq: 5, unread: 1 });
  assert.deepEqual(r.state.lastRead, { "c:c1": 5 });
  assert.equal(r.state.seq, s.seq + 1);
  // Reading an older seq again stores nothing and reports the current marker.
  const back = send(r.state, { type: "read", by: client, seq: 4 });
  assert.deepEqual(back.events, []);
  assert.deepEqual(back.reply, { lastReadSeq: 5, unread: 1 });
});

Deno.test("session: a client and a staff member with the same id keep their own read marks and retries", () => {
  // A client whose id equals the operator's (a vouched visitor `op1`, or old data).
  const twin = { id: op.id, role: "client" } as const;
  let s = assigned();
  s = { ...s, clientId: twin.id };
  const fromStaff = say(s, op, "staff says", "m1");
  // The same client_msg_id from the client is a new message, not the operator's retry.
  const fromClient = say(fromStaff.state, twin, "client says", "m1");
  assert.equal(fromClient.reply.duplicate, false);
  assert.notEqual(fromClient.reply.seq, fromStaff.reply.seq);
  const read = send(fromClient.state, { type: "read", by: op, seq: fromStaff.reply.seq });
  // The operator has one unread message: the client's, although both carry the id `op1`.
  assert.deepEqual(read.reply, { lastReadSeq: fromStaff.reply.seq, unread: 1 });
  assert.equal(lastReadOf(read.state, twin), 0);
});

Deno.test("session: an id not in the window, with older messages out of it, asks for the stored index", () => {
  let s = assigned();
  for (let i = 0; i < RECENT_MESSAGES_LIMIT + BLOCK; i++) {
    s = say(s, client, `m${i}`, `id-${i}`).state;
  }
  // id-0 left the window: the session cannot tell, the stored index must be asked.
  const cmd = { type: "message" as const, by: client, text: "again", clientMsgId: "id-0" };
  const asked = send(s, cmd);
  assert.deepEqual([asked.reply, asked.events], [{ lookup: true }, []]);
  // Looked up and not found: stored as new.
  const checked = send(s, { ...cmd, storedChecked: true });
  assert.equal((checked.reply as { duplicate: boolean }).duplicate, false);
  // A recent id is still answered from the window, without a lookup.
  const last = `id-${RECENT_MESSAGES_LIMIT + BLOCK - 1}`;
  assert.equal(say(s, client, "again", last).reply.duplicate, true);
});

Deno.test("session: a retry from a sender who lost the chat since is a duplicate; new messages are refused", () => {
  const sent = say(assigned(), op, "from op1", "o-1");
  const moved = send(sent.state, {
    type: "transfer",
    by: queueActor,
    from: "op1",
    to: "op2",
    reason: "shift",
    actor: op,
  }).state;
  assert.deepEqual(say(moved, op, "from op1", "o-1").reply, {
    seq: sent.reply.seq,
    duplicate: true,
  });
  assert.equal(
    rejected(moved, { type: "message", by: op, text: "new", clientMsgId: "o-2" }),
    "forbidden",
  );
});

Deno.test("session: read marks and retries stored before keys had a kind are still found", () => {
  // A snapshot from before: bare ids in lastRead and in the recent window.
  const first = say(assigned(), client, "hello", "m1");
  const legacy = {
    ...first.state,
    lastRead: { c1: first.reply.seq },
    recentMessages: first.state.recentMessages.map((b) => b.map(({ by: _by, ...m }) => m)),
  };
  const retry = say(legacy, client, "hello", "m1");
  assert.deepEqual(retry.reply, { seq: first.reply.seq, duplicate: true });
  assert.equal(lastReadOf(legacy, client), first.reply.seq);
});

Deno.test("session: read past the last seq is invalid_payload and outsiders are forbidden", () => {
  const s = assigned();
  assert.equal(rejected(s, { type: "read", by: client, seq: s.seq + 1 }), "invalid_payload");
  assert.equal(rejected(s, { type: "read", by: client, seq: -1 }), "invalid_payload");
  assert.equal(rejected(s, { type: "read", by: otherClient, seq: 1 }), "forbidden");
});

// ---------------------------------------------------------------------------------------------
// close and rate

Deno.test("session: close records who closed and tells the queue and the operator", () => {
  const r = send(assigned(), { type: "close", by: client, reason: "solved" }, T0 + 20);
  assert.deepEqual(r.events, [{
    type: "closed",
    byId: "c1",
    byRole: "client",
    reason: "solved",
    at: T0 + 20,
  }]);
  assert.deepEqual(r.reply, { status: "closed", closedAt: T0 + 20 });
  assert.equal(r.state.status, "closed");
  assert.deepEqual(r.state.closedBy, client);
  assert.equal(r.state.closeReason, "solved");
  assert.deepEqual(r.effects, [
    {
      kind: "tell",
      to: { type: "queue", id: "default" },
      command: { type: "release", chatId: "chat-1", reason: "closed" },
    },
    {
      kind: "tell",
      to: { type: "operator", id: "op1" },
      command: { type: "chat_closed", chatId: "chat-1" },
    },
  ]);
});

Deno.test("session: closing a queued chat only releases it from the queue", () => {
  const r = send(queued(), { type: "close", by: client });
  assert.equal(r.state.closeReason, null);
  assert.deepEqual(r.effects, [{
    kind: "tell",
    to: { type: "queue", id: "default" },
    command: { type: "release", chatId: "chat-1", reason: "closed" },
  }]);
});

Deno.test("session: close twice is chat_closed and outsiders may not close", () => {
  assert.equal(rejected(closed(), { type: "close", by: client }), "chat_closed");
  assert.equal(rejected(assigned(), { type: "close", by: op2 }), "forbidden");
  assert.equal(send(assigned(), { type: "close", by: admin }).state.status, "closed");
});

Deno.test("session: the client rates a closed chat once with a score from 1 to 5", () => {
  assert.equal(rejected(assigned(), { type: "rate", by: client, score: 5 }), "not_closed");
  const s = closed();
  assert.equal(rejected(s, { type: "rate", by: op, score: 5 }), "forbidden");
  assert.equal(rejected(s, { type: "rate", by: client, score: 0 }), "invalid_payload");
  assert.equal(rejected(s, { type: "rate", by: client, score: 6 }), "invalid_payload");
  const r = send(s, { type: "rate", by: client, score: 4, comment: "quick" }, T0 + 30);
  assert.deepEqual(r.events, [{ type: "rated", score: 4, comment: "quick", at: T0 + 30 }]);
  assert.deepEqual(r.reply, { rating: { score: 4, comment: "quick", at: T0 + 30 } });
  assert.deepEqual(r.state.rating, { score: 4, comment: "quick", at: T0 + 30 });
  assert.equal(rejected(r.state, { type: "rate", by: client, score: 5 }), "already_rated");
  assert.equal(send(s, { type: "rate", by: admin, score: 1 }).state.rating?.score, 1);
});

// ---------------------------------------------------------------------------------------------
// get, recovery, invariants

Deno.test("session: get shows the view to participants and a queued chat to any staff", () => {
  const q = queued();
  const view = send(q, { type: "get", by: op2 });
  assert.deepEqual(view.events, []);
  assert.deepEqual(view.reply, {
    chatId: "chat-1",
    status: "queued",
    kind: "support",
    clientId: "c1",
    operatorId: null,
    queue: "default",
    seq: 2,
    priority: 0,
    createdAt: T0,
    queuedAt: T0,
    assignedAt: null,
    closedAt: null,
    rating: null,
    lastRead: {},
  });
  const a = assigned();
  assert.equal(send(a, { type: "get", by: op }).reply.operatorId, "op1");
  assert.equal(send(a, { type: "get", by: admin }).reply.status, "assigned");
  assert.equal(rejected(a, { type: "get", by: op2 }), "forbidden");
  assert.equal(rejected(q, { type: "get", by: otherClient }), "forbidden");
});

Deno.test("session: recovery of a queued chat re-enqueues it, after a clean stop too", () => {
  const enqueue = {
    kind: "tell",
    to: { type: "queue", id: "default" },
    command: { type: "enqueue", chatId: "chat-1", clientId: "c1", priority: 0, enqueuedAt: T0 },
  };
  for (const cleanStop of [true, false]) {
    const ctx = { id: "chat-1", now: T0 + 1000, nextSeq: 3, cleanStop };
    assert.deepEqual(sessionEntity.onRecover?.(queued(), ctx), [enqueue]);
  }
});

Deno.test("session: recovery after a clean stop sends nothing for assigned, closed or missing chats", () => {
  const ctx = { id: "chat-1", now: T0 + 1000, nextSeq: 9, cleanStop: true };
  assert.deepEqual(sessionEntity.onRecover?.(assigned(), ctx), []);
  assert.deepEqual(sessionEntity.onRecover?.(closed(), ctx), []);
  assert.deepEqual(sessionEntity.onRecover?.(empty(), ctx), []);
});

Deno.test("session: recovery after a crash re-sends the last effects: chat_opened, or release and chat_closed", () => {
  const ctx = { id: "chat-1", now: T0 + 1000, nextSeq: 9, cleanStop: false };
  assert.deepEqual(sessionEntity.onRecover?.(assigned(), ctx), [{
    kind: "tell",
    to: { type: "operator", id: "op1" },
    command: { type: "chat_opened", chatId: "chat-1" },
  }]);
  assert.deepEqual(sessionEntity.onRecover?.(closed(), ctx), [
    {
      kind: "tell",
      to: { type: "queue", id: "default" },
      command: { type: "release", chatId: "chat-1", reason: "closed" },
    },
    {
      kind: "tell",
      to: { type: "operator", id: "op1" },
      command: { type: "chat_closed", chatId: "chat-1" },
    },
  ]);
  assert.deepEqual(sessionEntity.onRecover?.(empty(), ctx), []);
});

Deno.test("session: seq always equals the number of events the runtime has numbered", () => {
  let s = empty();
  let numbered = 0;
  const step = (cmd: SessionCommand) => {
    const r = run(sessionEntity, s, cmd, T0 + numbered, numbered + 1);
    numbered += r.events.length;
    s = r.state;
    assert.equal(s.seq, numbered, `after ${cmd.type}`);
    return r;
  };
  step(createCmd);
  step({ type: "message", by: client, text: "hi", clientMsgId: "a" });
  step({ type: "assign", by: queueActor, operatorId: "op1", reason: "accepted" });
  const m = step({ type: "message", by: op, text: "hello", clientMsgId: "b" });
  assert.deepEqual(m.reply, { seq: numbered, duplicate: false, at: T0 + numbered - 1 });
  step({ type: "message", by: client, text: "hi", clientMsgId: "a" });
  step({ type: "read", by: client, seq: numbered });
  step({ type: "typing", by: client, isTyping: false });
  step({ type: "close", by: op });
  step({ type: "rate", by: client, score: 5 });
  assert.equal(numbered, 8);
});

Deno.test("session: state survives a JSON round-trip unchanged", () => {
  let s = send(empty(), { ...createCmd, linkedChatId: "chat-0" }).state;
  s = send(s, { type: "assign", by: queueActor, operatorId: "op1", reason: "accepted" }).state;
  s = say(s, client, "hi", "m1").state;
  s = say(s, op, "hello").state;
  s = send(s, { type: "read", by: op, seq: s.seq }).state;
  s = send(s, { type: "close", by: op }).state;
  s = send(s, { type: "rate", by: client, score: 5 }).state;
  assert.deepEqual(JSON.parse(JSON.stringify(s)), s);
  assert.deepEqual(JSON.parse(JSON.stringify(empty())), empty());
});

Deno.test("session: decide and evolve never mutate the state they are given", () => {
  const before = assigned();
  const copy = structuredClone(before);
  const frozen = deepFreeze(structuredClone(before));
  const cmds: SessionCommand[] = [
    createCmd,
    { type: "assign", by: queueActor, operatorId: "op1", reason: "x" },
    { type: "message", by: client, text: "hi", clientMsgId: "z" },
    { type: "typing", by: client, isTyping: true },
    { type: "read", by: client, seq: 1 },
    { type: "close", by: client, reason: "done" },
    { type: "get", by: admin },
  ];
  for (const cmd of cmds) {
    const d = sessionEntity.decide(frozen, cmd, { id: "chat-1", now: T0, nextSeq: frozen.seq + 1 });
    assert.ok(d.ok, cmd.type);
    d.events.reduce(sessionEntity.evolve, frozen);
  }
  const rated = send(closed(), { type: "rate", by: client, score: 3 });
  assert.equal(rated.state.rating?.score, 3);
  assert.deepEqual(frozen, copy);
});

// ---------------------------------------------------------------------------------------------
// KV writes (test kit on an in-memory KV)

async function sessionKit() {
  const entities = ["queue", "operator", "client"].map((t) => probe(t).entity);
  return await ActorTestKit.create(sessionEntity, "chat-1", { entities });
}
const assignCmd: SessionCommand = {
  type: "assign",
  by: queueActor,
  operatorId: "op1",
  reason: "accepted",
};

Deno.test("session writes: message count, first response, handled, resolution and rating counters", async () => {
  const kit = await sessionKit();
  const stat = (...key: string[]) => counter(kit.kv, ["stats", ...key]);
  await kit.run(createCmd);
  await kit.clock.advance(1_000);
  await kit.run(assignCmd);
  await kit.clock.advance(4_000);
  await kit.run({ type: "message", by: client, text: "help" });
  await kit.clock.advance(2_000);
  await kit.run({ type: "message", by: op, text: "on it" });
  await kit.clock.advance(2_000);
  await kit.run({ type: "message", by: op, text: "done" });
  assert.equal(await stat("messages"), 3);
  assert.deepEqual([await stat("op", "op1", "frt_ms"), await stat("op", "op1", "frt_n")], [
    6_000,
    1,
  ]);
  assert.equal(await stat("op", "op1", "assigned"), 1);
  await kit.clock.advance(1_000);
  await kit.run({ type: "close", by: op });
  assert.equal(await stat("op", "op1", "handled"), 1);
  assert.equal(await stat("op", "op1", "resolution_ms"), 9_000);
  assert.deepEqual([await stat("chats_created"), await stat("chats_closed")], [1, 1]);
  await kit.run({ type: "rate", by: client, score: 4 });
  assert.deepEqual([await stat("op", "op1", "rating_sum"), await stat("op", "op1", "rating_n")], [
    4,
    1,
  ]);
  assert.deepEqual(
    await listValues(kit.kv, ["audit"]),
    [],
    "an operator's close is no admin action",
  );
  await kit.close();
});

Deno.test("session writes: an admin close stores an audit record by chat and by operator", async () => {
  const kit = await sessionKit();
  await kit.run(createCmd);
  await kit.run(assignCmd);
  await kit.clock.advance(5_000);
  await kit.run({ type: "close", by: admin, reason: "abusive language" });
  const byChat = await listValues(kit.kv, ["audit", "chat", "chat-1"]);
  assert.deepEqual(byChat, [{
    at: T0 + 5_000,
    source: "session/chat-1#4",
    action: "closed",
    actor: { id: "adm", role: "admin" },
    chat_id: "chat-1",
    operator_ids: ["op1"],
    reason: "abusive language",
  }]);
  assert.deepEqual(await listValues(kit.kv, ["audit", "op", "op1"]), byChat);
  await kit.close();
});
