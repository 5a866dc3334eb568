/**
 * Where requests and responses end in an HTTP/1.1 byte stream, for the edge (edge.ts): chunked
 * bodies (chunk-size lines with extensions, trailers), Content-Length bodies, requests without a
 * body, pipelined requests, upgrades.
 *
 * Hand-written because the edge copies bodies and responses as raw bytes (a plain read/write
 * loop ran at 33k req/s where `ReadableStream.pipeTo` managed 8.6k) and only needs the
 * boundaries: so that its header and body timeouts apply per request (Deno.serve has none), and
 * so that it knows whether an earlier response is still under way before it answers 408 or 431
 * itself. Request heads are parsed strictly by _http_head.ts.
 */
import { latin1, parseRequestHead, type RequestHead } from "./_http_head.ts";

const CR = 13;
const LF = 10;
const EMPTY = new Uint8Array(0);
/** A chunk-size line (with extensions) longer than this is refused. */
const MAX_CHUNK_LINE = 4096;

const S_SIZE = 0, S_EXT = 1, S_SIZE_LF = 2, S_DATA = 3, S_DATA_CR = 4, S_DATA_LF = 5;
const S_TRAILER_START = 6, S_TRAILER = 7, S_TRAILER_LF = 8, S_FINAL_LF = 9, S_DONE = 10;

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const l = c | 0x20;
  return l >= 97 && l <= 102 ? l - 87 : -1;
}

/** Finds the end of a chunked body: chunk-size lines (with extensions), data, trailers. */
export class ChunkedBody {
  #state = S_SIZE;
  #digits = 0;
  #size = 0;
  #lineBytes = 0;
  #trailerBytes = 0;
  readonly #maxTrailerBytes: number;
  error: string | null = null;

  constructor(maxTrailerBytes: number) {
    this.#maxTrailerBytes = maxTrailerBytes;
  }

  get done(): boolean {
    return this.#state === S_DONE;
  }

