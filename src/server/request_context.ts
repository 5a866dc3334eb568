/**
 * Hono middleware that makes every HTTP request traceable: its `x-request-id` (the caller's when
 * it is a sane one, else a new one) is echoed on the response and carried by every log line
 * written while the request is handled; its count and duration are recorded by method, route
 * pattern and status (never the raw URL: one series per route, whatever the ids in the path).
 */
import type { Context, MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import { withLogContext } from "../log.ts";
import { isStaff } from "../auth/principal.ts";
import type { Connection } from "./hub.ts";
import type { EngineMetrics } from "./metrics.ts";

/** A caller's request id is kept when it is 1–64 of `[A-Za-z0-9._-]`, else replaced. */
export const REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The route label of a request no route matched. */
export const UNMATCHED_ROUTE = "unmatched";

export function requestIds(): MiddlewareHandler {
  return async (c, next) => {
    const given = c.req.header("x-request-id");
    const id = given !== undefined && REQUEST_ID.test(given) ? given : crypto.randomUUID();
    c.header("x-request-id", id);
    await withLogContext({ request_id: id }, next);
    // An error answered by the error handler is a new response: the header goes on it too.
    if (c.res.headers.get("x-request-id") === id) return;
    try {
      c.res.headers.set("x-request-id", id);
    } catch {
      // Immutable headers (an upgrade's, a fetched response's): that response goes without.
    }
  };
}

/**
 * Runs `fn` (a connection's open, or the handling of one of its frames) with the connection's
 * id, transport and user on every line logged by it and the work it starts.
 */
export function withConnectionLog<T>(conn: Connection, fn: () => T): T {
  let fields = connectionFields.get(conn);
  if (!fields) {
    const p = conn.principal;
    fields = Object.freeze({
      connection_id: conn.id,
      transport: conn.transport ?? "ws",
      user_kind: isStaff(p.role) ? "staff" : "client",
      user_id: p.id,
    });
    connectionFields.set(conn, fields);
  }
  return withLogContext(fields, fn);
}

/** One fields object per connection, made at its first frame (not one per frame). */
const connectionFields = new WeakMap<Connection, Readonly<Record<string, unknown>>>();

/** The pattern of the route that answered (`/api/v1/chat/chats/:chatId`), or `unmatched`. */
export function routeLabel(c: Context): string {
  const path = routePath(c, -1);
  return c.res.status === 404 && path.endsWith("*") ? UNMATCHED_ROUTE : path;
}

export function httpMetrics(metrics: EngineMetrics): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    try {
      await next();
    } finally {
      const route = routeLabel(c);
      const method = c.req.method;
      metrics.httpRequests.inc({ method, route, status: String(c.res.status) });
      metrics.httpDuration.observe({ method, route }, (performance.now() - started) / 1000);
    }
  };
}
