import assert from "node:assert/strict";
import { startTestServer, WsClient } from "./_harness.ts";

function sample(text: string, name: string, labels = ""): number {
  const line = text.split("\n").find((l) => l.startsWith(`${name}${labels} `));
  assert.ok(line, `metric ${name}${labels} is exposed`);
  return Number(line.split(" ")[1]);
}

Deno.test("/healthz and /readyz answer 200 on a serving node", async () => {
  await using server = await startTestServer();
  const health = await fetch(`${server.url}/healthz`);
  assert.deepEqual([health.status, await health.json()], [200, { status: "ok" }]);
  const ready = await fetch(`${server.url}/readyz`);
  assert.deepEqual([ready.status, await ready.json()], [200, { status: "ready" }]);
});

Deno.test("/metrics exposes connections, messages, queue, mailboxes, KV latency and errors", async () => {
  await using server = await startTestServer();
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-m")));
  await server.createChat("c-wait"); // stays waiting
  const chat = await server.createChat("c-talk");
  const client = await WsClient.connect(chat.ws_url);
  assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
  for (let i = 0; i < 3; i++) {
    assert.equal((await client.request("message", { text: `m${i}` })).type, "ack");
  }

  const res = await fetch(`${server.url}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  assert.equal(sample(text, "chat_connections", '{transport="ws",role="client"}'), 1);
  assert.equal(sample(text, "chat_connections", '{transport="ws",role="operator"}'), 1);
  assert.equal(sample(text, "chat_messages_total"), 3);
  assert.equal(sample(text, "chat_queue_waiting", '{queue="default"}'), 1);
  assert.equal(sample(text, "chat_queue_active", '{queue="default"}'), 1);
  assert.ok(sample(text, "chat_kv_commit_seconds_count") > 0);
  assert.equal(
    sample(text, "chat_kv_commit_seconds_bucket", '{le="+Inf"}'),
    sample(text, "chat_kv_commit_seconds_count"),
  );
  for (
    const name of [
      "chat_mailbox_depth",
      "chat_dispatch_errors_total",
      "chat_ws_ping_latency_seconds_count",
    ]
  ) {
    assert.ok(Number.isFinite(sample(text, name)), name);
  }
  // Every sample line is `name{labels} value`; every metric has HELP and TYPE.
  for (const line of text.trim().split("\n")) {
    assert.match(
      line,
      /^(# (HELP|TYPE) \w+ .+|\w+(\{[^}]*\})? (-?\d+(\.\d+)?(e[+-]?\d+)?|NaN|[+-]Inf))$/,
      line,
    );
  }
  await client.close();
  await op.close();
});
