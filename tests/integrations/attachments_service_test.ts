/**
 * The attachment service and its parts without a server: orphan cleanup on the injected clock,
 * content checks (file-type, text), names, `Content-Disposition`, link signatures and the capped
 * body reader.
 */
import assert from "node:assert/strict";
import type { Principal } from "../../src/auth/principal.ts";
import { AppError } from "../../src/errors.ts";
import { readCapped } from "../../src/integrations/attachments/body.ts";
import { cleanName } from "../../src/integrations/attachments/names.ts";
import { OrphanSweeper, SWEEP_EVERY_MS } from "../../src/integrations/attachments/cleanup.ts";
import { LocalStore } from "../../src/integrations/attachments/local_store.ts";
import { settingsOf } from "../../src/integrations/attachments/mod.ts";
import { AttachmentService, metaKey } from "../../src/integrations/attachments/service.ts";
import { UrlSigner } from "../../src/integrations/attachments/signing.ts";
import { contentDisposition } from "../../src/integrations/attachments/names.ts";
import { checkContent } from "../../src/integrations/attachments/sniff.ts";
import type { BlobStore } from "../../src/integrations/attachments/store.ts";
import { loadConfig } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import { PDF, PNG, TEXT } from "./_attachments_util.ts";
import { docx, DOCX_MIME, xlsx, zipOf } from "./_attachments_zip.ts";

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

Deno.test("the content decides the type: file-type's answer must be the declared type", async () => {
  const b = (...x: number[]) => new Uint8Array(x);
  const limits = settingsOf(loadConfig({
    ATTACHMENT_MIME_ALLOW: `image/png,image/jpeg,application/pdf,text/plain,${DOCX_MIME}`,
  }));
  const check = (mime: string, bytes: Uint8Array) => checkContent(mime, bytes, limits);
  assert.equal(await check("image/png", PNG), "image/png");
  assert.equal(await check("image/x-png", PNG), "image/png", "an alias is stored canonical");
  assert.equal(await check("application/pdf", PDF), "application/pdf");
  assert.equal(await check(DOCX_MIME, docx()), DOCX_MIME);
  const refusal = async (mime: string, bytes: Uint8Array, why: RegExp) => {
    const err = await check(mime, bytes).then(() => null, (e) => e);
    assert.ok(err instanceof AppError && err.code === "invalid_payload", `${mime}: ${err}`);
    assert.match(err.message, why);
  };
  await refusal("image/jpeg", PNG, /declared as image\/jpeg but its content is image\/png/);
  await refusal(DOCX_MIME, TEXT, /content is not recognised as .*wordprocessingml/);
  await refusal(DOCX_MIME, xlsx(), /content is .*spreadsheetml\.sheet/);
  await refusal(DOCX_MIME, zipOf({ "a.exe": TEXT }), /content is application\/zip/);
  await refusal("image/gif", PNG, /image\/gif are not allowed/);
  await refusal("", TEXT, /no content type/);
  await refusal("image/png", b(0x89, 0x50, 0x4e, 0x47), /not recognised as image\/png/);
});

