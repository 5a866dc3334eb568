import assert from "node:assert/strict";
import { operatorEntity, type OperatorView } from "../../actors/operator.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { type Frame, startTestServer } from "./_harness.ts";
import { cursorOf, hubRemoved, SSE_PATH, SseClient, sseUrl, stalledStream } from "./_sse_client.ts";
import {
  assignedChat,
  floodUntilClientsDropped,
  nextCommit,
  range,
  sendMessages,
  Sockets,
} from "./_util.ts";

const isResumed = (chatId: string) => (f: Frame) =>
  f.type === "resumed" && f.payload.chat_id === chatId;
const isSeq = (type: string, seq: unknown) => (f: Frame) =>
  f.type === type && f.payload.seq === seq;

/** Every event with a seq carried `id: <seq>`; every other frame carried no id. */
function assertClientIds(s: SseClient): void {
  s.frames.forEach((f, i) => {
    const seq = f.payload.seq;
    assert.equal(s.ids[i], typeof seq === "number" ? String(seq) : null, JSON.stringify(f));
  });
}

Deno.test("SSE: the whole client flow, with acks by POST and ids equal to seqs", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const op = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
  const chat = await server.createChat("alice");
  await using client = await SseClient.connect(sseUrl(server, chat.client_token));
  const h = client.response.headers;
  assert.equal(h.get("content-type"), "text/event-stream");
  assert.equal(h.get("cache-control"), "no-cache");
  assert.equal(h.get("x-accel-buffering"), "no");
  assert.deepEqual(client.frames[0].payload.chat_id, chat.chat_id);
  assert.equal(client.frames[0].payload.role, "client");

  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  const assigned = await client.next((f) => f.type === "chat_assigned");
  const mine = await client.request("message", { text: "hello", client_msg_id: "m-1" });
  assert.equal(mine.type, "ack");
  assert.equal(mine.payload.client_msg_id, "m-1");
  await op.next(isSeq("message", mine.payload.seq));
  await client.next(isSeq("message", mine.payload.seq));
  const theirs = await op.request("message", {
    chat_id: chat.chat_id,
    text: "hi, how can I help?",
  });
  await client.next(isSeq("message", theirs.payload.seq));

  assert.equal((await client.request("typing", { is_typing: true })).type, "ack");
  await op.next((f) => f.type === "typing" && f.payload.role === "client");
  await op.request("typing", { chat_id: chat.chat_id, is_typing: true });
  await client.next((f) => f.type === "typing" && f.payload.role === "operator");
  const read = await client.request("read", { seq: theirs.payload.seq });
  assert.equal(read.payload.last_read_seq, theirs.payload.seq);
  assert.equal((await client.request("close_chat", { reason: "solved" })).type, "ack");
  await client.next((f) => f.type === "chat_closed");
  assert.equal((await client.request("rate", { score: 5 })).type, "ack");
  const rated = await client.next((f) => f.type === "chat_rated");
  assert.equal((await client.request("ping")).type, "pong");

  assertClientIds(client);
  assert.deepEqual(
    client.seqs(chat.chat_id),
    range(assigned.payload.seq as number, rated.payload.seq as number),
  );
  assert.equal(client.lastEventId, String(rated.payload.seq));
});

