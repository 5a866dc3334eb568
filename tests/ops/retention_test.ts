/**
 * Retention on the injected clock: with RETENTION_DAYS=30, chats closed more than 30 days ago are
 * deleted (log, files, hints, audit records, index entries; the client forgets them), chats
 * closed more recently and open chats stay, and one sweep takes at most RETENTION_BATCH chats.
 * Time moves by restarting the node on the same KV with a ManualClock set later (moving one
 * clock across a month would fire every periodic timer on the way).
 */
import assert from "node:assert/strict";
import { CLIENT } from "../../actors/_common.ts";
import type { ClientListReply } from "../../actors/client.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { hintsOf } from "../../src/integrations/hints/mod.ts";
import { lifecycleOf } from "../../src/ops/mod.ts";
import { retentionStats } from "../../src/ops/retention.ts";
import { startTestServer, type TestServer } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { accept, connectStaff, say } from "../integration/_routing_util.ts";
import { PNG, uploadMultipart } from "../integrations/_attachments_util.ts";
import { api, dumpKv, files, kvOf, mentioning } from "./_lifecycle.ts";

const DAY = 24 * 3_600_000;
const T0 = Date.UTC(2026, 0, 1);

/** A chat of `clientId` with a file, answered by op-1; closed unless `keepOpen`. */
async function chat(
  server: TestServer,
  sockets: Sockets,
  clientId: string,
  keepOpen = false,
): Promise<{ chatId: string; file: string }> {
  const op = await connectStaff(server, sockets, "op-1");
  const c = await server.createChat(clientId);
  const ws = await sockets.connect(server.wsUrl(c.client_token, { chat_id: c.chat_id }));
  const up = await uploadMultipart(
    server.url,
    c.chat_id,
    c.client_token,
    PNG,
    "image/png",
    "a.png",
  );
  assert.equal(up.status, 201);
  const sent = await ws.request("message", {
    chat_id: c.chat_id,
    text: `My invoice number is wrong (${clientId})`,
    attachments: [up.body.id],
  });
  assert.equal(sent.type, "ack");
  assert.equal((await accept(op, c.chat_id)).type, "ack");
  assert.equal((await say(op, c.chat_id, "We corrected the invoice number")).type, "ack");
  if (!keepOpen) assert.equal((await ws.request("close_chat", { chat_id: c.chat_id })).type, "ack");
  return { chatId: c.chat_id, file: up.body.id as string };
}

Deno.test("retention: chats closed more than RETENTION_DAYS ago go with their files, younger and open chats stay, RETENTION_BATCH bounds a sweep", async () => {
  const dir = await Deno.makeTempDir({ prefix: "retention-test-" });
  const kvPath = `${dir}/chat.kv`;
  const attachments = `${dir}/attachments`;
  const settings = {
    ATTACHMENTS_DIR: attachments,
    RETENTION_DAYS: "30",
    RETENTION_SWEEP_S: "60",
    RETENTION_BATCH: "1",
    TITLE_MODE: "extractive",
  };
  const at = async (t: number, work: (s: TestServer) => Promise<void>) => {
    const server = await startTestServer(settings, { clock: new ManualClock(t), kvPath });
    try {
      await work(server);
    } finally {
      await server.shutdown();
    }
  };
  try {
    let old1!: { chatId: string; file: string }, old2!: typeof old1;
    let young!: typeof old1, open!: typeof old1;
    await at(T0, async (server) => {
      await using sockets = new Sockets();
      old1 = await chat(server, sockets, "retention-client-c");
      old2 = await chat(server, sockets, "retention-client-d");
      open = await chat(server, sockets, "retention-client-c", true);
      await hintsOf(server.svc)!.harvester.idle();
    });
    await at(T0 + 25 * DAY, async (server) => {
      await using sockets = new Sockets();
      young = await chat(server, sockets, "retention-client-c");
      await hintsOf(server.svc)!.harvester.idle();
    });

    await at(T0 + 31 * DAY, async (server) => {
      const kv = kvOf(server);
      const life = lifecycleOf(server.svc)!;
      const before = await dumpKv(kv);
      const oldIds = [old1.chatId, old1.file, old2.chatId, old2.file];
      assert.ok(mentioning(before, oldIds).length > 20);
      assert.ok(before.some((l) => l.startsWith(`["hints","hist",`) && l.includes(old1.chatId)));

      // The periodic sweep (on the clock) takes one chat; the next another; then none is left.
      const clock = server.svc.system.clock as ManualClock;
      await clock.advance(61_000);
      const first = await life.retention.sweep(); // waits for the timer's sweep, then runs
      assert.equal(first.taken, 1, "the timer's sweep took one chat, this one the other");
      const taken = life.retention.totals.taken;
      assert.equal(taken, 2, JSON.stringify({ first, totals: life.retention.totals }));
      assert.equal((await life.retention.sweep()).taken, 0);

      const after = await dumpKv(kv);
      assert.deepEqual(mentioning(after, oldIds), []);
      const folder = await files(attachments);
      assert.deepEqual(folder.filter((f) => oldIds.some((id) => f.path.includes(id))), []);
      for (const keep of [young, open]) {
        assert.ok(folder.some((f) => f.path.endsWith(keep.file)), "younger files stay");
        assert.ok(mentioning(after, [keep.chatId]).length > 5, "younger chats stay");
      }
      const admin = await server.staffToken("adm", "admin");
      for (const keep of [young, open]) {
        const h = await api(server, "GET", `chats/${keep.chatId}/history?limit=500`, admin);
        assert.equal(h.status, 200);
        assert.ok(h.body.events.some((e: { type: string }) => e.type === "message"));
      }
      const gone = await api(server, "GET", `chats/${old1.chatId}/history`, admin);
      assert.equal(gone.status, 404, JSON.stringify(gone.body));
      // The client keeps the chats that stay, in its list and its own log.
      const list = await server.svc.router.askType(CLIENT, "retention-client-c", {
        type: "list",
      }) as ClientListReply;
      assert.deepEqual(list.chats.map((c) => c.chatId).sort(), [young.chatId, open.chatId].sort());
      assert.deepEqual(await retentionStats(kv), { chats: 2, sweeps: 3 });
      const metrics = await (await fetch(`${server.url}/metrics`)).text();
      assert.match(metrics, /chat_retention_chats_total 2/);
      assert.match(metrics, /chat_purged_attachments_total 2/);
    });

    // After a restart (shutdown snapshots everything) the old chats stay gone.
    await at(T0 + 32 * DAY, async (server) => {
      const after = await dumpKv(kvOf(server));
      assert.deepEqual(mentioning(after, [old1.chatId, old2.chatId]), []);
      assert.equal(lifecycleOf(server.svc)!.retention.totals.taken, 0);
    });
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("retention: RETENTION_DAYS=0 keeps everything", async () => {
  await using server = await startTestServer({}, { clock: new ManualClock(T0) });
  await using sockets = new Sockets();
  await chat(server, sockets, "retention-forever");
  const life = lifecycleOf(server.svc)!;
  assert.deepEqual(await life.retention.sweep(), { looked: 0, taken: 0, wrapped: false });
});
