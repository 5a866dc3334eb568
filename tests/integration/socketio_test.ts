/** socket.io transport: real server, real socket.io-client sockets, every default transport. */
import assert from "node:assert/strict";
import { io, type ManagerOptions, type Socket, type SocketOptions } from "socket.io-client";
import { OutboundFrameSchema } from "../../src/protocol/mod.ts";
import { type Frame, startTestServer, type TestServer, WsClient } from "./_harness.ts";
import { allEvents, range } from "./_util.ts";

type Transports = Array<"polling" | "websocket">;
type Open = Partial<ManagerOptions & SocketOptions>;

/** A socket.io peer that records every event as a frame and waits on frames, not on time. */
class SioClient {
  readonly frames: Frame[] = [];
  readonly schemaErrors: string[] = [];
  #waiters: Array<{ test: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];

  constructor(readonly socket: Socket) {
    socket.onAny((type: string, payload: Record<string, unknown>) => {
      const f = { type, payload };
      if (type !== "close" && !OutboundFrameSchema.safeParse(f).success) {
        this.schemaErrors.push(JSON.stringify(f));
      }
      this.frames.push(f);
      this.#waiters = this.#waiters.filter((w) => !(w.test(f) && (w.resolve(f), true)));
    });
  }

  static open(server: TestServer, o: Open): SioClient {
    return new SioClient(io(server.url, { forceNew: true, reconnection: false, ...o }));
  }

  static async connect(server: TestServer, o: Open): Promise<SioClient> {
    const c = SioClient.open(server, o);
    await c.next((f) => f.type === "connected");
    return c;
  }

  /** Emits with an ack callback; resolves with the reply frame it receives. */
  request(type: string, payload?: Record<string, unknown>): Promise<Frame> {
    return this.socket.timeout(10_000).emitWithAck(type, payload);
  }

  /** The first frame from index `from` on matching `test`; fails after a guard timeout. */
  next(test: (f: Frame) => boolean, from = 0): Promise<Frame> {
    const found = this.frames.slice(from).find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`Timed out; saw: ${this.frames.map((f) => f.type).join(",")}`));
      }, 10_000);
      const waiter = { test, resolve: (f: Frame) => (clearTimeout(timer), resolve(f)) };
      this.#waiters.push(waiter);
    });
  }

  seqs(chatId: string): number[] {
    return this.frames.filter((f) => f.payload.chat_id === chatId && f.type !== "ack")
      .map((f) => f.payload.seq).filter((s): s is number => typeof s === "number");
  }

  disconnected(): Promise<string> {
    return new Promise((r) => this.socket.once("disconnect", r));
  }

  close(): void {
    this.socket.close();
    assert.deepEqual(this.schemaErrors, [], "frames outside the schema");
  }
}

const MODES: Array<[string, Transports | undefined]> = [
  ["default (polling, then websocket)", undefined],
  ["websocket only", ["websocket"]],
  ["polling only", ["polling"]],
];

for (const [mode, transports] of MODES) {
  Deno.test(`socket.io ${mode}: queue, accept, messages, typing, close and rate`, async () => {
    await using server = await startTestServer();
    const op = await SioClient.connect(server, {
      transports,
      auth: { token: await server.staffToken("op-1") },
    });
    const chat = await server.createChat("alice");
    await op.next((f) => f.type === "new_chat_available" && f.payload.chat_id === chat.chat_id);
    const client = await SioClient.connect(server, {
      transports,
      auth: { token: chat.client_token },
    });
    try {
      const accepted = await op.request("accept_chat", { chat_id: chat.chat_id });
      assert.deepEqual(accepted, {
        type: "ack",
        payload: { for: "accept_chat", chat_id: chat.chat_id },
      });
      const assigned = await client.next((f) => f.type === "chat_assigned");
      assert.equal(assigned.payload.operator_id, "op-1");

      const ack = await client.request("message", { text: "hello", client_msg_id: "m1" });
      assert.equal(ack.type, "ack");
      assert.equal(ack.payload.seq, (assigned.payload.seq as number) + 1);
      const got = await op.next((f) => f.type === "message" && f.payload.message === "hello");
      assert.equal(got.payload.seq, ack.payload.seq);
      const reply = await op.request("message", { chat_id: chat.chat_id, text: "how can I help?" });
      assert.equal(reply.payload.seq, (ack.payload.seq as number) + 1);
      await client.next((f) => f.type === "message" && f.payload.seq === reply.payload.seq);

      assert.equal((await client.request("typing", { is_typing: true })).type, "ack");
      const typing = await op.next((f) => f.type === "typing");
      assert.equal(typing.payload.is_typing, true);
      assert.equal((await client.request("close_chat", { reason: "solved" })).type, "ack");
      await op.next((f) => f.type === "chat_closed");
      assert.equal((await client.request("rate", { score: 5 })).type, "ack");
      await op.next((f) => f.type === "chat_rated");
      assert.deepEqual((await client.request("ping")).type, "pong");

      const types = (await allEvents(server, chat.chat_id, chat.client_token)).map((e) => e.type);
      assert.deepEqual(types, [
        "chat_created",
        "chat_queued",
        "chat_assigned",
        "message",
        "message",
        "chat_closed",
        "chat_rated",
      ]);
      const engine = client.socket.io.engine;
      if (!transports && engine.transport.name !== "websocket") {
        await new Promise((r) => engine.once("upgrade", r));
      }
      assert.equal(engine.transport.name, transports?.[0] ?? "websocket");
    } finally {
      client.close();
      op.close();
    }
  });
}