Deno.test("SSE: a reconnect with Last-Event-ID gets exactly the missed events, then resumed, then live", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op, assignedSeq } = await assignedChat(server, sockets);
  const first = await SseClient.connect(sseUrl(server, chat.client_token, { last_seq: 0 }));
  await first.next(isResumed(chat.chat_id));
  assert.deepEqual(first.seqs(chat.chat_id), range(1, assignedSeq));
  assertClientIds(first);
  await first.close();
  const missed = await sendMessages(op, 3, { chat_id: chat.chat_id }, "away");

  // EventSource reconnects to the same URL: Last-Event-ID wins over its last_seq.
  const url = sseUrl(server, chat.client_token, { last_seq: 0 });
  await using back = await SseClient.connect(url, { lastEventId: first.lastEventId });
  assert.equal(back.frames[0].payload.resume_from, assignedSeq);
  const resumed = await back.next(isResumed(chat.chat_id));
  assert.deepEqual(resumed.payload, {
    chat_id: chat.chat_id,
    from_seq: assignedSeq,
    to_seq: missed[2],
  });
  assert.deepEqual(back.replayed(chat.chat_id), missed);
  const live = await op.request("message", { chat_id: chat.chat_id, text: "welcome back" });
  await back.next(isSeq("message", live.payload.seq));
  assert.deepEqual(back.seqs(chat.chat_id), [...missed, live.payload.seq]);
  assertClientIds(back);

  // The same cursor as a query parameter.
  const q = sseUrl(server, chat.client_token, { last_event_id: missed[0] });
  await using third = await SseClient.connect(q);
  await third.next(isResumed(chat.chat_id));
  assert.deepEqual(third.replayed(chat.chat_id), [missed[1], missed[2], live.payload.seq]);
  // A resume frame by POST: the ack answers the POST, the replay comes on the stream.
  const from = third.frames.length;
  assert.equal((await third.request("resume", { last_seq: assignedSeq })).type, "ack");
  await third.next(isResumed(chat.chat_id), { from });
  assert.deepEqual(third.replayed(chat.chat_id, from), [...missed, live.payload.seq]);
  assertClientIds(third);
});

Deno.test("SSE: a client switching from WebSocket to SSE and back with its last seq sees no gap and no duplicate", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, client, op } = await assignedChat(server, sockets);
  const say = (n: number, p: string) => sendMessages(op, n, { chat_id: chat.chat_id }, p);
  const onWs = await say(2, "ws");
  await client.next(isSeq("message", onWs[1]));
  await client.close();
  await say(2, "gap 1");

  const sse = await SseClient.connect(sseUrl(server, chat.client_token, { last_seq: onWs[1] }));
  const live1 = await say(1, "sse");
  await sse.next(isSeq("message", live1[0]));
  await sse.close();
  await say(2, "gap 2");

  const ws = await sockets.connect(server.wsUrl(chat.client_token, { last_seq: +sse.lastEventId }));
  const live2 = await say(1, "ws again");
  await ws.next(isSeq("message", live2[0]));
  const all = [client, sse, ws].flatMap((c) => c.seqs(chat.chat_id));
  assert.deepEqual(all, range(all[0], live2[0]));
});

