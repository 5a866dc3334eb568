/**
 * A local webhook receiver for the tests (loopback, free port): records every request, answers
 * from a script of planned replies (default 200), checks signatures, and dedupes deliveries by
 * `X-Chat-Delivery` with `dedup.ts` as a real receiver would. Tests wait on its requests, not time.
 */
import { forget, seen } from "../../src/integrations/dedup.ts";
import { verifySignature } from "../../src/integrations/webhooks/sign.ts";
import type { WebhookPayload } from "../../src/integrations/webhooks/events.ts";

export interface Received {
  readonly path: string;
  readonly headers: Headers;
  readonly body: string;
  readonly payload: WebhookPayload;
  readonly delivery: string;
  /** False when `X-Chat-Delivery` was already processed (a retry or replay). */
  readonly fresh: boolean;
}

/** One planned answer: a status (with headers), or hold the request until `release` resolves. */
export type Plan =
  | { status: number; headers?: Record<string, string> }
  | { hold: Promise<void>; status?: number };

export class Receiver {
  readonly requests: Received[] = [];
  /** Payloads processed once each (what a deduping receiver acts on). */
  readonly processed: WebhookPayload[] = [];
  readonly url: string;
  /** Most requests it was answering at once. */
  maxInFlight = 0;
  #inFlight = 0;
  readonly #server: Deno.HttpServer;
  readonly #kv: Deno.Kv;
  readonly #plans = new Map<string, Plan[]>();
  readonly #closing = Promise.withResolvers<void>();
  #waiters: Array<{ test: (r: Received) => boolean; resolve: (r: Received) => void }> = [];

  private constructor(server: Deno.HttpServer, kv: Deno.Kv, port: number) {
    this.#server = server;
    this.#kv = kv;
    this.url = `http://127.0.0.1:${port}`;
  }

  static async start(): Promise<Receiver> {
    const kv = await Deno.openKv(":memory:");
    let self: Receiver | null = null;
    const { promise, resolve } = Promise.withResolvers<number>();
    const server = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen: (a) => resolve(a.port) },
      (req) => self!.#handle(req),
    );
    self = new Receiver(server, kv, await promise);
    return self;
  }

  /** Answers the next requests to `path` (default `/hook`) with these, in order. */
  plan(path: string, ...plans: Plan[]): void {
    this.#plans.set(path, [...(this.#plans.get(path) ?? []), ...plans]);
  }

  /** Requests to `path`, in arrival order. */
  at(path: string): Received[] {
    return this.requests.filter((r) => r.path === path);
  }

  /** The first request from index `from` on that matches (a guard timeout, not a delay). */
  next(test: (r: Received) => boolean, from = 0, timeoutMs = 10_000): Promise<Received> {
    const found = this.requests.slice(from).find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const waiter = {
        test,
        resolve: (r: Received) => (clearTimeout(timer), resolve(r)),
      };
      this.#waiters.push(waiter);
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        const seenTypes = this.requests.map((r) => `${r.path}:${r.payload.type}`).join(", ");
        reject(new Error(`Timed out waiting for a webhook request; got: ${seenTypes}`));
      }, timeoutMs);
    });
  }

  async #handle(req: Request): Promise<Response> {
    const path = new URL(req.url).pathname;
    const body = await req.text();
    const delivery = req.headers.get("x-chat-delivery") ?? "";
    const plan = this.#plans.get(path)?.shift() ?? { status: 200 };
    const status = plan.status ?? 200;
    const ok = status >= 200 && status < 300;
    // A real receiver: skip a delivery id it has handled; forget it again when handling fails.
    const key = `${path}:${delivery}`;
    const fresh = !(await seen(this.#kv, "webhooks", key, 3_600_000));
    if (fresh && !ok) await forget(this.#kv, "webhooks", key);
    const payload = JSON.parse(body) as WebhookPayload;
    if (fresh && ok) this.processed.push(payload);
    const r: Received = { path, headers: req.headers, body, payload, delivery, fresh };
    this.requests.push(r);
    this.#waiters = this.#waiters.filter((w) => !(w.test(r) && (w.resolve(r), true)));
    this.#inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.#inFlight);
    try {
      // Closing releases held requests, so a failed test ends instead of hanging.
      if ("hold" in plan) await Promise.race([plan.hold, this.#closing.promise]);
      const headers = "headers" in plan ? plan.headers : undefined;
      return new Response(status === 204 ? null : "ok", {
        status,
        ...(headers ? { headers } : {}),
      });
    } finally {
      this.#inFlight--;
    }
  }

  async close(): Promise<void> {
    this.#closing.resolve();
    await this.#server.shutdown();
    this.#kv.close();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** True if the request's signature checks out under `secret`. */
export function signedWith(r: Received, secret: string): Promise<boolean> {
  return verifySignature(secret, r.body, r.headers.get("x-chat-signature"));
}
