import assert from "node:assert/strict";
import { type Frame, type WsClient } from "./_harness.ts";
import { startTestServer } from "./_harness.ts";
import { assignedChat, eventsAfter, range, sendMessages, Sockets } from "./_util.ts";

const isResumed = (f: Frame) => f.type === "resumed";

/**
 * Asserts that, from frame index `from` on, `client` got exactly the events `expected` of the chat
 * (in order, nothing else with a seq) before `resumed {from_seq, to_seq}`.
 */
async function assertReplay(
  client: WsClient,
  chatId: string,
  from: number,
  fromSeq: number,
  expected: number[],
): Promise<void> {
  const resumed = await client.next(isResumed, { from });
  assert.deepEqual(resumed.payload, {
    chat_id: chatId,
    from_seq: fromSeq,
    to_seq: expected.at(-1) ?? fromSeq,
  });
  const end = client.frames.indexOf(resumed);
  const replayed = eventsAfter(client, chatId, from).filter((f) => client.frames.indexOf(f) < end);
  assert.deepEqual(replayed.map((f) => f.payload.seq), expected);
}

Deno.test("a client reconnecting with last_seq in the URL gets exactly the missed events, then resumed, then live ones", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, assignedSeq } = await assignedChat(server, sockets);
  const lastSeen = Math.max(...client.seqs(chat.chat_id));
  assert.equal(lastSeen, assignedSeq);
  await client.close();

  const missed = await sendMessages(op, 5, { chat_id: chat.chat_id }, "while away");
  assert.deepEqual(missed, range(lastSeen + 1, lastSeen + 5));

  const back = await sockets.connect(server.wsUrl(chat.client_token, { last_seq: lastSeen }));
  assert.equal(back.frames[0].type, "connected");
  assert.equal(back.frames[0].payload.resume_from, lastSeen);
  await assertReplay(back, chat.chat_id, 0, lastSeen, missed);
  const texts = back.ofType("message").map((f) => f.payload.message);
  assert.deepEqual(texts, range(1, 5).map((i) => `while away ${i}`));

  const live = await op.request("message", { chat_id: chat.chat_id, text: "welcome back" });
  await back.next((f) => f.type === "message" && f.payload.seq === live.payload.seq);
  assert.deepEqual(back.seqs(chat.chat_id), [...missed, lastSeen + 6]);
});

Deno.test("a client resuming with a resume frame gets the ack, exactly the missed events, then resumed", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, assignedSeq } = await assignedChat(server, sockets);
  await client.close();
  const missed = await sendMessages(op, 5, { chat_id: chat.chat_id }, "while away");

  // Without last_seq the new connection follows from now on and replays nothing by itself.
  const back = await sockets.connect(chat.ws_url);
  assert.equal(back.frames[0].payload.resume_from, undefined);
  const from = back.frames.length;
  const ack = await back.request("resume", { last_seq: assignedSeq });
  assert.deepEqual(ack.payload, { for: "resume", chat_id: chat.chat_id });
  await assertReplay(back, chat.chat_id, from, assignedSeq, missed);
  assert.deepEqual(back.seqs(chat.chat_id), missed);

  // Nothing newer: resumed at once with to_seq = from_seq.
  const idle = back.frames.length;
  await back.request("resume", { last_seq: missed.at(-1)! });
  await assertReplay(back, chat.chat_id, idle, missed.at(-1)!, []);

  const live = await sendMessages(op, 2, { chat_id: chat.chat_id }, "live");
  await back.next((f) => f.type === "message" && f.payload.seq === live[1]);
  assert.deepEqual(back.seqs(chat.chat_id), [...missed, ...live]);
});

Deno.test("an operator reconnecting with chat_id and last_seq gets exactly the missed events, then live ones", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, opToken, assignedSeq } = await assignedChat(server, sockets);
  await op.close();
  const missed = await sendMessages(client, 5, {}, "anyone there?");

  const back = await sockets.connect(
    server.wsUrl(opToken, { chat_id: chat.chat_id, last_seq: assignedSeq }),
  );
  assert.equal(back.frames[0].payload.resume_from, assignedSeq);
  await assertReplay(back, chat.chat_id, 0, assignedSeq, missed);

  const live = await client.request("message", { text: "there you are" });
  await back.next((f) => f.type === "message" && f.payload.seq === live.payload.seq);
  assert.deepEqual(back.seqs(chat.chat_id), [...missed, live.payload.seq]);

  // The same through a resume frame on an open staff connection.
  const from = back.frames.length;
  await back.request("resume", { chat_id: chat.chat_id, last_seq: assignedSeq + 3 });
  await assertReplay(
    back,
    chat.chat_id,
    from,
    assignedSeq + 3,
    range(assignedSeq + 4, live.payload.seq as number),
  );
});