Deno.test("SSE: a staff stream's id lists every followed chat; Last-Event-ID resumes both", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const opToken = await server.staffToken("op-1");
  const staff = await SseClient.connect(sseUrl(server, opToken));
  const [a, b] = [await server.createChat("alice"), await server.createChat("bob")];
  const [ca, cb] = [await sockets.connect(a.ws_url), await sockets.connect(b.ws_url)];
  for (const c of [a, b]) {
    assert.equal((await staff.request("accept_chat", { chat_id: c.chat_id })).type, "ack");
  }
  const hello = await ca.request("message", { text: "hello" });
  await staff.next((f) => f.type === "message" && f.payload.chat_id === a.chat_id);
  const bAssigned = staff.frames.find((f) =>
    f.type === "chat_assigned" && f.payload.chat_id === b.chat_id
  )!;
  assert.deepEqual(cursorOf(staff.lastEventId), {
    [a.chat_id]: hello.payload.seq,
    [b.chat_id]: bAssigned.payload.seq,
  });
  staff.frames.forEach((f, i) => {
    const seq = f.payload.seq;
    if (typeof seq !== "number") return assert.equal(staff.ids[i], null);
    assert.equal(cursorOf(staff.ids[i]!)[f.payload.chat_id as string], seq);
  });
  await staff.close();

  const missedA = await sendMessages(ca, 2, {}, "a away");
  const missedB = await sendMessages(cb, 3, {}, "b away");
  // A chat the user cannot see (gone, or transferred away) is skipped, not refused.
  const lastEventId = `${staff.lastEventId},nope:4`;
  await using back = await SseClient.connect(sseUrl(server, opToken), { lastEventId });
  await back.next(isResumed(a.chat_id));
  await back.next(isResumed(b.chat_id));
  assert.deepEqual(back.replayed(a.chat_id), missedA);
  assert.deepEqual(back.replayed(b.chat_id), missedB);
  const live = await cb.request("message", { text: "still there?" });
  await back.next(isSeq("message", live.payload.seq));
  assert.deepEqual(back.seqs(b.chat_id), [...missedB, live.payload.seq]);
  assert.deepEqual(cursorOf(back.lastEventId), {
    [a.chat_id]: missedA[1],
    [b.chat_id]: live.payload.seq,
  });
  // A chat followed without events on this stream yet is in the cursor from where it began.
  await using plain = await SseClient.connect(sseUrl(server, opToken));
  const more = await cb.request("message", { text: "again" });
  await plain.next(isSeq("message", more.payload.seq));
  const want = { [a.chat_id]: missedA[1], [b.chat_id]: more.payload.seq };
  assert.deepEqual(cursorOf(plain.lastEventId), want);
});

Deno.test("SSE: refused tokens get coded JSON errors; POST needs this token's open stream", async () => {
  await using server = await startTestServer();
  const mine = await server.createChat("alice");
  const theirs = await server.createChat("bob");
  const get = async (url: string, headers: Record<string, string> = {}) => {
    const res = await fetch(url, { headers });
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    return [res.status, (await res.json()).error.code];
  };
  assert.deepEqual(await get(sseUrl(server, "not-a-token")), [401, "unauthorized"]);
  assert.deepEqual(await get(`${server.url}${SSE_PATH}`), [401, "unauthorized"]);
  const wrongChat = sseUrl(server, mine.client_token, { chat_id: theirs.chat_id });
  assert.deepEqual(await get(wrongChat), [403, "forbidden"]);
  const badSeq = sseUrl(server, mine.client_token, { last_seq: -1 });
  assert.deepEqual(await get(badSeq), [400, "invalid_payload"]);
  const badId = { "last-event-id": "x:y:z" };
  assert.deepEqual(await get(sseUrl(server, mine.client_token), badId), [400, "invalid_payload"]);
  assert.equal(server.svc.hub.size, 0);

  await using alice = await SseClient.connect(sseUrl(server, mine.client_token));
  await using bob = await SseClient.connect(sseUrl(server, theirs.client_token));
  const ping = JSON.stringify({ type: "ping" });
  const unknown = await alice.post(ping, { connectionId: "no-such-stream" });
  assert.deepEqual([unknown.status, unknown.code], [409, "invalid_state"]);
  const foreign = await alice.post(ping, { connectionId: bob.connectionId });
  assert.deepEqual([foreign.status, foreign.code], [409, "invalid_state"]);
  assert.equal((await alice.post(ping, { token: "forged" })).status, 401);
  assert.equal((await alice.post(ping)).status, 200);
});

