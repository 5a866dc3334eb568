/**
 * A strict HTTP/1.1 request-head parser for the edge (edge.ts): request line, header fields,
 * body framing. Where requests end in a stream is _http_framing.ts.
 *
 * Hand-written because the edge forwards raw bytes to the Deno.serve behind it (a plain
 * read/write loop ran at 33k req/s where `ReadableStream.pipeTo` managed 8.6k) and only needs the
 * request boundaries, so that its header and body timeouts apply per request; Deno.serve itself
 * has no header or body timeout. Strict on purpose: whatever two parsers could read differently
 * (Content-Length and Transfer-Encoding together, differing lengths, bare CR or LF, folded lines)
 * is refused with 400, the classic request-smuggling defence, so the edge and the server behind
 * it never disagree on where a request ends.
 */

/** Header fields in a request head; Deno's hyper allows 100 and the edge adds one. */
const MAX_FIELDS = 96;

const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c < 58; c++) TCHAR[c] = 1;
for (let c = 65; c < 91; c++) TCHAR[c] = TCHAR[c + 32] = 1;

export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 127 || !TCHAR[c]) return false;
  }
  return true;
}

/** field-value: HTAB, visible ASCII, SP and obs-text; no other control byte (bare CR, NUL). */
function isFieldValue(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c < 0x20 && c !== 9) || c === 0x7f || c > 0xff) return false;
  }
  return true;
}

/** One char per byte (not `TextDecoder("latin1")`, which is windows-1252). */
export function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    // apply, not spread: spreading a typed array goes through its iterator, 5x slower.
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

export function latin1Bytes(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
  return b;
}

export type BodyFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; readonly length: number }
  | { readonly kind: "chunked" };

export interface RequestHead {
  readonly method: string;
  readonly target: string;
  readonly version: "HTTP/1.0" | "HTTP/1.1";
  /** The header lines as received ("name: value", one char per byte, no CRLF), in order. */
  readonly lines: readonly string[];
  readonly headers: Headers;
  readonly body: BodyFraming;
  /** Has an Upgrade header: the connection may switch protocols after the response. */
  readonly upgrade: boolean;
  /** The Upgrade header names websocket. */
  readonly websocket: boolean;
}

export interface HeadError {
  readonly status: number;
  readonly message: string;
}

export type HeadResult =
  | { readonly ok: true; readonly head: RequestHead }
  | (
    & { readonly ok: false }
    & HeadError
  );

const NO_BODY: BodyFraming = { kind: "none" };
const CHUNKED: BodyFraming = { kind: "chunked" };

const bad = (status: number, message: string) => ({ ok: false, status, message }) as const;

function checkTarget(method: string, target: string): HeadResult | null {
  for (let i = 0; i < target.length; i++) {
    const c = target.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x23) return bad(400, "Invalid request target");
  }
  if (method === "CONNECT") return bad(405, "CONNECT is not supported");
  if (target.charCodeAt(0) === 0x2f) return null; // origin-form
  if (target === "*") return method === "OPTIONS" ? null : bad(400, "Invalid request target");
  if (/^https?:\/\/[^/?@]+/i.test(target)) return null; // absolute-form
  return bad(400, "Invalid request target");
}

