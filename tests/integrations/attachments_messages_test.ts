/**
 * Attachments in messages and links: which ids a sender may attach, resent messages, signed
 * links that expire or are altered, closed chats, and the store turned off.
 */
import assert from "node:assert/strict";
import { ManualClock } from "../../src/runtime/clock.ts";
import { startTestServer } from "../integration/_harness.ts";
import { allEvents, assignedChat, Sockets } from "../integration/_util.ts";
import { linkOf, PNG, uploadMultipart } from "./_attachments_util.ts";

async function server(over: Record<string, string> = {}, clock?: ManualClock) {
  const dir = await Deno.makeTempDir({ prefix: "att-test-" });
  const s = await startTestServer({ ATTACHMENTS_DIR: dir, ...over }, clock ? { clock } : {});
  return Object.assign(s, {
    async [Symbol.asyncDispose]() {
      await s.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

const errorCode = (f: { type: string; payload: Record<string, unknown> }) =>
  f.type === "error" ? f.payload.code : `${f.type}: ${JSON.stringify(f.payload)}`;

Deno.test("a sender may attach only their own uploads to this chat; unknown or repeated ids are refused", async () => {
  await using s = await server();
  await using sockets = new Sockets();
  const { chat, client, op, opToken } = await assignedChat(s, sockets);
  const other = await s.createChat("client-other");
  const mine = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  const theirs = await uploadMultipart(s.url, other.chat_id, other.client_token, PNG, "image/png");
  const send = (ids: unknown[]) => client.request("message", { text: "see", attachments: ids });

  assert.equal(errorCode(await send([theirs.body.id])), "forbidden", "another chat's upload");
  assert.equal(errorCode(await send([crypto.randomUUID()])), "not_found");
  assert.equal(errorCode(await send(["../../etc/passwd"])), "not_found");
  assert.equal(errorCode(await send([mine.body.id, mine.body.id])), "invalid_payload");
  const byOp = await op.request("message", {
    chat_id: chat.chat_id,
    text: "",
    attachments: [mine.body.id],
  });
  assert.equal(errorCode(byOp), "forbidden", "the client's upload, sent by the operator");

  // The operator's own upload goes out; the client receives it.
  const opFile = await uploadMultipart(s.url, chat.chat_id, opToken, PNG, "image/png", "op.png");
  assert.equal(opFile.status, 201);
  const sent = await op.request("message", {
    chat_id: chat.chat_id,
    text: "here",
    attachments: [opFile.body.id],
  });
  assert.equal(sent.type, "ack");
  const got = await client.next((f) => f.type === "message" && f.payload.seq === sent.payload.seq);
  assert.equal((got.payload.attachments as Array<{ name: string }>)[0].name, "op.png");

  // A resent message (same client_msg_id, same ids) is the same message, not an error.
  const first = await client.request("message", {
    text: "",
    client_msg_id: "m-att",
    attachments: [mine.body.id],
  });
  const again = await client.request("message", {
    text: "",
    client_msg_id: "m-att",
    attachments: [mine.body.id],
  });
  assert.equal(first.type, "ack");
  assert.equal(again.payload.seq, first.payload.seq);
  assert.equal(again.payload.duplicate, true);
  const stored = (await allEvents(s, chat.chat_id, chat.client_token))
    .filter((f) =>
      f.type === "message" && (f.payload.attachments as unknown[] | undefined)?.length
    );
  assert.equal(stored.length, 2, "the operator's file and the client's, each stored once");
});

Deno.test("a signed link works until it expires; an altered signature, id or expiry is refused", async () => {
  const clock = new ManualClock(Date.now());
  await using s = await server({ ATTACHMENT_URL_TTL_S: "300" }, clock);
  const chat = await s.createChat("client-link");
  const a = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  const b = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  const path = `/api/v1/chat/chats/${chat.chat_id}/attachments/${a.body.id}`;
  const { url, expires_at } = await (await linkOf(s.url, path, chat.client_token, "json")).json();
  assert.equal(Date.parse(expires_at), Math.floor(clock.now() / 1000) * 1000 + 300_000);

  const status = async (u: string) => {
    const res = await fetch(u);
    await res.body?.cancel();
    return res.status;
  };
  const u = new URL(url);
  const exp = Number(u.searchParams.get("exp"));
  const sig = u.searchParams.get("sig")!;
  const flipped = sig.slice(0, -1) + (sig.endsWith("A") ? "B" : "A");
  assert.equal(await status(url), 200);
  assert.equal(await status(url.replace(`sig=${sig}`, `sig=${flipped}`)), 403, "altered signature");
  assert.equal(await status(url.replace(`exp=${exp}`, `exp=${exp + 3600}`)), 403, "longer expiry");
  assert.equal(await status(url.replace(String(a.body.id), String(b.body.id))), 403, "other file");

  await clock.advance(299_000);
  assert.equal(await status(url), 200);
  await clock.advance(1_000);
  const expired = await fetch(url);
  assert.equal(expired.status, 403);
  assert.match((await expired.json()).error.message, /expired/);
});

Deno.test("a closed chat takes no uploads; its participants still download its files", async () => {
  await using s = await server();
  await using sockets = new Sockets();
  const { chat, client } = await assignedChat(s, sockets);
  const up = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(
    (await client.request("message", { text: "", attachments: [up.body.id] })).type,
    "ack",
  );
  assert.equal((await client.request("close_chat", {})).type, "ack");

  const late = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(late.status, 409);
  assert.equal(late.body.error?.code, "chat_closed");
  const path = `/api/v1/chat/chats/${chat.chat_id}/attachments/${up.body.id}`;
  const res = await linkOf(s.url, path, chat.client_token);
  assert.equal(res.status, 302);
  const file = await fetch(res.headers.get("location")!);
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), PNG);
});

Deno.test("with ATTACHMENT_STORE=off messages with attachments get not_supported", async () => {
  await using s = await server({ ATTACHMENT_STORE: "off" });
  await using sockets = new Sockets();
  const { chat, client } = await assignedChat(s, sockets);
  const up = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(up.status, 404);
  const r = await client.request("message", { text: "x", attachments: [crypto.randomUUID()] });
  assert.equal(errorCode(r), "not_supported");
});
