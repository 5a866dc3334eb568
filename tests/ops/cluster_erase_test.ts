/**
 * Erasure and retention in a cluster (three nodes, one KV, the in-memory broker): each chat is
 * purged by the node that owns it (purge records, src/ops/jobs.ts), so its in-memory actor is
 * released there and no later snapshot brings it back; the erasing node waits for the others.
 * Afterwards no KV entry names the client or its chats, also after every node has shut down
 * (each snapshotting the actors it holds).
 */
import assert from "node:assert/strict";
import { SESSION } from "../../actors/_common.ts";
import { startCluster } from "../cluster/_cluster.ts";
import { Sockets } from "../integration/_util.ts";
import { lifecycleOf } from "../../src/ops/mod.ts";
import { api, dumpKv, kvOf, mentioning } from "./_lifecycle.ts";

const CLIENT_ID = "cluster-erase-client-5d2e";

Deno.test("cluster: erase-client deletes chats owned by every node; nothing names the client afterwards", async () => {
  await using cluster = await startCluster(3, { TITLE_MODE: "extractive" });
  await using sockets = new Sockets();
  const [n0] = cluster.nodes;
  // Chats until at least two nodes other than n0 own one (placement is by chat id).
  const chats: string[] = [];
  const owners = new Set<string>();
  while (chats.length < 12 && (owners.size < 3 || chats.length < 4)) {
    const node = cluster.nodes[chats.length % 3];
    const c = await node.createChat(CLIENT_ID);
    const ws = await sockets.connect(node.wsUrl(c.client_token, { chat_id: c.chat_id }));
    const ack = await ws.request("message", { chat_id: c.chat_id, text: "Hi, it is Alice again" });
    assert.equal(ack.type, "ack", JSON.stringify(ack));
    chats.push(c.chat_id);
    owners.add(cluster.ownerOf(SESSION, c.chat_id)?.cluster?.nodeId ?? "?");
  }
  assert.ok(owners.size >= 2, "chats live on several nodes");
  const other = await n0.createChat("cluster-keep-client-9a1f");
  await cluster.settled();
  const kv = kvOf(n0);
  assert.ok(mentioning(await dumpKv(kv), [CLIENT_ID, ...chats]).length > 10);

  const admin = await n0.staffToken("adm", "admin");
  const erased = await api(n0, "POST", "admin/erase-client", admin, {
    client_id: CLIENT_ID,
    reason: "request 42",
  });
  assert.equal(erased.status, 200, JSON.stringify(erased.body));
  assert.equal(erased.body.chats, chats.length);
  assert.deepEqual(mentioning(await dumpKv(kv), [CLIENT_ID, ...chats]), []);
  // Each chat was purged by its owner: several nodes did their share.
  const purged = cluster.nodes.map((n) => lifecycleOf(n.svc)!.agent.totals.chats);
  assert.equal(purged.reduce((a, b) => a + b, 0), chats.length, JSON.stringify(purged));
  assert.ok(purged.filter((n) => n > 0).length >= 2, JSON.stringify(purged));
  const q = await api(n0, "GET", "admin/queue", admin);
  assert.deepEqual(q.body.waiting.map((w: { chat_id: string }) => w.chat_id), [other.chat_id]);

  // Every node stops and snapshots what it holds: nothing comes back.
  for (const n of cluster.nodes) await n.shutdown();
  assert.deepEqual(mentioning(await dumpKv(kv), [CLIENT_ID, ...chats]), []);
});
