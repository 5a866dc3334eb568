/**
 * ZIP files for the attachment tests. Real documents (a minimal DOCX, XLSX and ODT that Office
 * and LibreOffice open) are written by fflate, a ZIP writer independent of the reader under test.
 * Hostile archives (sizes that lie, names that differ between the local header and the central
 * directory, ZIP64 extras) cannot be made with a well-behaved writer, so {@link writeZip} writes
 * entries byte by byte, as the format describes them.
 */
import { strToU8, zipSync } from "fflate";
import { crc32 } from "./_attachments_util.ts";

export const DOCX_MIME = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
export const XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
export const ODT_MIME = "application/vnd.oasis.opendocument.text";

const XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n';
const PKG = "http://schemas.openxmlformats.org/package/2006";
const DOC_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
const MAIN = "http://schemas.openxmlformats.org";

function contentTypes(overrides: Record<string, string>): string {
  const o = Object.entries(overrides)
    .map(([part, type]) => `<Override PartName="${part}" ContentType="${type}"/>`).join("");
  return `${XML}<Types xmlns="${PKG}/content-types">` +
    `<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>` +
    `<Default Extension="xml" ContentType="application/xml"/>${o}</Types>`;
}

const rels = (target: string) =>
  `${XML}<Relationships xmlns="${PKG}/relationships">` +
  `<Relationship Id="rId1" Type="${DOC_REL}/officeDocument" Target="${target}"/></Relationships>`;

/** A one-paragraph Word document; `extra` entries are added as they are. */
export function docx(extra: Record<string, Uint8Array> = {}): Uint8Array {
  const wml = `${MAIN}/wordprocessingml/2006/main`;
  return zipSync({
    "[Content_Types].xml": strToU8(contentTypes({
      "/word/document.xml":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml",
    })),
    "_rels/.rels": strToU8(rels("word/document.xml")),
    "word/document.xml": strToU8(
      `${XML}<w:document xmlns:w="${wml}"><w:body><w:p><w:r><w:t>Hello</w:t></w:r></w:p>` +
        `</w:body></w:document>`,
    ),
    ...extra,
  });
}

/** A workbook with one sheet holding 42 in A1. */
export function xlsx(): Uint8Array {
  const sml = `${MAIN}/spreadsheetml/2006/main`;
  return zipSync({
    "[Content_Types].xml": strToU8(contentTypes({
      "/xl/workbook.xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml",
      "/xl/worksheets/sheet1.xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml",
    })),
    "_rels/.rels": strToU8(rels("xl/workbook.xml")),
    "xl/workbook.xml": strToU8(
      `${XML}<workbook xmlns="${sml}" xmlns:r="${DOC_REL}"><sheets>` +
        `<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>`,
    ),
    "xl/_rels/workbook.xml.rels": strToU8(
      `${XML}<Relationships xmlns="${PKG}/relationships"><Relationship Id="rId1" ` +
        `Type="${DOC_REL}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`,
    ),
    "xl/worksheets/sheet1.xml": strToU8(
      `${XML}<worksheet xmlns="${sml}"><sheetData><row r="1"><c r="A1"><v>42</v></c></row>` +
        `</sheetData></worksheet>`,
    ),
  });
}

/** An OpenDocument text: `mimetype` first and stored, as ODF requires, then the manifest. */
export function odt(): Uint8Array {
  const ns = "urn:oasis:names:tc:opendocument:xmlns";
  return zipSync({
    mimetype: [strToU8(ODT_MIME), { level: 0 }],
    "META-INF/manifest.xml": strToU8(
      `${XML}<manifest:manifest xmlns:manifest="${ns}:manifest:1.0" manifest:version="1.2">` +
        `<manifest:file-entry manifest:full-path="/" manifest:media-type="${ODT_MIME}"/>` +
        `<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>` +
        `</manifest:manifest>`,
    ),
    "content.xml": strToU8(
      `${XML}<office:document-content xmlns:office="${ns}:office:1.0" ` +
        `xmlns:text="${ns}:text:1.0" office:version="1.2"><office:body><office:text>` +
        `<text:p>Hello</text:p></office:text></office:body></office:document-content>`,
    ),
  });
}

/** fflate's ZIP of the given entries, deflated (or stored with `level: 0`). */
export function zipOf(files: Record<string, Uint8Array>, level: 0 | 6 | 9 = 6): Uint8Array {
  return zipSync(files, { level });
}

export interface RawEntry {
  readonly name: string;
  readonly data: Uint8Array;
  /** Deflated bytes of `data` (method 8); stored (method 0) when absent. */
  readonly deflated?: Uint8Array;
  /** The uncompressed size the central directory declares (default: the real one). */
  readonly declaredSize?: number;
  /** Declared through a ZIP64 extra field (the 32-bit field then says 0xffffffff). */
  readonly zip64Size?: number;
  /** The name in the local header (default: the same as in the central directory). */
  readonly localName?: string;
  readonly flags?: number;
}

/** Raw deflate of `data` (what ZIP's method 8 stores). */
export async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A ZIP written field by field (APPNOTE 4.3.7, 4.3.12, 4.3.16), lies included. */
export function writeZip(entries: readonly RawEntry[]): Uint8Array {
  const enc = new TextEncoder();
  const locals: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = enc.encode(e.name);
    const localName = enc.encode(e.localName ?? e.name);
    const body = e.deflated ?? e.data;
    const method = e.deflated ? 8 : 0;
    const size = e.declaredSize ?? e.data.length;
    const crc = crc32(e.data);
    const local = new Uint8Array(30 + localName.length);
    const l = new DataView(local.buffer);
    l.setUint32(0, 0x04034b50, true);
    l.setUint16(4, 20, true);
    l.setUint16(6, e.flags ?? 0, true);
    l.setUint16(8, method, true);
    l.setUint16(12, 0x21, true); // 1980-01-01
    l.setUint32(14, crc, true);
    l.setUint32(18, body.length, true);
    l.setUint32(22, size, true);
    l.setUint16(26, localName.length, true);
    local.set(localName, 30);
    locals.push(local, body);

    const extra = new Uint8Array(e.zip64Size === undefined ? 0 : 12);
    if (e.zip64Size !== undefined) {
      const x = new DataView(extra.buffer);
      x.setUint16(0, 1, true);
      x.setUint16(2, 8, true);
      x.setBigUint64(4, BigInt(e.zip64Size), true);
    }
    const rec = new Uint8Array(46 + name.length + extra.length);
    const c = new DataView(rec.buffer);
    c.setUint32(0, 0x02014b50, true);
    c.setUint16(4, 45, true);
    c.setUint16(6, 20, true);
    c.setUint16(8, e.flags ?? 0, true);
    c.setUint16(10, method, true);
    c.setUint16(14, 0x21, true);
    c.setUint32(16, crc, true);
    c.setUint32(20, body.length, true);
    c.setUint32(24, e.zip64Size === undefined ? size : 0xffffffff, true);
    c.setUint16(28, name.length, true);
    c.setUint16(30, extra.length, true);
    c.setUint32(42, offset, true);
    rec.set(name, 46);
    rec.set(extra, 46 + name.length);
    central.push(rec);
    offset += local.length + body.length;
  }
  const dirSize = central.reduce((n, r) => n + r.length, 0);
  const end = new Uint8Array(22);
  const d = new DataView(end.buffer);
  d.setUint32(0, 0x06054b50, true);
  d.setUint16(8, entries.length, true);
  d.setUint16(10, entries.length, true);
  d.setUint32(12, dirSize, true);
  d.setUint32(16, offset, true);
  const parts = [...locals, ...central, end];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
