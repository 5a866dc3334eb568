/**
 * What an upload is, decided by its content, through the real REST upload route: real DOCX, XLSX
 * and ODT files are stored with their type; a ZIP (or an XLSX) declared as DOCX, a DOCX holding
 * an executable, a zip bomb, a PNG declared as PDF and HTML declared as plain text are refused
 * with `invalid_payload` and nothing is stored; names lose their direction overrides, in the
 * answer and in the download's `Content-Disposition`.
 */
import assert from "node:assert/strict";
import { startTestServer } from "../integration/_harness.ts";
import { linkOf, PDF, PNG, uploadMultipart, uploadRaw } from "./_attachments_util.ts";
import {
  docx,
  DOCX_MIME,
  odt,
  ODT_MIME,
  writeZip,
  xlsx,
  XLSX_MIME,
  zipOf,
} from "./_attachments_zip.ts";

const MiB = 1024 * 1024;
const enc = new TextEncoder();

async function server(over: Record<string, string> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "att-types-" });
  const s = await startTestServer({ ATTACHMENTS_DIR: dir, ...over });
  const chat = await s.createChat("client-types");
  const files = async () => {
    const out: string[] = [];
    for await (const d of Deno.readDir(dir)) {
      for await (const f of Deno.readDir(`${dir}/${d.name}`)) out.push(f.name);
    }
    return out;
  };
  return {
    ...s,
    files,
    up: (bytes: Uint8Array, mime: string, name?: string) =>
      uploadMultipart(s.url, chat.chat_id, chat.client_token, bytes, mime, name),
    raw: (bytes: Uint8Array, mime: string, name?: string) =>
      uploadRaw(s.url, chat.chat_id, chat.client_token, bytes as BodyInit, mime, name),
    chat,
    async [Symbol.asyncDispose]() {
      await s.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A DOCX as a ZIP writer lays it out, with `extra` entries after the document. */
function docxWith(...extra: Parameters<typeof writeZip>[0]): Uint8Array {
  const types = enc.encode(
    `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/` +
      `content-types"><Override PartName="/word/document.xml" ContentType="application/` +
      `vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`,
  );
  return writeZip([
    { name: "[Content_Types].xml", data: types },
    { name: "word/document.xml", data: enc.encode("<w:document/>") },
    ...extra,
  ]);
}

Deno.test("real DOCX, XLSX and ODT files are stored with the type their content shows", async () => {
  await using s = await server();
  const cases: Array<[Uint8Array, string, string]> = [
    [docx(), DOCX_MIME, "letter.docx"],
    [xlsx(), XLSX_MIME, "sheet.xlsx"],
    [odt(), ODT_MIME, "notes.odt"],
  ];
  for (const [bytes, mime, name] of cases) {
    const r = await s.up(bytes, mime, name);
    assert.equal(r.status, 201, `${name}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.mime, mime);
    assert.equal(r.body.name, name);
    assert.equal(r.body.size, bytes.length);
  }
  assert.equal((await s.files()).length, 3);
});

Deno.test("ZIP-based refusals: a ZIP or XLSX declared as DOCX, an executable inside, a zip bomb", async () => {
  await using s = await server();
  const exe = enc.encode("MZ\x90\x00 this program cannot be run in DOS mode");
  const cases: Array<[string, Uint8Array, RegExp]> = [
    [
      "a plain ZIP holding an .exe",
      zipOf({ "invoice.exe": exe }),
      /declared as .*wordprocessingml\.document but its content is application\/zip/,
    ],
    ["an XLSX", xlsx(), /but its content is .*spreadsheetml\.sheet/],
    [
      "a DOCX holding an .exe",
      docx({ "word/media/invoice.exe": exe }),
      /holds an executable file \(word\/media\/invoice\.exe\)/,
    ],
    [
      "a zip bomb (200 MiB declared in the central directory)",
      docxWith({ name: "word/media/big.bin", data: enc.encode("x"), declaredSize: 200 * MiB }),
      /unpacks to more than 104857600 bytes/,
    ],
    [
      "a deflate bomb (8 MiB of zeros)",
      docx({ "word/media/zeros.bin": new Uint8Array(8 * MiB) }),
      /inflates over 100 times/,
    ],
    [
      "an entry escaping its folder",
      docxWith({ name: "../../startup/run.txt", data: enc.encode("x") }),
      /path leaves its folder/,
    ],
    ["macros", docx({ "word/vbaProject.bin": exe }), /holds macros/],
  ];
  for (const [what, bytes, why] of cases) {
    const r = await s.up(bytes, DOCX_MIME, "report.docx");
    assert.equal(r.status, 400, `${what}: ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error?.code, "invalid_payload", what);
    assert.equal(r.body.error?.retryable, false, what);
    assert.match(r.body.error!.message, why, what);
  }
  assert.deepEqual(await s.files(), [], "nothing refused is stored");
});

Deno.test("the unzipped limit is ATTACHMENT_MAX_UNZIPPED_BYTES; an allowed plain ZIP is bounded too", async () => {
  await using s = await server({
    ATTACHMENT_MAX_UNZIPPED_BYTES: "2048",
    ATTACHMENT_MIME_ALLOW: `application/zip,${DOCX_MIME}`,
  });
  const under = zipOf({ "a.txt": new Uint8Array(2000).fill(0x61) });
  // Windows browsers declare ZIPs as application/x-zip-compressed: the same format.
  const ok = await s.raw(under, "application/x-zip-compressed", "a.zip");
  assert.equal(ok.status, 201, JSON.stringify(ok.body));
  assert.equal(ok.body.mime, "application/zip");
  const over = await s.raw(zipOf({ "a.txt": new Uint8Array(3000).fill(0x61) }), "application/zip");
  assert.equal(over.status, 400);
  assert.match(over.body.error!.message, /unpacks to more than 2048 bytes/);
  const exe = await s.raw(zipOf({ "setup.exe": new Uint8Array(10) }), "application/zip");
  assert.match(exe.body.error!.message, /holds an executable file \(setup\.exe\)/);
  const doc = docx({ "word/media/a.bin": new Uint8Array(3000) });
  assert.match((await s.up(doc, DOCX_MIME)).body.error?.message ?? "", /more than 2048/);
});

Deno.test("a PNG declared as PDF and HTML declared as plain text are refused", async () => {
  await using s = await server();
  const png = await s.up(PNG, "application/pdf", "scan.pdf");
  assert.equal(png.status, 400);
  assert.equal(png.body.error?.code, "invalid_payload");
  assert.match(
    png.body.error!.message,
    /declared as application\/pdf but its content is image\/png/,
  );
  const html = enc.encode("<!DOCTYPE html>\n<html><script>fetch('/steal')</script></html>\n");
  const page = await s.raw(html, "text/plain; charset=utf-8", "notes.txt");
  assert.equal(page.status, 400);
  assert.equal(page.body.error?.code, "invalid_payload");
  assert.match(page.body.error!.message, /declared as text\/plain but its content is text\/html/);
  const pdfAsText = await s.up(PDF, "text/plain");
  assert.match(pdfAsText.body.error!.message, /content is application\/pdf/);
  assert.deepEqual(await s.files(), []);
});

Deno.test("names lose direction overrides: invoice\\u202Egnp.exe is stored and served as invoicegnp.exe", async () => {
  await using s = await server();
  const tricky = "invoice\u202Egnp.exe";
  const multipart = await s.up(PNG, "image/png", tricky);
  assert.equal(multipart.status, 201, JSON.stringify(multipart.body));
  assert.equal(multipart.body.name, "invoicegnp.exe");
  const raw = await s.raw(PDF, "application/pdf", "\u2067report\u2069\u200F\u0000.pdf");
  assert.equal(raw.body.name, "report.pdf");

  const path = `/api/v1/chat/chats/${s.chat.chat_id}/attachments/${multipart.body.id}`;
  const link = await (await linkOf(s.url, path, s.chat.client_token, "json")).json();
  const file = await fetch(link.url);
  await file.body?.cancel();
  assert.equal(
    file.headers.get("content-disposition"),
    `attachment; filename="invoicegnp.exe"; filename*=UTF-8''invoicegnp.exe`,
  );
  assert.equal(file.headers.get("content-type"), "image/png");
});
