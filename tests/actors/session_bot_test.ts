/** Session: the bot's answers, escalation to a human, held chats, titles and attachments. */
import assert from "node:assert/strict";
import { type Ran, rejectedBy, run as decideFold, T0 } from "./_queue_helpers.ts";
import {
  type Caller,
  type SessionCommand,
  sessionEntity,
  type SessionEvent,
  type SessionReplies,
  type SessionState,
} from "../../actors/mod.ts";

type Cmd<K extends SessionCommand["type"]> = Extract<SessionCommand, { type: K }>;

function send<K extends SessionCommand["type"]>(
  state: SessionState,
  cmd: Cmd<K>,
  now = T0,
): Ran<SessionState, SessionEvent, SessionReplies[K]> {
  return decideFold(sessionEntity, state, cmd, {
    id: "chat-1",
    now,
    nextSeq: state.seq + 1,
  }) as Ran<
    SessionState,
    SessionEvent,
    SessionReplies[K]
  >;
}
const rejected = (state: SessionState, cmd: SessionCommand) =>
  rejectedBy(sessionEntity, state, cmd, { id: state.id, now: T0, nextSeq: state.seq + 1 });

const client: Caller = { id: "c1", role: "client" };
const system: Caller = { id: "system", role: "admin" };
const op: Caller = { id: "op1", role: "operator" };
const createCmd: Cmd<"create"> = {
  type: "create",
  by: client,
  clientId: "c1",
  kind: "support",
  queue: "default",
  priority: 0,
};
const empty = () => sessionEntity.initialState("chat-1");
const held = () =>
  send(empty(), { ...createCmd, hold: true, channel: { kind: "telegram", ref: "777" } }).state;
const answer: Cmd<"bot_reply"> = {
  type: "bot_reply",
  by: system,
  intent: "hours",
  confidence: 0.9,
  text: "We are open 9 to 5.",
  quickReplies: ["Talk to a human"],
};

Deno.test("session: a held chat stays with the bot, not in the queue, and keeps its channel", () => {
  const r = send(empty(), { ...createCmd, hold: true, channel: { kind: "telegram", ref: "777" } });
  assert.deepEqual(r.events.map((e) => e.type), ["created"]);
  assert.equal(r.state.status, "bot");
  assert.deepEqual(r.state.channel, { kind: "telegram", ref: "777" });
  assert.ok(r.effects.every((e) => e.kind !== "tell" || e.to.type !== "queue"), "not enqueued");
});

Deno.test("session: the bot answers a held or waiting chat, never an assigned one", () => {
  const r = send(held(), answer);
  assert.deepEqual(r.events.map((e) => e.type), ["bot_message"]);
  assert.deepEqual(r.reply, { seq: 2 });
  assert.equal(rejected(held(), { ...answer, by: client }), "forbidden");
  const queued = send(empty(), createCmd).state;
  assert.equal(send(queued, answer).events.length, 1);
  const assigned = send(queued, {
    type: "assign",
    by: { id: "queue:default", role: "admin" },
    operatorId: "op1",
    reason: "accepted",
  }).state;
  assert.equal(rejected(assigned, answer), "invalid_state");
});

Deno.test("session: escalating a held chat queues it (once) and asks the queue to enqueue it", () => {
  const r = send(held(), { type: "escalate", by: client, reason: "asked for a human" });
  assert.deepEqual(r.events.map((e) => e.type), ["escalated", "queued"]);
  assert.equal(r.state.status, "queued");
  assert.equal(r.state.escalated, true);
  assert.ok(r.effects.some((e) => e.kind === "tell" && e.to.type === "queue"));
  const again = send(r.state, { type: "escalate", by: system, reason: "low confidence" });
  assert.deepEqual(again.events, []);
  assert.equal(rejected(held(), { type: "escalate", by: op, reason: "x" }), "forbidden");
});

Deno.test("session: titles are set by the system, trimmed to 80 characters, stored once", () => {
  const s = send(empty(), createCmd).state;
  const r = send(s, { type: "set_title", by: system, title: `  Refund   ${"x".repeat(100)} ` });
  assert.equal(r.state.title?.length, 80);
  assert.ok(r.state.title?.startsWith("Refund x"));
  assert.deepEqual(
    send(r.state, { type: "set_title", by: system, title: r.state.title! }).events,
    [],
  );
  assert.equal(rejected(s, { type: "set_title", by: client, title: "mine" }), "forbidden");
});

Deno.test("session: a message stores its attachments' metadata", () => {
  const s = send(empty(), createCmd).state;
  const file = { id: "f1", name: "receipt.pdf", mime: "application/pdf", size: 1234 };
  const r = send(s, { type: "message", by: client, text: "", attachments: [file] });
  const e = r.events[0];
  assert.ok(e.type === "message");
  assert.deepEqual(e.attachments, [file]);
});
