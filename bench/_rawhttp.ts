/**
 * A lean HTTP/1.1 client for the load generator's SSE peers (`--client raw`, the default): one
 * plain TCP connection, one request at a time, bodies framed by `content-length` or chunked
 * transfer coding and handed over as they arrive. It spends far less CPU per request than
 * `fetch` (`--client std`), as bench/_rawws.ts does for WebSockets, so the bench measures the
 * server rather than its own HTTP client. Loopback http:// only; no TLS, no redirects.
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface Handlers {
  /** Body bytes, as they arrive (a view into the read buffer: copy or decode at once). */
  onBody(bytes: Uint8Array): void;
  /** The body is complete (`null`) or the connection failed (`why`). */
  onEnd(why: string | null): void;
}

interface Pending {
  readonly head: PromiseWithResolvers<number>;
  readonly h: Handlers;
}

const enum State {
  Head,
  Length,
  ChunkSize,
  ChunkData,
  ChunkEnd,
  Trailer,
  Done,
}

export class RawHttp {
  readonly #conn: Deno.TcpConn;
  readonly #host: string;
  #queue: Pending[] = [];
  #in = new Uint8Array(16 * 1024);
  #inLen = 0;
  #state = State.Done;
  #left = 0;
  #closed = false;

  private constructor(conn: Deno.TcpConn, host: string) {
    this.#conn = conn;
    this.#host = host;
    void this.#readLoop();
  }

  static async connect(baseUrl: string): Promise<RawHttp> {
    const u = new URL(baseUrl);
    if (u.protocol !== "http:") {
      throw new Error(`raw HTTP client supports http:// only: ${baseUrl}`);
    }
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    conn.setNoDelay(true);
    return new RawHttp(conn, u.host);
  }

  /**
   * Sends a request (the caller keeps one in flight at a time) and resolves with its status
   * once the head is in; the body goes to `h`.
   */
  send(method: string, path: string, h: Handlers, body = "", headers = ""): Promise<number> {
    const p: Pending = { head: Promise.withResolvers<number>(), h };
    if (this.#closed) {
      p.head.reject(new Error("connection closed"));
      return p.head.promise;
    }
    const bytes = enc.encode(body);
    const len = method === "GET" ? "" : `content-length: ${bytes.byteLength}\r\n`;
    const head = enc.encode(
      `${method} ${path} HTTP/1.1\r\nhost: ${this.#host}\r\n${len}${headers}\r\n`,
    );
    const all = new Uint8Array(head.byteLength + bytes.byteLength);
    all.set(head);
    all.set(bytes, head.byteLength);
    this.#queue.push(p);
    if (this.#queue.length === 1) this.#state = State.Head;
    void this.#write(all);
    return p.head.promise;
  }

  /** A request whose whole body is wanted as text. */
  async request(
    method: string,
    path: string,
    body = "",
    headers = "",
  ): Promise<{ status: number; body: string }> {
    const parts: Uint8Array[] = [];
    const done = Promise.withResolvers<void>();
    done.promise.catch(() => {}); // a failed send rejects both; the caller sees the first
    const status = await this.send(
      method,
      path,
      {
        onBody: (b) => parts.push(b.slice()),
        onEnd: (why) => why === null ? done.resolve() : done.reject(new Error(why)),
      },
      body,
      headers,
    );
    await done.promise;
    return { status, body: parts.length === 1 ? dec.decode(parts[0]) : dec.decode(concat(parts)) };
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  async #write(bytes: Uint8Array): Promise<void> {
    try {
      let off = 0;
      while (off < bytes.byteLength) off += await this.#conn.write(bytes.subarray(off));
    } catch (err) {
      this.#fail(err instanceof Error ? err.message : String(err));
    }
  }

  async #readLoop(): Promise<void> {
    let why = "connection closed by the server";
    try {
      for (;;) {
        const n = await this.#conn.read(this.#in.subarray(this.#inLen));
        if (n === null) break;
        this.#inLen += n;
        const used = this.#parse(this.#in.subarray(0, this.#inLen));
        this.#in.copyWithin(0, used, this.#inLen);
        this.#inLen -= used;
        if (this.#inLen === this.#in.byteLength) { // a head or chunk line longer than the buffer
          const bigger = new Uint8Array(this.#in.byteLength * 2);
          bigger.set(this.#in);
          this.#in = bigger;
        }
      }
    } catch (err) {
      why = err instanceof Error ? err.message : String(err);
    }
    this.#fail(why);
  }

  /** Consumes what it can of `buf`; returns the bytes used. */
  #parse(buf: Uint8Array): number {
    let off = 0;
    while (off < buf.byteLength && this.#queue.length > 0) {
      const p = this.#queue[0];
      switch (this.#state) {
        case State.Head: {
          const end = indexOf(buf, CRLFCRLF, off);
          if (end < 0) return off;
          const lines = dec.decode(buf.subarray(off, end)).split("\r\n");
          off = end + 4;
          const status = Number(lines[0].split(" ")[1]);
          const headers = new Map<string, string>();
          for (const l of lines.slice(1)) {
            const i = l.indexOf(":");
            headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
          }
          p.head.resolve(status);
          if (headers.get("transfer-encoding")?.includes("chunked")) this.#state = State.ChunkSize;
          else {
            this.#left = Number(headers.get("content-length") ?? 0);
            this.#state = State.Length;
            if (this.#left === 0) this.#next();
          }
          break;
        }
        case State.Length:
        case State.ChunkData: {
          const n = Math.min(this.#left, buf.byteLength - off);
          p.h.onBody(buf.subarray(off, off + n));
          off += n;
          this.#left -= n;
          if (this.#left > 0) return off;
          if (this.#state === State.Length) this.#next();
          else this.#state = State.ChunkEnd;
          break;
        }
        case State.ChunkSize:
        case State.ChunkEnd:
        case State.Trailer: {
          const end = indexOf(buf, CRLF, off);
          if (end < 0) return off;
          const line = dec.decode(buf.subarray(off, end));
          off = end + 2;
          if (this.#state === State.ChunkEnd) this.#state = State.ChunkSize;
          else if (this.#state === State.Trailer) { if (line === "") this.#next(); }
          else {
            this.#left = parseInt(line, 16);
            this.#state = this.#left === 0 ? State.Trailer : State.ChunkData;
          }
          break;
        }
        case State.Done:
          return off;
      }
    }
    return off;
  }

  #next(): void {
    this.#queue.shift()!.h.onEnd(null);
    this.#state = this.#queue.length > 0 ? State.Head : State.Done;
  }

  #fail(why: string): void {
    this.close();
    for (const p of this.#queue.splice(0)) {
      p.head.reject(new Error(why));
      p.h.onEnd(why);
    }
  }
}

const CRLF = enc.encode("\r\n");
const CRLFCRLF = enc.encode("\r\n\r\n");

function indexOf(buf: Uint8Array, pat: Uint8Array, from: number): number {
  outer: for (let i = buf.indexOf(pat[0], from); i >= 0; i = buf.indexOf(pat[0], i + 1)) {
    if (i + pat.byteLength > buf.byteLength) return -1;
    for (let k = 1; k < pat.byteLength; k++) if (buf[i + k] !== pat[k]) continue outer;
    return i;
  }
  return -1;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.byteLength);
  return out;
}
