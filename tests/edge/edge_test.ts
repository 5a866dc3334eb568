/**
 * The edge over real sockets: a raw TCP client in front, an upstream `Deno.serve` on a unix
 * socket behind, timeouts driven by a ManualClock. Tests wait on bytes and events, never on
 * sleeps.
 */
import assert from "node:assert/strict";
import { createLogger } from "../../src/log.ts";
import { ManualClock, settle } from "../../src/runtime/clock.ts";
import {
  CLIENT_ADDR_HEADER,
  type Edge,
  type EdgeInit,
  startEdge,
  upgradeWebSocket,
} from "../../src/server/edge/edge.ts";
import type { ServerWebSocket } from "../../src/server/edge/websocket.ts";

const enc = new TextEncoder();
const text = (b: Uint8Array) => String.fromCharCode(...b);

/** A raw HTTP/1.1 client over TCP that reads exactly what it is told to. */
class Client {
  #buf = "";
  eof = false;
  constructor(readonly conn: Deno.TcpConn) {}

  static async open(port: number): Promise<Client> {
    return new Client(await Deno.connect({ hostname: "127.0.0.1", port }));
  }

  async send(data: string | Uint8Array): Promise<void> {
    let b = typeof data === "string" ? Uint8Array.from(data, (c) => c.charCodeAt(0)) : data;
    while (b.length > 0) b = b.subarray(await this.conn.write(b));
  }