  /** Consumes from `buf[off]` on; returns where it stopped (the body's end, an error, the end). */
  feed(buf: Uint8Array, off: number): number {
    let i = off;
    while (i < buf.length && this.#state !== S_DONE && this.error === null) {
      if (this.#state === S_DATA) {
        const n = Math.min(this.#size, buf.length - i);
        i += n;
        this.#size -= n;
        if (this.#size === 0) this.#state = S_DATA_CR;
        continue;
      }
      this.#step(buf[i++]);
    }
    return i;
  }

  #step(c: number): void {
    const ctl = (c < 0x20 && c !== 9) || c === 0x7f;
    switch (this.#state) {
      case S_SIZE: {
        const h = hexValue(c);
        if (h >= 0) {
          if (++this.#digits > 13) this.error = "Chunk size too large";
          this.#size = this.#size * 16 + h;
        } else if (this.#digits === 0) this.error = "Invalid chunk size";
        else if (c === CR) this.#state = S_SIZE_LF;
        else if (c === 0x3b || c === 32 || c === 9) this.#state = S_EXT;
        else this.error = "Invalid chunk size";
        return;
      }
      case S_EXT:
        if (c === CR) this.#state = S_SIZE_LF;
        else if (ctl) this.error = "Invalid chunk extension";
        else if (++this.#lineBytes > MAX_CHUNK_LINE) this.error = "Chunk extension too long";
        return;
      case S_SIZE_LF:
        if (c !== LF) this.error = "Invalid chunk size line";
        else this.#state = this.#size === 0 ? S_TRAILER_START : S_DATA;
        this.#digits = this.#lineBytes = 0;
        return;
      case S_DATA_CR:
        if (c === CR) this.#state = S_DATA_LF;
        else this.error = "Missing CRLF after chunk data";
        return;
      case S_DATA_LF:
        if (c === LF) this.#state = S_SIZE;
        else this.error = "Missing CRLF after chunk data";
        return;
      case S_TRAILER_START:
      case S_TRAILER:
        if (c === CR) this.#state = this.#state === S_TRAILER_START ? S_FINAL_LF : S_TRAILER_LF;
        else if (ctl) this.error = "Invalid character in a trailer";
        else if (++this.#trailerBytes > this.#maxTrailerBytes) this.error = "Trailers too large";
        else this.#state = S_TRAILER;
        return;
      case S_TRAILER_LF:
        if (c === LF) this.#state = S_TRAILER_START;
        else this.error = "Invalid trailer line";
        return;
      case S_FINAL_LF:
        if (c === LF) this.#state = S_DONE;
        else this.error = "Invalid end of chunked body";
    }
  }
}

/** Grows a head buffer to hold `need` bytes, keeping the first `used`. */
function room(buf: Uint8Array, used: number, need: number): Uint8Array {
  if (need <= buf.length) return buf;
  const next = new Uint8Array(Math.max(need, buf.length * 2, 1024));
  next.set(buf.subarray(0, used));
  return next;
}

export type RequestEvent =
  /** A complete, valid head: forward it (rewritten). */
  | { readonly kind: "head"; readonly head: RequestHead }
  /** Body bytes (chunked framing included), to forward as they are. */
  | { readonly kind: "body"; readonly bytes: Uint8Array }
  /** The request is complete. */
  | { readonly kind: "end" }
  /** After an upgrade: bytes no longer tracked. */
  | { readonly kind: "raw"; readonly bytes: Uint8Array }
  /** Refuse the request (and close): 400, 431, 505... */
  | { readonly kind: "error"; readonly status: number; readonly message: string };

/**
 * idle: no byte of the next request yet; head: part of a head; body: in a body; upgrade: waits
 * for the server's answer to an upgrade request; raw: switched protocols, nothing is tracked.
 */
export type RequestPhase = "idle" | "head" | "body" | "upgrade" | "raw" | "failed";

/**
 * Finds where each request of a client→server stream ends: push a chunk, then take events with
 * `next()` until it returns null (the chunk is used up, or the tracker waits). Body events are
 * views into the pushed chunk, valid until the next push.
 */
export class RequestTracker {
  readonly #maxHeaderBytes: number;
  #phase: RequestPhase = "idle";
  #chunk: Uint8Array = EMPTY;
  #off = 0;
  #head: Uint8Array = EMPTY;
  #headLen = 0;
  #lineStart = 0;
  #lines = 0;
  #remaining = 0;
  #chunked: ChunkedBody | null = null;
  #endPending = false;
  #afterEnd: RequestPhase = "idle";

  constructor(maxHeaderBytes: number) {
    this.#maxHeaderBytes = maxHeaderBytes;
  }

  get phase(): RequestPhase {
    return this.#phase;
  }

  push(chunk: Uint8Array): void {
    if (this.#off < this.#chunk.length) throw new Error("The previous chunk is not used up");
    this.#chunk = chunk;
    this.#off = 0;
  }

  /** The server answered the upgrade request: `true` switches to raw, `false` goes on with HTTP. */
  resume(upgraded: boolean): void {
    if (this.#phase === "upgrade") this.#phase = upgraded ? "raw" : "idle";
  }

  /** The bytes pushed but not used (after a head the edge serves itself); tracking ends. */
  takeRest(): Uint8Array {
    const rest = this.#chunk.slice(this.#off);
    // Tracking ends: let go of the last chunk (a view of the connection's 8 KiB read buffer)
    // and of the head buffer, which a WebSocket would otherwise keep for its whole life.
    this.#chunk = this.#head = EMPTY;
    this.#off = this.#headLen = 0;
    this.#phase = "raw";
    this.#endPending = false;
    return rest;
  }

  next(): RequestEvent | null {
    if (this.#endPending) {
      this.#endPending = false;
      this.#phase = this.#afterEnd;
      return { kind: "end" };
    }
    const buf = this.#chunk;
    const off = this.#off;
    if (off >= buf.length) return null;
    switch (this.#phase) {
      case "idle":
      case "head":
        return this.#readHead();
      case "raw":
        this.#off = buf.length;
        return { kind: "raw", bytes: buf.subarray(off) };
      case "body": {
        let end: number;
        if (this.#chunked) {
          end = this.#chunked.feed(buf, off);
          if (this.#chunked.error) return this.#fail(400, this.#chunked.error);
          this.#endPending = this.#chunked.done;
        } else {
          end = off + Math.min(this.#remaining, buf.length - off);
          this.#remaining -= end - off;
          this.#endPending = this.#remaining === 0;
        }
        this.#off = end;
        return { kind: "body", bytes: buf.subarray(off, end) };
      }
      case "failed":
        this.#off = buf.length; // nothing more is read
        return null;
      default:
        return null;
    }
  }

  #readHead(): RequestEvent | null {
    const buf = this.#chunk;
    this.#phase = "head";
    while (this.#off < buf.length) {
      const nl = buf.indexOf(LF, this.#off);
      const end = nl < 0 ? buf.length : nl + 1;
      const n = end - this.#off;
      if (this.#headLen + n > this.#maxHeaderBytes) {
        return this.#fail(431, "Request header fields too large");
      }
      this.#head = room(this.#head, this.#headLen, this.#headLen + n);
      this.#head.set(buf.subarray(this.#off, end), this.#headLen);
      this.#headLen += n;
      this.#off = end;
      if (nl < 0) return null;
      const lf = this.#headLen - 1;
      if (lf === this.#lineStart || this.#head[lf - 1] !== CR) {
        return this.#fail(400, "Bare LF in the request head");
      }
      const empty = lf - 1 === this.#lineStart;
      this.#lineStart = this.#headLen;
      if (!empty) this.#lines++;
      else if (this.#lines > 0) return this.#complete();
    }
    return null;
  }

  #complete(): RequestEvent {
    const result = parseRequestHead(this.#head.subarray(0, this.#headLen));
    this.#headLen = this.#lineStart = this.#lines = 0;
    if (this.#head.length > 4096) this.#head = EMPTY;
    if (!result.ok) return this.#fail(result.status, result.message);
    const { head } = result;
    this.#phase = "body";
    this.#afterEnd = head.upgrade ? "upgrade" : "idle";
    this.#chunked = null;
    if (head.body.kind === "chunked") this.#chunked = new ChunkedBody(this.#maxHeaderBytes);
    else if (head.body.kind === "length") this.#remaining = head.body.length;
    else this.#endPending = true;
    return { kind: "head", head };
  }

  #fail(status: number, message: string): RequestEvent {
    this.#phase = "failed";
    this.#off = this.#chunk.length;
    return { kind: "error", status, message };
  }
}

interface Forwarded {
  readonly head: boolean;
  readonly upgrade: boolean;
}

/** A response head longer than this means we lost track (Deno's are a few hundred bytes). */
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * Follows the server→client stream (Deno.serve's own, well-formed responses) to know whether a
 * forwarded request is still being answered, and how the server answered an upgrade request.
 * Lenient: anything it cannot follow makes it "busy" for good, never wrong the other way.
 */
export class ResponseTracker {
  readonly #queue: Forwarded[] = [];
  readonly #onUpgrade: (upgraded: boolean) => void;
  #state: "head" | "length" | "chunked" | "close" | "raw" | "lost" = "head";
  #head: Uint8Array = EMPTY;
  #headLen = 0;
  #match = 0;
  #remaining = 0;
  #chunked: ChunkedBody | null = null;

  /** `onUpgrade` learns the answer to an upgrade request: 101 (true) or another final status. */
  constructor(onUpgrade: (upgraded: boolean) => void) {
    this.#onUpgrade = onUpgrade;
  }

  /** A request was forwarded. */
  request(method: string, upgrade: boolean): void {
    this.#queue.push({ head: method === "HEAD", upgrade });
  }

  /** A forwarded request is unanswered, a response is under way, or the stream is not HTTP. */
  get busy(): boolean {
    return this.#queue.length > 0 || this.#state !== "head" || this.#headLen > 0;
  }

  feed(buf: Uint8Array): void {
    let i = 0;
    while (i < buf.length) {
      switch (this.#state) {
        case "head":
          i = this.#scanHead(buf, i);
          break;
        case "length": {
          const n = Math.min(this.#remaining, buf.length - i);
          i += n;
          this.#remaining -= n;
          if (this.#remaining === 0) this.#answered();
          break;
        }
        case "chunked":
          i = this.#chunked!.feed(buf, i);
          if (this.#chunked!.error) this.#state = "lost";
          else if (this.#chunked!.done) this.#answered();
          break;
        default:
          return;
      }
    }
  }

  #scanHead(buf: Uint8Array, start: number): number {
    let i = start;
    let m = this.#match; // 1: CR, 2: CRLF, 3: CRLFCR, 4: CRLFCRLF
    for (; i < buf.length && m !== 4; i++) {
      const c = buf[i];
      m = c === CR ? (m === 2 ? 3 : 1) : c === LF && (m === 1 || m === 3) ? m + 1 : 0;
    }
    this.#match = m;
    if (this.#headLen + i - start > MAX_RESPONSE_HEAD) {
      this.#state = "lost";
      return buf.length;
    }
    this.#head = room(this.#head, this.#headLen, this.#headLen + i - start);
    this.#head.set(buf.subarray(start, i), this.#headLen);
    this.#headLen += i - start;
    if (m === 4) this.#onHead(latin1(this.#head.subarray(0, this.#headLen)));
    return i;
  }

  #onHead(head: string): void {
    this.#headLen = this.#match = 0;
    const m = /^HTTP\/1\.[01] (\d{3})[ \r]/.exec(head);
    if (!m) return void (this.#state = "lost");
    const status = Number(m[1]);
    const te = /\r\ntransfer-encoding:([^\r]*)/i.exec(head);
    const chunked = te !== null && /(^|,)[ \t]*chunked[ \t]*$/i.test(te[1]);
    const cl = /\r\ncontent-length:[ \t]*([^\r]*?)[ \t]*\r/i.exec(head);
    if (cl && !/^\d{1,15}$/.test(cl[1])) return void (this.#state = "lost");
    const length = cl ? Number(cl[1]) : null;
    const awaited = this.#queue[0] ?? { head: false, upgrade: false }; // else an unasked error
    if (status < 200) {
      if (status !== 101) return; // 100 Continue, 103 Early Hints: the final response follows
      if (!awaited.upgrade) return void (this.#state = "lost");
      this.#queue.shift();
      this.#state = "raw";
      return this.#onUpgrade(true);
    }
    if (awaited.upgrade && this.#queue.length > 0) this.#onUpgrade(false);
    if (awaited.head || status === 204 || status === 304) return this.#answered();
    if (chunked) {
      this.#chunked = new ChunkedBody(MAX_RESPONSE_HEAD);
      this.#state = "chunked";
    } else if (length === null) this.#state = "close"; // ends when the connection does
    else if (length === 0) this.#answered();
    else {
      this.#remaining = length;
      this.#state = "length";
    }
  }

  #answered(): void {
    this.#queue.shift();
    this.#state = "head";
    this.#chunked = null;
    if (this.#head.length > 4096) this.#head = EMPTY;
  }
}
