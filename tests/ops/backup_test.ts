/**
 * Backup and restore through `deno task ops` (a child process, as operators run it): a backup
 * taken while clients keep writing messages is consistent, and a fresh node started on its
 * restored copy finds every chat and every message acknowledged before the backup began, with
 * their files; restore refuses a KV file a node has open, and an existing one without --force.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer, type WsClient } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { PNG, uploadMultipart } from "../integrations/_attachments_util.ts";
import { api } from "./_lifecycle.ts";

const OPS = new URL("../../scripts/ops.ts", import.meta.url).pathname;
const ROOT = new URL("../../", import.meta.url).pathname;

async function ops(...args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", OPS, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

interface Acked {
  chatId: string;
  seq: number;
  text: string;
  at: number;
}

const CHATS = 12;

Deno.test("backup while messages are written; restored into a fresh node, every chat and every acknowledged message is there", async () => {
  const dir = await Deno.makeTempDir({ prefix: "backup-test-" });
  const live = { kv: `${dir}/live/chat.kv`, files: `${dir}/live/attachments` };
  const fresh = { kv: `${dir}/fresh/chat.kv`, files: `${dir}/fresh/attachments` };
  let server: TestServer | null = await startTestServer(
    { ATTACHMENTS_DIR: live.files },
    { kvPath: live.kv },
  );
  try {
    await using sockets = new Sockets();
    const chats: Array<{ chatId: string; ws: WsClient; file: string }> = [];
    for (let i = 0; i < CHATS; i++) {
      const c = await server.createChat(`backup-client-${i}`);
      const ws = await sockets.connect(server.wsUrl(c.client_token, { chat_id: c.chat_id }));
      const up = await uploadMultipart(server.url, c.chat_id, c.client_token, PNG, "image/png");
      assert.equal(up.status, 201);
      chats.push({ chatId: c.chat_id, ws, file: up.body.id as string });
    }
    const acked: Acked[] = [];
    let stop = false;
    const writers = chats.map(async ({ chatId, ws, file }) => {
      for (let n = 0; !stop; n++) {
        const text = `message ${n} of ${chatId}`;
        const reply = await ws.request("message", {
          chat_id: chatId,
          text,
          client_msg_id: `m-${n}`,
          ...(n === 0 ? { attachments: [file] } : {}),
        });
        assert.equal(reply.type, "ack", JSON.stringify(reply));
        acked.push({ chatId, seq: reply.payload.seq as number, text, at: performance.now() });
      }
    });
    // Let the writers get going, then back up while they write.
    const first = chats[0].ws;
    while (acked.length < CHATS * 5) {
      await first.next((f) => f.type === "ack", { from: first.frames.length });
    }
    const started = performance.now();
    const backup = await ops(
      "backup",
      `${dir}/backup`,
      "--kv",
      live.kv,
      "--attachments",
      live.files,
      "--json",
    );
    const during = acked.filter((a) => a.at > started).length;
    stop = true;
    await Promise.all(writers);
    assert.equal(backup.code, 0, backup.stderr);
    const manifest = JSON.parse(backup.stdout);
    assert.equal(manifest.counts.chats, CHATS);
    assert.equal(manifest.counts.attachment_files, CHATS);
    assert.ok(during > 0, "messages were being written while the backup ran");
    const before = acked.filter((a) => a.at < started);

    // Not onto the live file (in use), not onto an existing one without --force.
    const busy = await ops("restore", `${dir}/backup`, "--kv", live.kv, "--force");
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /in use/);
    await Deno.mkdir(`${dir}/fresh`, { recursive: true });
    await Deno.writeTextFile(fresh.kv, "");
    const exists = await ops("restore", `${dir}/backup`, "--kv", fresh.kv);
    assert.equal(exists.code, 1);
    assert.match(exists.stderr, /--force/);
    await Deno.remove(fresh.kv);

    const restored = await ops(
      "restore",
      `${dir}/backup`,
      "--kv",
      fresh.kv,
      "--attachments",
      fresh.files,
    );
    assert.equal(restored.code, 0, restored.stderr);
    await server.shutdown();
    server = null;

    server = await startTestServer({ ATTACHMENTS_DIR: fresh.files }, { kvPath: fresh.kv });
    const admin = await server.staffToken("adm", "admin");
    const found = new Map<string, Map<number, string>>();
    for (const { chatId, file } of chats) {
      const h = await api(server, "GET", `chats/${chatId}/history?limit=500`, admin);
      assert.equal(h.status, 200, `chat ${chatId} is there`);
      const seqs = h.body.events.map((e: { payload: { seq: number } }) => e.payload.seq);
      assert.deepEqual(seqs, seqs.map((_: number, i: number) => i + 1), "no gap in the log");
      const messages = new Map<number, string>();
      for (const e of h.body.events) {
        if (e.type === "message") messages.set(e.payload.seq, e.payload.message);
      }
      found.set(chatId, messages);
      const link = await api(
        server,
        "GET",
        `chats/${chatId}/attachments/${file}?format=json`,
        admin,
      );
      assert.equal(link.status, 200, JSON.stringify(link.body));
      const bytes = new Uint8Array(await (await fetch(link.body.url)).arrayBuffer());
      assert.deepEqual(bytes, PNG);
    }
    for (const a of before) {
      assert.equal(found.get(a.chatId)?.get(a.seq), a.text, `${a.chatId}#${a.seq}`);
    }
    assert.ok(before.length >= CHATS * 5);
  } finally {
    await server?.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("backup refuses a KV Connect URL and names what to do instead", async () => {
  const r = await ops("backup", "/tmp/never", "--kv", "http://denokv:4512");
  assert.equal(r.code, 1);
  assert.match(r.stderr, /KV Connect URL.*denokv/s);
  const usage = await ops("restore");
  assert.equal(usage.code, 2);
});
