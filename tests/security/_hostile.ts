/**
 * Fixtures of the hostile tests: a server in a REAL child process (src/main.ts, so its last-resort
 * handler is on and an unhandled rejection would be counted, not crash the test runner), and a
 * well-behaved chat (a client and the operator who took it) that talks before and after every
 * hostile group; every message it got acked must be stored exactly once.
 */
import assert from "node:assert/strict";
import {
  childAuth,
  type ChildServer,
  type CreatedChat,
  type Frame,
  spawnServer,
  WsClient,
  wsUrl,
} from "../integration/_harness.ts";

export const auth = childAuth();

/**
 * `fetch` without a connection pool: the children of the timeout tests close idle keep-alive
 * connections after 2 s, and a pooled connection reused just then would fail the request.
 */
export class Http {
  readonly #client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });

  fetch(url: string | URL, init: RequestInit = {}): Promise<Response> {
    return fetch(url, { ...init, client: this.#client });
  }

  /** Status, headers and text of a request (the body is always read). */
  async text(url: string | URL, init: RequestInit = {}) {
    const res = await this.fetch(url, init);
    return { status: res.status, headers: res.headers, text: await res.text() };
  }

  close(): void {
    this.#client.close();
  }
}

/** Starts a chat (anonymous, or for `clientId` with a visitor token the harness mints). */
export async function newChat(http: Http, baseUrl: string, clientId?: string) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (clientId) {
    headers.authorization = `Bearer ${(await auth.issueVisitorToken(clientId)).token}`;
  }
  const r = await http.text(`${baseUrl}/api/v1/chat/chats`, {
    method: "POST",
    headers,
    body: "{}",
  });
  assert.equal(r.status, 201, `create chat: ${r.status} ${r.text}`);
  return JSON.parse(r.text) as CreatedChat;
}

/** Every stored event of a chat, over as many pages as it takes. */
export async function history(http: Http, baseUrl: string, chatId: string, token: string) {
  const out: Frame[] = [];
  let after = 0;
  for (;;) {
    const u = `${baseUrl}/api/v1/chat/chats/${chatId}/history?after_seq=${after}&limit=500`;
    const r = await http.text(u, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(r.status, 200, r.text);
    const page = JSON.parse(r.text);
    out.push(...page.events);
    if (!page.has_more) return out;
    after = page.next_after_seq;
  }
}

export function staffToken(sub: string, role: "operator" | "lawyer" | "admin" = "operator") {
  return auth.mintStaffToken({ sub, role, ttlSeconds: 3600 });
}

/** The value of an unlabelled metric line of `/metrics`. */
export async function metric(http: Http, baseUrl: string, name: string): Promise<number> {
  const { status, text } = await http.text(`${baseUrl}/metrics`);
  assert.equal(status, 200);
  const m = new RegExp(`^${name}(?:\\{\\})? (\\S+)$`, "m").exec(text);
  assert.ok(m, `metric ${name} is missing`);
  return Number(m[1]);
}

/** Asserts a JSON REST error body is the coded shape and returns its code. */
export function codeOf(text: string): string {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    assert.fail(`expected a JSON error body, got ${JSON.stringify(text.slice(0, 200))}`);
  }
  const e = (body as { error?: Record<string, unknown> }).error;
  assert.ok(e && typeof e === "object", `no error object in ${text.slice(0, 200)}`);
  assert.equal(typeof e.code, "string", text.slice(0, 200));
  assert.equal(typeof e.message, "string", text.slice(0, 200));
  assert.equal(typeof e.retryable, "boolean", text.slice(0, 200));
  return e.code as string;
}

/** A well-behaved chat: a client and the operator who accepted it, both on WebSocket. */
export class Bystander {
  readonly acked: number[] = [];
  #n = 0;

  private constructor(
    readonly http: Http,
    readonly baseUrl: string,
    readonly chat: CreatedChat,
    readonly client: WsClient,
    readonly op: WsClient,
    readonly perCheck: number,
  ) {}

  static async start(http: Http, baseUrl: string, tag: string, perCheck = 2) {
    const opToken = await staffToken(`op-bystander-${tag}`);
    const op = await WsClient.connect(wsUrl(baseUrl, opToken));
    const chat = await newChat(http, baseUrl, `bystander-${tag}`);
    const client = await WsClient.connect(chat.ws_url);
    const ack = await op.request("accept_chat", { chat_id: chat.chat_id });
    assert.equal(ack.type, "ack", JSON.stringify(ack));
    const assigned = (f: { type: string; payload: Record<string, unknown> }) =>
      f.type === "chat_assigned" && f.payload.chat_id === chat.chat_id;
    await client.next(assigned);
    await op.next(assigned);
    return new Bystander(http, baseUrl, chat, client, op, perCheck);
  }

