/**
 * `accept_chat` is acknowledged only once the chat itself says it is the operator's: a chat the
 * queue still lists as waiting but whose own state is closed (its release was delayed, e.g. cut
 * off by a crash and not delivered again yet) is refused with `chat_closed`, not acked and then
 * silently gone.
 */
import assert from "node:assert/strict";
import { queueEntity } from "../../actors/queue.ts";
import { startTestServer } from "./_harness.ts";
import { assertAck, assertError, connectStaff } from "./_routing_util.ts";
import { Sockets } from "./_util.ts";

Deno.test("accepting a chat the queue lists but that is closed is refused, and the queue lets it go", async () => {
  await using server = await startTestServer();
  await using sockets = new Sockets();
  const op = await connectStaff(server, sockets, "op-1");
  const chat = await server.createChat("alice");
  const client = await sockets.connect(chat.ws_url);
  assertAck(await client.request("close_chat", {}));
  // The queue is told of the chat again as if the release had not reached it yet: a ghost.
  await server.svc.router.ask(queueEntity, "default", {
    type: "enqueue",
    chatId: chat.chat_id,
    clientId: chat.client_id,
    priority: 0,
    enqueuedAt: Date.now(),
  });
  assert.ok((await server.svc.queueSnapshot()).waiting.some((w) => w.chatId === chat.chat_id));
  assertError(await op.request("accept_chat", { chat_id: chat.chat_id }), "chat_closed");
  // The chat's answer released it: the queue lists it no more and op-1 holds nothing.
  const snap = await server.svc.queueSnapshot();
  assert.equal(snap.waiting.some((w) => w.chatId === chat.chat_id), false);
  assert.equal(chat.chat_id in snap.active, false);
  assert.equal(snap.operators["op-1"].load, 0);
});
