/**
 * What an upload really is: the bytes decide, the declared type must agree. The declared type
 * decides how the file is served (`Content-Type`), so a PNG claiming to be a PDF, a ZIP claiming
 * to be a DOCX or HTML claiming to be plain text is refused with `invalid_payload`.
 *
 * - Binary formats are recognised by `file-type` (npm), which also tells ZIP-based formats apart
 *   by their content (`[Content_Types].xml` for Office Open XML, `mimetype` for OpenDocument):
 *   the declared type must be exactly what it finds. ZIP-based files are then bounded by
 *   `zip.ts` (size, entries, ratio, executables, paths).
 * - Text (`text/*`) has no signature: it must be valid UTF-8 without NULs or control bytes, and
 *   not a document language a program would interpret (HTML and XML by the WHATWG sniffing
 *   patterns, or PDF, RTF, PostScript and XML as `file-type` sees them). Other short signatures
 *   that `file-type` finds in text ("BM" of BMP, "MZ" of EXE) are coincidences: a real BMP or
 *   EXE holds control bytes.
 * - Any other declared type must be one `file-type` recognises, or it cannot be checked.
 */
import { fileTypeFromBuffer } from "file-type";
import { AppError } from "../../errors.ts";
import { checkArchive } from "./zip.ts";

export interface ContentLimits {
  readonly allow: ReadonlySet<string>;
  /** Largest declared total of a ZIP-based file's entries. */
  readonly maxUnzippedBytes: number;
}

/** A `Content-Type` value reduced to its lower-case `type/subtype`. */
export function essence(contentType: string | null | undefined): string {
  return (contentType ?? "").split(";")[0].trim().toLowerCase();
}

/** Names browsers and systems send for the same format, to the one `file-type` answers. */
const ALIASES: Readonly<Record<string, string>> = {
  "application/x-zip-compressed": "application/zip",
  "application/x-zip": "application/zip",
  "image/jpg": "image/jpeg",
  "image/pjpeg": "image/jpeg",
  "image/x-png": "image/png",
  "application/x-pdf": "application/pdf",
};

/** The canonical form of a declared type (`essence`, then known aliases). */
export function canonicalMime(contentType: string | null | undefined): string {
  const e = essence(contentType);
  return ALIASES[e] ?? e;
}

/** Formats whose files are ZIP archives (and so are bounded by `zip.ts`). */
export function isZipBased(mime: string): boolean {
  return mime === "application/zip" || mime === "application/epub+zip" ||
    mime === "application/java-archive" ||
    mime.startsWith("application/vnd.openxmlformats-officedocument.") ||
    mime.startsWith("application/vnd.oasis.opendocument.") ||
    (mime.startsWith("application/vnd.ms-") && mime.endsWith(".macroenabled.12"));
}

/** Text-based document languages that a program would interpret rather than show. */
const TEXT_DOCUMENTS = new Set([
  "application/pdf",
  "application/rtf",
  "application/postscript",
  "application/xml",
]);

/**
 * Throws `invalid_payload` unless `declared` is allowed and agrees with the bytes; returns the
 * canonical type the file is stored and served with.
 */
export async function checkContent(
  declared: string,
  bytes: Uint8Array,
  limits: ContentLimits,
): Promise<string> {
  const mime = canonicalMime(declared);
  if (mime === "") {
    throw new AppError("invalid_payload", "The file has no content type; send one");
  }
  if (!limits.allow.has(mime)) {
    const allowed = [...limits.allow].join(", ");
    throw new AppError(
      "invalid_payload",
      `Files of type ${mime} are not allowed; allowed: ${allowed}`,
    );
  }
  const found = (await fileTypeFromBuffer(bytes))?.mime;
  const mismatch = (what: string) =>
    new AppError("invalid_payload", `The file is declared as ${mime} but its content is ${what}`);
  if (mime.startsWith("text/")) {
    const problem = textProblem(bytes);
    if (problem && found) throw mismatch(found);
    if (problem) {
      throw new AppError("invalid_payload", `The file is declared as ${mime} but ${problem}`);
    }
    if (found && TEXT_DOCUMENTS.has(found)) throw mismatch(found);
    const markup = markupOf(bytes);
    if (markup) throw mismatch(markup);
    return mime;
  }
  if (!found) throw mismatch(`not recognised as ${mime} (no known file signature)`);
  if (found !== mime) throw mismatch(found);
  if (isZipBased(found)) await checkArchive(bytes, limits.maxUnzippedBytes);
  return mime;
}

/** Why the bytes are not plain text, or null. Tab, LF, FF and CR are the controls text has. */
function textProblem(bytes: Uint8Array): string | null {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return "is not valid UTF-8 text";
  }
  // deno-lint-ignore no-control-regex
  const control = /[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]/.exec(text);
  if (!control) return null;
  const code = control[0].charCodeAt(0).toString(16).padStart(2, "0");
  return `is binary (control byte 0x${code} at character ${control.index})`;
}

/**
 * Patterns by which browsers take unknown content for HTML or XML (WHATWG MIME Sniffing, "rules
 * for identifying an unknown MIME type"), plus SVG: after leading whitespace, case-insensitive,
 * each followed by whitespace, `/` or `>` (WHATWG: space or `>`) — served as text they would be
 * harmless, but a file that a browser or an editor opens as markup is not plain text.
 */
const HTML_TAGS = ("<!doctype html|<html|<head|<script|<iframe|<h1|<div|<font|<table|<a|<style|" +
  "<title|<b|<body|<br|<p|<!--|<svg").split("|");

/** `text/html` or `text/xml` when the text starts like markup, else null. */
export function markupOf(bytes: Uint8Array): string | null {
  const head = new TextDecoder().decode(bytes.subarray(0, 512)).replace(/^\uFEFF?[\t\n\f\r ]*/, "")
    .toLowerCase();
  if (head.startsWith("<?xml")) return "text/xml";
  for (const tag of HTML_TAGS) {
    if (head.startsWith(tag) && /^[\t\n\f\r />]/.test(head.slice(tag.length))) return "text/html";
  }
  return null;
}
