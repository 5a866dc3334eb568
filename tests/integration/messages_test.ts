import assert from "node:assert/strict";
import { type Frame, startTestServer } from "./_harness.ts";
import { allEvents, assignedChat, fetchHistory, range, sendMessages, Sockets } from "./_util.ts";

const isMessage = (seq: unknown) => (f: Frame) => f.type === "message" && f.payload.seq === seq;

Deno.test("a message is stored before its ack, and the ack's seq is the delivered frame's seq", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, assignedSeq } = await assignedChat(server, sockets);

  const ack = await client.request("message", { text: "where is my order?", client_msg_id: "m1" });
  assert.equal(ack.type, "ack");
  assert.deepEqual(ack.payload, {
    for: "message",
    chat_id: chat.chat_id,
    seq: assignedSeq + 1,
    duplicate: false,
    client_msg_id: "m1",
  });
  // Read the log right after the ack: the message is already there.
  const stored = (await allEvents(server, chat.chat_id, chat.client_token)).at(-1)!;
  assert.equal(stored.type, "message");
  assert.equal(stored.payload.seq, ack.payload.seq);
  assert.equal(stored.payload.message, "where is my order?");

  const delivered = await op.next((f) => f.type === "message");
  assert.equal(delivered.payload.seq, ack.payload.seq);
  assert.equal(delivered.payload.sender_id, "client-1");
  assert.equal(delivered.payload.sender_role, "client");
  assert.equal(delivered.payload.client_msg_id, "m1");
  assert.deepEqual(delivered, stored);
});

Deno.test("a message reaches every connection of both participants (two client tabs, two operator tabs)", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, opToken } = await assignedChat(server, sockets);
  const client2 = await sockets.connect(chat.ws_url);
  const op2 = await sockets.connect(server.wsUrl(opToken)); // opened after the assignment
  const tabs = [client, client2, op, op2];

  const fromClient = await client2.request("message", { text: "from tab 2" });
  assert.equal(fromClient.type, "ack");
  const fromOp = await op2.request("message", { chat_id: chat.chat_id, text: "from op tab 2" });
  assert.equal(fromOp.type, "ack");
  for (const tab of tabs) {
    const a = await tab.next(isMessage(fromClient.payload.seq));
    assert.equal(a.payload.message, "from tab 2");
    const b = await tab.next(isMessage(fromOp.payload.seq));
    assert.equal(b.payload.message, "from op tab 2");
    assert.equal(tab.ofType("message").length, 2);
  }
});

Deno.test("a retried client_msg_id gets the first seq with duplicate: true and is stored once", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets);

  const first = await client.request("message", { text: "hello", client_msg_id: "retry-1" });
  assert.equal(first.payload.duplicate, false);
  const again = await client.request("message", { text: "hello", client_msg_id: "retry-1" });
  assert.equal(again.type, "ack");
  assert.equal(again.payload.seq, first.payload.seq);
  assert.equal(again.payload.duplicate, true);
  assert.equal(again.payload.client_msg_id, "retry-1");
  // A retry from a new connection (after a reconnect) is recognised too.
  const tab = await sockets.connect(chat.ws_url);
  const third = await tab.request("message", { text: "hello", client_msg_id: "retry-1" });
  assert.equal(third.payload.seq, first.payload.seq);
  assert.equal(third.payload.duplicate, true);

  // Nothing was broadcast for the retries: the next message follows the first directly.
  const next = await client.request("message", { text: "after", client_msg_id: "retry-2" });
  assert.equal(next.payload.seq, (first.payload.seq as number) + 1);
  await op.next(isMessage(next.payload.seq));
  assert.deepEqual(op.ofType("message").map((f) => f.payload.client_msg_id), [
    "retry-1",
    "retry-2",
  ]);
  const events = await allEvents(server, chat.chat_id, chat.client_token);
  const copies = events.filter((e) => e.payload.client_msg_id === "retry-1");
  assert.equal(copies.length, 1);
});

Deno.test("typing frames reach the other side and are not stored", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets);

  const ack = await client.request("typing", { is_typing: true });
  assert.deepEqual(ack.payload, { for: "typing", chat_id: chat.chat_id });
  const seen = await op.next((f) => f.type === "typing");
  assert.deepEqual(seen.payload, {
    chat_id: chat.chat_id,
    user_id: "client-1",
    role: "client",
    is_typing: true,
  });
  assert.equal(
    (await op.request("typing", { chat_id: chat.chat_id, is_typing: false })).type,
    "ack",
  );
  const back = await client.next((f) => f.type === "typing" && f.payload.user_id === "op-1");
  assert.equal(back.payload.is_typing, false);

  const types = (await allEvents(server, chat.chat_id, chat.client_token)).map((e) => e.type);
  assert.deepEqual(types, ["chat_created", "chat_queued", "chat_assigned"]);
});

