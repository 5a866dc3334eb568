/** Chat staff side actor: internal notes, bounded labels, mention grants, the labels projection. */
import assert from "node:assert/strict";
import {
  type ChatStaffCommand,
  chatStaffEntity,
  type ChatStaffReplies,
  type ChatStaffState,
  GRANTS_MAX,
  labelsKey,
  normalizeLabels,
  parseMentions,
} from "../../actors/mod.ts";
import { ActorTestKit } from "../../src/runtime/testkit.ts";
import { rejectedBy, run, T0 } from "./_queue_helpers.ts";

const ctx = (nextSeq = 1) => ({ id: "chat-1", now: T0, nextSeq });
const empty = () => chatStaffEntity.initialState("chat-1");
const op = { id: "op-1", role: "operator" } as const;
const send = (s: ChatStaffState, cmd: ChatStaffCommand) =>
  run(chatStaffEntity, s, cmd, ctx(s.seq + 1));
const note = (text: string, mentions: string[] = []): ChatStaffCommand => ({
  type: "note",
  by: op,
  text,
  mentions,
});

Deno.test("chat_staff: a note is stored with its own seq and the mentions it was given", () => {
  const a = send(empty(), note("  VIP, be careful  ", ["op-2"]));
  assert.deepEqual(a.events, [{
    type: "noted",
    byId: "op-1",
    byRole: "operator",
    text: "VIP, be careful",
    mentions: ["op-2"],
    at: T0,
  }]);
  assert.deepEqual(a.reply, { seq: 1, at: T0, mentions: ["op-2"] });
  assert.equal(a.state.seq, 1);
  assert.equal(a.state.notes, 1);
  assert.deepEqual(a.state.mentioned, { "op-2": 1 });
  const b = send(a.state, note("second", ["op-1", "op-3", "op-3"]));
  // The author is never their own mention; repeats count once.
  assert.deepEqual((b.reply as ChatStaffReplies["note"]).mentions, ["op-3"]);
  assert.deepEqual(b.state.mentioned, { "op-2": 1, "op-3": 2 });
});

Deno.test("chat_staff: clients are refused, and notes are bounded", () => {
  const client = { id: "v-1", role: "client" } as const;
  assert.equal(
    rejectedBy(
      chatStaffEntity,
      empty(),
      { type: "note", by: client, text: "x", mentions: [] },
      ctx(),
    ),
    "forbidden",
  );
  assert.equal(
    rejectedBy(chatStaffEntity, empty(), { type: "set_labels", by: client, labels: [] }, ctx()),
    "forbidden",
  );
  for (const text of ["", "   ", "n".repeat(4001)]) {
    assert.equal(rejectedBy(chatStaffEntity, empty(), note(text), ctx()), "invalid_payload");
  }
  const many = Array.from({ length: 11 }, (_, i) => `op-${i + 10}`);
  assert.equal(rejectedBy(chatStaffEntity, empty(), note("hi", many), ctx()), "invalid_payload");
});

Deno.test("chat_staff: labels are at most 10 of 1–32 characters, trimmed and without repeats", () => {
  const set = (labels: string[]) => ({ type: "set_labels", by: op, labels }) as ChatStaffCommand;
  const a = send(empty(), set([" billing ", "vip", "billing"]));
  assert.deepEqual(a.reply, { seq: 1, labels: ["billing", "vip"] });
  assert.deepEqual(a.state.labels, ["billing", "vip"]);
  // The same labels again store nothing.
  const same = send(a.state, set(["billing", "vip"]));
  assert.deepEqual([same.events, (same.reply as ChatStaffReplies["set_labels"]).seq], [[], null]);
  for (
    const bad of [
      Array.from({ length: 11 }, (_, i) => `l${i}`),
      ["x".repeat(33)],
      [""],
      ["tab\there"],
    ]
  ) {
    assert.equal(rejectedBy(chatStaffEntity, a.state, set(bad), ctx(2)), "invalid_payload");
  }
  assert.deepEqual(send(a.state, set([])).state.labels, []);
  assert.deepEqual(normalizeLabels(["a", " a ", "b"]), ["a", "b"]);
});

Deno.test("chat_staff: mentions are parsed from @ids, punctuation and e-mail addresses aside", () => {
  assert.deepEqual(parseMentions("@op-2, please look. cc @anna.k: and @op-2 again"), [
    "op-2",
    "anna.k",
  ]);
  assert.deepEqual(parseMentions("write to help@example.com"), []);
  assert.deepEqual(parseMentions("@ nobody"), []);
  const many = Array.from({ length: 15 }, (_, i) => `@u${i}`).join(" ");
  assert.equal(parseMentions(many).length, 10);
});

Deno.test("chat_staff: mention grants keep the newest GRANTS_MAX staff members", () => {
  let s = empty();
  for (let i = 0; i < GRANTS_MAX + 3; i++) s = send(s, note(`n${i}`, [`s-${i}`])).state;
  const ids = Object.keys(s.mentioned);
  assert.equal(ids.length, GRANTS_MAX);
  assert.equal(ids[0], "s-3");
  assert.ok(ids.includes(`s-${GRANTS_MAX + 2}`));
});

Deno.test("chat_staff: labels are projected to KV in the same commit, and survive a restart", async () => {
  const kit = await ActorTestKit.create(chatStaffEntity, "chat-9");
  try {
    await kit.run({ type: "set_labels", by: op, labels: ["refund", "vip"] });
    assert.deepEqual((await kit.kv.get(labelsKey("chat-9"))).value, ["refund", "vip"]);
    await kit.run(note("first"));
    kit.restart();
    const r = await kit.run({ type: "get" });
    assert.deepEqual(r.reply, { seq: 2, labels: ["refund", "vip"], notes: 1, mentioned: [] });
    await kit.run({ type: "set_labels", by: op, labels: [] });
    assert.deepEqual((await kit.kv.get(labelsKey("chat-9"))).value, []);
  } finally {
    await kit.close();
  }
});
