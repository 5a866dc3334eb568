/**
 * A local fake of the Telegram Bot API for tests (loopback, free port): `getUpdates` with offsets
 * and long polling, `sendMessage`, `setWebhook`, `deleteWebhook`. Updates it was given are
 * returned from the requested offset on, as Telegram does (an offset confirms the updates below
 * it). Tests script failures per method (a status and body, or a request that never answers),
 * and wait on recorded calls instead of on time. The real Bot API is never called.
 */

export interface Call {
  readonly method: string;
  readonly body: Record<string, unknown>;
}

/** A scripted answer: an HTTP status and JSON body, or `"hang"` (no answer until aborted). */
export type Scripted = { status: number; body: unknown } | "hang";

interface Waiter {
  test: (c: Call) => boolean;
  resolve: (c: Call) => void;
}

export class FakeTelegram {
  readonly calls: Call[] = [];
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #token: string;
  #updates: Array<Record<string, unknown>> = [];
  readonly #scripts = new Map<string, Scripted[]>();
  #waiters: Waiter[] = [];
  /** Held long polls and hung requests, released on push or close. */
  #held = new Set<() => void>();
  #messageId = 0;

  private constructor(token: string) {
    this.#token = token;
    this.#server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  static start(token = "test"): FakeTelegram {
    return new FakeTelegram(token);
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** Makes updates available to getUpdates (and answers a waiting long poll). */
  push(...updates: Array<Record<string, unknown>>): void {
    this.#updates.push(...updates);
    this.#release();
  }

  /** The next calls of `method` get these answers, in order, before the normal behaviour. */
  script(method: string, ...answers: Scripted[]): void {
    this.#scripts.set(method, [...(this.#scripts.get(method) ?? []), ...answers]);
  }

  of(method: string): Call[] {
    return this.calls.filter((c) => c.method === method);
  }

  /** Texts sent with sendMessage to a Telegram chat. */
  sentTo(chatId: number | string): string[] {
    return this.of("sendMessage").filter((c) => String(c.body.chat_id) === String(chatId))
      .map((c) => String(c.body.text));
  }

  /**
   * Resolves with the first call (already made or future) that passes `test`; the timeout is a
   * guard against a hung test, not a synchronisation delay.
   */
  waitFor(
    test: (c: Call) => boolean,
    opts: { from?: number; timeoutMs?: number } = {},
  ): Promise<Call> {
    const found = this.calls.slice(opts.from ?? 0).find(test);
    if (found) return Promise.resolve(found);
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        test,
        resolve: (c) => (clearTimeout(timer), resolve(c)),
      };
      this.#waiters.push(waiter);
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const seen = this.calls.map((c) => c.method).join(",");
        reject(new Error(`Timed out waiting for a Telegram call; saw: ${seen}`));
      }, timeoutMs);
    });
  }

  /** The n-th (1-based) call of `method`. */
  nth(method: string, n: number): Promise<Call> {
    let seen = 0;
    return this.waitFor((c) => c.method === method && ++seen === n);
  }

  /** The first `getUpdates` from call index `from` on that asks for `offset`. */
  polled(offset: number, from = 0): Promise<Call> {
    return this.waitFor((c) => c.method === "getUpdates" && c.body.offset === offset, { from });
  }

  async close(): Promise<void> {
    this.#release();
    await this.#server.shutdown();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #release(): void {
    const held = [...this.#held];
    this.#held.clear();
    for (const r of held) r();
  }

  async #handle(req: Request): Promise<Response> {
    const m = /^\/bot([^/]+)\/(\w+)$/.exec(new URL(req.url).pathname);
    if (!m) return reply(404, { ok: false, error_code: 404, description: "Not Found" });
    const [, token, method] = m;
    const body = await req.json().catch(() => ({})) as Record<string, unknown>;
    const call = { method, body };
    this.calls.push(call);
    this.#waiters = this.#waiters.filter((w) => !(w.test(call) && (w.resolve(call), true)));
    if (token !== this.#token) {
      return reply(401, { ok: false, error_code: 401, description: "Unauthorized" });
    }
    const scripted = this.#scripts.get(method)?.shift();
    if (scripted === "hang") {
      await this.#hold(Number.POSITIVE_INFINITY);
      return reply(503, { ok: false, error_code: 503, description: "released" });
    }
    if (scripted) return reply(scripted.status, scripted.body);
    switch (method) {
      case "getUpdates":
        return await this.#getUpdates(body);
      case "sendMessage":
        return ok({ message_id: ++this.#messageId, chat: { id: body.chat_id }, text: body.text });
      case "setWebhook":
      case "deleteWebhook":
        return ok(true);
      default:
        return reply(404, { ok: false, error_code: 404, description: "Not Found: method" });
    }
  }

  async #getUpdates(body: Record<string, unknown>): Promise<Response> {
    const offset = Number(body.offset ?? 0);
    // An offset confirms every update below it: those are never sent again.
    this.#updates = this.#updates.filter((u) => Number(u.update_id) >= offset);
    if (this.#updates.length === 0) {
      await this.#hold(Number(body.timeout ?? 0) * 1000);
    }
    return ok(this.#updates.filter((u) => Number(u.update_id) >= offset).slice(0, 100));
  }

  /**
   * Waits until released (push, close) or `ms` pass. A client that gave up is not noticed
   * (`request.signal` also aborts after normal responses); its answer just goes nowhere.
   */
  #hold(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#held.delete(done);
        resolve();
      };
      const timer = Number.isFinite(ms) ? setTimeout(done, ms) : undefined;
      this.#held.add(done);
    });
  }
}

function reply(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

function ok(result: unknown): Response {
  return reply(200, { ok: true, result });
}

/** A private-chat text message update, as Telegram sends it. */
export function textUpdate(
  updateId: number,
  text: string,
  user: { id: number; first_name?: string; username?: string } = { id: 42, first_name: "Ada" },
): Record<string, unknown> {
  return {
    update_id: updateId,
    message: {
      message_id: updateId * 10,
      date: 1_767_225_600,
      chat: { id: user.id, type: "private", first_name: user.first_name, username: user.username },
      from: { id: user.id, is_bot: false, first_name: user.first_name, username: user.username },
      text,
    },
  };
}

export const rateLimited = (retryAfterS: number): Scripted => ({
  status: 429,
  body: {
    ok: false,
    error_code: 429,
    description: `Too Many Requests: retry after ${retryAfterS}`,
    parameters: { retry_after: retryAfterS },
  },
});

export const serverError: Scripted = {
  status: 500,
  body: { ok: false, error_code: 500, description: "Internal Server Error" },
};
