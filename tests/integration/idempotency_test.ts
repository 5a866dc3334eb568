/**
 * A stored `client_msg_id` is answered as a duplicate for as long as its chat exists, whatever
 * happened since: after any number of later messages (beyond the session's recent window, through
 * the stored index), and after its sender lost the chat (a transfer).
 */
import assert from "node:assert/strict";
import { RECENT_MESSAGES_LIMIT } from "../../actors/_session_types.ts";
import { startTestServer } from "./_harness.ts";
import { assertAck, connectStaff, say } from "./_routing_util.ts";
import { allEvents, assignedChat, historyEvents, Sockets } from "./_util.ts";

Deno.test("a retry after more later messages than the recent window is still a duplicate", async () => {
  await using server = await startTestServer({ RATE_LIMIT_PER_MIN: "1000000" });
  await using sockets = new Sockets();
  const { chat, client } = await assignedChat(server, sockets);
  const first = assertAck(
    await client.request("message", { text: "the first", client_msg_id: "m-first" }),
  );
  const later = RECENT_MESSAGES_LIMIT + 70;
  // In rounds of 100 in flight: all at once would overrun the session's mailbox (MAILBOX_CAPACITY
  // 1000), whose `overloaded` answers are right but not what this test is about.
  const acks = [];
  for (let i = 0; i < later; i += 100) {
    acks.push(
      ...await Promise.all(
        Array.from(
          { length: Math.min(100, later - i) },
          (_, j) => client.request("message", { text: `later ${i + j}` }),
        ),
      ),
    );
  }
  assert.deepEqual(acks.filter((a) => a.type !== "ack").slice(0, 3), []);
  assert.equal(acks.length, later);
  const retry = assertAck(
    await client.request("message", { text: "the first", client_msg_id: "m-first" }),
  );
  assert.equal(retry.payload.duplicate, true);
  assert.equal(retry.payload.seq, first.payload.seq);
  const texts = (await historyEvents(server.url, chat.chat_id, chat.client_token))
    .filter((e) => e.type === "message" && e.payload.client_msg_id === "m-first");
  assert.equal(texts.length, 1);
  // A new id after all that is stored as new.
  const fresh = assertAck(
    await client.request("message", { text: "new", client_msg_id: "m-new" }),
  );
  assert.equal(fresh.payload.duplicate, false);
});

Deno.test("a retry of a stored message is acked as a duplicate after its sender lost the chat", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const { chat, op } = await assignedChat(server, sockets, "op-1");
  await connectStaff(server, sockets, "op-2");
  const sent = assertAck(
    await op.request("message", {
      chat_id: chat.chat_id,
      text: "I sent this",
      client_msg_id: "o-1",
    }),
  );
  assertAck(
    await op.request("transfer_chat", {
      chat_id: chat.chat_id,
      target_operator_id: "op-2",
      reason: "shift over",
    }),
  );
  // The ack was lost on the way: the console sends it again, after the transfer.
  const retry = assertAck(
    await op.request("message", {
      chat_id: chat.chat_id,
      text: "I sent this",
      client_msg_id: "o-1",
    }),
  );
  assert.deepEqual([retry.payload.duplicate, retry.payload.seq], [true, sent.payload.seq]);
  // Anything new from op-1 is refused: the chat is op-2's now.
  const refused = await say(op, chat.chat_id, "something new");
  assert.equal(refused.payload.code, "forbidden");
  const stored = (await allEvents(server, chat.chat_id, chat.client_token))
    .filter((e) => e.type === "message" && e.payload.client_msg_id === "o-1");
  assert.equal(stored.length, 1);
});
