/**
 * Webhooks in a cluster (three in-process nodes on one KV and an in-memory broker): every node
 * runs the engine, yet each chat event is delivered once per subscription.
 */
import assert from "node:assert/strict";
import { webhooksOf } from "../../src/integrations/webhooks/mod.ts";
import { startCluster } from "../cluster/_cluster.ts";
import { Receiver } from "./_webhooks_receiver.ts";
import { adminApi, call } from "./_webhooks_rest.ts";
import { Recorder } from "./_webhooks_util.ts";

Deno.test("cluster: each chat event is delivered once per subscription, whichever node owns it", async () => {
  await using r = await Receiver.start();
  await using cluster = await startCluster(3);
  const [n0, n1, n2] = cluster.nodes;
  const engines = cluster.nodes.map((n) => webhooksOf(n.svc)!);
  const all = new Recorder(...engines);
  const token = await n0.staffToken("admin-1", "admin");
  await adminApi(n0, token).create({ url: `${r.url}/a`, events: ["chat.created", "chat.closed"] });
  await adminApi(n2, await n2.staffToken("admin-2", "admin"))
    .create({ url: `${r.url}/b`, events: ["chat.closed"] });

  const chats = [];
  for (let i = 0; i < 6; i++) chats.push(await cluster.nodes[i % 3].createChat(`client-${i}`));
  for (const chat of chats) {
    const res = await call(n1, "POST", "admin/close-chat", {
      token: await n1.staffToken("admin-1", "admin"),
      body: { chat_id: chat.chat_id, reason: "done" },
    });
    assert.equal(res.status, 200, JSON.stringify(res.body));
  }

  await r.next(() => r.at("/a").length >= 12 && r.at("/b").length >= 6);
  await all.drained(...engines);
  const key = (x: { payload: { chat_id: string; type: string } }) =>
    `${x.payload.chat_id} ${x.payload.type}`;
  const a = r.at("/a").map(key).sort();
  const expected = chats.flatMap((c) => [`${c.chat_id} chat.closed`, `${c.chat_id} chat.created`]);
  assert.deepEqual(a, expected.sort(), "each event once at /a");
  assert.deepEqual(
    r.at("/b").map(key).sort(),
    chats.map((c) => `${c.chat_id} chat.closed`).sort(),
    "each close once at /b",
  );
  assert.equal(r.requests.length, 18, "no delivery was sent twice");
});