const HOST = /^[A-Za-z0-9._~!$&'()*+,;=%:[\]-]*$/;

class Head implements RequestHead {
  #headers: Headers | null = null;
  constructor(
    readonly method: string,
    readonly target: string,
    readonly version: "HTTP/1.0" | "HTTP/1.1",
    readonly lines: readonly string[],
    readonly fields: [string, string][],
    readonly body: BodyFraming,
    readonly upgrade: boolean,
    readonly websocket: boolean,
  ) {}

  /** Made on first use: a proxied request rarely needs it, and it costs more than the rest. */
  get headers(): Headers {
    return this.#headers ??= new Headers(this.fields);
  }
}

const isOws = (c: number) => c === 32 || c === 9;

/** Parses a complete request head: the bytes up to and including its empty line. */
export function parseRequestHead(bytes: Uint8Array): HeadResult {
  const text = latin1(bytes);
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) {
    if (text.charCodeAt(i - 1) !== 13) return bad(400, "Bare LF in the request head");
  }
  const all = text.split("\r\n");
  let first = 0;
  while (first < all.length && all[first] === "") first++; // empty lines before a request
  const end = all.indexOf("", first);
  if (end < 0) return bad(400, "Incomplete request head");
  const m = /^([^ ]+) ([^ ]+) ([^ ]+)$/.exec(all[first]);
  if (!m) return bad(400, "Malformed request line");
  const [, method, target, version] = m;
  if (!isToken(method)) return bad(400, "Invalid method");
  if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
    return /^HTTP\/\d\.\d$/.test(version)
      ? bad(505, "HTTP version not supported")
      : bad(400, "Malformed request line");
  }
  const targetError = checkTarget(method, target);
  if (targetError) return targetError;
  const lines = all.slice(first + 1, end);
  if (lines.length > MAX_FIELDS) return bad(431, "Too many header fields");
  const fields: [string, string][] = [];
  let hosts = 0;
  let upgrades: string[] | null = null;
  const lengths: string[] = [];
  const codings: string[] = [];
  for (const line of lines) {
    if (isOws(line.charCodeAt(0))) return bad(400, "Obsolete line folding is not allowed");
    const colon = line.indexOf(":");
    if (colon < 1) return bad(400, "Malformed header line");
    const name = line.slice(0, colon);
    if (isOws(name.charCodeAt(colon - 1))) {
      return bad(400, "Whitespace before the colon of a header");
    }
    if (!isToken(name)) return bad(400, "Invalid header name");
    let a = colon + 1, b = line.length;
    while (a < b && isOws(line.charCodeAt(a))) a++;
    while (b > a && isOws(line.charCodeAt(b - 1))) b--;
    const value = line.slice(a, b);
    if (!isFieldValue(value)) return bad(400, "Invalid character in a header value");
    fields.push([name, value]);
    switch (name.toLowerCase()) {
      case "host":
        hosts++;
        if (!HOST.test(value)) return bad(400, "Invalid Host header");
        break;
      case "content-length":
        lengths.push(...value.split(",").map((v) => v.trim()));
        break;
      case "transfer-encoding":
        codings.push(...value.split(",").map((v) => v.trim().toLowerCase()));
        break;
      case "upgrade":
        (upgrades ??= []).push(...value.split(",").map((v) => v.trim().toLowerCase()));
    }
  }
  if (hosts > 1 || (hosts === 0 && version === "HTTP/1.1")) {
    return bad(400, "A request needs exactly one Host header");
  }
  let body: BodyFraming = NO_BODY;
  if (codings.length > 0) {
    if (lengths.length > 0) return bad(400, "Both Content-Length and Transfer-Encoding");
    if (version === "HTTP/1.0") return bad(400, "Transfer-Encoding in an HTTP/1.0 request");
    if (codings.length !== 1 || codings[0] !== "chunked") {
      return bad(400, "Transfer-Encoding other than chunked");
    }
    body = CHUNKED;
  } else if (lengths.length > 0) {
    if (lengths.some((v) => !/^\d{1,15}$/.test(v))) return bad(400, "Invalid Content-Length");
    const length = Number(lengths[0]);
    if (lengths.some((v) => Number(v) !== length)) return bad(400, "Differing Content-Length");
    if (length > 0) body = { kind: "length", length };
  }
  const upgrade = upgrades !== null;
  if (upgrade && body.kind !== "none") return bad(400, "An upgrade request cannot have a body");
  const websocket = upgrades?.includes("websocket") ?? false;
  const head = new Head(method, target, version, lines, fields, body, upgrade, websocket);
  return { ok: true, head };
}