Deno.test("a read receipt is acked with last_read_seq and unread, and the other side gets a read event", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets);
  const seqs = await sendMessages(op, 3, { chat_id: chat.chat_id });
  await client.next(isMessage(seqs[2]));

  const ack = await client.request("read", { seq: seqs[1] });
  assert.equal(ack.type, "ack");
  assert.equal(ack.payload.chat_id, chat.chat_id);
  assert.equal(ack.payload.last_read_seq, seqs[1]);
  assert.equal(ack.payload.unread, 1);
  const receipt = await op.next((f) => f.type === "read");
  assert.equal(receipt.payload.user_id, "client-1");
  assert.equal(receipt.payload.last_read_seq, seqs[1]);
  assert.equal(receipt.payload.seq, seqs[2] + 1);

  // Reading an older seq never moves the mark back.
  const older = await client.request("read", { seq: seqs[0] });
  assert.equal(older.payload.last_read_seq, seqs[1]);
  assert.equal(older.payload.unread, 1);
  const beyond = await client.request("read", { seq: 999 });
  assert.equal(beyond.payload.code, "invalid_payload");
});

Deno.test("an operator who is not assigned to the chat may not write, type or read in it", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat } = await assignedChat(server, sockets);
  const other = await sockets.connect(server.wsUrl(await server.staffToken("op-2")));

  for (
    const [type, payload] of [
      ["message", { chat_id: chat.chat_id, text: "let me in" }],
      ["typing", { chat_id: chat.chat_id, is_typing: true }],
      ["read", { chat_id: chat.chat_id, seq: 1 }],
    ] as const
  ) {
    const reply = await other.request(type, payload);
    assert.equal(reply.type, "error", type);
    assert.equal(reply.payload.code, "forbidden", type);
  }
  const types = (await allEvents(server, chat.chat_id, chat.client_token)).map((e) => e.type);
  assert.ok(!types.includes("message"));
});

Deno.test("a client token may not write to or resume another chat", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const mine = await server.createChat("alice");
  const theirs = await server.createChat("bob");
  const alice = await sockets.connect(mine.ws_url);

  const write = await alice.request("message", { chat_id: theirs.chat_id, text: "hi bob" });
  assert.equal(write.payload.code, "forbidden");
  const resume = await alice.request("resume", { chat_id: theirs.chat_id, last_seq: 0 });
  assert.equal(resume.payload.code, "forbidden");
  assert.equal(alice.seqs(theirs.chat_id).length, 0);
  const own = await alice.request("message", { text: "still fine" });
  assert.equal(own.type, "ack");
});

Deno.test("history pages by after_seq and limit, with has_more and next_after_seq", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, assignedSeq } = await assignedChat(server, sockets);
  const seqs = await sendMessages(client, 7);
  const last = seqs.at(-1)!;
  assert.equal(last, assignedSeq + 7);

  const pages: number[][] = [];
  let after = 0;
  for (;;) {
    const { status, body } = await fetchHistory(server, chat.chat_id, chat.client_token, {
      after_seq: after,
      limit: 4,
    });
    assert.equal(status, 200);
    const seqsOf = (body.events as Frame[]).map((e) => e.payload.seq as number);
    pages.push(seqsOf);
    assert.equal(body.next_after_seq, seqsOf.at(-1) ?? after);
    assert.equal(body.has_more, (seqsOf.at(-1) ?? after) < last);
    if (!body.has_more) break;
    after = body.next_after_seq as number;
  }
  assert.deepEqual(pages, [range(1, 4), range(5, 8), range(9, last)]);

  const empty = await fetchHistory(server, chat.chat_id, chat.client_token, { after_seq: last });
  assert.deepEqual(empty.body, {
    chat_id: chat.chat_id,
    events: [],
    next_after_seq: last,
    has_more: false,
  });
});

Deno.test("history is refused without a token (401) and with another chat's client token (403)", async () => {
  await using server = await startTestServer();
  const mine = await server.createChat("alice");
  const theirs = await server.createChat("bob");

  const anonymous = await fetchHistory(server, mine.chat_id, undefined);
  assert.equal(anonymous.status, 401);
  const err = anonymous.body.error as Record<string, unknown>;
  assert.equal(err.code, "unauthorized");
  assert.equal(typeof err.message, "string");
  assert.equal(err.retryable, false);

  const foreign = await fetchHistory(server, theirs.chat_id, mine.client_token);
  assert.equal(foreign.status, 403);
  assert.equal((foreign.body.error as Record<string, unknown>).code, "forbidden");
});