Deno.test("SSE: bad frames by POST get the same coded errors as on the WebSocket; over MAX_FRAME_BYTES is 413", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat } = await assignedChat(server, sockets);
  await using s = await SseClient.connect(sseUrl(server, chat.client_token));
  const reply = async (body: string) => {
    const r = await s.post(body);
    assert.equal(r.status, 200);
    return r.body as unknown as Frame;
  };
  const badJson = await reply('{"type":"message"');
  assert.deepEqual([badJson.type, badJson.payload.code], ["error", "bad_json"]);
  assert.equal(badJson.ref, undefined);
  const unknown = await reply(JSON.stringify({ type: "teleport", payload: {}, ref: "u-1" }));
  assert.deepEqual([unknown.payload.code, unknown.ref], ["unknown_type", "u-1"]);
  const badText = await s.request("message", { text: 42 });
  assert.equal(badText.payload.code, "invalid_payload");
  assert.match(badText.payload.message as string, /payload\.text/);
  // A JSON array is a batch: each of its items is judged as a frame of its own.
  const batch = (await s.post("[1,2,3]")).body as unknown as Frame[];
  assert.deepEqual(batch.map((f) => f.payload.code), Array(3).fill("invalid_payload"));
  const big = await s.post(JSON.stringify({ type: "message", payload: { text: "x".repeat(7e4) } }));
  assert.deepEqual([big.status, big.code], [413, "invalid_payload"]);
  // Without a content-length (chunked), the body is read only up to the bound: an endless one
  // is answered, not read forever.
  const chunk = new TextEncoder().encode("x".repeat(16_384));
  const endless = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(chunk) });
  const chunked = await s.post(endless);
  assert.deepEqual([chunked.status, chunked.code], [413, "invalid_payload"]);
  assert.equal((await s.request("message", { text: "still here" })).type, "ack");
});

Deno.test("SSE: the rate limit and the connection limit are the user's, shared with WebSockets", async () => {
  await using server = await startTestServer({
    RATE_LIMIT_PER_MIN: "5",
    MAX_CONNECTIONS_PER_TOKEN: "3",
  });
  await using sockets = new Sockets();
  const { chat } = await assignedChat(server, sockets); // one WebSocket of the client token
  await using s = await SseClient.connect(sseUrl(server, chat.client_token));
  await using tab = await SseClient.connect(sseUrl(server, chat.client_token));
  for (let i = 0; i < 5; i++) {
    assert.equal((await s.request("message", { text: `m${i}` })).type, "ack");
  }
  const limited = await s.request("message", { text: "one too many" });
  assert.deepEqual([limited.payload.code, limited.payload.retryable], ["rate_limited", true]);
  assert.equal((await s.request("typing", { is_typing: false })).type, "ack");
  // Another stream of the same user shares the budget.
  const shared = await tab.request("message", { text: "same budget" });
  assert.equal(shared.payload.code, "rate_limited");

  await using refused = await SseClient.open(sseUrl(server, chat.client_token));
  await refused.endedByServer();
  const told = refused.frames.map((f) => `${f.type} ${f.payload.code}`);
  assert.deepEqual(told, ["error too_many_connections"]);
});

Deno.test("SSE: a keepalive comment every HEARTBEAT_S on the injected clock, besides ping frames", async () => {
  const clock = new ManualClock();
  await using server = await startTestServer({ HEARTBEAT_S: "30" }, { clock });
  const chat = await server.createChat("beat");
  await using s = await SseClient.connect(sseUrl(server, chat.client_token));
  await clock.advance(29_999);
  assert.deepEqual(s.comments, []);
  await clock.advance(1);
  await s.nextComment((c) => c === "keepalive");
  const ping = await s.next((f) => f.type === "ping");
  assert.equal(s.ids[s.frames.indexOf(ping)], null);
  const pong = await s.post(JSON.stringify({ type: "pong", payload: { id: ping.payload.id } }));
  assert.equal(pong.status, 204);
  await clock.advance(30_000);
  await s.nextComment((c) => c === "keepalive", { from: 1 });
});

Deno.test("SSE: closing the stream removes the connection from the hub and the operator count", async () => {
  await using server = await startTestServer();
  const chat = await server.createChat("bye");
  const s = await SseClient.connect(sseUrl(server, chat.client_token));
  const staff = await SseClient.connect(sseUrl(server, await server.staffToken("op-9")));
  assert.equal(server.svc.hub.size, 2);
  const removed = [hubRemoved(server, s.connectionId), hubRemoved(server, staff.connectionId)];
  const released = nextCommit(server, "operator", "op-9", "disconnected");
  await s.close();
  await staff.close();
  await Promise.all([...removed, released]);
  assert.equal(server.svc.hub.size, 0);
  const op = await server.svc.system.ask(operatorEntity, "op-9", { type: "get" });
  assert.equal((op as OperatorView).connections, 0);
  assert.equal((await s.post(JSON.stringify({ type: "ping" }))).status, 409);
});

