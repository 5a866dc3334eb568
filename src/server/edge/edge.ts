/**
 * The edge: the engine's own TCP front. It owns every TCP connection, enforces header, body and
 * idle timeouts and connection caps, serves WebSocket upgrades that open a connection with our
 * own RFC 6455 socket (websocket.ts, via upgrade.ts), and passes all other HTTP to the
 * unchanged Deno.serve app listening on a private unix socket.
 *
 * Hand-written because `Deno.serve` has no header or body timeout (300 connections that sent
 * half a request head were all still open after 75 s; hyper there sets no header-read timeout
 * and Deno's node:http ignores `headersTimeout`), and Deno's WebSocket closes without a close
 * frame on invalid UTF-8 and buffers huge binary frames. Bytes move in plain read/write loops:
 * piping with `ReadableStream.pipeTo` cut a trivial handler from 65k to 8.6k req/s, a read/write
 * loop with a 64 KiB buffer gave 33k. Request heads are parsed strictly (_http_head.ts) and
 * rewritten with the client address (_edge_wire.ts); bodies and responses are copied as they
 * are, followed only far enough to know where each request and response ends (_http_framing.ts).
 *
 * Timeouts run on the injected clock: one sweep per second of clock time checks every
 * connection's deadlines (no timer per read).
 */
import { createLogger, type Logger } from "../../log.ts";
import { type Clock, SystemClock, type TimerId } from "../../runtime/clock.ts";
import type { RequestHead } from "./_http_head.ts";
import { RequestTracker, ResponseTracker } from "./_http_framing.ts";
import {
  encodeReply,
  errorReply,
  Reader,
  rewriteHead,
  switchingReply,
  writeAll,
} from "./_edge_wire.ts";
import { CLIENT_ADDR_HEADER, edgeRequest, type EdgeUpgrade, settleEdgeRequest } from "./upgrade.ts";
import { acceptKey, type ServerWebSocket } from "./websocket.ts";

export { CLIENT_ADDR_HEADER, clientAddrOf, upgradeWebSocket } from "./upgrade.ts";

export interface EdgeOptions {
  readonly hostname: string;
  /** 0: a free port. */
  readonly port: number;
  /** Serves WebSocket upgrade requests that arrive as the FIRST request of a TCP connection. */
  readonly handler: (
    req: Request,
    info: { remoteAddr: Deno.NetAddr },
  ) => Response | Promise<Response>;
  /** Unix socket path of the internal Deno.serve that gets every other request (proxied). */
  readonly upstreamPath: string;
  /** A request head must be complete this long after its first byte (the first: after accept). */
  readonly headersTimeoutMs: number;
  /** An unfinished request body that receives no byte for this long. */
  readonly bodyIdleTimeoutMs: number;
  /** No byte either way (and no head or body arriving): close. */
  readonly idleTimeoutMs: number;
  /** A larger request head → 431. */
  readonly maxHeaderBytes: number;
  /** Open client connections in all; beyond it a new one is closed at once. */
  readonly maxConnections: number;
  /** Open connections per client address; beyond it → 503 with Retry-After. */
  readonly maxConnectionsPerAddress: number;
  /** 0: the client address is the TCP peer; n > 0: X-Forwarded-For, n hops from the right. */
  readonly trustedProxyHops: number;
  readonly clock: Clock;
  readonly log: Logger;
}

/** What `startEdge` needs; every other option has a default ({@link EDGE_DEFAULTS}). */
export type EdgeInit =
  & Pick<EdgeOptions, "hostname" | "port" | "handler" | "upstreamPath">
  & Partial<EdgeOptions>;

export const EDGE_DEFAULTS = {
  headersTimeoutMs: 10_000,
  bodyIdleTimeoutMs: 30_000,
  idleTimeoutMs: 75_000, // > the 30 s SSE keepalive and the socket.io long-poll
  maxHeaderBytes: 16 * 1024,
  maxConnections: 9_000, // a proxied connection costs 2 fds; the process limit is 20,000
  maxConnectionsPerAddress: 256,
  trustedProxyHops: 0,
} as const;

