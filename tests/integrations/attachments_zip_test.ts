/**
 * The ZIP bounds on their own (`src/integrations/attachments/zip.ts`): the central directory read
 * from real and hand-made archives; declared totals, entry counts, ratios, lying sizes, names
 * that differ, executables, macros, paths that leave their folder, ZIP64 extras, damage.
 */
import assert from "node:assert/strict";
import { AppError } from "../../src/errors.ts";
import {
  checkArchive,
  MAX_ENTRIES,
  readZipDirectory,
  unsafeEntryName,
} from "../../src/integrations/attachments/zip.ts";
import { deflateRaw, docx, odt, writeZip, xlsx, zipOf } from "./_attachments_zip.ts";

const MiB = 1024 * 1024;
const LIMIT = 100 * MiB;
const small = new TextEncoder().encode("<x/>");

async function refused(bytes: Uint8Array, pattern: RegExp, limit = LIMIT): Promise<void> {
  const err = await checkArchive(bytes, limit).then(() => null, (e) => e);
  assert.ok(err instanceof AppError, `refused, got ${err}`);
  assert.equal(err.code, "invalid_payload");
  assert.match(err.message, pattern);
}

Deno.test("the central directory of fflate's DOCX, XLSX and ODT is read entry by entry", async () => {
  const names = readZipDirectory(docx()).map((e) => e.name);
  assert.deepEqual(names, ["[Content_Types].xml", "_rels/.rels", "word/document.xml"]);
  const od = readZipDirectory(odt());
  assert.equal(od[0].name, "mimetype");
  assert.equal(od[0].method, 0, "stored");
  assert.equal(od[0].size, od[0].compressedSize);
  assert.equal(readZipDirectory(xlsx()).length, 5);
  for (const doc of [docx(), xlsx(), odt()]) await checkArchive(doc, LIMIT);
});

Deno.test("an archive declaring more than the unzipped limit is refused before anything is inflated", async () => {
  // 200 MiB declared in the central directory, 4 bytes stored.
  const bomb = writeZip([{ name: "a.xml", data: small }, {
    name: "big.bin",
    data: small,
    declaredSize: 200 * MiB,
  }]);
  await refused(bomb, /unpacks to more than 104857600 bytes/);
  // The total counts, not one entry: three of 40 MiB each.
  const three = writeZip(
    ["a", "b", "c"].map((name) => ({ name, data: small, declaredSize: 40 * MiB })),
  );
  await refused(three, /unpacks to more than/);
  await refused(writeZip([{ name: "a", data: small, declaredSize: 2048 }]), /more than 1024/, 1024);
});

Deno.test("a real deflate bomb (5 MiB of zeros in a few KiB) is refused by its ratio", async () => {
  const bomb = zipOf({ "zeros.bin": new Uint8Array(5 * MiB) }, 9);
  assert.ok(bomb.length < 20_000, `${bomb.length} bytes`);
  await refused(bomb, /inflates over 100 times \(zeros\.bin\)/);
  // Below the 1 MiB grace the same ratio is fine: small files compress well.
  await checkArchive(zipOf({ "zeros.bin": new Uint8Array(MiB) }, 9), LIMIT);
});

Deno.test("an entry that inflates past the size it declares is refused (a lying directory)", async () => {
  const data = new Uint8Array(64 * 1024).fill(0x61);
  const deflated = await deflateRaw(data);
  await checkArchive(writeZip([{ name: "a.txt", data, deflated }]), LIMIT);
  await refused(
    writeZip([{ name: "a.txt", data, deflated, declaredSize: 1000 }]),
    /size differs from what it declares \(a\.txt\)/,
  );
  await refused(writeZip([{ name: "s.txt", data: small, declaredSize: 3 }]), /size differs/);
  const broken = deflated.slice();
  broken[0] ^= 0xff;
  broken[1] ^= 0xff;
  await refused(writeZip([{ name: "a.txt", data, deflated: broken }]), /damaged|size differs/);
});

Deno.test("executables, macros, encrypted entries and escaping paths are refused by name", async () => {
  const cases: Array<[string, RegExp]> = [
    ["payload.exe", /executable file \(payload\.exe\)/],
    ["docs/run.BAT", /executable/],
    ["x/setup.msi. ", /executable/],
    ["word/vbaProject.bin", /holds macros/],
    ["Basic/Standard/Module1.xml", /holds macros/],
    ["../../etc/cron.d/x", /leaves its folder/],
    ["a/../../b.txt", /leaves its folder/],
    ["/etc/passwd", /leaves its folder/],
    ["..\\windows\\win.ini", /leaves its folder/],
    ["C:/boot.ini", /leaves its folder/],
    ["a\u0000b.txt", /malformed name/],
  ];
  for (const [name, why] of cases) {
    assert.match(unsafeEntryName(name) ?? "accepted", why, name);
    await refused(writeZip([{ name: "ok.xml", data: small }, { name, data: small }]), why);
  }
  for (const name of ["word/document.xml", "a/b..c/d.txt", "media/image1.png", "notes.json"]) {
    assert.equal(unsafeEntryName(name), null, name);
  }
  await refused(writeZip([{ name: "a.xml", data: small, flags: 1 }]), /encrypted entry/);
});

Deno.test("an entry named one way in the directory and another in its local header is refused", async () => {
  await refused(
    writeZip([{ name: "word/document.xml", localName: "payload.exe", data: small }]),
    /names an entry differently in two places/,
  );
});

Deno.test("ZIP64 extras are read: a 200 MiB size declared there counts", async () => {
  const zip = writeZip([{ name: "big.bin", data: small, zip64Size: 200 * MiB }]);
  assert.equal(readZipDirectory(zip)[0].size, 200 * MiB);
  await refused(zip, /unpacks to more than/);
});

Deno.test("absurd entry counts and damaged directories are refused", async () => {
  const many = writeZip(
    Array.from({ length: MAX_ENTRIES + 1 }, (_, i) => ({ name: `f${i}.txt`, data: small })),
  );
  await refused(many, new RegExp(`has ${MAX_ENTRIES + 1} entries`));
  const doc = docx();
  await refused(doc.subarray(0, doc.length - 30), /no central directory|damaged/);
  await refused(new TextEncoder().encode("PK\x03\x04 not really"), /no central directory/);
  // The end record says three entries, the directory lists two.
  const two = writeZip([{ name: "a", data: small }, { name: "b", data: small }]);
  new DataView(two.buffer).setUint16(two.length - 22 + 10, 3, true);
  await refused(two, /more or fewer entries|damaged central directory/);
});
