/**
 * A Server-Sent Events test client over `fetch` streaming: parses `id:`, `data:` and comment
 * lines as a browser's EventSource would, records every frame, and lets tests wait for frames
 * (as {@link WsClient} does) and send inbound frames through `POST …/sse/send`.
 */
import { OutboundFrameSchema } from "../../src/protocol/mod.ts";
import type { Frame, TestServer } from "./_harness.ts";

export const SSE_PATH = "/api/v1/chat/sse";

export function sseUrl(
  server: TestServer,
  token: string,
  query: Record<string, string | number> = {},
): string {
  const u = new URL(SSE_PATH, server.url);
  u.searchParams.set("token", token);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  return u.toString();
}

interface Waiter<T> {
  test: (x: T) => boolean;
  from: number;
  resolve: (x: T) => void;
  reject: (e: Error) => void;
}

export class SseClient {
  readonly response: Response;
  readonly frames: Frame[] = [];
  /** The `id:` line of each frame's event (null when it had none), parallel to `frames`. */
  readonly ids: Array<string | null> = [];
  readonly comments: string[] = [];
  readonly schemaErrors: Error[] = [];
  /** As EventSource keeps it: the last id seen (what it sends back as `Last-Event-ID`). */
  lastEventId = "";
  ended = false;
  readonly #reader: ReadableStreamDefaultReader<string>;
  readonly #done: Promise<void>;
  readonly #token: string;
  readonly #base: string;
  #frameWaiters: Waiter<Frame>[] = [];
  #commentWaiters: Waiter<string>[] = [];
  #refs = 0;

  private constructor(base: string, token: string, response: Response) {
    this.#base = base;
    this.#token = token;
    this.response = response;
    this.#reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    this.#done = this.#readLoop();
  }

  /** Opens a stream; fails unless the answer is 200 (the `connected` frame may still come). */
  static async open(url: string, opts: { lastEventId?: string } = {}): Promise<SseClient> {
    const headers: Record<string, string> = { accept: "text/event-stream" };
    if (opts.lastEventId !== undefined) headers["last-event-id"] = opts.lastEventId;
    const res = await fetch(url, { headers });
    if (res.status !== 200) throw new Error(`SSE refused: ${res.status} ${await res.text()}`);
    const u = new URL(url);
    return new SseClient(u.origin, u.searchParams.get("token") ?? "", res);
  }

  /** Opens and waits for `connected`. */
  static async connect(url: string, opts: { lastEventId?: string } = {}): Promise<SseClient> {
    const c = await SseClient.open(url, opts);
    await c.next((f) => f.type === "connected");
    return c;
  }

  get connectionId(): string {
    const connected = this.frames.find((f) => f.type === "connected");
    return (connected?.payload.connection_id as string | undefined) ?? "";
  }