  /**
   * Both sides send `perCheck` messages each; then every acked message so far is in the stored
   * history exactly once, the history's seqs run 1, 2, 3, … without a gap or a repeat, and it
   * holds no message that was not acked.
   */
  async check(label: string): Promise<void> {
    assert.equal(this.client.closeEvent, null, `${label}: the bystander client was disconnected`);
    assert.equal(this.op.closeEvent, null, `${label}: the bystander operator was disconnected`);
    for (let i = 0; i < this.perCheck; i++) {
      for (const [who, ws] of [["client", this.client], ["op", this.op]] as const) {
        const id = `${who}-${++this.#n}`;
        const reply = await ws.request("message", {
          chat_id: this.chat.chat_id,
          text: `${label}: ${id}`,
          client_msg_id: id,
        });
        assert.equal(reply.type, "ack", `${label}: ${JSON.stringify(reply)}`);
        assert.equal(reply.payload.duplicate, false);
        this.acked.push(reply.payload.seq as number);
      }
    }
    const events = await history(
      this.http,
      this.baseUrl,
      this.chat.chat_id,
      this.chat.client_token,
    );
    const seqs = events.map((e) => e.payload.seq as number);
    assert.deepEqual(seqs, seqs.map((_, i) => i + 1), `${label}: stored seqs have a gap or repeat`);
    const messages = events.filter((e) => e.type === "message").map((e) => e.payload.seq);
    assert.deepEqual(
      messages,
      [...this.acked].sort((a, b) => a - b),
      `${label}: stored messages differ from the acked ones`,
    );
  }

  async close(): Promise<void> {
    await this.client.close();
    await this.op.close();
  }
}

/** A child server, its bystander chat, and the checks every hostile group ends with. */
export class Hostile {
  status: Deno.CommandStatus | null = null;

  private constructor(
    readonly child: ChildServer,
    readonly dir: string,
    readonly http: Http,
    readonly bystander: Bystander,
  ) {
    child.process.status.then((s) => this.status = s);
  }

  get url(): string {
    return this.child.url;
  }

  static async start(
    tag: string,
    env: Record<string, string>,
    opts: { perCheck?: number } = {},
  ): Promise<Hostile> {
    const dir = await Deno.makeTempDir({ prefix: `chat-hostile-${tag}-` });
    const child = await spawnServer(`${dir}/chat.kv`, { LOG_LEVEL: "error", ...env });
    const http = new Http();
    try {
      const bystander = await Bystander.start(http, child.url, tag, opts.perCheck);
      return new Hostile(child, dir, http, bystander);
    } catch (err) {
      http.close();
      await child.kill();
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  /** The process runs, answers /healthz, and no rejection or exception went unhandled. */
  async assertHealthy(label: string): Promise<void> {
    assert.equal(
      this.status,
      null,
      `${label}: the server process exited: ${JSON.stringify(this.status)}`,
    );
    assert.equal((await this.http.text(`${this.url}/healthz`)).status, 200, `${label}: /healthz`);
    assert.equal(
      await metric(this.http, this.url, "chat_unhandled_errors_total"),
      0,
      `${label}: an unhandled rejection or exception happened (see the child's stderr)`,
    );
  }

  /** Runs one hostile group between two checks of the bystander chat and of the process. */
  async group(t: Deno.TestContext, name: string, fn: () => Promise<void>): Promise<boolean> {
    // A failed group fails the test; the groups after it still run.
    return await t.step(name, async () => {
      await this.bystander.check(`before ${name}`);
      await fn();
      await this.assertHealthy(`after ${name}`);
      await this.bystander.check(`after ${name}`);
    });
  }

  /** Closes the bystander, stops the process with SIGTERM (a clean exit) and removes its data. */
  async stop(): Promise<void> {
    try {
      await this.bystander.close();
    } finally {
      this.http.close();
      const status = await this.child.kill("SIGTERM");
      await Deno.remove(this.dir, { recursive: true }).catch(() => {});
      assert.equal(status.code, 0, `the server did not exit cleanly: ${JSON.stringify(status)}`);
    }
  }
}
