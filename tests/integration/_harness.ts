/**
 * Integration test harness: starts a real server (in this process, or as a child process for
 * crash tests) on a free port, and gives tests WebSocket clients that wait on frames, not time.
 */
import { Authenticator } from "../../src/auth/mod.ts";
import type { StaffRole } from "../../src/auth/principal.ts";
import { loadConfig } from "../../src/config.ts";
import { type Logger, silentLogger } from "../../src/log.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { OutboundFrameSchema } from "../../src/protocol/mod.ts";
import { type RunningServer, startServer } from "../../src/server/server.ts";

export const TEST_SECRET = "integration-test-secret-0123456789abcdef";
const env = { get: (k: string) => (k === "JWT_SECRET" ? TEST_SECRET : undefined) };

export interface Frame {
  type: string;
  payload: Record<string, unknown>;
  ref?: string;
}

export interface TestServer extends RunningServer {
  staffToken(sub: string, role?: StaffRole, name?: string): Promise<string>;
  createChat(clientId?: string): Promise<CreatedChat>;
  wsUrl(token: string, query?: Record<string, string | number>): string;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface CreatedChat {
  chat_id: string;
  client_id: string;
  client_token: string;
  visitor_token: string;
  ws_url: string;
  position: number;
}

/**
 * Limits the harness lifts: tests start many chats from one address. The tests of the limits
 * themselves set their own.
 */
export const TEST_LIMITS = { CREATE_RATE_PER_ADDRESS: "100000", CREATE_RATE_GLOBAL: "100000" };

/** Starts a server in this process on a free loopback port with a fresh KV file. */
export async function startTestServer(
  overrides: Record<string, string> = {},
  opts: { clock?: Clock; kvPath?: string; logger?: Logger } = {},
): Promise<TestServer> {
  const dir = opts.kvPath ? null : await Deno.makeTempDir({ prefix: "chat-test-" });
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    KV_PATH: opts.kvPath ?? `${dir}/chat.kv`,
    LOG_LEVEL: "error",
    // The bot and titles add stored events (and seqs); tests that want them turn them on.
    BOT_MODE: "off",
    TITLE_MODE: "off",
    ...TEST_LIMITS,
    ...overrides,
  });
  const logger = opts.logger ?? silentLogger;
  const server = await startServer(config, { logger, env, clock: opts.clock });
  return withHelpers(server, server.auth, async () => {
    await server.shutdown();
    if (dir) await Deno.remove(dir, { recursive: true }).catch(() => {});
  });
}

export function withHelpers(
  server: RunningServer,
  auth: Authenticator,
  dispose: () => Promise<void>,
): TestServer {
  const base = server.url;
  return {
    ...server,
    shutdown: dispose,
    staffToken: (sub, role = "operator", name) =>
      auth.mintStaffToken({ sub, role, ttlSeconds: 3600, ...(name ? { name } : {}) }),
    createChat: (clientId) => createChat(base, clientId, auth),
    wsUrl: (token, query = {}) => wsUrl(base, token, query),
    [Symbol.asyncDispose]: dispose,
  };
}

const visitorAuth = new Authenticator({ secret: TEST_SECRET, clock: { now: () => Date.now() } });

/**
 * Starts a chat. With `clientId`, for that visitor: the harness holds the server's secret, so it
 * mints the visitor token the server would have issued (as a site's backend that vouches for its
 * users would get one); without, for a new anonymous visitor.
 */
export async function createChat(
  baseUrl: string,
  clientId?: string,
  auth: Authenticator = visitorAuth,
): Promise<CreatedChat> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (clientId) {
    headers.authorization = `Bearer ${(await auth.issueVisitorToken(clientId)).token}`;
  }
  const res = await fetch(`${baseUrl}/api/v1/chat/chats`, {
    method: "POST",
    headers,
    body: "{}",
  });
  if (res.status !== 201) throw new Error(`create chat failed: ${res.status} ${await res.text()}`);
  return await res.json();
}

export function wsUrl(
  baseUrl: string,
  token: string,
  query: Record<string, string | number> = {},
): string {
  const u = new URL("/api/v1/chat/ws/chat", baseUrl.replace(/^http/, "ws"));
  u.searchParams.set("token", token);
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, String(v));
  return u.toString();
}