Deno.test("socket.io reconnect resumes from last_seq with no gap, no duplicate, in order", async () => {
  await using server = await startTestServer();
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
  const chat = await server.createChat("bob");
  let client: SioClient | null = null;
  // socket.io calls `auth` on every (re)connect: the natural place for the latest seq.
  const auth = (cb: (d: object) => void) => {
    const seen = client?.seqs(chat.chat_id) ?? [];
    cb({ token: chat.client_token, ...(seen.length ? { last_seq: Math.max(...seen) } : {}) });
  };
  client = await SioClient.connect(server, { auth, reconnection: true, reconnectionDelay: 20 });
  try {
    await op.request("accept_chat", { chat_id: chat.chat_id });
    for (let i = 1; i <= 3; i++) {
      await op.request("message", { chat_id: chat.chat_id, text: `a${i}` });
    }
    await client.next((f) => f.type === "message" && f.payload.message === "a3");

    const before = Math.max(...client.seqs(chat.chat_id));
    const dropped = client.disconnected();
    client.socket.io.engine.close(); // a network drop: the manager reconnects by itself
    await dropped;
    const away: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const ack = await op.request("message", { chat_id: chat.chat_id, text: `b${i}` });
      away.push(ack.payload.seq as number);
    }
    const resumed = await client.next((f) => f.type === "resumed");
    await client.next((f) => f.type === "message" && f.payload.message === "b5");
    const seqs = client.seqs(chat.chat_id);
    assert.deepEqual(seqs, range(seqs[0], away.at(-1)!));
    assert.equal(resumed.payload.from_seq, before);

    // A fresh socket with last_seq in the query, then a `resume` event asking for it all again.
    const last = away.at(-1)!;
    const again = await SioClient.connect(server, {
      transports: ["websocket"],
      auth: { token: chat.client_token },
      query: { last_seq: last - 2 },
    });
    try {
      await again.next((f) => f.type === "resumed");
      assert.deepEqual(again.seqs(chat.chat_id), [last - 1, last]);
      const from = again.frames.length;
      const ack = await again.request("resume", { last_seq: 0 });
      assert.deepEqual(ack.payload, { for: "resume", chat_id: chat.chat_id });
      const done = await again.next((f) => f.type === "resumed", from);
      assert.deepEqual(done.payload, { chat_id: chat.chat_id, from_seq: 0, to_seq: last });
      const replayed = again.frames.slice(from).filter((f) => typeof f.payload.seq === "number");
      assert.deepEqual(replayed.map((f) => f.payload.seq), range(1, last));
    } finally {
      again.close();
    }
  } finally {
    client.close();
    await op.close();
  }
});

Deno.test("a socket.io client chats with an operator on a plain WebSocket", async () => {
  await using server = await startTestServer();
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
  const chat = await server.createChat("carol");
  const client = await SioClient.connect(server, { auth: { token: chat.client_token } });
  try {
    await op.request("accept_chat", { chat_id: chat.chat_id });
    await client.next((f) => f.type === "chat_assigned");
    const ack = await client.request("message", { text: "from socket.io" });
    const got = await op.next((f) => f.type === "message" && f.payload.seq === ack.payload.seq);
    assert.equal(got.payload.message, "from socket.io");
    await op.request("message", { chat_id: chat.chat_id, text: "from ws" });
    await client.next((f) => f.type === "message" && f.payload.message === "from ws");
  } finally {
    client.close();
    await op.close();
  }
});

Deno.test("socket.io refuses bad tokens and extra connections with an error, then disconnects", async () => {
  await using server = await startTestServer({ MAX_CONNECTIONS_PER_TOKEN: "1" });
  const cases: Array<[Open, string, number]> = [
    [{ auth: { token: "forged" } }, "unauthorized", 1008],
    [{ query: { token: "forged" }, transports: ["websocket"] }, "unauthorized", 1008],
    [{}, "unauthorized", 1008],
    [{ auth: { token: "x" }, query: { last_seq: -1 } }, "invalid_payload", 1008],
  ];
  const chat = await server.createChat("dave");
  const first = await SioClient.connect(server, { auth: { token: chat.client_token } });
  cases.push([{ auth: { token: chat.client_token } }, "too_many_connections", 4002]);
  for (const [open, code, closeCode] of cases) {
    const c = SioClient.open(server, open);
    try {
      const gone = c.disconnected();
      const err = await c.next((f) => f.type === "error");
      assert.equal(err.payload.code, code);
      const close = await c.next((f) => f.type === "close");
      assert.deepEqual(close.payload, { code: closeCode, reason: code });
      assert.equal(await gone, "io server disconnect");
    } finally {
      c.close();
    }
  }
  first.close();
});

