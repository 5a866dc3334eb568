/**
 * Nodes sharing one KV file take turns at its write lock. Another process holding the lock for
 * a while (a long write, a backup) costs latency, not an error: a message sent meanwhile is stored
 * and acknowledged once the lock is free. SQLite itself waits 5 s for a lock (Deno KV's busy
 * timeout) and then fails the write with "database is locked"; the engine then keeps trying for
 * KV_LOCK_WAIT_MS (4 s) more. Under contention between processes the same error also comes at
 * once (a writer's snapshot went stale), which the same retries absorb.
 */
import assert from "node:assert/strict";
import { childAuth, createChat, spawnServer, WsClient, wsUrl } from "./_harness.ts";

/** A python3 process that takes the SQLite file's write lock, says so, and holds it `ms`. */
function holdLock(path: string, ms: number) {
  const script = `
import sqlite3, sys, time
con = sqlite3.connect(sys.argv[1], timeout=10, isolation_level=None)
con.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]) / 1000)
con.execute("COMMIT")
print("released", flush=True)
`;
  const child = new Deno.Command("python3", {
    args: ["-c", script, path, String(ms)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  const saw = async (word: string) => {
    while (!seen.includes(word)) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`python3 ended before "${word}": ${seen}`);
      seen += value;
    }
  };
  return { saw, done: child.status };
}

Deno.test("a write waits out another process's lock on the KV file instead of failing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "chat-lock-" });
  const kvPath = `${dir}/chat.kv`;
  const server = await spawnServer(kvPath);
  const clients: WsClient[] = [];
  try {
    const auth = childAuth();
    const chat = await createChat(server.url, "alice");
    const op = await WsClient.connect(wsUrl(
      server.url,
      await auth.mintStaffToken({
        sub: "op-1",
        role: "operator",
        ttlSeconds: 600,
      }),
    ));
    clients.push(op);
    assert.equal((await op.request("accept_chat", { chat_id: chat.chat_id })).type, "ack");
    const client = await WsClient.connect(chat.ws_url);
    clients.push(client);
    // Held 1.5 s, within SQLite's own wait; the immediate kind is in tests/runtime/.
    const lock = holdLock(kvPath, 1500);
    await lock.saw("locked");
    const reply = await client.request("message", { text: "sent while the file is locked" });
    await lock.saw("released");
    assert.equal(reply.type, "ack", JSON.stringify(reply));
    assert.equal((await lock.done).code, 0);
  } finally {
    for (const c of clients) await c.close();
    await server.kill("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});
