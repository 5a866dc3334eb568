/** Liveness and readiness. */
import { Hono } from "hono";
import type { RouteDeps } from "./deps.ts";

export function healthRoutes(d: RouteDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const ok = await d.ready().catch(() => false);
    return c.json({ status: ok ? "ready" : "not_ready" }, ok ? 200 : 503);
  });
  return app;
}