/** A WebSocket peer that records every frame and lets tests wait for the one they expect. */
export class WsClient {
  readonly ws: WebSocket;
  readonly frames: Frame[] = [];
  /** Frames that did not match the outbound schema (each also fails pending waits). */
  readonly schemaErrors: Error[] = [];
  closeEvent: CloseEvent | null = null;
  #waiters: Array<{
    test: (f: Frame) => boolean;
    from: number;
    resolve: (f: Frame) => void;
    reject: (e: Error) => void;
  }> = [];
  #closeWaiters: Array<(e: CloseEvent) => void> = [];
  #refs = 0;

  private constructor(ws: WebSocket) {
    this.ws = ws;
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data as string) as Frame;
      // Every frame the server sends must match the protocol's schema.
      const checked = OutboundFrameSchema.safeParse(f);
      if (!checked.success) {
        const err = new Error(
          `Server sent a frame outside the schema: ${e.data} (${checked.error.message})`,
        );
        for (const w of this.#waiters.splice(0)) w.reject(err);
        this.schemaErrors.push(err);
      }
      this.frames.push(f);
      const i = this.frames.length - 1;
      this.#waiters = this.#waiters.filter((w) => {
        if (i >= w.from && w.test(f)) {
          w.resolve(f);
          return false;
        }
        return true;
      });
    };
    ws.onclose = (e) => {
      this.closeEvent = e;
      for (const w of this.#waiters.splice(0)) w.reject(new Error(`Socket closed (${e.code})`));
      for (const w of this.#closeWaiters.splice(0)) w(e);
    };
  }

  /** Opens a socket; resolves once it is open (the server's `connected` may still be coming). */
  static open(url: string): Promise<WsClient> {
    const ws = new WebSocket(url);
    const client = new WsClient(ws);
    return new Promise((resolve, reject) => {
      ws.onopen = () => resolve(client);
      ws.onerror = (e) =>
        reject(new Error(`WebSocket error: ${(e as ErrorEvent).message ?? e.type}`));
    });
  }

  /** Opens and waits for `connected`. */
  static async connect(url: string): Promise<WsClient> {
    const c = await WsClient.open(url);
    await c.next((f) => f.type === "connected");
    return c;
  }

  send(type: string, payload: Record<string, unknown> = {}, ref?: string): void {
    this.ws.send(JSON.stringify(ref === undefined ? { type, payload } : { type, payload, ref }));
  }

  /** Sends with a fresh ref and resolves with the `ack` or `error` that echoes it. */
  request(type: string, payload: Record<string, unknown> = {}): Promise<Frame> {
    const ref = `r${++this.#refs}`;
    const reply = this.next((f) =>
      f.ref === ref && (f.type === "ack" || f.type === "error" || f.type === "pong")
    );
    this.send(type, payload, ref);
    return reply;
  }

  /**
   * The first frame matching `test`, received from index `from` on (default: any frame so far
   * or later). Fails after `timeoutMs` as a guard; it is not a synchronisation delay.
   */
  next(
    test: (f: Frame) => boolean,
    opts: { from?: number; timeoutMs?: number } = {},
  ): Promise<Frame> {
    const from = opts.from ?? 0;
    const found = this.frames.slice(from).find(test);
    if (found) return Promise.resolve(found);
    if (this.closeEvent) {
      return Promise.reject(new Error(`Socket closed (${this.closeEvent.code})`));
    }
    return new Promise((resolve, reject) => {
      const guard: { timer?: ReturnType<typeof setTimeout> } = {};
      const waiter = {
        test,
        from,
        resolve: (f: Frame) => (clearTimeout(guard.timer), resolve(f)),
        reject: (e: Error) => (clearTimeout(guard.timer), reject(e)),
      };
      // Register before arming the guard timer: arming may run pending tasks that deliver it.
      this.#waiters.push(waiter);
      guard.timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const seen = this.frames.map((f) => f.type).join(",");
        reject(new Error(`Timed out waiting for a frame; saw: ${seen}`));
      }, opts.timeoutMs ?? 10_000);
    });
  }

  ofType(type: string): Frame[] {
    return this.frames.filter((f) => f.type === type);
  }

  /** Session-event seqs received for a chat, in arrival order. */
  seqs(chatId: string): number[] {
    return this.frames
      .filter((f) =>
        f.payload.chat_id === chatId && typeof f.payload.seq === "number" && f.type !== "ack"
      )
      .map((f) => f.payload.seq as number);
  }

  closed(): Promise<CloseEvent> {
    if (this.closeEvent) return Promise.resolve(this.closeEvent);
    return new Promise((r) => this.#closeWaiters.push(r));
  }

  /** Closes the socket; then fails if the server ever sent a frame outside the schema. */
  async close(): Promise<void> {
    if (this.ws.readyState !== WebSocket.CLOSED) {
      const done = this.closed();
      this.ws.close();
      await done;
    }
    if (this.schemaErrors.length > 0) throw this.schemaErrors[0];
  }
}

/** A server in a child process (for crash tests). Port 0 is chosen by the OS and read from stdout. */
export interface ChildServer {
  readonly url: string;
  readonly port: number;
  readonly process: Deno.ChildProcess;
  kill(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

export async function spawnServer(
  kvPath: string,
  extraEnv: Record<string, string> = {},
): Promise<ChildServer> {
  const main = new URL("../../src/main.ts", import.meta.url).pathname;
  const cmd = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--unstable-kv", main],
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: kvPath,
      JWT_SECRET: TEST_SECRET,
      LOG_LEVEL: "warn",
      BOT_MODE: "off",
      TITLE_MODE: "off",
      ...TEST_LIMITS,
      ...extraEnv,
    },
    stdout: "piped",
    stderr: "inherit",
  });
  const child = cmd.spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/\(port (\d+)\)/.test(out)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`server exited before listening: ${out}`);
    out += value;
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })().catch(() => {});
  const port = Number(/\(port (\d+)\)/.exec(out)![1]);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    process: child,
    async kill(signal: Deno.Signal = "SIGKILL") {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
      return await child.status;
    },
  };
}

/** Mints staff tokens for a child server (same secret). */
export function childAuth(): Authenticator {
  return new Authenticator({ secret: TEST_SECRET, clock: { now: () => Date.now() } });
}
