/**
 * A connection lives no longer than its token, on every transport (WebSocket, SSE, socket.io):
 * `connected.token_expires_at`, `token_expiring` TOKEN_WARNING_S before, then `error
 * unauthorized` and close 4003 `token_expired` unless the peer handed over a fresh token of the
 * same user (and, for a chat token, the same chat) with `refresh_token`. Time is a ManualClock.
 *
 * Guards against the old behaviour: sockets outlived their tokens (a token revoked by expiry kept
 * a live chat open for as long as the peer cared to stay), and a refresh could have swapped the
 * connection to another user or chat.
 */
import assert from "node:assert/strict";
import { io, type Socket } from "socket.io-client";
import { Authenticator } from "../../src/auth/mod.ts";
import { OutboundFrameSchema } from "../../src/protocol/mod.ts";
import { ManualClock } from "../../src/runtime/clock.ts";
import {
  type CreatedChat,
  type Frame,
  startTestServer,
  TEST_SECRET,
  type TestServer,
  WsClient,
} from "./_harness.ts";
import { SseClient, sseUrl } from "./_sse_client.ts";

const TTL_S = 60;
const WARNING_S = 10;
const TTL = TTL_S * 1000;
const WARNING = WARNING_S * 1000;

/** `p`, or a failure after `ms`: a guard, so a connection the server keeps fails the test. */
function within<T>(p: Promise<T>, what: string, ms = 10_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out waiting for ${what}`)), ms);
  });
  return Promise.race([p, guard]).finally(() => clearTimeout(timer));
}

/** A peer on one transport, as the tests need it. */
interface Peer {
  readonly frames: Frame[];
  /** The first frame from index `from` on matching `test` (a guard timeout fails the test). */
  next(test: (f: Frame) => boolean, from?: number): Promise<Frame>;
  /** One inbound frame; resolves with its reply (`ack`, `error` or `pong`). */
  request(type: string, payload?: Record<string, unknown>): Promise<Frame>;
  /** Resolves once every frame the server queued before now has been received. */
  barrier(): Promise<void>;
  /** The token its sends go with (SSE sends are requests of their own). */
  useToken(token: string): void;
  /** Resolves when the server ended the connection: its close code and reason, when it has them. */
  ended(): Promise<{ code?: number; reason?: string }>;
  close(): Promise<void>;
}

type Transport = "websocket" | "sse" | "socket.io";

/** Opens a peer and waits for `connected`. `barrierChat`: a chat it may look at (SSE barrier). */
async function connect(
  transport: Transport,
  server: TestServer,
  token: string,
  barrierChat?: string,
): Promise<Peer> {
  if (transport === "websocket") return wsPeer(await WsClient.connect(server.wsUrl(token)));
  if (transport === "sse") {
    return ssePeer(await SseClient.connect(sseUrl(server, token)), token, barrierChat);
  }
  return await SioPeer.connect(server, token);
}

function wsPeer(ws: WsClient): Peer {
  return {
    frames: ws.frames,
    next: (test, from) => ws.next(test, { from }),
    request: (type, payload) => ws.request(type, payload),
    // Frames on one socket arrive in order: the pong comes after whatever was queued before it.
    barrier: async () => assert.equal((await ws.request("ping")).type, "pong"),
    useToken: () => {},
    ended: async () => {
      const e = await within(ws.closed(), "the socket to close");
      return { code: e.code, reason: e.reason };
    },
    close: () => ws.close(),
  };
}

function ssePeer(sse: SseClient, token: string, barrierChat?: string): Peer {
  let current = token;
  let refs = 0;
  const request = async (type: string, payload: Record<string, unknown> = {}) => {
    const ref = `t${++refs}`;
    const { status, body } = await sse.post(JSON.stringify({ type, payload, ref }), {
      token: current,
    });
    assert.equal(status, 200, `${type}: ${status} ${JSON.stringify(body)}`);
    const reply = body as unknown as Frame;
    assert.equal(reply.ref, ref);
    return reply;
  };
  return {
    frames: sse.frames,
    next: (test, from) => sse.next(test, { from }),
    request,
    // A send's reply is the POST's answer, not on the stream: a `resume` puts its `resumed` on
    // the stream after everything queued before it.
    barrier: async () => {
      const from = sse.frames.length;
      const ack = await request("resume", {
        ...(barrierChat ? { chat_id: barrierChat } : {}),
        last_seq: 1_000_000,
      });
      assert.equal(ack.type, "ack", JSON.stringify(ack));
      await sse.next((f) => f.type === "resumed", { from });
    },
    useToken: (t) => current = t,
    ended: async () => {
      await within(sse.endedByServer(), "the stream to end");
      return {};
    },
    close: () => sse.close(),
  };
}

/** A socket.io peer: every event is recorded as a frame (`close {code, reason}` included). */
class SioPeer implements Peer {
  readonly frames: Frame[] = [];
  readonly #schemaErrors: string[] = [];
  #waiters: Array<{ test: (f: Frame) => boolean; from: number; resolve: (f: Frame) => void }> = [];
  readonly #disconnected: Promise<string>;

  private constructor(readonly socket: Socket) {
    this.#disconnected = new Promise((r) => socket.once("disconnect", r));
    socket.onAny((type: string, payload: Record<string, unknown>) => {
      const f = { type, payload };
      if (type !== "close" && !OutboundFrameSchema.safeParse(f).success) {
        this.#schemaErrors.push(JSON.stringify(f));
      }
      this.frames.push(f);
      const i = this.frames.length - 1;
      this.#waiters = this.#waiters.filter((w) =>
        !(i >= w.from && w.test(f) && (w.resolve(f), true))
      );
    });
  }

  static async connect(server: TestServer, token: string): Promise<SioPeer> {
    const socket = io(server.url, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: { token },
    });
    const peer = new SioPeer(socket);
    await peer.next((f) => f.type === "connected");
    return peer;
  }

  next(test: (f: Frame) => boolean, from = 0): Promise<Frame> {
    const found = this.frames.slice(from).find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`Timed out; saw: ${this.frames.map((f) => f.type).join(",")}`));
      }, 10_000);
      const waiter = { test, from, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
      this.#waiters.push(waiter);
    });
  }

  request(type: string, payload: Record<string, unknown> = {}): Promise<Frame> {
    return this.socket.timeout(10_000).emitWithAck(type, payload);
  }

  async barrier(): Promise<void> {
    // Acks and events share the one engine.io connection, in order.
    assert.equal((await this.request("ping")).type, "pong");
  }

  useToken(): void {}

  async ended(): Promise<{ code?: number; reason?: string }> {
    const close = await this.next((f) => f.type === "close");
    assert.equal(await within(this.#disconnected, "the disconnect"), "io server disconnect");
    return close.payload as { code: number; reason: string };
  }

  close(): Promise<void> {
    this.socket.close();
    assert.deepEqual(this.#schemaErrors, [], "frames outside the schema");
    return Promise.resolve();
  }
}

/** Starts a server on a manual clock with short token lifetimes. */
async function setUp() {
  const clock = new ManualClock();
  const server = await startTestServer(
    { CLIENT_TOKEN_TTL_S: String(TTL_S), TOKEN_WARNING_S: String(WARNING_S) },
    { clock },
  );
  /** Tokens issued `agoMs` in the past, under the server's secret and lifetimes. */
  const past = (agoMs: number) =>
    new Authenticator({
      secret: TEST_SECRET,
      clientTokenTtlMs: TTL,
      clock: { now: () => clock.now() - agoMs },
    });
  return { clock, server, past };
}

const iso = (ms: number) => new Date(ms).toISOString();
const isExpiring = (f: Frame) => f.type === "token_expiring";

function assertCode(reply: Frame, code: string, what: string): void {
  assert.equal(reply.type, "error", `${what}: ${JSON.stringify(reply)}`);
  assert.equal(reply.payload.code, code, `${what}: ${JSON.stringify(reply)}`);
}

/** The transport's way to end a connection whose token expired. */
async function assertExpired(transport: Transport, peer: Peer, from: number): Promise<void> {
  const err = await peer.next((f) => f.type === "error", from);
  assert.equal(err.payload.code, "unauthorized");
  const end = await peer.ended();
  if (transport !== "sse") assert.deepEqual(end, { code: 4003, reason: "token_expired" });
  else {
    // SSE has no close codes: the stream ends right after the error.
    assert.equal(peer.frames.at(-1)?.type, "error");
  }
}

/** A message from a client (its chat) or from staff (naming the chat); must be acked. */
async function say(peer: Peer, text: string, chatId?: string): Promise<Frame> {
  const ack = await peer.request("message", { text, ...(chatId ? { chat_id: chatId } : {}) });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  return ack;
}

for (const transport of ["websocket", "sse", "socket.io"] as const) {
  Deno.test(`token expiry (${transport}): a chat token's connection is warned, then closed unless refreshed`, async () => {
    const { clock, server, past } = await setUp();
    await using _server = server;
    const peers: Peer[] = [];
    try {
      const t0 = clock.now();
      const chat = await server.createChat("alice");
      // The REST reply says when the chat token ends (the harness's type leaves it out).
      const expiresAt = (chat as CreatedChat & { expires_at: string }).expires_at;
      assert.equal(Date.parse(expiresAt), t0 + TTL);
      const alice = await connect(transport, server, chat.client_token);
      peers.push(alice);
      const connected = alice.frames.find((f) => f.type === "connected")!;
      assert.equal(connected.payload.token_expires_at, iso(t0 + TTL));

      // Not a moment before TOKEN_WARNING_S ahead of the end.
      await clock.advance(TTL - WARNING - 1);
      await alice.barrier();
      assert.equal(alice.frames.filter(isExpiring).length, 0);
      await clock.advance(1);
      const warned = await alice.next(isExpiring);
      assert.deepEqual(warned.payload, { expires_at: iso(t0 + TTL) });

      // Tokens that are not a fresh token of this user for this chat are refused; the
      // connection stays (a refused refresh is no reason to drop it) and keeps its end.
      const otherChat = await server.createChat("alice");
      const bob = await server.createChat("bob");
      const refused: Array<[string, string, string]> = [
        ["alice's token for another chat", otherChat.client_token, "forbidden"],
        ["another client's chat token", bob.client_token, "forbidden"],
        ["alice's visitor token", chat.visitor_token, "forbidden"],
        ["a staff token with alice's id", await server.staffToken("alice", "admin"), "forbidden"],
        [
          "an expired token of this chat",
          (await past(2 * TTL).issueClientToken(chat.chat_id, "alice")).token,
          "unauthorized",
        ],
        ["garbage", "not-a-token", "unauthorized"],
        ["a tampered token of this chat", chat.client_token.slice(0, -3) + "AAA", "unauthorized"],
      ];
      for (const [what, token, code] of refused) {
        assertCode(await alice.request("refresh_token", { token }), code, what);
      }
      await say(alice, "still here?");

      // One millisecond before the end it still works; at the end it is closed.
      await clock.advance(WARNING - 1);
      await say(alice, "last words");
      const from = alice.frames.length;
      await clock.advance(1);
      await assertExpired(transport, alice, from);
    } finally {
      for (const p of peers) await p.close();
    }
  });

  Deno.test(`token expiry (${transport}): refresh_token with a fresh token of the same chat keeps it open and usable`, async () => {
    const { clock, server } = await setUp();
    await using _server = server;
    const peers: Peer[] = [];
    try {
      const t0 = clock.now();
      const chat: CreatedChat = await server.createChat("carol");
      const carol = await connect(transport, server, chat.client_token);
      peers.push(carol);
      await clock.advance(TTL - WARNING);
      await carol.next(isExpiring);

      // The site's page fetched a fresh chat token (e.g. through GET /me/chats) and hands it over.
      const fresh = await server.auth.issueClientToken(chat.chat_id, "carol");
      assert.equal(fresh.expiresAt, clock.now() + TTL);
      const ack = await carol.request("refresh_token", { token: fresh.token });
      assert.deepEqual(ack.payload, { for: "refresh_token", expires_at: iso(fresh.expiresAt) });
      carol.useToken(fresh.token);

      // Past the old end: still open and usable.
      await clock.advance(WARNING + 1);
      assert.ok(clock.now() > t0 + TTL);
      const sent = await say(carol, "after the old expiry");
      await carol.next((f) => f.type === "message" && f.payload.seq === sent.payload.seq);
      assert.equal(carol.frames.filter((f) => f.type === "error").length, 0);

      // The new end is kept the same way: warned, then closed.
      const from = carol.frames.length;
      await clock.advance(fresh.expiresAt - WARNING - clock.now());
      const again = await carol.next(isExpiring, from);
      assert.deepEqual(again.payload, { expires_at: iso(fresh.expiresAt) });
      await clock.advance(WARNING);
      await assertExpired(transport, carol, from);
    } finally {
      for (const p of peers) await p.close();
    }
  });

  Deno.test(`token expiry (${transport}): a staff connection is warned, refreshed by the same staff member only, and closed at the end`, async () => {
    const { clock, server, past } = await setUp();
    await using _server = server;
    const peers: Peer[] = [];
    try {
      const t0 = clock.now();
      const waiting = await server.createChat("dave");
      const token = await server.auth.mintStaffToken({
        sub: "op-1",
        role: "operator",
        ttlSeconds: TTL_S,
      });
      const op = await connect(transport, server, token, waiting.chat_id);
      peers.push(op);
      const connected = op.frames.find((f) => f.type === "connected")!;
      assert.equal(connected.payload.token_expires_at, iso(t0 + TTL));
      await op.next((f) => f.type === "queue_snapshot");

      await clock.advance(TTL - WARNING - 1);
      await op.barrier();
      assert.equal(op.frames.filter(isExpiring).length, 0);
      await clock.advance(1);
      assert.deepEqual((await op.next(isExpiring)).payload, { expires_at: iso(t0 + TTL) });

      const staff = (sub: string, role: "operator" | "lawyer" | "admin", ttlSeconds = 120) =>
        server.auth.mintStaffToken({ sub, role, ttlSeconds });
      const refused: Array<[string, string, string]> = [
        ["another operator's token", await staff("op-2", "operator"), "forbidden"],
        ["op-1 as a lawyer", await staff("op-1", "lawyer"), "forbidden"],
        ["op-1 as an admin", await staff("op-1", "admin"), "forbidden"],
        [
          "a visitor token for id op-1",
          (await server.auth.issueVisitorToken("op-1")).token,
          "forbidden",
        ],
        ["a chat token", waiting.client_token, "forbidden"],
        [
          "an expired token of op-1",
          await past(2 * TTL).mintStaffToken({ sub: "op-1", role: "operator", ttlSeconds: TTL_S }),
          "unauthorized",
        ],
        ["garbage", "a.b.c", "unauthorized"],
      ];
      for (const [what, t, code] of refused) {
        assertCode(await op.request("refresh_token", { token: t }), code, what);
      }

      const fresh = await staff("op-1", "operator", 120);
      const ack = await op.request("refresh_token", { token: fresh });
      assert.deepEqual(ack.payload, {
        for: "refresh_token",
        expires_at: iso(clock.now() + 120_000),
      });
      const newEnd = clock.now() + 120_000;
      op.useToken(fresh);

      // Past the old end the operator still works: takes the waiting chat and writes in it.
      await clock.advance(WARNING + 1);
      assert.ok(clock.now() > t0 + TTL);
      const accepted = await op.request("accept_chat", { chat_id: waiting.chat_id });
      assert.equal(accepted.type, "ack", JSON.stringify(accepted));
      const sent = await say(op, "hello dave", waiting.chat_id);
      await op.next((f) => f.type === "message" && f.payload.seq === sent.payload.seq);

      const from = op.frames.length;
      await clock.advance(newEnd - WARNING - clock.now());
      assert.deepEqual((await op.next(isExpiring, from)).payload, { expires_at: iso(newEnd) });
      await clock.advance(WARNING);
      await assertExpired(transport, op, from);
    } finally {
      for (const p of peers) await p.close();
    }
  });
}

