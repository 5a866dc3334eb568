/**
 * Internal notes and labels (issue 14): staff-only data of a chat lives on the chat's staff
 * stream, so it never reaches the client — not over WebSocket, SSE or socket.io, not in the
 * history a chat token reads, not in the transcript — and the client's seqs stay gap-free;
 * staff who follow the chat get the notes in seq order and catch up after a reconnect.
 */
import assert from "node:assert/strict";
import { labelsKey } from "../../actors/chat_staff.ts";
import { startTestServer, WsClient } from "./_harness.ts";
import { SseClient, sseUrl } from "./_sse_client.ts";
import { assertAck, assertError, connectStaff, isFrame, say } from "./_routing_util.ts";
import { allEvents, assignedChat, range, Sockets } from "./_util.ts";
import { apiGet, getOk, note, sawText, SioPeer, staffEvents } from "./_staff_util.ts";

const SECRET = "client is a known fraudster";

Deno.test("notes never reach the client (WebSocket, SSE, socket.io, history, transcript); its seqs stay gap-free", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets, "op-1", "alice");
  const id = chat.chat_id;
  const sse = await SseClient.connect(sseUrl(server, chat.client_token));
  const sio = new SioPeer(server, chat.client_token);
  try {
    await sio.next((f) => f.type === "connected");
    const acks = [];
    acks.push(assertAck(await say(op, id, "Hello Alice")));
    const n1 = await note(op, id, `${SECRET}, keep it short`);
    acks.push(assertAck(await client.request("message", { text: "hi" })));
    const labels = assertAck(
      await op.request("set_labels", { chat_id: id, labels: ["fraud", SECRET.slice(0, 20)] }),
    );
    const n2 = await note(op, id, `second note: ${SECRET}`);
    const last = assertAck(await say(op, id, "Anything else?"));
    // The notes have their own seqs (1, 2, 3 on the staff stream), not the chat's.
    assert.deepEqual([n1.payload.seq, labels.payload.seq, n2.payload.seq], [1, 2, 3]);
    assert.deepEqual(labels.payload.labels, ["fraud", SECRET.slice(0, 20)]);

    const lastSeq = last.payload.seq as number;
    const isLast = (f: { type: string; payload: Record<string, unknown> }) =>
      f.type === "message" && f.payload.seq === lastSeq;
    await client.next(isLast);
    await sse.next(isLast);
    await sio.next(isLast);
    // The operator following the chat got its staff stream, in order, between the messages.
    await op.next((f) => f.type === "note" && f.payload.seq === 3);
    assert.deepEqual(staffEvents(op, id), [["note", 1], ["labels", 2], ["note", 3]]);

    for (
      const [name, frames] of [["ws", client.frames], ["sse", sse.frames], [
        "sio",
        sio.frames,
      ]] as const
    ) {
      assert.equal(sawText(frames, SECRET), false, `${name} saw a note`);
      assert.deepEqual(
        frames.filter((f) => ["note", "labels", "mention"].includes(f.type)),
        [],
        name,
      );
      const seqs = frames.filter((f) =>
        f.payload.chat_id === id && f.type !== "ack" &&
        typeof f.payload.seq === "number"
      ).map((f) => f.payload.seq as number);
      assert.deepEqual(seqs.filter((s) => s > 3), range(4, lastSeq), `${name}: gap-free`);
    }
    // SSE ids of the client stream are the chat's seqs only.
    assert.equal(sse.lastEventId, String(lastSeq));

    // History with the chat token: every seq from 1, nothing of the notes.
    const history = await allEvents(server, id, chat.client_token);
    assert.deepEqual(history.map((e) => e.payload.seq), range(1, lastSeq));
    assert.equal(sawText(history, SECRET), false);
    // The transcript neither.
    const text = await apiGet(server, `chats/${id}/transcript`, chat.client_token);
    assert.equal(text.status, 200);
    assert.match(text.body, /Anything else\?/);
    assert.equal(text.body.includes(SECRET), false);

    // Asking for them is refused, by frame and by REST.
    assertError(await client.request("resume", { last_seq: 0, stream: "staff" }), "forbidden");
    assertError(await client.request("note", { text: "me too" }), "forbidden");
    assertError(await client.request("set_labels", { labels: ["x"] }), "forbidden");
    assert.equal((await apiGet(server, `chats/${id}/notes`, chat.client_token)).status, 403);
    assert.equal((await apiGet(server, `chats/${id}/notes`, chat.visitor_token)).status, 403);
  } finally {
    sio.close();
    await sse.close();
  }
});

