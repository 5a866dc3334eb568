/**
 * Attachments in S3-compatible storage over a real server and the local fake S3: the round trip
 * (upload → SigV4 PUT, message, download → 302 to a presigned GET), storage failing (500, 503
 * SlowDown, timeouts) as coded retryable errors, and secrets kept out of the logs.
 */
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config.ts";
import { attachmentOrigins, startAttachments } from "../../src/integrations/attachments/mod.ts";
import type { IntegrationContext } from "../../src/integrations/mod.ts";
import { createLogger } from "../../src/log.ts";
import { startServer } from "../../src/server/server.ts";
import { TEST_SECRET, withHelpers } from "../integration/_harness.ts";
import { assignedChat, Sockets } from "../integration/_util.ts";
import { FakeS3 } from "./_attachments_fake_s3.ts";
import { linkOf, PDF, PNG, uploadMultipart } from "./_attachments_util.ts";

const CREDS = {
  accessKeyId: "AKIDSERVER",
  secretAccessKey: "very-secret-key-that-must-not-leak",
  region: "eu-test-1",
  bucket: "attachments",
};

async function s3Server(over: Record<string, string> = {}) {
  const fake = FakeS3.start(CREDS);
  const dir = await Deno.makeTempDir({ prefix: "att-s3-" });
  const logs: string[] = [];
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    KV_PATH: `${dir}/chat.kv`,
    ATTACHMENT_STORE: "s3",
    S3_ENDPOINT: fake.url,
    S3_BUCKET: CREDS.bucket,
    S3_REGION: CREDS.region,
    S3_ACCESS_KEY_ID: CREDS.accessKeyId,
    S3_SECRET_ACCESS_KEY: CREDS.secretAccessKey,
    S3_MAX_RETRIES: "1",
    ...over,
  });
  const running = await startServer(config, {
    logger: createLogger("debug", (line) => logs.push(line)),
    env: { get: (k) => (k === "JWT_SECRET" ? TEST_SECRET : undefined) },
  });
  const s = withHelpers(running, running.auth, async () => {
    await running.shutdown();
    await fake.close();
    await Deno.remove(dir, { recursive: true });
  });
  return Object.assign(s, { fake, logs });
}

Deno.test("S3: upload is a signed PUT, the message carries it, download redirects to a presigned GET", async () => {
  await using s = await s3Server();
  await using sockets = new Sockets();
  const { chat, client, op, opToken } = await assignedChat(s, sockets);

  const up = await uploadMultipart(
    s.url,
    chat.chat_id,
    chat.client_token,
    PDF,
    "application/pdf",
    "bill.pdf",
  );
  assert.equal(up.status, 201, JSON.stringify(up.body));
  const stored = s.fake.objects.get(up.body.id as string);
  assert.deepEqual(stored?.bytes, PDF);
  assert.equal(stored?.type, "application/pdf");
  assert.equal(s.fake.requests[0].status, 200, "the fake verified the SigV4 signature");

  const ack = await client.request("message", { text: "my bill", attachments: [up.body.id] });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  const msg = await op.next((f) => f.type === "message" && f.payload.seq === ack.payload.seq);
  const [att] = msg.payload.attachments as Array<{ url: string; name: string }>;
  assert.equal(att.name, "bill.pdf");

  const redirect = await linkOf(s.url, att.url, opToken);
  assert.equal(redirect.status, 302);
  const location = new URL(redirect.headers.get("location")!);
  assert.equal(location.origin, s.fake.url);
  assert.equal(location.pathname, `/${CREDS.bucket}/${up.body.id}`);
  assert.equal(location.searchParams.get("X-Amz-Expires"), "300");
  assert.match(location.searchParams.get("X-Amz-Signature")!, /^[0-9a-f]{64}$/);
  const file = await fetch(location);
  assert.equal(file.status, 200);
  assert.equal(file.headers.get("content-type"), "application/pdf");
  assert.match(file.headers.get("content-disposition")!, /^attachment; filename="bill.pdf"/);
  assert.deepEqual(new Uint8Array(await file.arrayBuffer()), PDF);
  assert.ok(!s.logs.some((l) => l.includes(CREDS.secretAccessKey)), "the secret is never logged");
});

Deno.test("S3: a 503 SlowDown is retried and the upload succeeds", async () => {
  await using s = await s3Server();
  const chat = await s.createChat("client-slow");
  s.fake.script.push("503");
  const up = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(up.status, 201, JSON.stringify(up.body));
  assert.deepEqual(s.fake.requests.map((r) => r.status), [503, 200]);
});

Deno.test("S3: storage answering 500 fails the upload with a retryable coded error; a retry works", async () => {
  await using s = await s3Server();
  const chat = await s.createChat("client-500");
  s.fake.script.push("500", "500");
  const failed = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(failed.status, 503);
  assert.equal(failed.body.error?.code, "unavailable");
  assert.equal(failed.body.error?.retryable, true);
  assert.equal(s.fake.arrived, 2, "one try and S3_MAX_RETRIES=1 retry");
  assert.equal(s.fake.objects.size, 0);

  const retried = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(retried.status, 201);
  assert.ok(!s.logs.some((l) => l.includes(CREDS.secretAccessKey)), "the secret is never logged");
});

Deno.test("S3: storage that never answers fails the upload with a retryable timeout", async () => {
  await using s = await s3Server({ S3_TIMEOUT_MS: "150" });
  const chat = await s.createChat("client-hang");
  s.fake.script.push("hang", "hang");
  const r = await uploadMultipart(s.url, chat.chat_id, chat.client_token, PNG, "image/png");
  assert.equal(r.status, 504);
  assert.equal(r.body.error?.code, "timeout");
  assert.equal(r.body.error?.retryable, true);
  // The id was never given out; its record stays marked "uploading" until the orphan sweep
  // deletes the bytes the fake kept (attachments_service_test covers the sweep).
  assert.equal(s.fake.arrived, 2);
});

Deno.test("S3: the integration refuses to start without bucket or credentials", async () => {
  const config = loadConfig({ ATTACHMENT_STORE: "s3", S3_BUCKET: "b" });
  const ctx = { config, env: { get: () => TEST_SECRET } } as unknown as IntegrationContext;
  await assert.rejects(
    startAttachments(ctx),
    /ATTACHMENT_STORE=s3 needs S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY/,
  );
});

Deno.test("S3: the pages allow images from the store's origin, and only with ATTACHMENT_STORE=s3", async () => {
  await using s = await s3Server();
  for (const path of ["/", "/console"]) {
    const res = await fetch(`${s.url}${path}`);
    await res.body?.cancel();
    const img = (res.headers.get("content-security-policy") ?? "").split("; ")
      .find((d) => d.startsWith("img-src "));
    assert.equal(img, `img-src 'self' data: ${new URL(s.fake.url).origin}`, path);
  }
  const base = { ATTACHMENT_STORE: "s3", S3_BUCKET: "files", S3_REGION: "eu-west-3" };
  assert.deepEqual(attachmentOrigins(loadConfig({ ...base, S3_FORCE_PATH_STYLE: "false" })), [
    "https://files.s3.eu-west-3.amazonaws.com",
  ]);
  assert.deepEqual(
    attachmentOrigins(loadConfig({ ...base, S3_ENDPOINT: "http://minio:9000/prefix" })),
    ["http://minio:9000"],
  );
  assert.deepEqual(attachmentOrigins(loadConfig({})), [], "local files come from the engine");
});