export interface EdgeStats {
  /** Open client connections (WebSockets included). */
  readonly connections: number;
  /** Open connections to the upstream (one per proxied client connection). */
  readonly proxied: number;
  /** Open WebSockets the edge upgraded itself. */
  readonly websockets: number;
  /** Connections closed by a timeout, since start. */
  readonly timedOut: number;
  /** Connections refused by a cap, since start. */
  readonly refused: number;
}

export interface Edge {
  readonly addr: Deno.NetAddr;
  stats(): EdgeStats;
  /** Stops accepting and drops every connection. */
  /**
   * Stops accepting and drops every connection; WebSockets with frames still queued get up to
   * `graceMs` (real time) to send them first.
   */
  close(graceMs?: number): Promise<void>;
}

export function startEdge(init: EdgeInit): Promise<Edge> {
  const given = Object.fromEntries(Object.entries(init).filter(([, v]) => v !== undefined));
  const o: EdgeOptions = {
    ...EDGE_DEFAULTS,
    clock: new SystemClock(),
    log: createLogger(),
    ...given as EdgeInit,
  };
  try {
    const listener = Deno.listen({ hostname: o.hostname, port: o.port, transport: "tcp" });
    return Promise.resolve(new EdgeServer(o, listener));
  } catch (err) {
    return Promise.reject(err);
  }
}

const SWEEP_MS = 1_000;
/** After an error response: how long (and how many bytes) the client's rest is read away. */
const LINGER_MS = 2_000;
const LINGER_BYTES = 1 << 20;
const RETRY_AFTER_S = 10;
const ACCEPT_BACKOFF_MS = 100;
const NOTE_EVERY_MS = 60_000;

/**
 * http: reading requests (proxied once the first is); dispatch: the handler has the first
 * request; ws: a ServerWebSocket owns the connection; linger: a final response was written, the
 * client's rest is read away.
 */
type Mode = "http" | "dispatch" | "ws" | "linger" | "closed";

class Link {
  mode: Mode = "http";
  upstream: Deno.Conn | null = null;
  responses: ResponseTracker | null = null;
  ws: ServerWebSocket | null = null;
  /** The pending reads and writes of the socket on this connection. */
  readonly wsOps = new Set<Promise<unknown>>();
  /** The address counted against the per-address cap. */
  addr: string | null = null;
  refuse = false;
  requests = 0;
  headSince: number | null;
  lastIn: number;
  lastActivity: number;
  upWriting = false;
  lingerUntil = 0;
  lingered = 0;
  connClosed = false;
  writes: Promise<void> = Promise.resolve();
  decision: boolean | undefined = undefined;
  decided: ((upgraded: boolean | null) => void) | null = null;
  readonly gone: Promise<undefined>;
  readonly leave: () => void;

  constructor(
    readonly conn: Deno.TcpConn,
    readonly peer: Deno.NetAddr,
    readonly tracker: RequestTracker,
    now: number,
  ) {
    this.headSince = this.lastIn = this.lastActivity = now;
    const { promise, resolve } = Promise.withResolvers<undefined>();
    this.gone = promise;
    this.leave = () => resolve(undefined);
  }
}

const ADDRESS = /^[0-9A-Fa-f.:[\]]{2,64}$/;

class EdgeServer implements Edge {
  readonly addr: Deno.NetAddr;
  readonly #o: EdgeOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #listener: Deno.TcpListener;
  readonly #links = new Set<Link>();
  readonly #perAddress = new Map<string, number>();
  readonly #tasks = new Set<Promise<void>>();
  readonly #flags = new Set<string>();
  readonly #noted = new Map<string, number>();
  readonly #acceptTask: Promise<void>;
  #proxied = 0;
  #websockets = 0;
  #timedOut = 0;
  #refused = 0;
  #closed = false;
  #sweepTimer: TimerId | null = null;
  #pause: { timer: TimerId; wake: () => void } | null = null;