Deno.test("text is valid UTF-8 without control bytes and not markup or a document language", async () => {
  const limits = settingsOf(loadConfig({ ATTACHMENT_MIME_ALLOW: "text/plain,text/csv" }));
  const check = (bytes: Uint8Array | string, mime = "text/plain") =>
    checkContent(mime, typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes, limits);
  const texts = [
    TEXT,
    "tabs\tand\r\nlines\fpages\n",
    "\uFEFFa BOM, then Grüße, 日本語 and 🙂\n",
    // Short signatures file-type finds in text are coincidences: real BMPs and EXEs are binary.
    "BMW cars and MZ values\n",
    "MZ is a company\n",
    "a < b and <p>aragraphs are fine inside text\n",
    "<pre is not a tag the sniffer knows\n",
  ];
  for (const ok of texts) assert.equal(await check(ok), "text/plain", String(ok));
  assert.equal(await check("a,b\n1,2\n", "text/csv"), "text/csv");
  const refusal = async (bytes: Uint8Array | string, why: RegExp) => {
    const err = await check(bytes).then(() => null, (e) => e);
    assert.ok(err instanceof AppError && err.code === "invalid_payload", `${bytes}: ${err}`);
    assert.match(err.message, why);
  };
  await refusal(new Uint8Array([1, 0, 2, 0]), /is binary \(control byte 0x01/);
  await refusal("nul\0inside", /control byte 0x00/);
  await refusal("escape \x1b[31m red", /control byte 0x1b/);
  await refusal("C1 \u0085 control", /control byte 0x85/);
  await refusal(new Uint8Array([0x61, 0xff, 0xfe]), /not valid UTF-8/);
  await refusal(PNG, /content is image\/png/);
  await refusal(PDF, /content is application\/pdf/);
  await refusal("{\\rtf1\\ansi hello}", /content is application\/rtf/);
  await refusal("%!PS-Adobe-3.0\n", /content is application\/postscript/);
  await refusal("<?xml version='1.0'?><svg/>", /content is (application|text)\/xml/);
  const html = [
    "<!DOCTYPE html><html><script>alert(1)</script></html>",
    "\n  <html>\n<body>x</body></html>",
    "<SCRIPT>alert(1)</SCRIPT>",
    "<svg xmlns='http://www.w3.org/2000/svg' onload='alert(1)'/>",
    "<!-- comment --> <b>bold</b>",
    "\uFEFF<iframe src=x>",
  ];
  for (const h of html) await refusal(h, /content is text\/html/);
});

Deno.test("names lose paths, controls, bidi and format characters; Content-Disposition is RFC 6266", () => {
  assert.equal(cleanName("../../etc/passwd"), "passwd");
  assert.equal(cleanName("C:\\Users\\me\\report.pdf"), "report.pdf");
  assert.equal(cleanName("a\u0000b\nc.txt"), "abc.txt");
  assert.equal(cleanName(".."), "file");
  assert.equal(cleanName(undefined), "file");
  assert.equal(cleanName("\u202E\u200F"), "file", "nothing visible is left");
  assert.equal([...cleanName("x".repeat(500))].length, 200);
  const long = cleanName(`${"y".repeat(300)}.pdf`);
  assert.equal([...long].length, 200);
  assert.ok(long.endsWith("y.pdf"), "a long name keeps its extension");
  // A right-to-left override shows `invoice\u202Egnp.exe` as "invoiceexe.png": the real name shows.
  assert.equal(cleanName("invoice\u202Egnp.exe"), "invoicegnp.exe");
  const bidi = "\u202A\u202B\u202C\u202D\u202E\u2066\u2067\u2068\u2069\u200E\u200F\u061C";
  for (const c of bidi) {
    const hex = c.codePointAt(0)!.toString(16);
    assert.equal(cleanName(`in${c}voice${c}.pdf`), "invoice.pdf", `U+${hex}`);
  }
  assert.equal(cleanName("zero\u200Bwidth\uFEFF\u00AD.txt"), "zerowidth.txt", "format chars");
  assert.equal(cleanName("a\u2028b\u2029c\u0085d.txt"), "abcd.txt", "separators and C1 controls");
  assert.equal(cleanName("lone\uD800surrogate.txt"), "lonesurrogate.txt");
  assert.equal(cleanName("report.pdf. . "), "report.pdf", "trailing dots and spaces hide the type");
  assert.equal(cleanName("  many   \u00A0 spaces.txt "), "many spaces.txt");
  assert.equal(cleanName("Cafe\u0301.txt"), "Café.txt", "NFC");
  assert.equal(cleanName("日本語 🙂.txt"), "日本語 🙂.txt", "visible letters stay");
  assert.equal(
    contentDisposition('Résumé "final".pdf'),
    `attachment; filename="Resume _final_.pdf"; filename*=UTF-8''R%C3%A9sum%C3%A9%20%22final%22.pdf`,
  );
  assert.equal(
    contentDisposition("invoice\u202Egnp.exe"),
    `attachment; filename="invoicegnp.exe"; filename*=UTF-8''invoicegnp.exe`,
    "names stored before cleaning are cleaned when served",
  );
  assert.equal(
    contentDisposition("it's (1) *.txt"),
    `attachment; filename="it's (1) *.txt"; filename*=UTF-8''it%27s%20%281%29%20%2A.txt`,
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