  /** POSTs a raw body to `/sse/send` for this stream (or `connectionId`); status and JSON body. */
  async post(
    body: string | ReadableStream<Uint8Array>,
    opts: { connectionId?: string; token?: string } = {},
  ): Promise<{ status: number; body: Record<string, unknown> | null; code?: string }> {
    const u = new URL(`${SSE_PATH}/send`, this.#base);
    u.searchParams.set("token", opts.token ?? this.#token);
    u.searchParams.set("connection_id", opts.connectionId ?? this.connectionId);
    const res = await fetch(u, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    const text = await res.text();
    const json = text === "" ? null : JSON.parse(text);
    return { status: res.status, body: json, code: json?.error?.code };
  }

  /** Sends a frame with a fresh ref and returns the reply frame (`ack`, `error` or `pong`). */
  async request(type: string, payload: Record<string, unknown> = {}): Promise<Frame> {
    const ref = `s${++this.#refs}`;
    const { status, body } = await this.post(JSON.stringify({ type, payload, ref }));
    if (status !== 200) throw new Error(`POST ${type} answered ${status}: ${JSON.stringify(body)}`);
    const reply = body as unknown as Frame;
    if (reply.ref !== ref) throw new Error(`reply without our ref: ${JSON.stringify(reply)}`);
    return reply;
  }

  /** The first frame matching `test` from index `from` on; `timeoutMs` is a guard, not a delay. */
  next(test: (f: Frame) => boolean, opts: { from?: number; timeoutMs?: number } = {}) {
    return this.#wait(this.frames, this.#frameWaiters, test, opts);
  }

  /** The first comment line (text after `:`) matching `test`. */
  nextComment(test: (c: string) => boolean, opts: { from?: number; timeoutMs?: number } = {}) {
    return this.#wait(this.comments, this.#commentWaiters, test, opts);
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Session-event seqs received for a chat, in arrival order. */
  seqs(chatId: string): number[] {
    return this.frames
      .filter((f) => f.payload.chat_id === chatId && typeof f.payload.seq === "number")
      .map((f) => f.payload.seq as number);
  }

  /** The chat's seqs received from frame `from` on, before that chat's `resumed`. */
  replayed(chatId: string, from = 0): number[] {
    const end = this.frames.findIndex((f, i) =>
      i >= from && f.type === "resumed" && f.payload.chat_id === chatId
    );
    return this.frames.slice(from, end).filter((f) => f.payload.chat_id === chatId)
      .map((f) => f.payload.seq).filter((n): n is number => typeof n === "number");
  }

  /** Resolves when the server ends the stream. */
  async endedByServer(): Promise<void> {
    await this.#done;
  }

  /** Cancels the stream (the peer goes away); then fails if a frame was outside the schema. */
  async close(): Promise<void> {
    if (!this.ended) await this.#reader.cancel().catch(() => {});
    await this.#done;
    if (this.schemaErrors.length > 0) throw this.schemaErrors[0];
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #wait<T>(
    seen: T[],
    waiters: Waiter<T>[],
    test: (x: T) => boolean,
    opts: { from?: number; timeoutMs?: number },
  ): Promise<T> {
    const from = opts.from ?? 0;
    const found = seen.slice(from).find(test);
    if (found !== undefined) return Promise.resolve(found);
    if (this.ended) return Promise.reject(new Error("SSE stream ended"));
    return new Promise((resolve, reject) => {
      const guard: { timer?: ReturnType<typeof setTimeout> } = {};
      const w: Waiter<T> = {
        test,
        from,
        resolve: (x) => (clearTimeout(guard.timer), resolve(x)),
        reject: (e) => (clearTimeout(guard.timer), reject(e)),
      };
      waiters.push(w);
      guard.timer = setTimeout(() => {
        waiters.splice(waiters.indexOf(w), 1);
        const types = this.frames.map((f) => f.type).join(",");
        reject(new Error(`Timed out waiting on the SSE stream; saw: ${types}`));
      }, opts.timeoutMs ?? 10_000);
    });
  }

  #offer<T>(seen: T[], waiters: Waiter<T>[], x: T): Waiter<T>[] {
    seen.push(x);
    const i = seen.length - 1;
    return waiters.filter((w) => {
      if (i < w.from || !w.test(x)) return true;
      w.resolve(x);
      return false;
    });
  }

  async #readLoop(): Promise<void> {
    let buf = "";
    let data: string[] = [];
    let id: string | null = null;
    try {
      while (true) {
        const { value, done } = await this.#reader.read();
        if (done) break;
        buf += value;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl).replace(/\r$/, "");
          buf = buf.slice(nl + 1);
          if (line === "") {
            if (data.length > 0) this.#dispatch(data.join("\n"), id);
            data = [];
            id = null;
            continue;
          }
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          const val = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
          if (field === "") {
            this.#commentWaiters = this.#offer(this.comments, this.#commentWaiters, val);
          } else if (field === "data") data.push(val);
          else if (field === "id") this.lastEventId = id = val;
          else this.schemaErrors.push(new Error(`Unexpected SSE field: ${line}`));
        }
      }
    } catch {
      // Cancelled by close().
    } finally {
      this.ended = true;
      const err = new Error("SSE stream ended");
      for (const w of this.#frameWaiters.splice(0)) w.reject(err);
      for (const w of this.#commentWaiters.splice(0)) w.reject(err);
    }
  }

  #dispatch(text: string, id: string | null): void {
    const f = JSON.parse(text) as Frame;
    const checked = OutboundFrameSchema.safeParse(f);
    if (!checked.success) {
      const err = new Error(`Server sent a frame outside the schema: ${text}`);
      for (const w of this.#frameWaiters.splice(0)) w.reject(err);
      this.schemaErrors.push(err);
    }
    this.ids.push(id);
    this.#frameWaiters = this.#offer(this.frames, this.#frameWaiters, f);
  }
}

/** A staff stream's id `chat:seq,…` as an object. */
export function cursorOf(id: string): Record<string, number> {
  return Object.fromEntries(id.split(",").map((p) => p.split(":")).map(([c, n]) => [c, +n]));
}

/** An SSE request over raw TCP that reads the answer's head and then never reads again. */
export async function stalledStream(url: string): Promise<Deno.TcpConn> {
  const u = new URL(url);
  const conn = await Deno.connect({ hostname: u.hostname, port: Number(u.port) });
  const req = `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(req));
  const head = new Uint8Array(1024);
  const n = await conn.read(head);
  const text = new TextDecoder().decode(head.subarray(0, n ?? 0));
  if (!text.startsWith("HTTP/1.1 200")) throw new Error(`SSE refused: ${text}`);
  return conn;
}

/** Resolves when the hub forgets connection `connId` (set up before closing it). */
export function hubRemoved(server: TestServer, connId: string): Promise<void> {
  const hub = server.svc.hub;
  const remove = hub.remove.bind(hub);
  return new Promise((resolve) => {
    hub.remove = (id: string) => {
      const gone = remove(id);
      if (id === connId) resolve();
      return gone;
    };
  });
}
