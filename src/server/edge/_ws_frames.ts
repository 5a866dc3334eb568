/**
 * RFC 6455 building blocks for `websocket.ts`: opcodes, header and close-frame rules, in-place
 * unmasking, the per-socket read buffer, the output (server frames encoded into one pooled buffer
 * per flush, so the frames of a microtask leave in one `conn.write`) and the handshake helpers
 * (`checkUpgrade`, `acceptKey`, re-exported by `websocket.ts`). Split from `websocket.ts` to keep
 * the socket class short.
 */

export const OP_CONTINUATION = 0x0;
export const OP_TEXT = 0x1;
export const OP_BINARY = 0x2;
export const OP_CLOSE = 0x8;
export const OP_PING = 0x9;
export const OP_PONG = 0xa;

/** Close codes: RFC 6455 §7.4. */
export const CODE_NORMAL = 1000;
export const CODE_GOING_AWAY = 1001;
export const CODE_PROTOCOL = 1002;
export const CODE_UNSUPPORTED = 1003;
export const CODE_NO_STATUS = 1005;
export const CODE_ABNORMAL = 1006;
export const CODE_INVALID_DATA = 1007;
export const CODE_TOO_BIG = 1009;

/** The largest payload of a control frame (RFC 6455 §5.5). */
export const MAX_CONTROL_PAYLOAD = 125;

/** A close code a peer may put on the wire: 1000-1003, 1007-1011, 3000-4999. */
export function isValidWireCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
    (code >= 3000 && code <= 4999);
}

/** Strict UTF-8 that keeps a leading BOM (it is part of the message, not a marker). */
export const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
export const encoder = new TextEncoder();

/** Decodes strict UTF-8; null when the bytes are not valid UTF-8. */
export function decodeUtf8(bytes: Uint8Array): string | null {
  try {
    return utf8.decode(bytes);
  } catch {
    return null;
  }
}

/** The close frame payload: empty without a code, else the code (big-endian) and the reason. */
export function closePayload(code: number | null, reason: string): Uint8Array {
  if (code === null) return new Uint8Array(0);
  const r = encoder.encode(reason);
  const out = new Uint8Array(2 + r.length);
  out[0] = code >>> 8;
  out[1] = code & 0xff;
  out.set(r, 2);
  return out;
}

/** A peer's close frame: its code (null for none) and reason, or the code to fail with. */
export type CloseInfo =
  | { readonly ok: true; readonly code: number | null; readonly reason: string }
  | { readonly ok: false; readonly code: number; readonly reason: string };

/** Checks a close frame payload (RFC 6455 §5.5.1, §7.4). */
export function decodeClose(p: Uint8Array): CloseInfo {
  if (p.length === 0) return { ok: true, code: null, reason: "" };
  if (p.length === 1) return { ok: false, code: CODE_PROTOCOL, reason: "invalid_close_frame" };
  const code = (p[0] << 8) | p[1];
  if (!isValidWireCloseCode(code)) {
    return { ok: false, code: CODE_PROTOCOL, reason: "invalid_close_code" };
  }
  const reason = decodeUtf8(p.subarray(2));
  if (reason === null) return { ok: false, code: CODE_INVALID_DATA, reason: "invalid_utf8" };
  return { ok: true, code, reason };
}

