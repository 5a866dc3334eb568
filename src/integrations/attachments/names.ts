/**
 * File names as people see them: an uploaded name keeps its visible letters and loses what could
 * mislead or break something. Bidi controls go (U+202E makes `invoice\u202Egnp.exe` look like
 * `invoiceexe.png`), as do other control and format characters, lone surrogates, the path and
 * separators; whitespace runs become one space; the length is bounded with the extension kept.
 * `Content-Disposition` carries the result per RFC 6266: `filename*=UTF-8''…` plus an ASCII
 * fallback for old clients.
 */

const MAX_NAME = 200;
/** Longest extension kept whole when a long name is shortened. */
const MAX_EXT = 16;

/**
 * Cc (controls), Cf (format: bidi marks, overrides and isolates — U+200E/F, U+202A–E, U+2066–9,
 * U+061C — zero-width characters, the BOM…), Cs (lone surrogates), Zl and Zp (line and paragraph
 * separators).
 */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Zl}\p{Zp}]/gu;

/** A display name safe to store and show: no path, no invisible characters, bounded. */
export function cleanName(raw: string | null | undefined): string {
  const visible = (raw ?? "").normalize("NFC").replace(INVISIBLE, "");
  const base = visible.split(/[/\\]/).pop() ?? "";
  // Trailing dots and spaces are dropped by Windows and hide the real extension.
  const clean = base.replace(/\s+/gu, " ").trim().replace(/[. ]+$/, "");
  const bounded = shorten(clean);
  return bounded === "" || bounded === "." || bounded === ".." ? "file" : bounded;
}

/** At most MAX_NAME code points, cutting the stem so a short extension survives. */
function shorten(name: string): string {
  const chars = [...name];
  if (chars.length <= MAX_NAME) return name;
  const dot = name.lastIndexOf(".");
  const ext = dot > 0 ? [...name.slice(dot)] : [];
  if (ext.length < 2 || ext.length > MAX_EXT) return chars.slice(0, MAX_NAME).join("");
  const stem = [...name.slice(0, dot)].slice(0, MAX_NAME - ext.length);
  return stem.join("").trimEnd() + ext.join("");
}

/** Printable ASCII for `filename="…"`: accents dropped (é → e), the rest `_`. */
function asciiFallback(name: string): string {
  return name.normalize("NFKD").replace(/\p{M}/gu, "").replace(/[^\x20-\x7e]|["\\%]/g, "_");
}

/**
 * `Content-Disposition: attachment` with an ASCII fallback and the UTF-8 name (RFC 6266, RFC
 * 8187). The name is cleaned again here, so records stored before names were cleaned this way
 * are served clean too.
 */
export function contentDisposition(name: string): string {
  const clean = cleanName(name);
  const utf8 = encodeURIComponent(clean).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `attachment; filename="${asciiFallback(clean)}"; filename*=UTF-8''${utf8}`;
}
