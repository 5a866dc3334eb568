import assert from "node:assert/strict";
import { type Frame, startTestServer, type WsClient } from "./_harness.ts";
import { fetchHistory, Sockets } from "./_util.ts";

/** Everything the server sent `c` before the reply to a ping sent now. */
async function drained(c: WsClient): Promise<Frame[]> {
  const pong = await c.request("ping");
  return c.frames.slice(0, c.frames.indexOf(pong));
}

for (const how of ["a resume frame", "chat_id and last_seq in the URL"] as const) {
  Deno.test(`an operator who peeked at a queued chat (${how}) stops following it once another operator takes it`, async () => {
    await using server = await startTestServer();
    await using sockets = new Sockets();
    const chat = await server.createChat("alice");
    const client = await sockets.connect(chat.ws_url);
    const peekToken = await server.staffToken("op-2");
    let peeker: WsClient;
    if (how === "a resume frame") {
      peeker = await sockets.connect(server.wsUrl(peekToken));
      assert.equal(
        (await peeker.request("resume", { chat_id: chat.chat_id, last_seq: 0 })).type,
        "ack",
      );
    } else {
      peeker = await sockets.connect(
        server.wsUrl(peekToken, { chat_id: chat.chat_id, last_seq: 0 }),
      );
    }
    // Staff may look at a waiting chat: the replay works.
    await peeker.next((f) => f.type === "resumed");
    assert.deepEqual(peeker.seqs(chat.chat_id), [1, 2]);

    const owner = await sockets.connect(server.wsUrl(await server.staffToken("op-1")));
    assert.equal((await owner.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
    const assigned = await client.next((f) => f.type === "chat_assigned");
    const secret = await client.request("message", { text: "my card number is ..." });
    const reply = await owner.request("message", { chat_id: chat.chat_id, text: "thanks" });
    await client.next((f) => f.type === "message" && f.payload.seq === reply.payload.seq);
    assert.ok((secret.payload.seq as number) > (assigned.payload.seq as number));

    // The peeker is no participant any more: no history, no writing, and no live events.
    const history = await fetchHistory(server, chat.chat_id, peekToken);
    assert.equal(history.status, 403);
    const write = await peeker.request("message", { chat_id: chat.chat_id, text: "hi" });
    assert.equal(write.payload.code, "forbidden");
    // Its queue view drops the chat (at the end of the view's interval at the latest).
    await peeker.next((f) => f.type === "chat_removed" && f.payload.chat_id === chat.chat_id);
    const seen = await drained(peeker);
    assert.deepEqual(seen.filter((f) => f.type === "message"), []);
  });
}
