/** Liveness, readiness and Prometheus metrics (behind METRICS_TOKEN when it is set). */
import { Hono } from "hono";
import { AppError } from "../src/errors.ts";
import { timingSafeEqual } from "../src/util/crypto.ts";
import { KAFKA_RETRY_AFTER_S } from "../src/cluster/node.ts";
import type { RouteDeps } from "./deps.ts";

/**
 * The readiness probe's own bound (ms): a node whose KV or queue does not answer within it is not
 * ready, whatever the ask timeout. Probes (compose, Kubernetes) time out after a few seconds.
 */
export const READY_TIMEOUT_MS = 2000;

export function healthRoutes(d: RouteDeps): Hono {
  const app = new Hono();
  const clock = d.handlerOptions.clock;
  app.get("/healthz", (c) => c.json({ status: "ok" }));
  app.get("/readyz", async (c) => {
    // A node that cannot reach Kafka cannot serve most actors: not ready, at once (no ask to a
    // queue on another node that could only time out).
    if (d.cluster?.kafkaUnreachable) {
      c.header("Retry-After", String(KAFKA_RETRY_AFTER_S));
      return c.json({ status: "not_ready", reason: "kafka_unreachable" }, 503);
    }
    let timer: number | undefined;
    const late = new Promise<"timeout">((resolve) => {
      timer = clock.setTimeout(() => resolve("timeout"), READY_TIMEOUT_MS);
    });
    const ok = await Promise.race([d.ready().catch(() => false), late]);
    if (timer !== undefined) clock.clearTimeout(timer);
    if (ok === true) return c.json({ status: "ready" }, 200);
    c.header("Retry-After", "1");
    return c.json({ status: "not_ready", ...(ok === "timeout" ? { reason: "timeout" } : {}) }, 503);
  });
  app.get("/metrics", async (c) => {
    const token = d.config.METRICS_TOKEN;
    if (token !== undefined) {
      const given = /^Bearer (.+)$/i.exec(c.req.header("authorization") ?? "")?.[1] ?? "";
      if (!timingSafeEqual(given, token)) {
        c.header("WWW-Authenticate", 'Bearer realm="metrics"');
        throw new AppError("unauthorized", "/metrics needs the METRICS_TOKEN bearer token");
      }
    }
    return c.body(await d.metrics.render(), 200, { "content-type": d.metrics.contentType });
  });
  return app;
}
