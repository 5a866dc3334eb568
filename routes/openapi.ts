/**
 * The REST API as one `OpenAPIHono`: the chat flow, the common and the admin routes, and the
 * OpenAPI 3 document generated from their zod schemas at `GET /api/v1/chat/openapi.json`.
 * Health, metrics and the WebSocket endpoint are plain Hono routes; they are described here too.
 */
import { type OpenAPIHono, z } from "@hono/zod-openapi";
import {
  type ApiEnv,
  ERRORS,
  json,
  newApi,
  SECURITY,
  SECURITY_SCHEMES,
  StreamQuery,
} from "../src/server/openapi.ts";
import { adminRoutes } from "./admin.ts";
import { adminStatsRoutes } from "./admin_stats.ts";
import { chatStaffRoutes } from "./chat_staff.ts";
import { chatRoutes } from "./chats.ts";
import { commonRoutes } from "./common.ts";
import type { RouteDeps } from "./deps.ts";
import { sseRoutes } from "./sse.ts";

type Registry = OpenAPIHono<ApiEnv>["openAPIRegistry"];

export const OPENAPI_PATH = "/api/v1/chat/openapi.json";

/** Mount with `app.route("/", apiRoutes(deps))`. */
export function apiRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const api = newApi();
  for (const [name, scheme] of Object.entries(SECURITY_SCHEMES)) {
    api.openAPIRegistry.registerComponent("securitySchemes", name, scheme);
  }
  api.route("/api/v1/chat", chatRoutes(d));
  api.route("/api/v1/chat", commonRoutes(d));
  api.route("/api/v1/chat/admin", adminRoutes(d));
  api.route("/api/v1/chat/admin", adminStatsRoutes(d));
  api.route("/api/v1/chat", chatStaffRoutes(d));
  api.route("/api/v1/chat", sseRoutes(d));
  for (const i of d.integrations) {
    if (!i.routes) continue;
    const sub = newApi();
    i.routes(sub);
    api.route("/api/v1/chat", sub);
  }
  describePlainRoutes(api.openAPIRegistry);

  let doc: unknown = null;
  api.get(OPENAPI_PATH, (c) => {
    doc ??= api.getOpenAPIDocument({
      openapi: "3.0.3",
      info: {
        title: "Support chat API",
        version: "1.0.0",
        description: "REST side of the support chat; the WebSocket protocol is in docs/.",
      },
      tags: [
        { name: "chats", description: "Chat flow" },
        { name: "common", description: "Queue, operators and statistics for any token" },
        { name: "client", description: "A client's own chats" },
        { name: "admin", description: "Admin token only" },
        { name: "ops", description: "Health, readiness, metrics, WebSocket" },
      ],
    });
    return c.json(doc);
  });
  return api;
}

function describePlainRoutes(registry: Registry): void {
  const tags = ["ops"];
  const status = (s: string) => json(z.object({ status: z.literal(s) }), s);
  registry.registerPath({
    method: "get",
    path: "/healthz",
    summary: "Liveness",
    tags,
    responses: { 200: status("ok") },
  });
  registry.registerPath({
    method: "get",
    path: "/readyz",
    summary: "Readiness: KV and the queue actor answer",
    tags,
    responses: { 200: status("ready"), 503: status("not_ready") },
  });
  registry.registerPath({
    method: "get",
    path: "/metrics",
    summary: "Prometheus metrics (text exposition format)",
    tags,
    responses: {
      200: { description: "Metrics", content: { "text/plain": { schema: z.string() } } },
    },
  });
  registry.registerPath({
    method: "get",
    path: "/api/v1/chat/ws/chat",
    summary: "WebSocket upgrade: the chat protocol (frames `{type, payload, ref?}`)",
    tags,
    security: SECURITY,
    request: { query: StreamQuery },
    responses: {
      101: { description: "Switching protocols" },
      400: ERRORS[400],
      401: ERRORS[401],
    },
  });
}
