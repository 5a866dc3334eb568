import assert from "node:assert/strict";
import { childAuth, createChat, spawnServer, WsClient, wsUrl } from "./_harness.ts";
import { historyEvents } from "./_util.ts";

interface HistoryEvent {
  type: string;
  payload: { seq: number; client_msg_id?: string; message?: string; operator_id?: string };
}

const history = (base: string, chatId: string, token: string) =>
  historyEvents<HistoryEvent>(base, chatId, token);

Deno.test("SIGKILL while messages flow loses nothing acknowledged; queue, assignments and resume survive", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-crash-" });
  const kvPath = `${dir}/chat.kv`;
  const auth = childAuth();
  const opToken = await auth.mintStaffToken({ sub: "op-crash", role: "operator", ttlSeconds: 600 });
  const env = { RATE_LIMIT_PER_MIN: "100000" };

  // --- first life ---
  const first = await spawnServer(kvPath, env);
  const talking = await createChat(first.url, "client-talking");
  const waiting = await createChat(first.url, "client-waiting");
  const op = await WsClient.connect(wsUrl(first.url, opToken));
  const client = await WsClient.connect(talking.ws_url);
  assert.equal((await op.request("accept_chat", { chat_id: talking.chat_id })).type, "ack");
  await client.next((f) => f.type === "chat_assigned");

  // Keep 20 messages in flight; kill the server after 300 acks, mid-stream.
  const acked = new Map<string, number>();
  const sent: string[] = [];
  let n = 0;
  const killAfter = 300;
  const { promise: enough, resolve: reachedEnough } = Promise.withResolvers<void>();
  const pump = async () => {
    while (acked.size < killAfter + 1000) {
      const id = `m-${n++}`;
      sent.push(id);
      let reply;
      try {
        reply = await client.request("message", { text: `payload ${id}`, client_msg_id: id });
      } catch {
        return; // socket gone with the server
      }
      if (reply.type !== "ack") return;
      acked.set(id, reply.payload.seq as number);
      if (acked.size >= killAfter) reachedEnough();
    }
  };
  const pumps = Array.from({ length: 20 }, () => pump());
  await enough;
  const status = await first.kill("SIGKILL");
  assert.equal(status.signal, "SIGKILL");
  await Promise.race([client.closed(), Promise.all(pumps)]);
  await client.closed();
  await op.closed();
  await Promise.all(pumps);
  assert.ok(acked.size >= killAfter);
  const lastSeenByClient = Math.max(...client.seqs(talking.chat_id));

  // --- second life on the same KV file ---
  const second = await spawnServer(kvPath, env);
  try {
    const events = await history(second.url, talking.chat_id, talking.client_token);
    const stored = new Map<string, number>();
    for (const e of events) {
      if (e.type === "message" && e.payload.client_msg_id) {
        assert.ok(
          !stored.has(e.payload.client_msg_id),
          `message ${e.payload.client_msg_id} stored twice`,
        );
        stored.set(e.payload.client_msg_id, e.payload.seq);
      }
    }
    for (const [id, seq] of acked) {
      assert.equal(stored.get(id), seq, `acked message ${id} lost or moved`);
    }
    assert.deepEqual(
      events.map((e) => e.payload.seq),
      events.map((_, i) => i + 1),
      "seqs are gap-free",
    );

    // Assignments as they were: the operator owns the chat and may write into it.
    const op2 = await WsClient.connect(wsUrl(second.url, opToken));
    const snap = await op2.next((f) => f.type === "queue_snapshot");
    const queued = (snap.payload.chats as Array<{ chat_id: string }>).map((c) => c.chat_id);
    assert.deepEqual(queued, [waiting.chat_id], "the waiting chat is still in the queue, alone");
    const opMsg = await op2.request("message", { chat_id: talking.chat_id, text: "still here" });
    assert.equal(opMsg.type, "ack");

    // The client resumes from the last seq it saw and gets every later event, once, in order.
    const resumed = await WsClient.connect(
      wsUrl(second.url, talking.client_token, {
        chat_id: talking.chat_id,
        last_seq: lastSeenByClient,
      }),
    );
    await resumed.next((f) => f.type === "resumed");
    const got = resumed.seqs(talking.chat_id);
    const lastSeq = events[events.length - 1].payload.seq + 1; // + the operator's message
    const expected = Array.from(
      { length: lastSeq - lastSeenByClient },
      (_, i) => lastSeenByClient + 1 + i,
    );
    assert.deepEqual(got, expected);

    // A retry of every message that was in flight at the kill is stored at most once.
    const unacked = sent.filter((id) => !acked.has(id));
    for (const id of unacked) {
      const r = await resumed.request("message", { text: `payload ${id}`, client_msg_id: id });
      assert.equal(r.type, "ack");
      if (stored.has(id)) {
        assert.equal(r.payload.duplicate, true);
        assert.equal(r.payload.seq, stored.get(id));
      }
    }
    const after = await history(second.url, talking.chat_id, talking.client_token);
    const ids = after.filter((e) => e.type === "message" && e.payload.client_msg_id).map((e) =>
      e.payload.client_msg_id
    );
    assert.equal(new Set(ids).size, ids.length, "no message stored twice after retries");
    assert.equal(new Set(ids).size, sent.length, "every sent message is stored exactly once");
    await resumed.close();
    await op2.close();
  } finally {
    await second.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