  constructor(o: EdgeOptions, listener: Deno.TcpListener) {
    this.#o = o;
    this.#clock = o.clock;
    this.#log = o.log;
    this.#listener = listener;
    this.addr = listener.addr;
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), SWEEP_MS);
    this.#acceptTask = this.#acceptLoop();
  }

  stats(): EdgeStats {
    return {
      connections: this.#links.size,
      proxied: this.#proxied,
      websockets: this.#websockets,
      timedOut: this.#timedOut,
      refused: this.#refused,
    };
  }

  async close(graceMs = 0): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      try {
        this.#listener.close();
      } catch {
        // Already closed.
      }
      if (this.#sweepTimer !== null) this.#clock.clearTimeout(this.#sweepTimer);
      if (this.#pause) {
        this.#clock.clearTimeout(this.#pause.timer);
        this.#pause.wake();
      }
      // What the app queued last (a shutdown's close frames) reaches the peers, within the grace.
      const until = performance.now() + graceMs;
      while (performance.now() < until && [...this.#links].some((l) => l.ws?.bufferedAmount)) {
        await new Promise((r) => setTimeout(r, 5));
      }
      for (const l of [...this.#links]) this.#drop(l);
    }
    await this.#acceptTask;
    while (this.#tasks.size > 0) await Promise.all(this.#tasks);
  }

  // ---- Accepting -----------------------------------------------------------------------------

  async #acceptLoop(): Promise<void> {
    while (!this.#closed) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (err) {
        if (this.#closed) return;
        if (err instanceof Deno.errors.BadResource) {
          return this.#log.error("edge: the listener is gone", { err });
        }
        this.#flag("accept", true, () => this.#log.error("edge: accept failed", { err }));
        const { promise, resolve } = Promise.withResolvers<void>();
        this.#pause = { timer: this.#clock.setTimeout(resolve, ACCEPT_BACKOFF_MS), wake: resolve };
        await promise;
        this.#pause = null;
        continue;
      }
      this.#flag("accept", false, () => this.#log.info("edge: accepting again"));
      try {
        this.#admit(conn);
      } catch (err) {
        this.#log.error("edge: internal error", { err });
        try {
          conn.close();
        } catch {
          // Already closed.
        }
      }
    }
  }

  #admit(conn: Deno.TcpConn): void {
    const o = this.#o;
    if (this.#links.size >= o.maxConnections) {
      this.#refused++;
      this.#flag("full", true, () => {
        this.#log.warn("edge: connection limit reached, refusing", { max: o.maxConnections });
      });
      return conn.close();
    }
    try {
      conn.setNoDelay(true);
    } catch {
      // Not fatal.
    }
    const now = this.#clock.now();
    const l = new Link(conn, conn.remoteAddr, new RequestTracker(o.maxHeaderBytes), now);
    this.#links.add(l);
    if (o.trustedProxyHops <= 0) this.#count(l, l.peer.hostname);
    this.#spawn(this.#clientLoop(l));
  }

  #count(l: Link, addr: string): void {
    const n = this.#perAddress.get(addr) ?? 0;
    if (n >= this.#o.maxConnectionsPerAddress) {
      l.refuse = true;
      return;
    }
    this.#perAddress.set(addr, n + 1);
    l.addr = addr;
  }

  #clientAddr(l: Link, head: RequestHead): string {
    const hops = this.#o.trustedProxyHops;
    if (hops <= 0) return l.peer.hostname;
    const chain = (head.headers.get("x-forwarded-for") ?? "").split(",").map((s) => s.trim())
      .filter(Boolean);
    const pick = chain[Math.max(0, chain.length - hops)];
    return pick && ADDRESS.test(pick) ? pick : l.peer.hostname;
  }

  // ---- Client → edge -------------------------------------------------------------------------

  async #clientLoop(l: Link): Promise<void> {
    const reader = new Reader();
    try {
      while (l.mode === "http" || l.mode === "linger") {
        const chunk = await reader.read(l.conn);
        const now = this.#clock.now();
        if (chunk === null) return await this.#clientEnded(l);
        l.lastIn = l.lastActivity = now;
        if (l.mode === "linger") {
          if ((l.lingered += chunk.length) > LINGER_BYTES) this.#drop(l);
        } else if (l.mode === "http") {
          l.tracker.push(chunk);
          await this.#track(l);
          if (l.tracker.phase === "head") l.headSince ??= now;
          else if (l.requests > 0) l.headSince = null;
        }
      }
    } catch {
      this.#drop(l);
    }
  }

  /** EOF from the client: passed on as a half-close while a request may still be answered. */
  async #clientEnded(l: Link): Promise<void> {
    if (l.mode !== "http" || !l.upstream) return this.#drop(l);
    try {
      await l.upstream.closeWrite();
    } catch {
      this.#drop(l);
    }
  }

  async #track(l: Link): Promise<void> {
    while (l.mode === "http") {
      const ev = l.tracker.next();
      if (ev === null) return;
      switch (ev.kind) {
        case "head":
          await this.#onHead(l, ev.head);
          break;
        case "body":
        case "raw":
          await this.#toUpstream(l, ev.bytes);
          break;
        case "error":
          await this.#refuse(l, ev.status, ev.message);
          break;
        case "end":
          if (l.tracker.phase === "upgrade") {
            const upgraded = await this.#decision(l);
            if (upgraded === null) return;
            l.tracker.resume(upgraded);
          }
      }
    }
  }

  async #onHead(l: Link, head: RequestHead): Promise<void> {
    l.requests++;
    l.headSince = null;
    const addr = this.#clientAddr(l, head);
    if (l.requests === 1) {
      if (this.#o.trustedProxyHops > 0) this.#count(l, addr);
      if (l.refuse) {
        this.#refused++;
        this.#note("address", () => this.#log.warn("edge: per-address limit reached", { addr }));
        return this.#refuse(l, 503, "Too many connections from this address", {
          "retry-after": String(RETRY_AFTER_S),
        });
      }
      if (head.websocket) return this.#dispatch(l, head, addr);
      if (!await this.#connect(l)) return;
    }
    l.responses?.request(head.method, head.upgrade);
    await this.#toUpstream(l, rewriteHead(head, addr));
  }

  /** The server's answer to an upgrade request: true for 101, null when the link is gone. */
  #decision(l: Link): Promise<boolean | null> {
    const known = l.decision;
    l.decision = undefined;
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => l.decided = resolve);
  }

  #decided(l: Link, upgraded: boolean): void {
    const decided = l.decided;
    l.decided = null;
    if (decided) decided(upgraded);
    else l.decision = upgraded;
  }

  /** Answers with an error and closes; only closes when an earlier response is under way. */
  async #refuse(l: Link, status: number, message: string, extra?: Record<string, string>) {
    if (l.mode !== "http" && l.mode !== "dispatch") return;
    if (l.responses?.busy) return this.#drop(l);
    this.#dropUpstream(l);
    await this.#reply(l, errorReply(status, message, extra));
  }

  /** Writes a final response, half-closes, and reads the client's rest away for a while. */
  async #reply(l: Link, bytes: Uint8Array): Promise<void> {
    l.mode = "linger";
    l.lingerUntil = this.#clock.now() + LINGER_MS;
    try {
      await this.#write(l, bytes);
      await l.conn.closeWrite();
    } catch {
      this.#drop(l);
    }
  }

  // ---- Proxying ------------------------------------------------------------------------------

  async #connect(l: Link): Promise<boolean> {
    const path = this.#o.upstreamPath;
    let up: Deno.Conn;
    try {
      up = await Deno.connect({ transport: "unix", path });
    } catch (err) {
      this.#flag("upstream", true, () => {
        this.#log.error("edge: the upstream is unreachable", { path, err });
      });
      await this.#refuse(l, 502, "The server is unavailable");
      return false;
    }
    this.#flag("upstream", false, () => this.#log.info("edge: the upstream is reachable again"));
    if (l.mode !== "http") {
      up.close();
      return false;
    }
    l.upstream = up;
    l.responses = new ResponseTracker((upgraded) => this.#decided(l, upgraded));
    this.#proxied++;
    this.#spawn(this.#upstreamLoop(l, up));
    return true;
  }

  async #toUpstream(l: Link, bytes: Uint8Array): Promise<void> {
    const up = l.upstream;
    if (!up || bytes.length === 0) return;
    l.upWriting = true;
    try {
      await writeAll(up, bytes, () => l.lastActivity = this.#clock.now());
    } catch {
      this.#drop(l);
    } finally {
      l.upWriting = false;
    }
  }

  /** Upstream → client, as it is; it counts as activity, and its end ends the connection. */
  async #upstreamLoop(l: Link, up: Deno.Conn): Promise<void> {
    const reader = new Reader();
    try {
      while (l.upstream === up) {
        const chunk = await reader.read(up);
        if (chunk === null) break;
        l.lastActivity = this.#clock.now();
        await this.#write(l, chunk);
        l.responses!.feed(chunk);
      }
    } catch {
      // Either side failed: both are closed below.
    }
    if (l.upstream === up) this.#drop(l);
  }

  /** Writes to the client, one write after the other. */
  #write(l: Link, bytes: Uint8Array): Promise<void> {
    const done = l.writes.then(() =>
      writeAll(l.conn, bytes, () => l.lastActivity = this.#clock.now())
    );
    l.writes = done.catch(() => {});
    return done;
  }

  // ---- WebSocket upgrades --------------------------------------------------------------------

  /** The first request is a WebSocket upgrade: the handler answers it. */
  async #dispatch(l: Link, head: RequestHead, addr: string): Promise<void> {
    l.mode = "dispatch";
    const leftover = l.tracker.takeRest();
    const port = this.#o.trustedProxyHops > 0 ? 0 : l.peer.port;
    const remoteAddr: Deno.NetAddr = { transport: "tcp", hostname: addr, port };
    head.headers.set(CLIENT_ADDR_HEADER, addr);
    let req: Request;
    try {
      const host = head.headers.get("host") || this.#o.hostname;
      const url = head.target.startsWith("/") ? `http://${host}${head.target}` : head.target;
      req = new Request(url, { method: head.method, headers: head.headers });
    } catch {
      return this.#refuse(l, 400, "Invalid request");
    }
    const ctx = edgeRequest(req, this.#clock);
    const answer = (async () => {
      const res = await this.#o.handler(req, { remoteAddr });
      if (res instanceof Response) return res;
      throw new TypeError("The handler did not return a Response");
    })().catch((err) => {
      this.#note("handler", () => this.#log.error("edge: the handler failed", { err }));
      return new Response(null, { status: 500 });
    });
    const res = await Promise.race([answer, l.gone]);
    if (res === undefined || l.mode !== "dispatch") {
      // Gone while the handler ran: whatever it makes is aborted.
      void answer.then(() => settleEdgeRequest(ctx, null));
      return;
    }
    const up = settleEdgeRequest(ctx, res);
    if (up) return this.#switch(l, up, res.headers, leftover);
    const bytes = await encodeReply(res, head.method, l.gone);
    if (bytes && l.mode === "dispatch") await this.#reply(l, bytes);
  }

  async #switch(l: Link, up: EdgeUpgrade, headers: Headers, leftover: Uint8Array) {
    let ok = false;
    try {
      const accept = await acceptKey(up.key);
      if (l.mode === "dispatch") {
        await this.#write(l, switchingReply(accept, headers));
        ok = l.mode === "dispatch";
      }
    } catch {
      // The client left.
    }
    if (!ok) {
      up.socket.abort();
      return this.#drop(l);
    }
    l.mode = "ws";
    l.ws = up.socket;
    this.#websockets++;
    up.socket.attach(this.#watched(l), leftover);
  }

  /** The connection as the socket sees it: its close and its pending reads and writes known. */
  #watched(l: Link): Deno.Conn {
    const track = <T>(p: Promise<T>): Promise<T> => {
      const settled = p.then(() => {}, () => {});
      l.wsOps.add(settled);
      void settled.then(() => l.wsOps.delete(settled));
      return p;
    };
    return new Proxy(l.conn, {
      get: (target, prop) => {
        if (prop === "close") {
          return () => {
            l.connClosed = true;
            try {
              target.close();
            } finally {
              this.#drop(l);
            }
          };
        }
        if (prop === "read") return (p: Uint8Array) => track(target.read(p));
        if (prop === "write") return (p: Uint8Array) => track(target.write(p));
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  // ---- Timeouts and closing ------------------------------------------------------------------

  #sweep(): void {
    this.#sweepTimer = null;
    if (this.#closed) return;
    const o = this.#o;
    const now = this.#clock.now();
    for (const l of this.#links) {
      if (l.mode === "ws") {
        if (l.ws!.readyState === l.ws!.CLOSED) this.#drop(l);
      } else if (l.mode === "linger") {
        if (now >= l.lingerUntil) this.#drop(l);
      } else if (
        l.mode === "http" && !l.upWriting && l.headSince !== null &&
        now - l.headSince >= o.headersTimeoutMs
      ) {
        this.#timedOut++;
        void this.#refuse(l, 408, "Request header timeout");
      } else if (
        (l.mode === "http" && !l.upWriting && l.tracker.phase === "body" &&
          now - l.lastIn >= o.bodyIdleTimeoutMs) || now - l.lastActivity >= o.idleTimeoutMs
      ) {
        this.#timedOut++;
        this.#drop(l);
      }
    }
    if (this.#links.size < o.maxConnections * 0.9) {
      this.#flag("full", false, () => this.#log.info("edge: accepting connections again"));
    }
    this.#sweepTimer = this.#clock.setTimeout(() => this.#sweep(), SWEEP_MS);
  }

  #dropUpstream(l: Link): void {
    const up = l.upstream;
    if (!up) return;
    l.upstream = null;
    this.#proxied--;
    try {
      up.close();
    } catch {
      // Already closed.
    }
  }

  /** Closes both sides of a connection and forgets it (once). */
  #drop(l: Link): void {
    if (l.mode === "closed") return;
    if (l.ws) {
      this.#websockets--;
      for (const op of l.wsOps) this.#spawn(op.then(() => {}));
    }
    l.mode = "closed";
    this.#links.delete(l);
    if (l.addr !== null) {
      const n = this.#perAddress.get(l.addr)! - 1;
      if (n > 0) this.#perAddress.set(l.addr, n);
      else this.#perAddress.delete(l.addr);
    }
    this.#dropUpstream(l);
    if (!l.connClosed) {
      l.connClosed = true;
      try {
        l.conn.close();
      } catch {
        // Already closed.
      }
    }
    const decided = l.decided;
    l.decided = null;
    decided?.(null);
    l.leave();
  }

  #spawn(task: Promise<void>): void {
    const t: Promise<void> = task
      .catch((err) => this.#log.error("edge: internal error", { err }))
      .then(() => void this.#tasks.delete(t));
    this.#tasks.add(t);
  }

  /** Logs when a condition starts or ends, not for each connection it touches. */
  #flag(name: string, on: boolean, log: () => void): void {
    if (on === this.#flags.has(name)) return;
    if (on) this.#flags.add(name);
    else this.#flags.delete(name);
    log();
  }

  /** Logs at most once a minute per kind. */
  #note(kind: string, log: () => void): void {
    const now = this.#clock.now();
    const last = this.#noted.get(kind);
    if (last !== undefined && now - last < NOTE_EVERY_MS) return;
    this.#noted.set(kind, now);
    log();
  }
}
