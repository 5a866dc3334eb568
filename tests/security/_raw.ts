/**
 * A raw TCP peer for the security tests: writes whatever bytes an attacker would (half request
 * heads, lying Content-Lengths, endless chunked bodies, WebSocket frames with huge announced
 * lengths) and reads the server's answers byte by byte. Every wait has a guard timeout that fails
 * the test (and closes the connection); none is used as a delay.
 *
 * Kept apart from tests/edge/websocket_test.ts on purpose (that file is not imported): this one
 * talks to a whole server over the network, not to a socket object.
 */

export const enc = new TextEncoder();
const dec = new TextDecoder();
/** Latin-1 view of bytes (one char per byte), for HTTP heads. */
function latin1(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i += 8192) {
    s += String.fromCharCode.apply(null, b.subarray(i, i + 8192) as unknown as number[]);
  }
  return s;
}

export const OP = { CONT: 0, TEXT: 1, BINARY: 2, CLOSE: 8, PING: 9, PONG: 10 } as const;

/** A parsed HTTP response. */
export interface RawResponse {
  readonly status: number;
  readonly head: string;
  readonly headers: Headers;
  readonly body: Uint8Array;
  readonly text: string;
}

/** A WebSocket frame sent by the server. */
export interface WsFrame {
  readonly fin: boolean;
  readonly op: number;
  readonly masked: boolean;
  readonly payload: Uint8Array;
}

/** How a connection ended from our side of view. */
export type Ending = "eof" | "reset";

export class GuardTimeout extends Error {}