Deno.test("SSE: a reader that stops reading gets a final overloaded error and is dropped; replays wait for a slow reader", async () => {
  await using server = await startTestServer({
    SEND_QUEUE_MAX_BYTES: "1048576",
    RATE_LIMIT_PER_MIN: "1000000",
    MAX_TEXT_LENGTH: "8000",
  });
  await using sockets = new Sockets();
  const chat = await server.createChat("slow");
  const op = await sockets.connect(server.wsUrl(await server.staffToken("op-slow")));
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  const stalled = await stalledStream(sseUrl(server, chat.client_token));
  const text = "x".repeat(8000);
  const dropped = await floodUntilClientsDropped(server, op, chat.chat_id, text);
  assert.ok(dropped, "the stalled stream was dropped");
  // Reading now, the peer finds the error as the stream's last event, then the stream's end.
  const decoder = new TextDecoder();
  const buf = new Uint8Array(64 * 1024);
  let tail = "";
  while (!/"code":"overloaded"[^]*\r\n0\r\n\r\n$/.test(tail)) {
    const n = await stalled.read(buf);
    if (n === null) break;
    tail = (tail + decoder.decode(buf.subarray(0, n), { stream: true })).slice(-16_384);
  }
  stalled.close();
  const last = tail.slice(tail.lastIndexOf("data: ") + 6, tail.lastIndexOf("\n\n"));
  const error = JSON.parse(last) as Frame;
  assert.equal(error.type, "error");
  assert.deepEqual([error.payload.code, error.payload.retryable], ["overloaded", true]);
  assert.match(error.payload.message as string, /slow consumer/i);

  // A replay larger than the bound goes at the reader's pace instead of tripping it.
  await using again = await SseClient.connect(sseUrl(server, chat.client_token, { last_seq: 0 }));
  const resumed = await again.next(isResumed(chat.chat_id), { timeoutMs: 30_000 });
  const toSeq = resumed.payload.to_seq as number;
  assert.ok(toSeq > 1048576 / 8000, `replayed ${toSeq} events`);
  assert.deepEqual(again.seqs(chat.chat_id), range(1, toSeq));
});

Deno.test("SSE: one POST may carry a batch of frames; replies come back in order", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op } = await assignedChat(server, sockets);
  await using s = await SseClient.connect(sseUrl(server, chat.client_token));
  const frames = [1, 2, 3].map((i) => ({
    type: "message",
    payload: { text: `batched ${i}`, client_msg_id: `b-${i}` },
    ref: `r-${i}`,
  }));
  const res = await s.post(JSON.stringify([...frames, { type: "ping", payload: {} }]));
  assert.equal(res.status, 200);
  const replies = res.body as unknown as Frame[];
  assert.deepEqual(replies.map((f) => [f.type, f.ref]), [
    ["ack", "r-1"],
    ["ack", "r-2"],
    ["ack", "r-3"],
    ["pong", undefined],
  ]);
  const seqs = replies.slice(0, 3).map((f) => f.payload.seq as number);
  assert.deepEqual(seqs, [seqs[0], seqs[0] + 1, seqs[0] + 2], "stored in the order sent");
  for (const i of [1, 2, 3]) {
    await op.next((f) => f.type === "message" && f.payload.message === `batched ${i}`);
  }
  const tooMany = await s.post(JSON.stringify(Array(101).fill(frames[0])));
  assert.deepEqual([tooMany.status, tooMany.code], [400, "invalid_payload"]);
});
