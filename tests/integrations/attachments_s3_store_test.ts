/**
 * The S3 store against the local fake S3, with time driven by hand: SigV4-signed PUT (checked
 * by the fake's own verifier), presigned GET with expiry, retries with backoff on 503 SlowDown
 * and 429 (Retry-After), timeouts, the retries running out, and refusals that are final.
 */
import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import { silentLogger } from "../../src/log.ts";
import { S3Store } from "../../src/integrations/attachments/s3_store.ts";
import type { StoredAttachment } from "../../src/integrations/attachments/store.ts";
import { FakeS3 } from "./_attachments_fake_s3.ts";
import { PNG, WatchedClock } from "./_attachments_util.ts";

const CREDS = { accessKeyId: "AKIDTEST", secretAccessKey: "s3cr3t-for-tests", region: "eu-test-1" };
const KEY = "0f8fad5b-d9cb-469f-a165-70867728950e";
const TIMEOUT = 1000;

function setup(o: { maxRetries?: number; secret?: string; fakeNow?: () => number } = {}) {
  const clock = new WatchedClock(Date.now());
  const fake = FakeS3.start({ ...CREDS, bucket: "chat-files", now: o.fakeNow });
  const store = new S3Store({
    endpoint: fake.url,
    bucket: "chat-files",
    ...CREDS,
    secretAccessKey: o.secret ?? CREDS.secretAccessKey,
    forcePathStyle: true,
    retry: {
      timeoutMs: TIMEOUT,
      maxRetries: o.maxRetries ?? 3,
      backoffMs: 200,
      maxBackoffMs: 5000,
    },
    clock,
    log: silentLogger,
  });
  return { clock, fake, store, [Symbol.asyncDispose]: () => fake.close() };
}

const meta = (over: Partial<StoredAttachment> = {}): StoredAttachment => ({
  id: KEY,
  chatId: "c1",
  uploaderId: "u1",
  name: "photo é.png",
  mime: "image/png",
  size: PNG.byteLength,
  sha256: "",
  storedAt: 0,
  ...over,
});

async function rejected(p: Promise<unknown>): Promise<AppError> {
  const err = await p.then(() => null, (e) => e);
  assert.ok(err instanceof AppError, `expected an AppError, got ${err}`);
  return err;
}

Deno.test("S3 PUT is SigV4-signed with the payload hash; the presigned GET serves the bytes", async () => {
  await using s = setup();
  await s.store.put(KEY, PNG, "image/png");
  const put = s.fake.requests[0];
  assert.equal(put.status, 200, "the fake verified the signature");
  assert.equal(put.path, `/chat-files/${KEY}`);
  assert.match(put.headers.get("authorization")!, /^AWS4-HMAC-SHA256 Credential=AKIDTEST\//);
  assert.deepEqual(s.fake.objects.get(KEY)?.bytes, PNG);

  const url = new URL(await s.store.signedUrl(meta(), Math.floor(s.clock.now() / 1000) + 300));
  assert.equal(url.searchParams.get("X-Amz-Expires"), "300");
  assert.match(url.searchParams.get("X-Amz-Signature")!, /^[0-9a-f]{64}$/);
  assert.equal(url.searchParams.get("X-Amz-SignedHeaders"), "host");
  const res = await fetch(url);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "image/png");
  assert.match(
    res.headers.get("content-disposition")!,
    /^attachment; .*filename\*=UTF-8''photo%20%C3%A9\.png/,
  );
  assert.deepEqual(new Uint8Array(await res.arrayBuffer()), PNG);
});

Deno.test("a presigned URL is refused once expired, and when its signature is altered", async () => {
  let fakeNow = Date.now();
  await using s = setup({ fakeNow: () => fakeNow });
  await s.store.put(KEY, PNG, "image/png");
  const url = new URL(await s.store.signedUrl(meta(), Math.floor(s.clock.now() / 1000) + 60));
  const tampered = new URL(url);
  tampered.searchParams.set("X-Amz-Expires", "3600");
  assert.equal((await fetch(tampered).then(async (r) => (await r.body?.cancel(), r))).status, 403);
  fakeNow += 61_000;
  const late = await fetch(url);
  await late.body?.cancel();
  assert.equal(late.status, 403);
});

