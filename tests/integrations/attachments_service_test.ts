/**
 * The attachment service and its parts without a server: orphan cleanup on the injected clock,
 * content sniffing, names, `Content-Disposition`, link signatures and the capped body reader.
 */
import assert from "node:assert/strict";
import type { Principal } from "../../src/auth/principal.ts";
import { AppError } from "../../src/errors.ts";
import { cleanName, readCapped } from "../../src/integrations/attachments/body.ts";
import { OrphanSweeper, SWEEP_EVERY_MS } from "../../src/integrations/attachments/cleanup.ts";
import { LocalStore } from "../../src/integrations/attachments/local_store.ts";
import { settingsOf } from "../../src/integrations/attachments/mod.ts";
import { AttachmentService, metaKey } from "../../src/integrations/attachments/service.ts";
import { UrlSigner } from "../../src/integrations/attachments/signing.ts";
import { checkContent, sniff } from "../../src/integrations/attachments/sniff.ts";
import { type BlobStore, contentDisposition } from "../../src/integrations/attachments/store.ts";
import { loadConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { PDF, PNG, TEXT } from "./_attachments_util.ts";

const client: Principal = {
  id: "client-1",
  role: "client",
  scope: "chat",
  chatId: "c1",
  expiresAt: Infinity,
};
const HOUR = 3_600_000;

async function setup(store?: (local: LocalStore) => BlobStore) {
  const dir = await Deno.makeTempDir({ prefix: "att-svc-" });
  const kv = await Deno.openKv(":memory:");
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const local = new LocalStore(dir, await UrlSigner.fromSecret("x".repeat(32)));
  const settings = settingsOf(loadConfig({ ATTACHMENT_ORPHAN_TTL_S: "3600" }));
  const service = new AttachmentService({
    kv,
    store: store ? store(local) : local,
    access: { view: () => Promise.resolve({ status: "assigned" }) },
    clock,
    log: silentLogger,
    settings,
  });
  const file = (name = "a.png") => ({ name, mime: "image/png", bytes: new Uint8Array(PNG) });
  return {
    dir,
    kv,
    clock,
    local,
    service,
    file,
    async [Symbol.asyncDispose]() {
      kv.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("uploads never attached are swept after the orphan TTL; attached ones stay", async () => {
  await using t = await setup();
  const orphan = await t.service.upload(client, "c1", t.file("orphan.png"));
  const kept = await t.service.upload(client, "c1", t.file("kept.png"));
  await t.service.resolve("c1", "client-1", [kept.id]);

  await t.clock.advance(HOUR - 1);
  assert.equal(await t.service.sweepOrphans(), 0, "not yet older than the TTL");
  await t.clock.advance(1);
  assert.equal(await t.service.sweepOrphans(), 1);
  assert.equal(await t.service.get(orphan.id), null);
  assert.equal(await t.local.open(orphan.id), null, "its bytes are gone");
  assert.ok(await t.service.get(kept.id));
  (await t.local.open(kept.id))?.close();
  await assert.rejects(t.service.resolve("c1", "client-1", [orphan.id]), /No attachment/);
});

Deno.test("the sweeper runs every few minutes on the clock and stops cleanly", async () => {
  await using t = await setup();
  const sweeper = new OrphanSweeper(t.service, t.clock, silentLogger);
  const orphan = await t.service.upload(client, "c1", t.file());
  sweeper.start();
  await t.clock.advance(HOUR);
  await t.clock.advance(SWEEP_EVERY_MS);
  await sweeper.idle();
  assert.equal(await t.service.get(orphan.id), null);
  assert.equal(t.clock.pending, 1, "the next sweep is armed");
  await sweeper.stop();
  assert.equal(t.clock.pending, 0);
});

Deno.test("a failed store leaves no usable record, and the sweep deletes whatever bytes arrived", async () => {
  const deleted: string[] = [];
  await using t = await setup((local) => ({
    kind: "local",
    put: () => Promise.reject(new AppError("timeout", "storage did not answer")),
    delete: (key) => (deleted.push(key), local.delete(key)),
    signedUrl: (m, e, b) => local.signedUrl(m, e, b),
  }));
  await assert.rejects(t.service.upload(client, "c1", t.file()), /storage did not answer/);
  const records = await Array.fromAsync(t.kv.list({ prefix: ["attachments", "meta"] }));
  assert.equal(records.length, 1);
  const id = (records[0].value as { id: string }).id;
  assert.equal(await t.service.get(id), null, "an unfinished upload cannot be linked");
  await assert.rejects(t.service.resolve("c1", "client-1", [id]), /No attachment/);
  await t.clock.advance(HOUR);
  assert.equal(await t.service.sweepOrphans(), 1);
  assert.deepEqual(deleted, [id]);
  assert.equal((await t.kv.get(metaKey(id))).value, null);
});

Deno.test("too many uploads at once are refused with overloaded (retryable)", async () => {
  await using t = await setup();
  const gate = Promise.withResolvers<void>();
  const running = Array.from(
    { length: t.service.settings.maxInflight },
    () => t.service.withUploadSlot(() => gate.promise),
  );
  const err = await t.service.withUploadSlot(() => Promise.resolve()).catch((e) => e);
  assert.ok(err instanceof AppError && err.code === "overloaded" && err.retryable);
  gate.resolve();
  await Promise.all(running);
  await t.service.withUploadSlot(() => Promise.resolve());
});

Deno.test("sniffing knows PNG, JPEG, GIF, WebP, PDF and ZIP (Office) by their first bytes", () => {
  const b = (...x: number[]) => new Uint8Array(x);
  const ascii = (s: string) => new TextEncoder().encode(s);
  assert.equal(sniff(PNG), "image/png");
  assert.equal(sniff(b(0xff, 0xd8, 0xff, 0xe0)), "image/jpeg");
  assert.equal(sniff(ascii("GIF89a....")), "image/gif");
  assert.equal(sniff(ascii("RIFF\0\0\0\0WEBPVP8 ")), "image/webp");
  assert.equal(sniff(ascii("RIFF\0\0\0\0WAVEfmt ")), null);
  assert.equal(sniff(PDF), "application/pdf");
  assert.equal(sniff(b(0x50, 0x4b, 0x03, 0x04, 0x14)), "zip");
  assert.equal(sniff(TEXT), null);
  const docx = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
  const allow = new Set([docx, "text/plain"]);
  checkContent(docx, b(0x50, 0x4b, 0x03, 0x04, 0x14), allow);
  assert.throws(() => checkContent(docx, TEXT, allow), /declared as .* but its content/);
  assert.throws(
    () => checkContent("text/plain", b(0x50, 0x4b, 0x03, 0x04), allow),
    /content is zip/,
  );
  assert.throws(() => checkContent("", TEXT, allow), /no content type/);
});

Deno.test("names lose paths and control characters; Content-Disposition carries UTF-8 names", () => {
  assert.equal(cleanName("../../etc/passwd"), "passwd");
  assert.equal(cleanName("C:\\Users\\me\\report.pdf"), "report.pdf");
  assert.equal(cleanName("a\u0000b\nc.txt"), "abc.txt");
  assert.equal(cleanName(".."), "file");
  assert.equal(cleanName(undefined), "file");
  assert.equal([...cleanName("x".repeat(500))].length, 200);
  assert.equal(
    contentDisposition('Résumé "final".pdf'),
    `attachment; filename="R_sum_ _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf`,
  );
});

Deno.test("a link signature binds the id and the expiry; other secrets do not verify it", async () => {
  const signer = await UrlSigner.fromSecret("s".repeat(32));
  const other = await UrlSigner.fromSecret("t".repeat(32));
  const sig = await signer.sign("id-1", 1000);
  assert.equal(await signer.verify("id-1", 1000, sig), true);
  assert.equal(await signer.verify("id-1", 1001, sig), false);
  assert.equal(await signer.verify("id-2", 1000, sig), false);
  assert.equal(await other.verify("id-1", 1000, sig), false);
  assert.equal(await signer.verify("id-1", 1000, "not base64!"), false);
});

Deno.test("only the canonical spelling of a signature verifies, whatever its last character", async () => {
  const signer = await UrlSigner.fromSecret("s".repeat(32));
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (let exp = 0; exp < 16; exp++) {
    const sig = await signer.sign("id-1", exp);
    for (const c of alphabet) {
      const variant = sig.slice(0, -1) + c;
      assert.equal(await signer.verify("id-1", exp, variant), variant === sig, variant);
    }
    assert.equal(await signer.verify("id-1", exp, sig + "A"), false, "an extra character");
    assert.equal(await signer.verify("id-1", exp, sig + "="), false, "padding");
  }
});

Deno.test("the capped reader stops at the first chunk past the limit", async () => {
  let pulled = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      pulled++;
      c.enqueue(new Uint8Array(100));
    },
  });
  const err = await readCapped(stream, 250).catch((e) => e);
  assert.ok(err instanceof AppError && err.code === "file_too_large");
  assert.ok(pulled <= 4, `read ${pulled} chunks of an endless stream`);
  const exact = await readCapped(new Blob([new Uint8Array(250)]).stream(), 250);
  assert.equal(exact.byteLength, 250);
});
