/**
 * Attachments on local disk (the offline default) over a real server: upload, send over the
 * WebSocket, the operator's message frame, the signed download; limits, types, content sniffing
 * and access.
 */
import assert from "node:assert/strict";
import { startTestServer, type TestServer } from "../integration/_harness.ts";
import { assignedChat, Sockets } from "../integration/_util.ts";
import { linkOf, PDF, PNG, TEXT, uploadMultipart, uploadRaw } from "./_attachments_util.ts";

async function server(over: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "att-test-" });
  const s = await startTestServer({ ATTACHMENTS_DIR: dir, ...over });
  return Object.assign(s, {
    dir,
    async [Symbol.asyncDispose]() {
      await s.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  });
}

/** Every file under the store's folder (bytes on disk). */
async function filesIn(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const d of Deno.readDir(dir)) {
    if (d.isDirectory) { for await (const f of Deno.readDir(`${dir}/${d.name}`)) out.push(f.name); }
  }
  return out;
}

Deno.test("client uploads and sends; the operator gets the metadata and downloads the same bytes", async () => {
  await using s = await server();
  await using sockets = new Sockets();
  const { chat, client, op, opToken } = await assignedChat(s, sockets);

  const up = await uploadMultipart(
    s.url,
    chat.chat_id,
    chat.client_token,
    PNG,
    "image/png",
    "cat.png",
  );
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.deepEqual(Object.keys(up.body).sort(), ["id", "mime", "name", "size"]);
  assert.equal(up.body.mime, "image/png");
  assert.equal(up.body.size, PNG.byteLength);

  const ack = await client.request("message", { text: "", attachments: [up.body.id] });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  const msg = await op.next((f) => f.type === "message" && f.payload.seq === ack.payload.seq);
  const path = `/api/v1/chat/chats/${chat.chat_id}/attachments/${up.body.id}`;
  assert.deepEqual(msg.payload.attachments, [
    { id: up.body.id, name: "cat.png", mime: "image/png", size: PNG.byteLength, url: path },
  ]);

  const redirect = await linkOf(s.url, path, opToken);
  assert.equal(redirect.status, 302);
  assert.equal(redirect.headers.get("cache-control"), "no-store");
  const location = redirect.headers.get("location")!;
  assert.match(location, /\/api\/v1\/chat\/files\/[0-9a-f-]{36}\?exp=\d+&sig=[\w-]+$/);
  const file = await fetch(location);
  assert.equal(file.status, 200);
  assert.equal(file.headers.get("content-type"), "image/png");
  assert.equal(file.headers.get("x-content-type-options"), "nosniff");
  assert.equal(
    file.headers.get("content-disposition"),
    `attachment; filename="cat.png"; filename*=UTF-8''cat.png`,
  );
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), PNG);

  const json = await linkOf(s.url, path, chat.client_token, "json");
  const link = await json.json();
  assert.equal(json.status, 200);
  assert.ok(Date.parse(link.expires_at) > Date.now() + 250_000, "about ATTACHMENT_URL_TTL_S ahead");
  const again = await fetch(link.url);
  assert.deepEqual(new Uint8Array(await again.arrayBuffer()), PNG);
});

Deno.test("a raw-body upload takes ?name=; the same bytes twice give two ids and two files", async () => {
  await using s = await server();
  const chat = await s.createChat("client-raw");
  const a = await uploadRaw(
    s.url,
    chat.chat_id,
    chat.client_token,
    PDF,
    "application/pdf",
    "r.pdf",
  );
  const b = await uploadRaw(
    s.url,
    chat.chat_id,
    chat.client_token,
    PDF,
    "application/pdf",
    "r.pdf",
  );
  assert.equal(a.status, 201, JSON.stringify(a.body));
  assert.equal(b.status, 201);
  assert.equal(a.body.name, "r.pdf");
  assert.notEqual(a.body.id, b.body.id);
  assert.deepEqual((await filesIn(s.dir)).sort(), [a.body.id, b.body.id].sort());
});