/** Joins message fragments into one array. */
export function concat(parts: Uint8Array<ArrayBuffer>[], total: number): Uint8Array<ArrayBuffer> {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const EMPTY: Uint8Array<ArrayBuffer> = new Uint8Array(0);
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * XORs `len` bytes at `off` with the 4-byte key at `keyOff` (same buffer, before the payload).
 * Long payloads go a 32-bit word at a time once the address is aligned.
 */
export function unmask(b: Uint8Array, off: number, len: number, keyOff: number): void {
  const key = [b[keyOff], b[keyOff + 1], b[keyOff + 2], b[keyOff + 3]];
  const end = off + len;
  let i = off;
  if (len >= 64 && LITTLE_ENDIAN) {
    while (((b.byteOffset + i) & 3) !== 0) {
      b[i] ^= key[(i - off) & 3];
      i++;
    }
    const k = (i - off) & 3;
    const word = key[k] | (key[(k + 1) & 3] << 8) | (key[(k + 2) & 3] << 16) |
      (key[(k + 3) & 3] << 24);
    const words = (end - i) >>> 2;
    const w = new Uint32Array(b.buffer, b.byteOffset + i, words);
    for (let j = 0; j < words; j++) w[j] ^= word;
    i += words * 4;
  }
  for (; i < end; i++) b[i] ^= key[(i - off) & 3];
}

/** RFC 6455 rules a client frame header must meet while open: [close code, reason] when broken. */
export function checkHeader(
  b0: number,
  b1: number,
  fragOp: number,
  allowBinary: boolean,
): [number, string] | null {
  const op = b0 & 0x0f;
  if (!(b1 & 0x80)) return [CODE_PROTOCOL, "unmasked_frame"];
  if (b0 & 0x70) return [CODE_PROTOCOL, "reserved_bits_set"];
  if (op >= OP_CLOSE) {
    if (op > OP_PONG) return [CODE_PROTOCOL, "unknown_opcode"];
    if (!(b0 & 0x80)) return [CODE_PROTOCOL, "fragmented_control_frame"];
    if ((b1 & 0x7f) > MAX_CONTROL_PAYLOAD) return [CODE_PROTOCOL, "control_frame_too_long"];
  } else if (op === OP_CONTINUATION) {
    if (fragOp === 0) return [CODE_PROTOCOL, "unexpected_continuation"];
  } else if (op <= OP_BINARY) {
    if (fragOp !== 0) return [CODE_PROTOCOL, "message_interrupted"];
    if (op === OP_BINARY && !allowBinary) return [CODE_UNSUPPORTED, "binary_not_accepted"];
  } else return [CODE_PROTOCOL, "unknown_opcode"];
  return null;
}

/** Size of the header up to the length field (2, 4 or 10 bytes), from the second header byte. */
export function lengthEnd(b1: number): number {
  const n = b1 & 0x7f;
  return n === 126 ? 4 : n === 127 ? 10 : 2;
}

/**
 * The payload length of the header at `p` (its bytes up to {@link lengthEnd} present); -1 when
 * the 64-bit form has its top bit set.
 */
export function payloadLength(b: Uint8Array, p: number): number {
  const n = b[p + 1] & 0x7f;
  if (n < 126) return n;
  if (n === 126) return (b[p + 2] << 8) | b[p + 3];
  if (b[p + 2] & 0x80) return -1;
  return ((b[p + 2] << 24 | b[p + 3] << 16 | b[p + 4] << 8 | b[p + 5]) >>> 0) * 0x100000000 +
    ((b[p + 6] << 24 | b[p + 7] << 16 | b[p + 8] << 8 | b[p + 9]) >>> 0);
}

/** First size of a socket's read buffer; it grows only for frames that do not fit. */
export const INITIAL_READ = 4096;

/**
 * A socket's read buffer: unparsed bytes are `buf[pos, end)`. It starts at 4 KiB (many idle
 * sockets), grows to hold a frame that does not fit and shrinks back once it is empty.
 */
export class ReadBuffer {
  buf: Uint8Array<ArrayBuffer>;
  pos = 0;
  end: number;

  constructor(leftover: Uint8Array) {
    this.buf = new Uint8Array(Math.max(INITIAL_READ, leftover.length));
    this.buf.set(leftover);
    this.end = leftover.length;
  }

  /** Where the next read goes, with room for a frame of `need` bytes (0 = unknown) from `pos`. */
  space(need: number): Uint8Array<ArrayBuffer> {
    const b = this.buf;
    const used = this.end - this.pos;
    need = Math.max(need, used + 1);
    if (need > b.length || (used === 0 && b.length > INITIAL_READ)) {
      const next = new Uint8Array(
        need <= INITIAL_READ ? INITIAL_READ : Math.ceil(need / 4096) * 4096,
      );
      next.set(b.subarray(this.pos, this.end));
      this.buf = next;
    } else if (
      this.pos > 0 && (this.end === b.length || this.pos + need > b.length || used === 0)
    ) {
      b.copyWithin(0, this.pos, this.end);
    } else return b.subarray(this.end);
    this.pos = 0;
    this.end = used;
    return this.buf.subarray(used);
  }

  release(): void {
    this.buf = EMPTY;
    this.pos = this.end = 0;
  }
}

function headerLength(payload: number): number {
  return payload < 126 ? 2 : payload < 65536 ? 4 : 10;
}

/** Strings longer than this are encoded apart instead of reserving 3 bytes per UTF-16 unit. */
const INLINE_TEXT_MAX = 65536;

/**
 * Output buffers of two sizes, shared by all sockets: a batch takes one and gives it back once
 * its write has settled, so an idle socket holds none and a busy one allocates none per flush
 * (a fresh 4 KiB buffer costs more than a microsecond, a good part of a message's whole cost).
 * A batch of one short frame, the common case, takes a small one: one frame sent to 10,000
 * sockets at once (a queue change every waiting client hears of) holds 20 MB, not 160 MB of
 * 16 KiB buffers, most of them beyond what the pool keeps and left to the allocator.
 */
export const SMALL_BUFFER = 2048;
export const POOLED_BUFFER = 16384;
const pools = new Map<number, { max: number; free: Uint8Array[] }>([
  [SMALL_BUFFER, { max: 512, free: [] }],
  [POOLED_BUFFER, { max: 256, free: [] }],
]);

/** Gives back a buffer from {@link FrameWriter.take} whose write has settled. */
export function recycle(written: Uint8Array): void {
  const pool = pools.get(written.buffer.byteLength);
  if (pool && pool.free.length < pool.max) pool.free.push(new Uint8Array(written.buffer));
}

/** A buffer of a pooled size (`size` is one of them). */
function pooled(size: number): Uint8Array {
  return pools.get(size)!.free.pop() ?? new Uint8Array(size);
}

/**
 * Server frames (never masked), appended to one growing buffer. {@link FrameWriter.take} hands
 * the bytes over for a write and starts a new buffer, so the one being written is never touched.
 */
export class FrameWriter {
  #buf: Uint8Array = EMPTY;
  #len = 0;

  /** Bytes queued. */
  get length(): number {
    return this.#len;
  }

  /** Appends a frame; returns its size on the wire. */
  bytes(opcode: number, data: Uint8Array): number {
    const h = headerLength(data.length);
    this.#reserve(h + data.length);
    this.#header(this.#len, opcode, data.length);
    this.#buf.set(data, this.#len + h);
    this.#len += h + data.length;
    return h + data.length;
  }

  /** Appends a frame with `s` as UTF-8, encoded straight into the buffer when it is short. */
  text(opcode: number, s: string): number {
    if (s.length > INLINE_TEXT_MAX) return this.bytes(opcode, encoder.encode(s));
    const most = s.length * 3;
    const guess = headerLength(most);
    this.#reserve(guess + most);
    const at = this.#len + guess;
    const { written } = encoder.encodeInto(s, this.#buf.subarray(at, at + most));
    const h = headerLength(written);
    if (h < guess) this.#buf.copyWithin(this.#len + h, at, at + written);
    this.#header(this.#len, opcode, written);
    this.#len += h + written;
    return h + written;
  }

  /**
   * The queued bytes, for one write; the writer starts over with a new buffer. Hand the bytes to
   * {@link recycle} once the write has settled (never while it may still read them).
   */
  take(): Uint8Array {
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = EMPTY;
    this.#len = 0;
    return out;
  }

  #reserve(n: number): void {
    const need = this.#len + n;
    if (need <= this.#buf.length) return;
    const next = need <= SMALL_BUFFER
      ? pooled(SMALL_BUFFER)
      : need <= POOLED_BUFFER
      ? pooled(POOLED_BUFFER)
      : new Uint8Array(Math.max(need, this.#buf.length * 2));
    if (this.#len > 0) next.set(this.#buf.subarray(0, this.#len));
    recycle(this.#buf);
    this.#buf = next;
  }

  #header(at: number, opcode: number, n: number): void {
    const b = this.#buf;
    b[at] = 0x80 | opcode;
    if (n < 126) {
      b[at + 1] = n;
    } else if (n < 65536) {
      b[at + 1] = 126;
      b[at + 2] = n >>> 8;
      b[at + 3] = n & 0xff;
    } else {
      b[at + 1] = 127;
      const hi = Math.floor(n / 0x100000000);
      const lo = n >>> 0;
      b[at + 2] = hi >>> 24;
      b[at + 3] = (hi >>> 16) & 0xff;
      b[at + 4] = (hi >>> 8) & 0xff;
      b[at + 5] = hi & 0xff;
      b[at + 6] = lo >>> 24;
      b[at + 7] = (lo >>> 16) & 0xff;
      b[at + 8] = (lo >>> 8) & 0xff;
      b[at + 9] = lo & 0xff;
    }
  }
}

/** What {@link Output} tells its socket. */
export interface OutputEvents {
  /** Everything queued was written. */
  drained(): void;
  /** A write failed; the output is of no further use. */
  failed(err: unknown): void;
}

/**
 * The write side of a connection: the frames queued during a microtask leave in one
 * `conn.write`; writes run one at a time and resume after partial writes.
 */
export class Output {
  readonly #frames = new FrameWriter();
  readonly #conn: Deno.Conn;
  readonly #events: OutputEvents;
  #inFlight = 0;
  /** A flush is scheduled or running. */
  #busy = false;
  #stopped = false;

  constructor(conn: Deno.Conn, events: OutputEvents) {
    this.#conn = conn;
    this.#events = events;
  }

  /** Bytes queued or being written. */
  get buffered(): number {
    return this.#frames.length + this.#inFlight;
  }

  /** Nothing is queued or being written. */
  get idle(): boolean {
    return !this.#busy;
  }

  text(opcode: number, s: string): void {
    this.#frames.text(opcode, s);
    this.#schedule();
  }

  bytes(opcode: number, data: Uint8Array): void {
    this.#frames.bytes(opcode, data);
    this.#schedule();
  }

  /** Discards what is queued; a write still running is ignored when it ends. */
  stop(): void {
    this.#stopped = true;
    this.#frames.take();
    this.#inFlight = 0;
  }

  #schedule(): void {
    if (this.#busy || this.#stopped) return;
    this.#busy = true;
    queueMicrotask(() => {
      this.#flush().catch((err) => console.error("WebSocket output failed", err));
    });
  }

  /** Writes batches until the queue is empty; frames queued meanwhile form the next batch. */
  async #flush(): Promise<void> {
    let error: unknown = null;
    try {
      while (this.#frames.length > 0 && !this.#stopped) {
        const data = this.#frames.take();
        this.#inFlight = data.length;
        for (let off = 0; off < data.length;) {
          const n = await this.#conn.write(off === 0 ? data : data.subarray(off));
          if (this.#stopped) return;
          off += n;
          this.#inFlight -= n;
        }
        recycle(data);
      }
    } catch (err) {
      error = err ?? new Error("Write failed");
    } finally {
      this.#busy = false;
    }
    if (this.#stopped) return;
    if (error !== null) this.#events.failed(error);
    else this.#events.drained();
  }
}

const GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** Sec-WebSocket-Accept for a Sec-WebSocket-Key (RFC 6455 §4.2.2; SHA-1 via WebCrypto). */
export async function acceptKey(key: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-1", encoder.encode(key + GUID)));
  return btoa(String.fromCharCode(...digest));
}

export type UpgradeCheck =
  | { readonly ok: true; readonly key: string }
  | {
    readonly ok: false;
    readonly status: number;
    readonly message: string;
    readonly headers?: Readonly<Record<string, string>>;
  };

/** Base64 of exactly 16 bytes: 22 characters and two pads. */
const KEY = /^[A-Za-z0-9+/]{22}==$/;

function hasToken(value: string | null, token: string): boolean {
  return value !== null && value.split(",").some((t) => t.trim().toLowerCase() === token);
}

/** Checks an upgrade request per RFC 6455 §4.2.1; on success returns the Sec-WebSocket-Key. */
export function checkUpgrade(method: string, headers: Headers): UpgradeCheck {
  const refuse = (message: string) => ({ ok: false, status: 400, message }) as const;
  if (method !== "GET") {
    return {
      ok: false,
      status: 405,
      message: "A WebSocket upgrade must be a GET request",
      headers: { allow: "GET" },
    };
  }
  if (!hasToken(headers.get("upgrade"), "websocket")) {
    return refuse("The Upgrade header must name websocket");
  }
  if (!hasToken(headers.get("connection"), "upgrade")) {
    return refuse("The Connection header must contain upgrade");
  }
  if (headers.get("sec-websocket-version") !== "13") {
    return {
      ok: false,
      status: 426,
      message: "Only WebSocket version 13 is supported",
      headers: { "sec-websocket-version": "13" },
    };
  }
  const key = headers.get("sec-websocket-key");
  if (key === null || !KEY.test(key)) {
    return refuse("Sec-WebSocket-Key must be the base64 of 16 bytes");
  }
  return { ok: true, key };
}
