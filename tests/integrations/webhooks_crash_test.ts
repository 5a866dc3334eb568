/**
 * Webhooks across a real SIGKILL: a server process is killed while messages flow with a
 * subscription; after the restart every stored message reaches the receiver, once per delivery
 * id, whether the kill cut it off in the outbox, in flight, or before the outbox (the catch-up).
 */
import assert from "node:assert/strict";
import { childAuth, createChat, spawnServer, WsClient } from "../integration/_harness.ts";
import { historyEvents } from "../integration/_util.ts";
import { Receiver } from "./_webhooks_receiver.ts";

Deno.test("SIGKILL while messages flow: every stored message is delivered after the restart, once", async () => {
  await using r = await Receiver.start();
  const dir = await Deno.makeTempDir({ prefix: "webhooks-crash-" });
  const kvPath = `${dir}/chat.kv`;
  const admin = await childAuth().mintStaffToken({
    sub: "admin-1",
    role: "admin",
    ttlSeconds: 600,
  });
  const env = { RATE_LIMIT_PER_MIN: "100000" };

  const first = await spawnServer(kvPath, env);
  const created = await fetch(`${first.url}/api/v1/chat/admin/webhooks`, {
    method: "POST",
    headers: { authorization: `Bearer ${admin}` },
    body: JSON.stringify({ url: `${r.url}/hook`, events: ["chat.message"] }),
  });
  assert.equal(created.status, 201, await created.text());
  const chat = await createChat(first.url, "client-crash");
  const client = await WsClient.connect(chat.ws_url);

  // 20 messages in flight; the kill comes after 200 acks, mid-stream.
  let acked = 0;
  const { promise: enough, resolve: reachedEnough } = Promise.withResolvers<void>();
  let n = 0;
  const pump = async () => {
    while (acked < 5_000) {
      const id = `m-${n++}`;
      let reply;
      try {
        reply = await client.request("message", { text: id, client_msg_id: id });
      } catch {
        return; // the socket went with the server
      }
      if (reply.type !== "ack") return;
      if (++acked >= 200) reachedEnough();
    }
  };
  const pumps = Array.from({ length: 20 }, () => pump());
  await enough;
  await first.kill("SIGKILL");
  await client.closed();
  await Promise.all(pumps);

  const second = await spawnServer(kvPath, env);
  try {
    const stored = await storedTexts(second.url, chat.chat_id, chat.client_token);
    assert.ok(stored.size >= 200);
    // Outbox leftovers go at once; events cut off before the outbox after two catch-up looks
    // (5 s apart on the server's clock).
    await r.next(() => new Set(r.processed.map((p) => p.data.text)).size >= stored.size, 0, 30_000);
    const texts = r.processed.map((p) => p.data.text as string);
    assert.equal(new Set(texts).size, texts.length, "each delivery id acted on once");
    assert.deepEqual(new Set(texts), new Set(stored.keys()), "every stored message, nothing else");
    for (const p of r.processed) assert.equal(p.seq, stored.get(p.data.text as string));
  } finally {
    await second.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

/** The chat's stored messages: text → seq. */
async function storedTexts(base: string, chatId: string, token: string) {
  const events = await historyEvents(base, chatId, token);
  return new Map(
    events.filter((e) => e.type === "message").map((e) => [
      e.payload.message as string,
      e.payload.seq as number,
    ]),
  );
}