Deno.test("a client resuming from 0 while the operator sends 50 messages gets seqs 1..N without gap or duplicate", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, assignedSeq } = await assignedChat(server, sockets);
  await client.close();

  const sending = sendMessages(op, 50, { chat_id: chat.chat_id }, "burst");
  // Reconnect while the burst is under way (its 10th message is stored by now).
  await op.next((f) => f.type === "message" && f.payload.seq === assignedSeq + 10);
  const back = await sockets.connect(server.wsUrl(chat.client_token, { last_seq: 0 }));
  const acked = await sending;
  const last = acked.at(-1)!;
  assert.equal(last, assignedSeq + 50);
  await back.next((f) => f.type === "message" && f.payload.seq === last);

  assert.deepEqual(back.seqs(chat.chat_id), range(1, last));
  const resumed = await back.next(isResumed);
  assert.equal(resumed.payload.from_seq, 0);
  assert.ok((resumed.payload.to_seq as number) >= assignedSeq + 10);
});

Deno.test("an operator resuming from 0 while the client sends 50 messages gets seqs 1..N without gap or duplicate", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, opToken, assignedSeq } = await assignedChat(server, sockets);

  const sending = sendMessages(client, 50, {}, "burst");
  await client.next((f) => f.type === "message" && f.payload.seq === assignedSeq + 10);
  const tab = await sockets.connect(server.wsUrl(opToken, { chat_id: chat.chat_id, last_seq: 0 }));
  const last = (await sending).at(-1)!;
  await tab.next((f) => f.type === "message" && f.payload.seq === last);

  assert.deepEqual(tab.seqs(chat.chat_id), range(1, last));
  assert.equal((await tab.next(isResumed)).payload.from_seq, 0);
});

Deno.test("a resume with last_seq beyond the chat's last seq does not stop live delivery", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, opToken, assignedSeq } = await assignedChat(server, sockets);
  const staffTab = await sockets.connect(
    server.wsUrl(opToken, { chat_id: chat.chat_id, last_seq: assignedSeq + 100 }),
  );
  await staffTab.next(isResumed);
  await client.request("resume", { last_seq: assignedSeq + 100 });
  await client.next(isResumed);
  assert.equal(client.seqs(chat.chat_id).length, 1); // chat_assigned, live before the resume

  const live = await sendMessages(op, 2, { chat_id: chat.chat_id }, "after bogus resume");
  await client.next((f) => f.type === "message" && f.payload.seq === live[1]);
  await staffTab.next((f) => f.type === "message" && f.payload.seq === live[1]);
  assert.deepEqual(client.seqs(chat.chat_id), [assignedSeq, ...live]);
  assert.deepEqual(staffTab.seqs(chat.chat_id), live);
});

Deno.test("a staff reconnect with a resume cursor gets each chat's missed events before live ones, in order", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op, opToken } = await assignedChat(server, sockets);
  const other = await server.createChat("bob");
  const bob = await sockets.connect(other.ws_url);
  assert.equal((await op.request("accept_chat", { chat_id: other.chat_id })).type, "ack");
  await op.next((f) => f.type === "chat_assigned" && f.payload.chat_id === other.chat_id);
  const seen = new Map([chat.chat_id, other.chat_id].map((id) => [id, Math.max(...op.seqs(id))]));
  await op.close();
  // Missed while away, then more while the console reconnects.
  await sendMessages(client, 3, {}, "missed");
  await sendMessages(bob, 2, {}, "missed");
  const flowing = Promise.all([
    sendMessages(client, 10, {}, "live"),
    sendMessages(bob, 10, {}, "live"),
  ]);
  const cursor = [...seen].map(([id, seq]) => `${id}:${seq}`).join(",");
  const again = await sockets.connect(server.wsUrl(opToken, { resume: cursor }));
  const [a, b] = await flowing;
  for (const [id, last] of [[chat.chat_id, a.at(-1)!], [other.chat_id, b.at(-1)!]] as const) {
    await again.next((f) =>
      f.type === "message" && f.payload.chat_id === id && f.payload.seq === last
    );
    // Every event after the cursor, once, in seq order: the replay came before anything live.
    assert.deepEqual(again.seqs(id), range(seen.get(id)! + 1, last));
  }
  assert.equal(again.ofType("resumed").length, 2);
});