Deno.test("503 SlowDown is retried after 200 ms then 400 ms of backoff, and succeeds", async () => {
  await using s = setup();
  s.fake.script.push("503", "503");
  const put = s.store.put(KEY, PNG, "image/png");
  await s.clock.timerSet(200);
  assert.equal(s.fake.arrived, 1, "no retry before the backoff has passed");
  await s.clock.advance(200);
  await s.fake.arrivedAtLeast(2);
  await s.clock.timerSet(400);
  await s.clock.advance(400);
  await put;
  assert.deepEqual(s.fake.requests.map((r) => r.status), [503, 503, 200]);
  assert.deepEqual(s.fake.objects.get(KEY)?.bytes, PNG);
});

Deno.test("429 with Retry-After waits as long as the server asks before retrying", async () => {
  await using s = setup();
  s.fake.script.push("429");
  const put = s.store.put(KEY, PNG, "image/png");
  await s.clock.timerSet(2000);
  await s.clock.advance(1999);
  assert.equal(s.fake.arrived, 1);
  await s.clock.advance(1);
  await put;
  assert.deepEqual(s.fake.requests.map((r) => r.status), [429, 200]);
});

Deno.test("a PUT that times out is sent again; the duplicate write leaves one object", async () => {
  await using s = setup();
  s.fake.script.push("hang");
  const put = s.store.put(KEY, PNG, "image/png");
  await s.fake.arrivedAtLeast(1);
  await s.clock.advance(TIMEOUT);
  await s.clock.timerSet(200);
  await s.clock.advance(200);
  await put;
  assert.equal(s.fake.arrived, 2);
  assert.equal(s.fake.objects.size, 1);
  assert.deepEqual(s.fake.objects.get(KEY)?.bytes, PNG);
});

Deno.test("when every attempt times out the upload fails with a retryable timeout", async () => {
  await using s = setup({ maxRetries: 1 });
  s.fake.script.push("hang", "hang");
  const put = rejected(s.store.put(KEY, PNG, "image/png"));
  await s.fake.arrivedAtLeast(1);
  await s.clock.advance(TIMEOUT);
  await s.clock.timerSet(200);
  await s.clock.advance(200);
  await s.fake.arrivedAtLeast(2);
  await s.clock.advance(TIMEOUT);
  const err = await put;
  assert.equal(err.code, "timeout");
  assert.equal(err.retryable, true);
});

Deno.test("500 on every attempt fails with a retryable unavailable after the retries", async () => {
  await using s = setup({ maxRetries: 2 });
  s.fake.script.push("500", "500", "500");
  const put = rejected(s.store.put(KEY, PNG, "image/png"));
  await s.clock.timerSet(200);
  await s.clock.advance(200);
  await s.clock.timerSet(400);
  await s.clock.advance(400);
  const err = await put;
  assert.equal(err.code, "unavailable");
  assert.equal(err.retryable, true);
  assert.match(err.message, /500 InternalError/);
  assert.equal(s.fake.arrived, 3);
  assert.equal(s.fake.objects.size, 0);
});

Deno.test("a wrong secret is refused by storage at once (no retry) and never shows the secret", async () => {
  await using s = setup({ secret: "not-the-right-secret" });
  const err = await rejected(s.store.put(KEY, PNG, "image/png"));
  assert.equal(err.code, "internal");
  assert.match(err.message, /403 SignatureDoesNotMatch/);
  assert.doesNotMatch(err.message, /not-the-right-secret/);
  assert.equal(s.fake.arrived, 1);
});

Deno.test("DELETE removes the object; deleting a missing one is not an error", async () => {
  await using s = setup();
  await s.store.put(KEY, PNG, "image/png");
  await s.store.delete(KEY);
  assert.equal(s.fake.objects.size, 0);
  await s.store.delete(KEY);
  assert.deepEqual(s.fake.requests.map((r) => r.status), [200, 204, 404]);
});

Deno.test("without path style the bucket is the host name (virtual-hosted URLs)", async () => {
  const clock = new WatchedClock();
  const store = new S3Store({
    endpoint: "https://s3.eu-test-1.example.com",
    bucket: "chat-files",
    ...CREDS,
    forcePathStyle: false,
    retry: { timeoutMs: 1000, maxRetries: 0, backoffMs: 1, maxBackoffMs: 1 },
    clock,
    log: silentLogger,
  });
  const url = new URL(await store.signedUrl(meta(), Math.floor(clock.now() / 1000) + 300));
  assert.equal(url.host, "chat-files.s3.eu-test-1.example.com");
  assert.equal(url.pathname, `/${KEY}`);
  assert.equal(url.searchParams.get("X-Amz-Date"), "20260101T000000Z", "time from the clock");
});