Deno.test("staff following a chat get its notes in seq order; a reconnect resumes them", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op, opToken } = await assignedChat(server, sockets, "op-1", "bob");
  const id = chat.chat_id;
  const admin = await connectStaff(server, sockets, "adm", "admin");
  for (let i = 1; i <= 3; i++) await note(op, id, `note ${i}`);
  await op.next((f) => f.type === "note" && f.payload.seq === 3);
  const chatSeq = (await server.svc.peek(id)).seq;
  await op.close();

  // Written while the operator is away (an admin may write notes in any chat).
  await note(admin, id, "note 4 (admin)");
  await note(admin, id, "note 5 (admin)");
  const back = await sockets.connect(
    server.wsUrl(opToken, { resume: `${id}:${chatSeq},staff:${id}:3` }),
  );
  const resumed = await back.next((f) => f.type === "resumed" && f.payload.stream === "staff");
  assert.deepEqual(resumed.payload, { chat_id: id, from_seq: 3, to_seq: 5, stream: "staff" });
  assert.deepEqual(staffEvents(back, id), [["note", 4], ["note", 5]]);
  const four = back.frames.find((f) => f.type === "note" && f.payload.seq === 4)!;
  assert.equal(four.payload.author_id, "adm");
  assert.equal(four.payload.author_role, "admin");
  // Live notes follow the replayed ones.
  await note(admin, id, "note 6 (live)");
  await back.next((f) => f.type === "note" && f.payload.seq === 6);
  // The resume frame replays the staff stream again from any seq.
  assertAck(await back.request("resume", { chat_id: id, last_seq: 0, stream: "staff" }));
  await back.next((f) =>
    f.type === "resumed" && f.payload.stream === "staff" &&
    f.payload.from_seq === 0
  );
  assert.deepEqual(staffEvents(back, id).map(([, s]) => s), [4, 5, 6, 1, 2, 3, 4, 5, 6]);

  // REST pages for staff: notes in order, with the labels now.
  assertAck(await back.request("set_labels", { chat_id: id, labels: ["vip"] }));
  const page1 = await getOk(server, `chats/${id}/notes?limit=4`, opToken);
  assert.deepEqual(page1.events.map((e: { payload: { seq: number } }) => e.payload.seq), [
    1,
    2,
    3,
    4,
  ]);
  assert.equal(page1.has_more, true);
  const page2 = await getOk(server, `chats/${id}/notes?after_seq=4`, opToken);
  assert.deepEqual(page2.events.map((e: { type: string }) => e.type), ["note", "note", "labels"]);
  assert.deepEqual(page2.labels, ["vip"]);
});

Deno.test("a staff SSE stream carries notes with a staff:<chat> cursor that Last-Event-ID resumes", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op, opToken } = await assignedChat(server, sockets, "op-1", "carol");
  const id = chat.chat_id;
  const stream = await SseClient.connect(sseUrl(server, opToken));
  const n1 = await note(op, id, "first");
  const got = await stream.next((f) => f.type === "note" && f.payload.seq === n1.payload.seq);
  assert.equal(got.payload.text, "first");
  assert.match(stream.lastEventId, new RegExp(`staff%3A${id}:1`));
  const cursor = stream.lastEventId;
  await stream.close();
  await note(op, id, "second");
  const again = await SseClient.connect(sseUrl(server, opToken), { lastEventId: cursor });
  try {
    await again.next((f) => f.type === "note" && f.payload.seq === 2);
    assert.deepEqual(staffEvents(again, id), [["note", 2]]);
  } finally {
    await again.close();
  }
});

Deno.test("labels: at most 10 of 1–32 characters, staff of the chat only, projected for search", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op } = await assignedChat(server, sockets, "op-1", "dave");
  const id = chat.chat_id;
  const other = await connectStaff(server, sockets, "op-2");
  const eleven = Array.from({ length: 11 }, (_, i) => `l${i}`);
  assertError(await op.request("set_labels", { chat_id: id, labels: eleven }), "invalid_payload");
  assertError(
    await op.request("set_labels", { chat_id: id, labels: ["x".repeat(33)] }),
    "invalid_payload",
  );
  assertError(await op.request("set_labels", { chat_id: id, labels: [""] }), "invalid_payload");
  assertError(await other.request("set_labels", { chat_id: id, labels: ["mine"] }), "forbidden");
  assertError(await other.request("note", { chat_id: id, text: "not mine" }), "forbidden");
  assert.equal(
    (await apiGet(server, `chats/${id}/notes`, await server.staffToken("op-2"))).status,
    403,
  );

  const ten = Array.from({ length: 10 }, (_, i) => `label-${i}`);
  const ack = assertAck(await op.request("set_labels", { chat_id: id, labels: ten }));
  assert.deepEqual(ack.payload.labels, ten);
  assert.deepEqual((await server.svc.system.journal.kv.get(labelsKey(id))).value, ten);
  // The same labels again store nothing (no seq).
  const same = assertAck(await op.request("set_labels", { chat_id: id, labels: ten }));
  assert.equal(same.payload.seq, undefined);
  const cleared = assertAck(await op.request("set_labels", { chat_id: id, labels: [] }));
  assert.equal(cleared.payload.seq, 2);
  assert.deepEqual((await server.svc.system.journal.kv.get(labelsKey(id))).value, []);
  await op.next(isFrame("labels", id));
  // Notes on a chat that does not exist create nothing.
  assertError(await op.request("note", { chat_id: "no-such-chat", text: "x" }), "not_found");
});

Deno.test("a client never joins a staff stream, even when the hub is asked to", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op } = await assignedChat(server, sockets, "op-1", "erin");
  const client = await WsClient.connect(chat.ws_url);
  try {
    const key = `staff:${chat.chat_id}`;
    const clientConnId = client.frames.find((f) => f.type === "connected")!.payload
      .connection_id as string;
    await server.svc.hub.resume(clientConnId, key, 0);
    server.svc.hub.subscribe(clientConnId, key, 0);
    assert.equal(server.svc.hub.isSubscribed(clientConnId, key), false);
    await note(op, chat.chat_id, SECRET);
    const m = assertAck(await say(op, chat.chat_id, "still here"));
    await client.next((f) => f.type === "message" && f.payload.seq === m.payload.seq);
    assert.equal(sawText(client.frames, SECRET), false);
  } finally {
    await client.close();
  }
});
