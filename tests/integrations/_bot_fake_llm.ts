/**
 * A local fake of an OpenAI-compatible chat-completions endpoint for the bot and title tests:
 * records every request (path, Authorization header, body) and answers each with the next
 * scripted behaviour — a completion, an HTTP status, a raw body, or no answer at all until the
 * caller gives up. Loopback only, port chosen by the OS.
 */

export type Behaviour =
  /** A well-formed completion whose message content is `content`. */
  | { kind: "answer"; content: string }
  /** The same completion twice in `choices` (a duplicated answer): the client takes the first. */
  | { kind: "duplicate"; content: string }
  | { kind: "status"; status: number }
  /** A 200 with this body as is (e.g. not JSON). */
  | { kind: "raw"; body: string }
  /** Never answers; the request is held until the fake closes (the client gives up first). */
  | { kind: "hang" };

export interface SeenRequest {
  readonly path: string;
  readonly authorization: string | null;
  readonly body: {
    model: string;
    messages: Array<{ role: string; content: string }>;
    response_format?: { type: string };
  };
}

export const completion = (content: string, n = 1) => ({
  id: "chatcmpl-fake",
  object: "chat.completion",
  choices: Array.from({ length: n }, (_, index) => ({
    index,
    message: { role: "assistant", content },
    finish_reason: "stop",
  })),
});

export class FakeLlm {
  readonly requests: SeenRequest[] = [];
  readonly #script: Behaviour[] = [];
  #fallback: Behaviour;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #hanging = new Set<() => void>();
  #waiters: Array<{ n: number; resolve: () => void }> = [];

  constructor(fallback: Behaviour = { kind: "status", status: 500 }) {
    this.#fallback = fallback;
    this.#server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: () => {} },
      (req) => this.#handle(req),
    );
  }

  get url(): string {
    return `http://127.0.0.1:${this.#server.addr.port}/v1`;
  }

  /** Behaviours for the next requests, in order; after them, `always`'s (or the fallback). */
  script(...bs: Behaviour[]): this {
    this.#script.push(...bs);
    return this;
  }

  always(b: Behaviour): this {
    this.#fallback = b;
    return this;
  }

  /** Resolves once `n` requests in all have arrived. */
  received(n: number): Promise<void> {
    if (this.requests.length >= n) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push({ n, resolve }));
  }

  async close(): Promise<void> {
    for (const release of this.#hanging) release();
    await this.#server.shutdown();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #handle(req: Request): Promise<Response> {
    const body = await req.json();
    this.requests.push({
      path: new URL(req.url).pathname,
      authorization: req.headers.get("authorization"),
      body,
    });
    const b = this.#script.shift() ?? this.#fallback;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.requests.length < w.n) return true;
      w.resolve();
      return false;
    });
    switch (b.kind) {
      case "answer":
        return Response.json(completion(b.content));
      case "duplicate":
        return Response.json(completion(b.content, 2));
      case "status":
        return Response.json({ error: { message: `fake ${b.status}` } }, { status: b.status });
      case "raw":
        return new Response(b.body, { headers: { "content-type": "application/json" } });
      case "hang":
        await new Promise<void>((resolve) => {
          const release = () => {
            this.#hanging.delete(release);
            resolve();
          };
          // Released by close() (not by req.signal: Deno aborts it after normal responses too).
          this.#hanging.add(release);
        });
        return new Response("too late", { status: 503 });
    }
  }
}

/** The JSON a good bot answer carries. */
export const botJson = (
  intent: string,
  confidence: number,
  answer: string,
  quickReplies: string[] = [],
) => JSON.stringify({ intent, confidence, answer, quick_replies: quickReplies });
