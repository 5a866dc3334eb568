/**
 * A lean RFC 6455 client for the load generator (`--client raw`, the default): plain TCP,
 * masked text frames out, frames parsed straight from each read. One read can carry many frames
 * and the frames one burst of handlers sends leave in one write, so the bench spends far less
 * CPU per frame than the standard WebSocket class (`--client std`) and leaves the cores to the
 * server. Loopback ws:// only; no extensions, no TLS.
 */

export interface Socket {
  onText: (text: string) => void;
  onClose: (code: number, reason: string) => void;
  /** Starts delivering frames; call once the handlers are set. */
  start(): void;
  send(text: string): void;
  close(): void;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class RawWs implements Socket {
  onText: (text: string) => void = () => {};
  onClose: (code: number, reason: string) => void = () => {};
  readonly #conn: Deno.TcpConn;
  readonly #mask = crypto.getRandomValues(new Uint8Array(4));
  /** Frames waiting to be written, and the buffer the last write used (swapped, reused). */
  #out = new Uint8Array(1024);
  #outLen = 0;
  #spare = new Uint8Array(1024);
  #writing = false;
  #closed = false;
  #frag: Uint8Array[] = [];
  /** Read buffer: starts small (idle sockets are many) and grows for busy ones. */
  #in: Uint8Array;
  #inLen: number;

  private constructor(conn: Deno.TcpConn, initial: Uint8Array) {
    this.#conn = conn;
    this.#in = new Uint8Array(Math.max(4096, initial.byteLength * 2));
    this.#in.set(initial);
    this.#inLen = initial.byteLength;
  }

  start(): void {
    void this.#readLoop();
  }

  static async connect(url: string, timeoutMs = 30_000): Promise<RawWs> {
    const u = new URL(url);
    if (u.protocol !== "ws:") throw new Error(`raw client supports ws:// only: ${url}`);
    const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
    conn.setNoDelay(true);
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await conn.write(enc.encode(
      `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\n` +
        `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
    ));
    const timer = setTimeout(() => conn.close(), timeoutMs);
    let buf: Uint8Array = new Uint8Array(0);
    let end = -1;
    try {
      while (end < 0) {
        const chunk = new Uint8Array(4096);
        const n = await conn.read(chunk);
        if (n === null) throw new Error("connection closed during the WebSocket handshake");
        buf = concat(buf, chunk.subarray(0, n));
        end = dec.decode(buf).indexOf("\r\n\r\n");
      }
    } catch (err) {
      try {
        conn.close();
      } catch { /* closed by the timer */ }
      throw err;
    } finally {
      clearTimeout(timer);
    }
    const head = dec.decode(buf).slice(0, end);
    if (!/^HTTP\/1\.1 101/.test(head)) {
      conn.close();
      throw new Error(`WebSocket upgrade refused: ${head.split("\r\n")[0]}`);
    }
    return new RawWs(conn, buf.slice(enc.encode(head).byteLength + 4));
  }

  send(text: string): void {
    // Frame straight into the output buffer: header (<= 14 bytes), then UTF-8, masked in place.
    this.#reserve(14 + text.length * 3);
    const out = this.#out, at = this.#outLen;
    const short = text.length <= 41; // 41 * 3 < 126: the 2-byte header is enough
    const body = at + (short ? 6 : 8);
    const n = enc.encodeInto(text, out.subarray(body)).written;
    if (!short && n >= 65536) {
      this.#frame(1, enc.encode(text));
      return;
    }
    out[at] = 0x81;
    let end = body + n;
    if (short) out[at + 1] = 0x80 | n;
    else if (n < 126) { // the length must use the shortest form: move the payload back
      out.copyWithin(at + 6, body, end);
      out[at + 1] = 0x80 | n;
      end -= 2;
    } else (out[at + 1] = 0x80 | 126, out[at + 2] = n >> 8, out[at + 3] = n & 255);
    this.#maskInto(out, end - n - 4, n);
    this.#outLen = end;
    this.#schedule();
  }

  close(): void {
    if (this.#closed) return;
    this.#frame(8, new Uint8Array([0x03, 0xe8])); // 1000
    this.#closed = true;
    setTimeout(() => this.#shut(), 1000);
  }

  #shut(): void {
    try {
      this.#conn.close();
    } catch { /* already closed */ }
  }

  #reserve(n: number): void {
    if (this.#outLen + n <= this.#out.byteLength) return;
    const bigger = new Uint8Array(Math.max(this.#out.byteLength * 2, this.#outLen + n));
    bigger.set(this.#out.subarray(0, this.#outLen));
    this.#out = bigger;
  }

  /** Writes the mask key at `at`, then masks the `n` payload bytes after it. */
  #maskInto(out: Uint8Array, at: number, n: number): void {
    const m = this.#mask;
    out.set(m, at);
    for (let i = 0, p = at + 4; i < n; i++, p++) out[p] ^= m[i & 3];
  }

  #frame(opcode: number, payload: Uint8Array): void {
    if (this.#closed) return;
    const n = payload.byteLength;
    const hdr = n < 126 ? 2 : n < 65536 ? 4 : 10;
    this.#reserve(hdr + 4 + n);
    const out = this.#out, at = this.#outLen;
    out[at] = 0x80 | opcode;
    if (n < 126) out[at + 1] = 0x80 | n;
    else if (n < 65536) (out[at + 1] = 0x80 | 126, out[at + 2] = n >> 8, out[at + 3] = n & 255);
    else (out[at + 1] = 0x80 | 127, new DataView(out.buffer).setBigUint64(at + 2, BigInt(n)));
    out.set(payload, at + hdr + 4);
    this.#maskInto(out, at + hdr, n);
    this.#outLen = at + hdr + 4 + n;
    this.#schedule();
  }

  #schedule(): void {
    if (this.#writing) return;
    this.#writing = true;
    queueMicrotask(() => void this.#flush());
  }

  async #flush(): Promise<void> {
    try {
      while (this.#outLen > 0) {
        const data = this.#out, len = this.#outLen;
        this.#out = this.#spare;
        this.#outLen = 0;
        let off = 0;
        while (off < len) off += await this.#conn.write(data.subarray(off, len));
        this.#spare = data;
      }
    } catch {
      this.#outLen = 0;
    } finally {
      this.#writing = false;
    }
  }

  async #readLoop(): Promise<void> {
    let code = 1006, reason = "";
    try {
      for (;;) {
        const buf = this.#in, len = this.#inLen;
        let off = 0;
        while (len - off >= 2) {
          const b1 = buf[off + 1] & 127;
          let n = b1, hdr = 2;
          if (b1 === 126) (hdr = 4, n = len - off >= 4 ? (buf[off + 2] << 8) | buf[off + 3] : -1);
          else if (b1 === 127) {
            hdr = 10;
            n = len - off >= 10 ? Number(new DataView(buf.buffer).getBigUint64(off + 2)) : -1;
          }
          if (n < 0 || len - off < hdr + n) break;
          const fin = (buf[off] & 0x80) !== 0, op = buf[off] & 15;
          const payload = buf.subarray(off + hdr, off + hdr + n);
          off += hdr + n;
          if (op === 1 || op === 0) {
            if (!fin) this.#frag.push(payload.slice());
            else if (this.#frag.length) {
              this.#frag.push(payload);
              const all = concatAll(this.#frag);
              this.#frag = [];
              this.onText(dec.decode(all));
            } else this.onText(dec.decode(payload));
          } else if (op === 9) this.#frame(10, payload);
          else if (op === 8) {
            code = n >= 2 ? (payload[0] << 8) | payload[1] : 1005;
            reason = dec.decode(payload.subarray(2));
            if (!this.#closed) this.#frame(8, payload.slice(0, 2));
            this.#closed = true;
            return;
          }
        }
        // Keep the partial frame at the front; grow when a read filled the buffer.
        if (off > 0) buf.copyWithin(0, off, len);
        this.#inLen = len - off;
        if (this.#inLen * 2 > buf.byteLength || len === buf.byteLength) {
          const bigger = new Uint8Array(Math.min(buf.byteLength * 4, 1 << 22));
          bigger.set(buf.subarray(0, this.#inLen));
          this.#in = bigger;
        }
        const got = await this.#conn.read(this.#in.subarray(this.#inLen));
        if (got === null) return;
        this.#inLen += got;
      }
    } catch {
      // Reset or closed by us: reported as 1006 unless a close frame came first.
    } finally {
      this.#closed = true;
      setTimeout(() => this.#shut(), 100);
      this.onClose(code, reason);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}

function concatAll(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), o += p.byteLength);
  return out;
}
