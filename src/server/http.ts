/** REST plumbing: coded JSON errors in one place, body validation, bearer tokens. */
import type { Context, Hono } from "hono";
import type { z } from "zod";
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

/** Parses a JSON body with a zod schema; bad JSON or schema → `invalid_payload`/`bad_json`. */
export async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  let body: unknown = {};
  const text = await c.req.text();
  if (text.trim() !== "") {
    try {
      body = JSON.parse(text);
    } catch {
      throw new AppError("bad_json", "Request body is not valid JSON");
    }
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join(".") || "body"}: ${i.message}`);
    throw new AppError("invalid_payload", `Invalid body: ${where.join("; ")}`);
  }
  return parsed.data;
}

/** Token from `Authorization: Bearer …` or the `token` query parameter. */
export function tokenOf(c: Context): string | undefined {
  const h = c.req.header("authorization");
  if (h?.toLowerCase().startsWith("bearer ")) return h.slice(7).trim();
  return c.req.query("token") ?? undefined;
}