  async #more(): Promise<boolean> {
    if (this.eof) return false;
    const b = new Uint8Array(65536);
    let n: number | null;
    try {
      n = await this.conn.read(b);
    } catch (err) {
      if (!(err instanceof Deno.errors.ConnectionReset)) throw err;
      n = null;
    }
    if (n === null) this.eof = true;
    else this.#buf += text(b.subarray(0, n));
    return n !== null;
  }

  /** Everything up to and including `s`. */
  async until(s: string): Promise<string> {
    while (!this.#buf.includes(s)) {
      if (!await this.#more()) throw new Error(`EOF before ${JSON.stringify(s)}: ${this.#buf}`);
    }
    const end = this.#buf.indexOf(s) + s.length;
    const out = this.#buf.slice(0, end);
    this.#buf = this.#buf.slice(end);
    return out;
  }

  async take(n: number): Promise<string> {
    while (this.#buf.length < n) if (!await this.#more()) throw new Error("EOF in a body");
    const out = this.#buf.slice(0, n);
    this.#buf = this.#buf.slice(n);
    return out;
  }

  async response(): Promise<{ status: number; headers: Headers; body: string }> {
    const lines = (await this.until("\r\n\r\n")).split("\r\n");
    const status = Number(lines[0].split(" ")[1]);
    const headers = new Headers();
    for (const line of lines.slice(1, -2)) {
      const i = line.indexOf(":");
      headers.append(line.slice(0, i), line.slice(i + 1).trim());
    }
    let body = "";
    if (headers.get("transfer-encoding") === "chunked") {
      for (let size; (size = parseInt(await this.until("\r\n"), 16)) > 0;) {
        body += await this.take(size);
        await this.until("\r\n");
      }
      await this.until("\r\n");
    } else if (headers.has("content-length")) {
      body = await this.take(Number(headers.get("content-length")));
    }
    return { status, headers, body };
  }

  /** Reads to EOF: what arrived meanwhile. */
  async end(): Promise<string> {
    while (await this.#more());
    const out = this.#buf;
    this.#buf = "";
    return out;
  }

  close(): void {
    try {
      this.conn.close();
    } catch {
      // Closed.
    }
  }
}

interface Rig {
  readonly edge: Edge;
  readonly clock: ManualClock;
  readonly logs: string[];
  client(): Promise<Client>;
  stop(): Promise<void>;
}

type App = (req: Request) => Response | Promise<Response>;

async function defaultApp(req: Request): Promise<Response> {
  const url = new URL(req.url);
  if (url.pathname === "/addr") return new Response(req.headers.get(CLIENT_ADDR_HEADER));
  if (url.pathname === "/echo") return new Response(await req.text());
  return new Response(`hello ${url.pathname}`);
}

async function rig(
  o: { app?: App; edge?: Partial<EdgeInit>; upstream?: boolean } = {},
): Promise<Rig> {
  const dir = await Deno.makeTempDir({ prefix: "edge_test_" });
  const path = `${dir}/app.sock`;
  let upstream: Deno.HttpServer<Deno.UnixAddr> | null = null;
  if (o.upstream !== false) {
    const { promise, resolve } = Promise.withResolvers<void>();
    upstream = Deno.serve({ path, onListen: () => resolve() }, o.app ?? defaultApp);
    await promise;
  }
  const clock = new ManualClock();
  const logs: string[] = [];
  const edge = await startEdge({
    hostname: "127.0.0.1",
    port: 0,
    upstreamPath: path,
    handler: () => new Response("no handler", { status: 404 }),
    clock,
    log: createLogger("debug", (line) => logs.push(line)),
    ...o.edge,
  });
  const clients: Client[] = [];
  return {
    edge,
    clock,
    logs,
    async client() {
      const c = await Client.open(edge.addr.port);
      clients.push(c);
      return c;
    },
    async stop() {
      for (const c of clients) c.close();
      await edge.close();
      await upstream?.shutdown();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Waits for a condition the edge reaches on its own (accepting, cleaning up). */
async function until(what: string, cond: () => boolean): Promise<void> {
  const give = Date.now() + 10_000;
  while (!cond()) {
    if (Date.now() > give) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 0));
  }
}

/** Advances the clock a second at a time until `done`; returns the clock time spent. */
async function advanceUntil(clock: ManualClock, done: () => boolean, max: number) {
  let spent = 0;
  while (!done()) {
    if (spent >= max) throw new Error(`Not done after ${max} ms of clock time`);
    await clock.advance(1000);
    await settle();
    spent += 1000;
  }
  return spent;
}

const GET = (path: string, extra = "") => `GET ${path} HTTP/1.1\r\nHost: a\r\n${extra}\r\n`;

Deno.test("edge: proxies keep-alive, pipelined and chunked requests", async () => {
  const r = await rig();
  try {
    const c = await r.client();
    await c.send(GET("/a"));
    assert.deepEqual([(await c.response()).body], ["hello /a"]);
    await c.send(GET("/1") + GET("/2") + GET("/3"));
    for (const n of [1, 2, 3]) assert.equal((await c.response()).body, `hello /${n}`);
    await c.send(
      "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n",
    );
    assert.equal((await c.response()).body, "abcde");
    await c.send("POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nxyz");
    assert.equal((await c.response()).body, "xyz");
    assert.deepEqual(r.edge.stats(), {
      connections: 1,
      proxied: 1,
      websockets: 0,
      timedOut: 0,
      refused: 0,
    });
  } finally {
    await r.stop();
  }
});

Deno.test("edge: sets the client address header and removes a spoofed one", async () => {
  const r = await rig();
  try {
    const c = await r.client();
    await c.send(GET("/addr", "X-Edge-Client-Addr: 6.6.6.6\r\n"));
    assert.equal((await c.response()).body, "127.0.0.1");
    await c.send(GET("/addr", "x-edge-client-addr: 6.6.6.6\r\nX-Forwarded-For: 1.1.1.1\r\n"));
    assert.equal((await c.response()).body, "127.0.0.1");
  } finally {
    await r.stop();
  }
});

Deno.test("edge: trustedProxyHops takes the address from X-Forwarded-For", async () => {
  for (const [hops, want] of [[1, "2.2.2.2"], [2, "1.1.1.1"], [5, "1.1.1.1"]] as const) {
    const r = await rig({ edge: { trustedProxyHops: hops } });
    try {
      const c = await r.client();
      await c.send(GET("/addr", "X-Forwarded-For: 1.1.1.1, 2.2.2.2\r\n"));
      assert.equal((await c.response()).body, want, `hops ${hops}`);
      await c.send(GET("/addr", "X-Forwarded-For: not-an-address\r\n"));
      assert.equal((await c.response()).body, "127.0.0.1");
      await c.send(GET("/addr"));
      assert.equal((await c.response()).body, "127.0.0.1");
    } finally {
      await r.stop();
    }
  }
  // The per-address cap counts forwarded addresses.
  const r = await rig({ edge: { trustedProxyHops: 1, maxConnectionsPerAddress: 1 } });
  try {
    for (const [addr, status] of [["1.1.1.1", 200], ["2.2.2.2", 200], ["1.1.1.1", 503]]) {
      const c = await r.client();
      await c.send(GET("/addr", `X-Forwarded-For: ${addr}\r\n`));
      assert.equal((await c.response()).status, status);
    }
  } finally {
    await r.stop();
  }
});

Deno.test("edge: 300 half-open heads are closed after the headers timeout", async () => {
  const r = await rig({ edge: { maxConnectionsPerAddress: 1000 } });
  try {
    const slow: Client[] = [];
    for (let i = 0; i < 300; i++) {
      const c = await r.client();
      await c.send("GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
      slow.push(c);
    }
    await until("300 connections", () => r.edge.stats().connections === 300);
    const good = await r.client();
    await c2(good);
    await r.clock.advance(9_000);
    assert.equal(r.edge.stats().timedOut, 0);
    await c2(good); // answered meanwhile
    await r.clock.advance(2_000);
    for (const c of slow) assert.match(await c.end(), /^HTTP\/1\.1 408 Request Timeout\r\n/);
    for (const c of slow) c.close();
    await until("the slow ones gone", () => r.edge.stats().connections === 1);
    assert.equal(r.edge.stats().timedOut, 300);
    await c2(good);
    assert.deepEqual(r.logs, []); // nothing logged per connection
  } finally {
    await r.stop();
  }

  async function c2(c: Client) {
    await c.send(GET("/ok"));
    assert.equal((await c.response()).body, "hello /ok");
  }
});

Deno.test("edge: 408 when nothing is under way, a silent close behind a pending response", async () => {
  const entered = Promise.withResolvers<void>();
  const gate = Promise.withResolvers<void>();
  const r = await rig({
    app: async (req) => {
      if (new URL(req.url).pathname === "/slow") {
        entered.resolve();
        await gate.promise;
      }
      return new Response("done");
    },
  });
  try {
    // The first request of a connection: 408 with connection: close.
    const a = await r.client();
    await a.send("GET / HTTP/1.1\r\nHo");
    await until("accepted", () => r.edge.stats().connections === 1);
    await r.clock.advance(11_000);
    const reply = await a.end();
    assert.match(reply, /^HTTP\/1\.1 408 Request Timeout\r\n/);
    assert.match(reply, /\r\nconnection: close\r\n/);
    // A head that times out while an earlier response is still pending: closed, no bytes.
    const b = await r.client();
    await b.send(GET("/slow") + "GET /next HTTP/1.1\r\nHo");
    await entered.promise;
    let rest: string | null = null;
    void b.end().then((s) => rest = s);
    const spent = await advanceUntil(r.clock, () => rest !== null, 20_000);
    assert.equal(rest, "");
    assert.ok(spent >= 10_000 && spent <= 13_000, `closed after ${spent} ms`);
    assert.equal(r.edge.stats().timedOut, 2);
  } finally {
    gate.resolve();
    await r.stop();
  }
});

Deno.test("edge: a head larger than maxHeaderBytes gets 431", async () => {
  const r = await rig();
  try {
    const c = await r.client();
    await c.send(`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(17 * 1024)}\r\n\r\n`);
    const reply = await c.end();
    assert.match(reply, /^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    assert.match(reply, /\r\nconnection: close\r\n/);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: ambiguous framing gets 400 and never reaches the upstream", async () => {
  let seen = 0;
  const r = await rig({ app: () => new Response(`seen ${++seen}`) });
  try {
    const c = await r.client();
    await c.send(GET("/"));
    assert.equal((await c.response()).body, "seen 1");
    await c.send(
      "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
        "0\r\n\r\n" + GET("/smuggled"),
    );
    assert.match(await c.end(), /^HTTP\/1\.1 400 Bad Request\r\n/);
    assert.equal(seen, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: an unfinished body that stops arriving is closed after bodyIdleTimeoutMs", async () => {
  const got: Promise<void>[] = [];
  const signals = [Promise.withResolvers<void>(), Promise.withResolvers<void>()];
  got.push(signals[0].promise, signals[1].promise);
  const r = await rig({
    app: async (req) => {
      const reader = req.body!.getReader();
      try {
        for (const s of signals) {
          await reader.read();
          s.resolve();
        }
        while (!(await reader.read()).done);
      } catch {
        // The edge closed the connection.
      }
      return new Response("never");
    },
  });
  try {
    const c = await r.client();
    await c.send("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n0123456789");
    await got[0];
    await r.clock.advance(29_000);
    await c.send("abcde");
    await got[1];
    await r.clock.advance(29_000); // 58 s since the head, 29 s since the last byte
    assert.equal(r.edge.stats().timedOut, 0);
    let rest: string | null = null;
    void c.end().then((s) => rest = s);
    const spent = await advanceUntil(r.clock, () => rest !== null, 10_000);
    assert.equal(rest, "");
    assert.ok(spent <= 3_000, `closed after ${spent} ms more`);
    assert.equal(r.edge.stats().timedOut, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: an idle keep-alive connection is closed after idleTimeoutMs", async () => {
  const r = await rig();
  try {
    const c = await r.client();
    await c.send(GET("/a"));
    assert.equal((await c.response()).status, 200);
    await r.clock.advance(73_000);
    assert.equal(r.edge.stats().timedOut, 0);
    await r.clock.advance(4_000);
    assert.equal(await c.end(), "");
    assert.equal(r.edge.stats().timedOut, 1);
    await until("cleaned up", () => r.edge.stats().connections === 0);
    assert.equal(r.edge.stats().proxied, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: a streaming response keeps the connection past idleTimeoutMs", async () => {
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  const cancelled = Promise.withResolvers<void>();
  const r = await rig({
    app: () =>
      new Response(
        new ReadableStream<Uint8Array>({
          start: (ctrl) => {
            stream = ctrl;
            ctrl.enqueue(enc.encode("retry: 1\n\n"));
          },
          cancel: () => cancelled.resolve(),
        }),
        { headers: { "content-type": "text/event-stream" } },
      ),
  });
  try {
    const c = await r.client();
    await c.send(GET("/sse"));
    await c.until("retry: 1");
    for (let i = 0; i < 4; i++) {
      await r.clock.advance(30_000); // 120 s in all
      stream.enqueue(enc.encode(`data: ${i}\n\n`));
      await c.until(`data: ${i}`);
    }
    assert.equal(r.edge.stats().timedOut, 0);
    await r.clock.advance(77_000);
    await c.end();
    await cancelled.promise;
    assert.equal(r.edge.stats().timedOut, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: the per-address cap answers 503 with Retry-After", async () => {
  const r = await rig({ edge: { maxConnectionsPerAddress: 2 } });
  try {
    const a = await r.client();
    const b = await r.client();
    for (const c of [a, b]) {
      await c.send(GET("/"));
      assert.equal((await c.response()).status, 200);
    }
    const c = await r.client();
    await c.send(GET("/"));
    const refused = await c.response();
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "10");
    assert.equal(refused.headers.get("connection"), "close");
    assert.equal(await c.end(), "");
    assert.equal(r.edge.stats().refused, 1);
    a.close();
    await until("a gone", () => r.edge.stats().connections === 2);
    const d = await r.client();
    await d.send(GET("/"));
    assert.equal((await d.response()).status, 200);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: beyond maxConnections a connection is closed at once", async () => {
  const r = await rig({ edge: { maxConnections: 2 } });
  try {
    const a = await r.client();
    const b = await r.client();
    await until("two connections", () => r.edge.stats().connections === 2);
    const c = await r.client();
    assert.equal(await c.end(), "");
    assert.equal(r.edge.stats().refused, 1);
    for (const x of [a, b]) {
      await x.send(GET("/"));
      assert.equal((await x.response()).status, 200);
    }
    assert.equal(r.logs.filter((l) => l.includes("connection limit")).length, 1);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: an unreachable upstream gets 502, logged once", async () => {
  const r = await rig({ upstream: false });
  try {
    for (let i = 0; i < 3; i++) {
      const c = await r.client();
      await c.send(GET("/"));
      assert.equal((await c.response()).status, 502);
      assert.equal(await c.end(), "");
    }
    assert.equal(r.logs.filter((l) => l.includes("unreachable")).length, 1);
  } finally {
    await r.stop();
  }
});

// ---- WebSocket upgrades ----------------------------------------------------------------------

const KEY = "dGhlIHNhbXBsZSBub25jZQ==";
const ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="; // RFC 6455 §1.3
const UPGRADE = (path: string) =>
  GET(
    path,
    `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${KEY}\r\n` +
      "Sec-WebSocket-Version: 13\r\nX-Edge-Client-Addr: 6.6.6.6\r\n",
  );

/** A masked client frame. */
function frame(op: number, payload: Uint8Array): Uint8Array {
  const mask = [1, 2, 3, 4];
  return Uint8Array.from([
    0x80 | op,
    0x80 | payload.length,
    ...mask,
    ...payload.map((b, i) => b ^ mask[i % 4]),
  ]);
}
const textFrame = (s: string) => frame(1, enc.encode(s));
const CLOSE_FRAME = frame(8, Uint8Array.from([0x03, 0xe8]));

Deno.test("edge: serves a WebSocket upgrade with our socket (101, accept key, frames)", async () => {
  const seen: string[] = [];
  let socket: ServerWebSocket | WebSocket | null = null;
  const closed = Promise.withResolvers<number>();
  const r = await rig({
    edge: {
      handler: (req, info) => {
        seen.push(info.remoteAddr.hostname, req.headers.get(CLIENT_ADDR_HEADER)!);
        const up = upgradeWebSocket(req, { idleTimeoutS: 0, maxMessageBytes: 1024 });
        socket = up.socket;
        up.socket.onmessage = (e: MessageEvent) => up.socket.send(`echo ${e.data}`);
        up.socket.onclose = (e) => closed.resolve(e.code);
        return up.response;
      },
    },
  });
  try {
    const c = await r.client();
    // The first frame comes with the request head: the edge hands it to the socket.
    const hs = UPGRADE("/ws");
    await c.send(Uint8Array.from([...enc.encode(hs), ...textFrame("hi")]));
    const head = await c.until("\r\n\r\n");
    assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
    assert.match(
      head,
      new RegExp(`\r\nsec-websocket-accept: ${ACCEPT.replaceAll("+", "\\+")}\r\n`),
    );
    assert.match(head, /\r\nupgrade: websocket\r\n/i);
    assert.equal(await c.take(9), "\x81\x07echo hi");
    await c.send(textFrame("again"));
    assert.equal(await c.take(12), "\x81\x0aecho again");
    assert.deepEqual(seen, ["127.0.0.1", "127.0.0.1"]);
    assert.equal(r.edge.stats().websockets, 1);
    assert.equal(r.edge.stats().proxied, 0);
    await c.send(CLOSE_FRAME);
    assert.equal(await c.end(), "\x88\x02\x03\xe8");
    assert.equal(await closed.promise, 1000);
    assert.equal(socket!.readyState, 3);
    await until("cleaned up", () => r.edge.stats().connections === 0);
    assert.equal(r.edge.stats().websockets, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: a handler refusal is written as a normal response", async () => {
  let made: ServerWebSocket | WebSocket | null = null;
  const closed = Promise.withResolvers<number>();
  const r = await rig({
    edge: {
      handler: (req) => {
        if (new URL(req.url).pathname === "/throws") throw new Error("boom");
        const { socket } = upgradeWebSocket(req, { idleTimeoutS: 0, maxMessageBytes: 1024 });
        made = socket;
        socket.onclose = (e) => closed.resolve(e.code);
        return Response.json({ error: "unauthorized" }, { status: 401 });
      },
    },
  });
  try {
    const c = await r.client();
    await c.send(UPGRADE("/ws"));
    const res = await c.response();
    assert.equal(res.status, 401);
    assert.equal(res.headers.get("content-type"), "application/json");
    assert.equal(res.headers.get("connection"), "close");
    assert.deepEqual(JSON.parse(res.body), { error: "unauthorized" });
    assert.equal(await c.end(), "");
    // The socket it made but did not return was aborted.
    assert.equal(await closed.promise, 1006);
    assert.equal(made!.readyState, 3);
    // An invalid upgrade: the handler's TypeError becomes a 500 here.
    const d = await r.client();
    await d.send(UPGRADE("/throws"));
    assert.equal((await d.response()).status, 500);
    assert.equal(r.logs.filter((l) => l.includes("handler failed")).length, 1);
    assert.equal(r.edge.stats().websockets, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: an upgrade on a reused connection goes to the upstream", async () => {
  const r = await rig({
    app: (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/addr") return defaultApp(req);
      if (path === "/no") return new Response("no", { status: 426 });
      if (req.headers.get("upgrade") !== "websocket") return new Response("plain");
      const { socket, response } = upgradeWebSocket(req, {
        idleTimeoutS: 0,
        maxMessageBytes: 1024,
      });
      socket.onmessage = (e: MessageEvent) => socket.send(`deno ${e.data}`);
      return response;
    },
  });
  try {
    const c = await r.client();
    await c.send(GET("/"));
    assert.equal((await c.response()).body, "plain");
    // A refused upgrade: the connection goes on as HTTP, heads still rewritten.
    await c.send(UPGRADE("/no"));
    assert.equal((await c.response()).status, 426);
    await c.send(GET("/addr", "X-Edge-Client-Addr: 6.6.6.6\r\n"));
    assert.equal((await c.response()).body, "127.0.0.1");
    // An accepted one: Deno's WebSocket behind the edge, bytes copied both ways.
    await c.send(UPGRADE("/ws"));
    assert.match(await c.until("\r\n\r\n"), /^HTTP\/1\.1 101 /);
    await c.send(textFrame("hi"));
    assert.equal(await c.take(9), "\x81\x07deno hi");
    await c.send(CLOSE_FRAME);
    assert.ok((await c.end()).startsWith("\x88\x02\x03\xe8"));
    await until("cleaned up", () => r.edge.stats().connections === 0);
    assert.equal(r.edge.stats().websockets, 0);
  } finally {
    await r.stop();
  }
});

Deno.test("edge: close() drops every connection", async () => {
  const r = await rig({
    app: (req) =>
      new URL(req.url).pathname === "/sse"
        ? new Response(new ReadableStream({ start: (c) => c.enqueue(enc.encode("data: 0\n\n")) }))
        : defaultApp(req),
    edge: {
      handler: (req) => {
        const { socket, response } = upgradeWebSocket(req, {
          idleTimeoutS: 30,
          maxMessageBytes: 1024,
        });
        socket.onopen = () => socket.send("welcome");
        return response;
      },
    },
  });
  const half = await r.client();
  await half.send("GET / HTTP/1.1\r\n");
  const kept = await r.client();
  await kept.send(GET("/a"));
  await kept.response();
  const sse = await r.client();
  await sse.send(GET("/sse"));
  await sse.until("data: 0");
  const ws = await r.client();
  await ws.send(UPGRADE("/ws"));
  await ws.until("welcome");
  await until("four connections", () => r.edge.stats().connections === 4);
  assert.deepEqual(r.edge.stats(), {
    connections: 4,
    proxied: 2,
    websockets: 1,
    timedOut: 0,
    refused: 0,
  });
  await r.edge.close();
  assert.deepEqual(r.edge.stats(), {
    connections: 0,
    proxied: 0,
    websockets: 0,
    timedOut: 0,
    refused: 0,
  });
  for (const c of [half, kept, sse, ws]) await c.end();
  await r.edge.close(); // twice is fine
  await r.stop();
});
