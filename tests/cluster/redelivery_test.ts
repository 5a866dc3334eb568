/**
 * A message command that crosses Kafka carries a request id when the client gave no
 * `client_msg_id`, so a redelivery after a crash (Kafka is at-least-once) is recognised by the
 * session and not stored twice. The id is internal: clients never see it.
 */
import assert from "node:assert/strict";
import { SESSION } from "../../actors/_common.ts";
import { sessionEntity, type SessionEvent } from "../../actors/session.ts";
import { Sockets } from "../integration/_util.ts";
import type { Frame } from "../integration/_harness.ts";
import { startCluster } from "./_cluster.ts";

Deno.test("cluster: a message without client_msg_id, delivered twice to its owner, is stored once", async () => {
  await using c = await startCluster(2);
  await using sockets = new Sockets();
  const [a, b] = c.nodes;
  // A chat owned by b, its client on a: the command goes through chat.commands.
  let chat = await a.createChat("client-r");
  for (let i = 0; c.ownerOf(SESSION, chat.chat_id) !== b; i++) {
    assert.ok(i < 200, "no chat landed on node b");
    chat = await a.createChat(`client-r${i}`);
  }
  const client = await sockets.connect(chat.ws_url);
  const op = await sockets.connect(a.wsUrl(await a.staffToken("op-r")));
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  const ack = await client.request("message", { chat_id: chat.chat_id, text: "no id here" });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  const seq = ack.payload.seq as number;
  const echo = await client.next((f: Frame) => f.type === "message" && f.payload.seq === seq);
  assert.equal(echo.payload.client_msg_id, undefined, "the request id is not shown");
  assert.ok(!JSON.stringify(echo).includes("requestId"));

  const [stored] = await b.svc.system.readEvents<SessionEvent>(SESSION, chat.chat_id, seq - 1, 1);
  const e = stored.event;
  assert.ok(e.type === "message" && typeof e.requestId === "string", JSON.stringify(e));
  // The same command again, as Kafka would redeliver it to the (new) owner.
  const again = await a.svc.router.ask(sessionEntity, chat.chat_id, {
    type: "message",
    by: { id: e.senderId, role: e.senderRole },
    text: e.text,
    requestId: e.requestId,
  });
  assert.deepEqual(again, { seq, duplicate: true });
  const all = await b.svc.system.readEvents<SessionEvent>(SESSION, chat.chat_id, 0, 100);
  assert.equal(all.filter((x) => x.event.type === "message").length, 1);
});