/** Runs `p` against a guard: after `ms` the guard closes `onTimeout` and rejects. */
export async function guarded<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  onTimeout?: () => void,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout?.();
      reject(new GuardTimeout(`Guard: ${what} did not happen within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

/** A masked client frame; `announce` sends a header claiming another payload length. */
export function wsFrame(
  op: number,
  payload: Uint8Array | string = "",
  o: { fin?: boolean; announce?: number; mask?: boolean } = {},
): Uint8Array {
  const data = typeof payload === "string" ? enc.encode(payload) : payload;
  const n = o.announce ?? data.length;
  const mask = o.mask ?? true;
  const ext = n >= 65536 ? 8 : n >= 126 ? 2 : 0;
  const out = new Uint8Array(2 + ext + (mask ? 4 : 0) + data.length);
  out[0] = (o.fin === false ? 0 : 0x80) | op;
  out[1] = (mask ? 0x80 : 0) | (ext === 8 ? 127 : ext === 2 ? 126 : n);
  const view = new DataView(out.buffer);
  if (ext === 2) view.setUint16(2, n);
  if (ext === 8) view.setBigUint64(2, BigInt(n));
  let p = 2 + ext;
  if (mask) {
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, p);
    p += 4;
    for (let i = 0; i < data.length; i++) out[p + i] = data[i] ^ key[i & 3];
  } else out.set(data, p);
  return out;
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A random Sec-WebSocket-Key (base64 of 16 bytes). */
export function wsKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

export class RawConn {
  #buf: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  #ended: Ending | null = null;
  #closed = false;
  /** Bytes received in all (also those already consumed). */
  received = 0;

  private constructor(readonly conn: Deno.TcpConn, readonly host: string) {}

  static async open(baseUrl: string): Promise<RawConn> {
    const u = new URL(baseUrl);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    return new RawConn(conn, u.host);
  }

  get ended(): Ending | null {
    return this.#ended;
  }

  /** Writes all bytes; false when the server has closed the connection meanwhile. */
  async write(bytes: Uint8Array | string): Promise<boolean> {
    const b = typeof bytes === "string" ? enc.encode(bytes) : bytes;
    try {
      for (let off = 0; off < b.length;) off += await this.conn.write(b.subarray(off));
      return true;
    } catch (err) {
      if (this.#closed || isConnError(err)) return false;
      throw err;
    }
  }

  /** Reads once more into the buffer; false at the end of the stream. */
  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch (err) {
      if (this.#closed) throw new Error("Closed while reading (guard timeout?)");
      if (!isConnError(err)) throw err;
      this.#ended = "reset";
      return false;
    }
    if (n === null) {
      this.#ended = "eof";
      return false;
    }
    this.received += n;
    this.#buf = concat(this.#buf, chunk.subarray(0, n));
    return true;
  }

  async #fill(n: number): Promise<boolean> {
    while (this.#buf.length < n) if (!await this.#more()) return false;
    return true;
  }

  #take(n: number): Uint8Array {
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  /** Everything unread so far, as latin-1 text. */
  peek(): string {
    return latin1(this.#buf);
  }

  /** One HTTP response (Content-Length, chunked, or up to the end of the stream). */
  response(guardMs = 10_000): Promise<RawResponse> {
    return guarded(this.#response(), guardMs, "an HTTP response", () => this.close());
  }

  async #response(): Promise<RawResponse> {
    let end: number;
    while ((end = this.peek().indexOf("\r\n\r\n")) < 0) {
      if (!await this.#more()) {
        throw new Error(`The connection ended (${this.#ended}) before a response head`);
      }
    }
    const head = latin1(this.#take(end + 4));
    const lines = head.split("\r\n").filter(Boolean);
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0])?.[1] ?? NaN);
    const headers = new Headers();
    for (const l of lines.slice(1)) {
      const i = l.indexOf(":");
      headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
    }
    let body: Uint8Array;
    if (status === 101 || status === 204 || status === 304) body = new Uint8Array(0);
    else if (headers.has("content-length")) {
      const n = Number(headers.get("content-length"));
      if (!await this.#fill(n)) throw new Error("The connection ended inside a body");
      body = this.#take(n);
    } else if (headers.get("transfer-encoding")?.toLowerCase() === "chunked") {
      const parts: Uint8Array[] = [];
      for (;;) {
        let eol: number;
        while ((eol = this.peek().indexOf("\r\n")) < 0) {
          if (!await this.#more()) throw new Error("The connection ended inside a chunk");
        }
        const size = parseInt(latin1(this.#take(eol + 2)), 16);
        if (!await this.#fill(size + 2)) throw new Error("The connection ended inside a chunk");
        parts.push(this.#take(size));
        this.#take(2);
        if (size === 0) break;
      }
      body = concat(...parts);
    } else {
      while (await this.#more()) { /* read to the end */ }
      body = this.#take(this.#buf.length);
    }
    return { status, head, headers, body, text: dec.decode(body) };
  }

  /** One WebSocket frame from the server. */
  frame(guardMs = 10_000): Promise<WsFrame> {
    return guarded(this.#frame(), guardMs, "a WebSocket frame", () => this.close());
  }

  async #frame(): Promise<WsFrame> {
    if (!await this.#fill(2)) {
      throw new Error(`The connection ended (${this.#ended}) before a frame`);
    }
    const b1 = this.#buf[1];
    let n = b1 & 0x7f;
    const ext = n === 126 ? 2 : n === 127 ? 8 : 0;
    const maskLen = b1 & 0x80 ? 4 : 0;
    if (!await this.#fill(2 + ext)) throw new Error("The connection ended inside a frame header");
    const view = new DataView(this.#buf.buffer, this.#buf.byteOffset);
    if (ext === 2) n = view.getUint16(2);
    if (ext === 8) n = Number(view.getBigUint64(2));
    const h = 2 + ext + maskLen;
    if (!await this.#fill(h + n)) throw new Error("The connection ended inside a frame");
    const f = this.#take(h + n);
    return {
      fin: (f[0] & 0x80) !== 0,
      op: f[0] & 0x0f,
      masked: maskLen > 0,
      payload: f.slice(h),
    };
  }

  /**
   * Reads frames until the server's close frame: the text frames before it (parsed as JSON) and
   * the close code and reason.
   */
  async untilClose(guardMs = 15_000): Promise<{
    texts: Array<{ type: string; payload: Record<string, unknown>; ref?: string }>;
    code: number | null;
    reason: string;
  }> {
    const texts = [];
    const deadline = performance.now() + guardMs;
    for (;;) {
      const f = await this.frame(Math.max(1, deadline - performance.now()));
      if (f.op === OP.TEXT) texts.push(JSON.parse(dec.decode(f.payload)));
      else if (f.op === OP.CLOSE) {
        const code = f.payload.length >= 2 ? (f.payload[0] << 8) | f.payload[1] : null;
        return { texts, code, reason: dec.decode(f.payload.slice(2)) };
      }
    }
  }

  /** The next text frame, parsed as JSON (pings from the server are answered, pongs skipped). */
  async json(
    guardMs = 10_000,
  ): Promise<{ type: string; payload: Record<string, unknown>; ref?: string }> {
    const deadline = performance.now() + guardMs;
    for (;;) {
      const f = await this.frame(Math.max(1, deadline - performance.now()));
      if (f.op === OP.TEXT) return JSON.parse(dec.decode(f.payload));
      if (f.op === OP.PING) await this.write(wsFrame(OP.PONG, f.payload));
      else if (f.op === OP.CLOSE) {
        const code = f.payload.length >= 2 ? (f.payload[0] << 8) | f.payload[1] : null;
        throw new Error(`Closed by the server (${code} ${dec.decode(f.payload.slice(2))})`);
      }
    }
  }

  /** Resolves once the server has ended the connection (EOF or reset); unread bytes are kept. */
  waitEnd(guardMs = 15_000): Promise<Ending> {
    return guarded(
      (async () => {
        while (await this.#more()) { /* keep reading */ }
        return this.#ended!;
      })(),
      guardMs,
      "the server closing the connection",
      () => this.close(),
    );
  }

  /** Sends a WebSocket upgrade for `target` and reads the answer's head (and body, if any). */
  async upgrade(
    target: string,
    extra: Record<string, string> = {},
    method = "GET",
  ): Promise<RawResponse> {
    const headers: Record<string, string> = {
      Host: this.host,
      Upgrade: "websocket",
      Connection: "Upgrade",
      "Sec-WebSocket-Version": "13",
      "Sec-WebSocket-Key": wsKey(),
      ...extra,
    };
    let head = `${method} ${target} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) if (v !== "") head += `${k}: ${v}\r\n`;
    await this.write(head + "\r\n");
    return await this.response();
  }

  /** After the server's close frame: answers it (as RFC 6455 asks) and waits for the end. */
  async answerClose(): Promise<Ending> {
    await this.write(wsFrame(OP.CLOSE, new Uint8Array([0x03, 0xe8])));
    return await this.waitEnd(5_000);
  }

  /** Sends a close frame (1000) and waits for the server to end the connection. */
  async closeWs(): Promise<void> {
    await this.write(wsFrame(OP.CLOSE, new Uint8Array([0x03, 0xe8])));
    await this.waitEnd().catch(() => {});
    this.close();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch {
      // Already closed.
    }
  }
}

function isConnError(err: unknown): boolean {
  return err instanceof Deno.errors.ConnectionReset ||
    err instanceof Deno.errors.BrokenPipe ||
    err instanceof Deno.errors.ConnectionAborted ||
    err instanceof Deno.errors.NotConnected ||
    err instanceof Deno.errors.BadResource;
}

/** A request head (no body) as bytes. */
export function requestHead(
  method: string,
  target: string,
  host: string,
  headers: Record<string, string> = {},
): string {
  let s = `${method} ${target} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(headers)) s += `${k}: ${v}\r\n`;
  return s + "\r\n";
}
