/** Liveness, readiness and Prometheus metrics. */
import { Hono } from "hono";
import { renderMetrics } from "../src/server/metrics.ts";
import type { RouteDeps } from "./deps.ts";

export function healthRoutes(d: RouteDeps): Hono {
  const app = new Hono();
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    const ok = await d.ready().catch(() => false);
    return c.json({ status: ok ? "ready" : "not_ready" }, ok ? 200 : 503);
  });
  app.get(
    "/metrics",
    (c) =>
      c.body(renderMetrics(d.svc.system, d.svc, d.cluster, d.integrations), 200, {
        "content-type": "text/plain; version=0.0.4; charset=utf-8",
      }),
  );
  return app;
}
