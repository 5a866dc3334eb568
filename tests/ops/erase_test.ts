/**
 * Erasing a client over a real server: a client with support and lawyer chats (closed, assigned,
 * waiting), messages with attachments on the local store, a webhook subscription whose receiver
 * is down (deliveries in the outbox and dead letters), hints harvested, titles on, a staff note
 * mentioning a colleague and labels. After
 * `POST admin/erase-client`, every KV entry of every prefix and every file of the attachment
 * folder is searched: nothing names the client, its chats or its files — also after a clean
 * restart, whose shutdown snapshots every actor — while the other client's data is untouched and
 * the queue and operators work on without phantoms. A second erase finds nothing.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { webhooksOf } from "../../src/integrations/webhooks/mod.ts";
import { hintsOf } from "../../src/integrations/hints/mod.ts";
import type { DeadLetter, Delivery } from "../../src/integrations/webhooks/store.ts";
import { startTestServer, type TestServer, type WsClient } from "../integration/_harness.ts";
import { Sockets } from "../integration/_util.ts";
import { accept, connectStaff, say } from "../integration/_routing_util.ts";
import { PNG, uploadMultipart } from "../integrations/_attachments_util.ts";
import { Recorder } from "../integrations/_webhooks_util.ts";
import { api, closedPort, dumpKv, files, kvOf, mentioning, prefixesOf } from "./_lifecycle.ts";

const A = "erase-target-client-4f1c9a";
const B = "keep-me-client-77aa01";

interface Client {
  chatId: string;
  ws: WsClient;
  token: string;
}

async function open(server: TestServer, sockets: Sockets, clientId: string): Promise<Client> {
  const chat = await server.createChat(clientId);
  const ws = await sockets.connect(server.wsUrl(chat.client_token, { chat_id: chat.chat_id }));
  return { chatId: chat.chat_id, ws, token: chat.client_token };
}

/** Uploads a PNG to the chat and sends it with `text`; answers the attachment id. */
async function sendFile(server: TestServer, c: Client, text: string): Promise<string> {
  const up = await uploadMultipart(server.url, c.chatId, c.token, PNG, "image/png", "passport.png");
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const id = up.body.id as string;
  const ack = await c.ws.request("message", { chat_id: c.chatId, text, attachments: [id] });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  return id;
}

/** Webhook records (outbox and dead letters) per chat. */
async function webhookRecords(kv: Deno.Kv): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const add = (chatId: string) => out.set(chatId, (out.get(chatId) ?? 0) + 1);
  for await (const e of kv.list<Delivery>({ prefix: ["wh", "d"] })) add(e.value.chatId);
  for await (const e of kv.list<DeadLetter>({ prefix: ["wh", "dead"] })) {
    add(e.value.delivery.chatId);
  }
  return out;
}

/** Lets every delivery of the refusing receiver fail twice (→ dead letter), moving the clock. */
async function killDeliveries(server: TestServer, rec: Recorder, clock: ManualClock) {
  const wh = webhooksOf(server.svc)!;
  await wh.flushed();
  for (let i = 0; i < 30 && await wh.store.pendingCount() > 0; i++) {
    const from = rec.records.length;
    await clock.advance(1500);
    await rec.next(() => true, from).catch(() => {});
  }
  assert.equal(await wh.store.pendingCount(), 0);
}

