/** REST plumbing: coded JSON errors in one place, bearer tokens. */
import type { Context, Hono } from "hono";
import { AppError, toAppError } from "../errors.ts";
import type { Logger } from "../log.ts";

export function installErrorHandling(app: Hono, log: Logger): void {
  app.onError((err, c) => {
    const e = toAppError(err);
    if (e.code === "internal") log.error("request failed", { path: c.req.path, err: err });
    return c.json({ error: e.toWire() }, e.status as 400);
  });
  app.notFound((c) =>
    c.json(
      { error: new AppError("not_found", `No route ${c.req.method} ${c.req.path}`).toWire() },
      404,
    )
  );
}

/** Token from `Authorization: Bearer …` or the `token` query parameter. */
export function tokenOf(c: Context): string | undefined {
  const h = c.req.header("authorization");
  if (h?.toLowerCase().startsWith("bearer ")) return h.slice(7).trim();
  return c.req.query("token") ?? undefined;
}

/** A short key for a token (FNV-1a, 64-bit): groups connections per token without keeping it. */
export function tokenKeyOf(token: string | undefined): string {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < (token ?? "").length; i++) {
    h ^= BigInt(token!.charCodeAt(i));
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16);
}
