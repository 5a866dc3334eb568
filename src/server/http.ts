/** REST plumbing: coded JSON errors in one place, body limits, bearer tokens, client addresses. */
import type { Context, Hono, MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { AppError, toAppError } from "../errors.ts";
import { clientAddrOf } from "./edge/upgrade.ts";
import type { Logger } from "../log.ts";

export function installErrorHandling(app: Hono, log: Logger): void {
  app.onError((err, c) => {
    const e = cutOff(err) ?? toAppError(err);
    if (e.code === "internal") log.error("request failed", { path: c.req.path, err: err });
    // A retryable 503 says when to come back (an error may carry its own, e.g. Kafka down).
    if (e.status === 503) {
      c.header("Retry-After", String((e as { retryAfterS?: number }).retryAfterS ?? 1));
    }
    return c.json({ error: e.toWire() }, e.status as 400);
  });
  app.notFound((c) =>
    c.json(
      { error: new AppError("not_found", `No route ${c.req.method} ${c.req.path}`).toWire() },
      404,
    )
  );
}

/**
 * A request body the client (or the edge's body timeout) cut off mid-way: the client's doing,
 * not the server's, so it is a coded 400, not an `internal` error logged with a stack.
 */
function cutOff(err: unknown): AppError | null {
  const aborted = err instanceof Deno.errors.BadResource ||
    err instanceof Deno.errors.Interrupted ||
    err instanceof Deno.errors.ConnectionReset ||
    (err instanceof Error &&
      (err.name === "AbortError" || /body.*(abort|clos|cancel)/i.test(err.message)));
  return aborted
    ? new AppError("invalid_payload", "The request body was cut off", { cause: err })
    : null;
}

/** The client's address as the edge saw it (`edge/upgrade.ts`), else "unknown". */
export function clientAddress(c: Context): string {
  return clientAddrOf(c.req.raw, c.env as { remoteAddr: Deno.Addr } | undefined);
}

/**
 * Every REST body is bounded: a declared length over the limit is refused with 413
 * `body_too_large` before a byte is read, a chunked body as soon as it passes the limit. Routes
 * that cap their own bodies with their own limit and code (uploads: `file_too_large`; SSE sends)
 * are named in `own`.
 */
export function bodyLimits(maxBytes: number, own: (method: string, path: string) => boolean) {
  const limit = bodyLimit({
    maxSize: maxBytes,
    onError: () => {
      throw new AppError("body_too_large", `Request bodies are limited to ${maxBytes} bytes`);
    },
  });
  const mw: MiddlewareHandler = (c, next) =>
    own(c.req.method, c.req.path) ? next() : limit(c, next);
  return mw;
}

/** Token from `Authorization: Bearer …` or the `token` query parameter. */
export function tokenOf(c: Context): string | undefined {
  const h = c.req.header("authorization");
  if (h?.toLowerCase().startsWith("bearer ")) return h.slice(7).trim();
  return c.req.query("token") ?? undefined;
}

/**
 * A short key for a token (FNV-1a, 64-bit, over UTF-16 code units): groups connections per token
 * without keeping it. Computed in four 16-bit limbs, since it runs on every SSE send and BigInt
 * arithmetic per character cost more than the rest of the request's routing.
 */
export function tokenKeyOf(token: string | undefined): string {
  const t = token ?? "";
  let h0 = 0x2325, h1 = 0x8422, h2 = 0x9ce4, h3 = 0xcbf2; // 0xcbf29ce484222325
  for (let i = 0; i < t.length; i++) {
    h0 ^= t.charCodeAt(i);
    // h * 0x100000001b3 mod 2^64 = h * 0x1b3 + (h << 40)
    const t0 = h0 * 0x1b3;
    const t1 = h1 * 0x1b3 + (t0 >>> 16);
    const t2 = h2 * 0x1b3 + (t1 >>> 16) + (h0 << 8);
    const t3 = h3 * 0x1b3 + (t2 >>> 16) + (h1 << 8);
    h0 = t0 & 0xffff;
    h1 = t1 & 0xffff;
    h2 = t2 & 0xffff;
    h3 = t3 & 0xffff;
  }
  const hex = (n: number) => n.toString(16).padStart(4, "0");
  return (hex(h3) + hex(h2) + hex(h1) + hex(h0)).replace(/^0+(?=.)/, "");
}

/**
 * At most `limit` bytes of a body, or null as soon as there are more: the stream is cancelled
 * there, so no more than the limit is ever held. A missing body is empty.
 */
export async function readCapped(
  body: ReadableStream<Uint8Array> | null,
  limit: number,
): Promise<Uint8Array<ArrayBuffer> | null> {
  if (!body) return new Uint8Array();
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      return null;
    }
    chunks.push(value);
  }
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