Deno.test("erase-client: support and lawyer chats, files, webhooks, hints, titles — afterwards nothing in KV or the attachment folder names the client, the other client is untouched", async () => {
  const dir = await Deno.makeTempDir({ prefix: "erase-test-" });
  const kvPath = `${dir}/chat.kv`;
  const attachments = `${dir}/attachments`;
  const clock = new ManualClock();
  const settings = {
    ATTACHMENTS_DIR: attachments,
    TITLE_MODE: "extractive",
    WEBHOOK_MAX_ATTEMPTS: "2",
    WEBHOOK_BACKOFF_MS: "1000",
    WEBHOOK_BACKOFF_MAX_MS: "1000",
  };
  let server: TestServer | null = await startTestServer(settings, { clock, kvPath });
  try {
    await using sockets = new Sockets();
    const admin = await server.staffToken("adm-1", "admin");
    const sub = await api(server, "POST", "admin/webhooks", admin, {
      url: `http://127.0.0.1:${closedPort()}/hook`,
      events: ["chat.created", "chat.assigned", "chat.message", "chat.closed", "chat.transferred"],
    });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    const rec = new Recorder(webhooksOf(server.svc)!);
    const op1 = await connectStaff(server, sockets, "op-1");
    const op2 = await connectStaff(server, sockets, "op-2");
    const lawyer = await connectStaff(server, sockets, "law-1", "lawyer");

    // Phase 1: A's support chat (file, transfer, closed and harvested), A's lawyer chat; B's.
    const a1 = await open(server, sockets, A);
    const aFiles = [await sendFile(server, a1, "My name is Alice Erasova, here is my passport")];
    assert.equal((await accept(op1, a1.chatId)).type, "ack");
    assert.equal(
      (await say(op1, a1.chatId, "Thanks Alice, we will renew the passport")).type,
      "ack",
    );
    const moved = await api(server, "POST", "admin/transfer-chat", admin, {
      chat_id: a1.chatId,
      target_operator_id: "op-2",
      reason: "passport team",
    });
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal((await say(op2, a1.chatId, "Your passport renewal is booked")).type, "ack");
    assert.equal((await a1.ws.request("close_chat", { chat_id: a1.chatId })).type, "ack");
    const lawyerChat = await api(server, "POST", "admin/assign-lawyer", admin, {
      client_id: A,
      lawyer_id: "law-1",
    });
    assert.equal(lawyerChat.status, 200, JSON.stringify(lawyerChat.body));
    const aLawyer = lawyerChat.body.lawyer_chat_id as string;
    await lawyer.next((f) => f.type === "chat_assigned" && f.payload.chat_id === aLawyer);
    assert.equal((await say(lawyer, aLawyer, "About your divorce, Alice")).type, "ack");

    const b1 = await open(server, sockets, B);
    const bFile = await sendFile(server, b1, "How do I reset my password?");
    assert.equal((await accept(op1, b1.chatId)).type, "ack");
    assert.equal((await say(op1, b1.chatId, "Use the reset link on the login page")).type, "ack");
    assert.equal((await b1.ws.request("close_chat", { chat_id: b1.chatId })).type, "ack");
    await hintsOf(server.svc)!.harvester.idle();
    await killDeliveries(server, rec, clock);

    // Phase 2: A has an assigned chat and a waiting one; B a waiting one. Deliveries wait.
    const a2 = await open(server, sockets, A);
    assert.equal(
      (await say(a2.ws, a2.chatId, "Alice again: my card was charged twice")).type,
      "ack",
    );
    aFiles.push(await sendFile(server, a2, "the bank statement"));
    assert.equal((await accept(op1, a2.chatId)).type, "ack");
    // Staff notes (one mentions a colleague) and labels: the chat's staff side.
    const note = await op1.request("note", {
      chat_id: a2.chatId,
      text: "Alice Erasova is a VIP, @op-2 please double-check the refund",
    });
    assert.equal(note.type, "ack", JSON.stringify(note));
    const labels = await op1.request("set_labels", { chat_id: a2.chatId, labels: ["vip"] });
    assert.equal(labels.type, "ack", JSON.stringify(labels));
    const a3 = await open(server, sockets, A);
    assert.equal((await say(a3.ws, a3.chatId, "and one more question")).type, "ack");
    const b2 = await open(server, sockets, B);
    assert.equal((await say(b2.ws, b2.chatId, "Is the shop open on Sunday?")).type, "ack");
    await webhooksOf(server.svc)!.flushed();
    await hintsOf(server.svc)!.harvester.idle();

    const kv = kvOf(server);
    const aChats = [a1.chatId, aLawyer, a2.chatId, a3.chatId];
    const needles = [A, ...aChats, ...aFiles];
    const before = await dumpKv(kv);
    assert.ok(mentioning(before, needles).length > 50, "A is all over the store before");
    for (
      const p of [`["hints","hist"`, `["wh","dead"`, `["wh","d"`, `["audit","chat"`, `["labels"`]
    ) {
      assert.ok(mentioning(before, [A, ...aChats]).some((l) => l.startsWith(p)), `A in ${p}`);
    }
    const bWebhooks = await webhookRecords(kv);
    const bHints = before.filter((l) => l.startsWith(`["hints","hist",`) && l.includes(b1.chatId));
    assert.ok(bHints.length > 0);

    // Erase A.
    const erased = await api(server, "POST", "admin/erase-client", admin, {
      client_id: A,
      reason: "GDPR request #1234",
    });
    assert.equal(erased.status, 200, JSON.stringify(erased.body));
    assert.equal(erased.body.chats, 4);
    assert.equal(erased.body.closed, 3); // the lawyer chat, a2 and a3 were open

    const check = async (when: string) => {
      const after = await dumpKv(kvOf(server!));
      const left = mentioning(after, needles);
      assert.deepEqual(left, [], `${when}: still naming A in ${prefixesOf(after).join(" ")}`);
      const folder = await files(attachments);
      assert.deepEqual(
        folder.filter((f) => needles.some((n) => f.path.includes(n) || f.text.includes(n))),
        [],
      );
      assert.ok(folder.some((f) => f.path.endsWith(bFile)), "B's file is still there");
      return after;
    };
    const after = await check("after the erase");

    // B is untouched: history, file, hints, webhook records, its waiting chat.
    const kv2 = kvOf(server);
    const history = await api(server, "GET", `chats/${b1.chatId}/history?limit=500`, admin);
    const texts = history.body.events.filter((e: { type: string }) => e.type === "message")
      .map((e: { payload: { message: string } }) => e.payload.message);
    assert.deepEqual(texts, [
      "How do I reset my password?",
      "Use the reset link on the login page",
    ]);
    assert.ok((await kv2.get(["attachments", "meta", bFile])).value);
    assert.deepEqual(
      after.filter((l) => l.startsWith(`["hints","hist",`) && l.includes(b1.chatId)),
      bHints,
    );
    const whAfter = await webhookRecords(kv2);
    for (const c of [b1.chatId, b2.chatId]) assert.equal(whAfter.get(c), bWebhooks.get(c), c);
    const queue = await api(server, "GET", "admin/queue", admin);
    assert.deepEqual(queue.body.waiting.map((w: { chat_id: string }) => w.chat_id), [b2.chatId]);

    // The audit record says it was done, by whom, why and how many — and names no one.
    const audit = await api(server, "GET", "admin/audit?limit=5", admin);
    const record = audit.body.find((r: { action: string }) => r.action === "client_erased");
    assert.ok(record, JSON.stringify(audit.body));
    assert.deepEqual(record.actor, { id: "adm-1", role: "admin" });
    assert.equal(record.reason, "GDPR request #1234 (4 chats erased)");
    assert.equal(record.chat_id, undefined);
    assert.equal(record.source, erased.body.audit_source);

    // Idempotent: nothing is left to find.
    const again = await api(server, "POST", "admin/erase-client", admin, {
      client_id: A,
      reason: "GDPR request #1234, again",
    });
    assert.equal(again.status, 200, JSON.stringify(again.body));
    assert.equal(again.body.chats, 0);
    assert.equal(again.body.subject, erased.body.subject);

    // A clean restart snapshots every actor: nothing comes back, the queue has no phantoms.
    await server.shutdown();
    server = await startTestServer(settings, { clock, kvPath });
    await check("after a restart");
    const admin2 = await server.staffToken("adm-1", "admin");
    const q2 = await api(server, "GET", "admin/queue", admin2);
    assert.deepEqual(q2.body.waiting.map((w: { chat_id: string }) => w.chat_id), [b2.chatId]);
    assert.deepEqual(q2.body.active ?? [], []);
    await using sockets2 = new Sockets();
    const op = await connectStaff(server, sockets2, "op-1");
    assert.equal((await accept(op, b2.chatId)).type, "ack");
    const ops = await api(server, "GET", "admin/operators", admin2);
    const row = ops.body.find((o: { operator_id: string }) => o.operator_id === "op-1");
    assert.equal(row.open_chats ?? row.load, 1, JSON.stringify(row));
    await check("after the restart's traffic");
  } finally {
    await server?.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
});

Deno.test("erase-client: admin only, validated, in the OpenAPI document", async () => {
  await using server = await startTestServer();
  const op = await server.staffToken("op-1");
  const admin = await server.staffToken("adm", "admin");
  assert.equal(
    (await api(server, "POST", "admin/erase-client", op, { client_id: "x", reason: "r" })).status,
    403,
  );
  const res = await fetch(`${server.url}/api/v1/chat/admin/erase-client`, {
    method: "POST",
    body: "{}",
  });
  assert.equal(res.status, 401);
  await res.body?.cancel();
  const bad = await api(server, "POST", "admin/erase-client", admin, { client_id: "x" });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.error.code, "invalid_payload");
  const doc = await (await fetch(`${server.url}/api/v1/chat/openapi.json`)).json();
  assert.ok(doc.paths["/api/v1/chat/admin/erase-client"]?.post);
});