Deno.test("token expiry: a token that expired before the connection opened is refused at once", async () => {
  // Guards against: a connection opened with a token whose end is already past (or passes while
  // opening) living on.
  const { server, past } = await setUp();
  await using _server = server;
  const chat = await server.createChat("erin");
  const old = (await past(TTL).issueClientToken(chat.chat_id, "erin")).token;
  const ws = await WsClient.open(server.wsUrl(old));
  const closed = await within(ws.closed(), "the refused socket to close");
  assert.equal(closed.code, 1008);
  assert.deepEqual(ws.frames.map((f) => [f.type, f.payload.code]), [["error", "unauthorized"]]);
  await assert.rejects(SseClient.open(sseUrl(server, old)), /401/);
});

/** Deno (like browsers and Node) runs a timer whose delay exceeds 2^31 - 1 ms after 1 ms. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A ManualClock with the platform's timer limit, so what a real clock would do is replayed. */
class PlatformClock extends ManualClock {
  override setTimeout(fn: () => void, ms: number): number {
    return super.setTimeout(fn, ms > MAX_TIMER_MS ? 1 : ms);
  }
}

Deno.test("token expiry: a token that lives longer than 24.8 days gets no token_expiring storm", async () => {
  // Guards against: the expiry timer asking for a delay over 2^31 - 1 ms (a 30-day chat token,
  // or a staff token minted with `deno task token --ttl 2592000`); the platform runs it at once,
  // the handler sends `token_expiring` and sets the same timer again: a frame every millisecond
  // on every such connection, for weeks.
  const clock = new PlatformClock();
  const days30 = 30 * 86_400;
  await using server = await startTestServer({ CLIENT_TOKEN_TTL_S: String(days30) }, { clock });
  const chat = await server.createChat("frank");
  const staff = await server.auth.mintStaffToken({
    sub: "op-1",
    role: "operator",
    ttlSeconds: days30,
  });
  const peers = [
    await WsClient.connect(server.wsUrl(chat.client_token)),
    await WsClient.connect(server.wsUrl(staff)),
  ];
  try {
    // A few milliseconds: nothing is due for 30 days.
    for (let i = 0; i < 5; i++) await clock.advance(1);
    for (const ws of peers) {
      assert.equal((await ws.request("ping")).type, "pong");
      assert.deepEqual(ws.ofType("token_expiring"), [], "token_expiring 30 days early");
      assert.equal(ws.closeEvent, null);
    }
  } finally {
    for (const ws of peers) await ws.close();
  }
});