Deno.test("socket.io: bad payloads get coded errors by ack or as events; retries are idempotent", async () => {
  await using server = await startTestServer();
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
  const chat = await server.createChat("erin");
  const client = await SioClient.connect(server, { auth: { token: chat.client_token } });
  try {
    await op.request("accept_chat", { chat_id: chat.chat_id });
    const bad = await client.request("rate", { score: 99 });
    assert.equal(bad.type, "error");
    assert.equal(bad.payload.code, "invalid_payload");
    assert.equal((await client.request("no_such_frame", {})).payload.code, "unknown_type");
    assert.equal((await client.request("message", {})).payload.code, "invalid_payload");
    client.socket.emit("message", { text: 42 }); // no ack callback: the reply comes as an event
    const evt = await client.next((f) => f.type === "error");
    assert.equal(evt.payload.code, "invalid_payload");

    const first = await client.request("message", { text: "once", client_msg_id: "same" });
    const retry = await client.request("message", { text: "once", client_msg_id: "same" });
    assert.equal(first.payload.duplicate, false);
    assert.deepEqual(retry.payload, { ...first.payload, duplicate: true });
    await op.request("message", { chat_id: chat.chat_id, text: "marker" });
    await client.next((f) => f.type === "message" && f.payload.message === "marker");
    assert.equal(client.frames.filter((f) => f.payload.message === "once").length, 1);
    const events = await allEvents(server, chat.chat_id, chat.client_token);
    assert.equal(events.filter((e) => e.payload.message === "once").length, 1);
  } finally {
    client.close();
    await op.close();
  }
});

Deno.test("socket.io: a polling peer that stops fetching is dropped as a slow consumer", async () => {
  await using server = await startTestServer({ SEND_QUEUE_MAX_BYTES: "1024" });
  const op = await WsClient.connect(server.wsUrl(await server.staffToken("op-1")));
  const chat = await server.createChat("slow");
  await op.request("accept_chat", { chat_id: chat.chat_id });
  // Raw engine.io long-polling: handshake, socket.io CONNECT with the token, then poll until the
  // catch-up is over (`resumed`), so what follows is live.
  const base = `${server.url}/socket.io/?EIO=4&transport=polling`;
  const sid = JSON.parse((await (await fetch(base)).text()).slice(1)).sid;
  const auth = JSON.stringify({ token: chat.client_token, last_seq: 0 });
  const res = await fetch(`${base}&sid=${sid}`, { method: "POST", body: `40${auth}` });
  assert.equal(await res.text(), "ok");
  while (!(await (await fetch(`${base}&sid=${sid}`)).text()).includes('"resumed"'));
  assert.equal(server.svc.hub.size, 2);
  // It stops polling: live frames pile up until the bound trips and the session is dropped.
  for (let i = 0; i < 100 && server.svc.hub.size === 2; i++) {
    await op.request("message", { chat_id: chat.chat_id, text: `flood ${i} ${"x".repeat(200)}` });
  }
  assert.equal(server.svc.hub.size, 1);
  const gone = await fetch(`${base}&sid=${sid}`);
  assert.equal(gone.status, 400);
  assert.deepEqual(await gone.json(), { code: 1, message: "Session ID unknown" });
  await op.close();
});

Deno.test("socket.io: an oversized packet closes the transport; shutdown ends open sessions", async () => {
  const server = await startTestServer();
  const chat = await server.createChat("big");
  const big = await SioClient.connect(server, {
    transports: ["websocket"],
    auth: { token: chat.client_token },
  });
  const dropped = big.disconnected();
  big.socket.emit("message", { text: "x".repeat(70_000) });
  assert.equal(await dropped, "transport close");
  big.close();

  const [polling, ws] = await Promise.all(
    (["polling", "websocket"] as const).map((t) =>
      SioClient.connect(server, { transports: [t], auth: { token: chat.client_token } })
    ),
  );
  const ended = [polling.disconnected(), ws.disconnected()];
  await server.shutdown(); // must not wait on the pending long-poll
  // A drop, not a socket.io disconnect: clients reconnect (elsewhere) and resume by themselves.
  assert.equal(await ended[1], "transport close");
  const close = await ws.next((f) => f.type === "close");
  assert.deepEqual(close.payload, { code: 1001, reason: "server_shutdown" });
  // The aborted server may cut the last poll off before the `close` event reaches the peer.
  assert.match(await ended[0], /^transport (close|error)$/);
  ws.close();
  polling.close();
});