Deno.test("over ATTACHMENT_MAX_BYTES is 413 file_too_large, declared or streamed; nothing is kept", async () => {
  await using s = await server({ ATTACHMENT_MAX_BYTES: "1024" });
  const chat = await s.createChat("client-big");
  const big = new Uint8Array(4096).fill(0x61);
  const declared = await uploadRaw(s.url, chat.chat_id, chat.client_token, big, "text/plain");
  assert.equal(declared.status, 413);
  assert.equal(declared.body.error?.code, "file_too_large");
  assert.equal(declared.body.error?.retryable, false);

  // No Content-Length: the stream is cut once it passes the limit.
  const chunks = [big.subarray(0, 1000), big.subarray(1000)];
  const stream = new ReadableStream({
    pull(c) {
      const next = chunks.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
  const streamed = await uploadRaw(s.url, chat.chat_id, chat.client_token, stream, "text/plain");
  assert.equal(streamed.status, 413);
  assert.equal(streamed.body.error?.code, "file_too_large");

  const multipart = await uploadMultipart(
    s.url,
    chat.chat_id,
    chat.client_token,
    big,
    "text/plain",
  );
  assert.equal(multipart.status, 413);
  const atLimit = await uploadRaw(
    s.url,
    chat.chat_id,
    chat.client_token,
    big.subarray(0, 1024),
    "text/plain",
  );
  assert.equal(atLimit.status, 201, "exactly the limit is accepted");
  assert.equal((await filesIn(s.dir)).length, 1);
});

Deno.test("types off the allow-list and content that contradicts the declared type are refused", async () => {
  await using s = await server({ ATTACHMENT_MIME_ALLOW: "image/png,application/pdf,text/plain" });
  const chat = await s.createChat("client-types");
  const up = (bytes: Uint8Array, mime: string) =>
    uploadMultipart(s.url, chat.chat_id, chat.client_token, bytes, mime);

  const cases: Array<[string, Uint8Array, string, RegExp]> = [
    ["not allowed", PNG, "image/gif", /image\/gif are not allowed/],
    [
      "PNG claiming PDF",
      PNG,
      "application/pdf",
      /declared as application\/pdf but its content is image\/png/,
    ],
    [
      "PDF claiming text",
      PDF,
      "text/plain",
      /declared as text\/plain but its content is application\/pdf/,
    ],
    [
      "text claiming PNG",
      TEXT,
      "image/png",
      /declared as image\/png but its content is not recognised as image\/png/,
    ],
    ["binary claiming text", new Uint8Array([1, 0, 2, 0]), "text/plain", /is binary/],
    ["empty file", new Uint8Array(), "text/plain", /empty/],
  ];
  for (const [what, bytes, mime, message] of cases) {
    const r = await up(bytes, mime);
    assert.equal(r.status, 400, what);
    assert.equal(r.body.error?.code, "invalid_payload", what);
    assert.match(r.body.error!.message, message, what);
  }
  assert.equal((await up(PNG, "image/png")).status, 201);
  assert.equal((await up(TEXT, "text/plain; charset=utf-8")).status, 201);
});

async function uploadedFile(s: TestServer, clientId: string) {
  const chat = await s.createChat(clientId);
  const up = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(up.status, 201);
  return {
    chat,
    id: up.body.id as string,
    path: `/api/v1/chat/chats/${chat.chat_id}/attachments/${up.body.id}`,
  };
}

Deno.test("access is the chat's: no token 401, another chat's token 403, others' staff 403", async () => {
  await using s = await server();
  const a = await uploadedFile(s, "client-a");
  const b = await s.createChat("client-b");

  assert.equal((await uploadMultipart(s.url, a.chat.chat_id, null, PNG, "image/png")).status, 401);
  const other = await uploadMultipart(s.url, a.chat.chat_id, b.client_token, PNG, "image/png");
  assert.equal(other.status, 403);
  assert.equal(other.body.error?.code, "forbidden");

  const noToken = await linkOf(s.url, a.path, null);
  assert.equal(noToken.status, 401);
  await noToken.body?.cancel();
  const wrongChat = await linkOf(s.url, a.path, b.client_token);
  assert.equal(wrongChat.status, 403);
  await wrongChat.body?.cancel();
  // The file id under another chat's path is not found there (even for that chat's client).
  const crossPath = await linkOf(
    s.url,
    `/api/v1/chat/chats/${b.chat_id}/attachments/${a.id}`,
    b.client_token,
  );
  assert.equal(crossPath.status, 404);
  await crossPath.body?.cancel();

  // Staff see a waiting chat (as they see the chat); once another operator has it, they do not.
  await using sockets = new Sockets();
  const op2 = await s.staffToken("op-2");
  const waiting = await linkOf(s.url, a.path, op2, "json");
  assert.equal(waiting.status, 200);
  await waiting.body?.cancel();
  const op1 = await sockets.connect(s.wsUrl(await s.staffToken("op-1")));
  assert.equal((await op1.request("accept_chat", { chat_id: a.chat.chat_id })).type, "ack");
  const taken = await linkOf(s.url, a.path, op2);
  assert.equal(taken.status, 403);
  await taken.body?.cancel();
});

Deno.test("the OpenAPI document describes the upload, the download and the signed file route", async () => {
  await using s = await server();
  const doc = await (await fetch(`${s.url}/api/v1/chat/openapi.json`)).json();
  const upload = doc.paths["/api/v1/chat/chats/{chat_id}/attachments"]?.post;
  assert.ok(upload?.requestBody.content["multipart/form-data"], "multipart upload");
  assert.ok(upload.responses["413"], "413 file_too_large documented");
  const link = doc.paths["/api/v1/chat/chats/{chat_id}/attachments/{id}"]?.get;
  assert.ok(link?.responses["302"] && link.responses["200"]);
  assert.ok(doc.paths["/api/v1/chat/files/{id}"]?.get);
});
