/**
 * Admin statistics over a chosen range of days, mounted at `/api/v1/chat/admin`:
 * `GET /stats/range?from=YYYY-MM-DD&to=YYYY-MM-DD&tz=&group=day|operator|queue` answers totals
 * (wait, first response, resolution, ratings and CSAT) and a series for charts, summed from the
 * hourly counters session events write (src/server/range_stats.ts). Admin token only.
 */
import { createRoute, type OpenAPIHono, z } from "@hono/zod-openapi";
import { AppError } from "../src/errors.ts";
import { type ApiEnv, authed, ERRORS, json, newApi, SECURITY } from "../src/server/openapi.ts";
import { MAX_RANGE_DAYS, rangeStats } from "../src/server/range_stats.ts";
import { isTimeZone } from "../src/server/transcript.ts";
import type { RouteDeps } from "./deps.ts";

const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "a date YYYY-MM-DD");

const RangeQuery = z.object({
  from: Day,
  to: Day,
  tz: z.string().max(64).default("UTC")
    .openapi({ description: "IANA time zone whose days are counted (default UTC)" }),
  group: z.enum(["day", "operator", "queue"]).default("day"),
});

const seconds = z.number().nullable();

const MetricsSchema = z.object({
  chats_created: z.number().int(),
  chats_closed: z.number().int(),
  served: z.number().int().openapi({ description: "Chats taken from the queue" }),
  wait_avg_s: seconds,
  first_responses: z.number().int(),
  first_response_avg_s: seconds
    .openapi({ description: "From the chat's start to the first staff answer" }),
  resolved: z.number().int().openapi({ description: "Chats closed after an operator had them" }),
  resolution_avg_s: seconds.openapi({ description: "From the chat's start to its close" }),
  ratings: z.number().int(),
  rating_avg: z.number().nullable(),
  csat: z.number().nullable().openapi({ description: "Share of ratings 4 or 5 (0–1)" }),
  ratings_by_score: z.record(z.string(), z.number().int()),
});

const RangeStatsSchema = z.object({
  from: z.string(),
  to: z.string(),
  tz: z.string(),
  group: z.enum(["day", "operator", "queue"]),
  totals: MetricsSchema,
  series: z.array(MetricsSchema.extend({
    key: z.string().openapi({ description: "The day, operator id or queue name" }),
    name: z.string().optional().openapi({ description: "An operator's display name" }),
  })),
}).openapi("RangeStats");

/** Mounted at `/api/v1/chat/admin`. */
export function adminStatsRoutes(d: RouteDeps): OpenAPIHono<ApiEnv> {
  const app = newApi();
  const route = createRoute({
    method: "get",
    path: "/stats/range",
    summary: `Statistics over days from..to (at most ${MAX_RANGE_DAYS}) in a time zone: ` +
      "totals and a series per day, operator or queue",
    tags: ["admin"],
    security: SECURITY,
    middleware: [authed(d.auth, ["admin"])] as const,
    request: { query: RangeQuery },
    responses: { 200: json(RangeStatsSchema, "Totals and series"), ...ERRORS },
  });
  app.openapi(route, async (c) => {
    const q = c.req.valid("query");
    if (!isTimeZone(q.tz)) throw new AppError("invalid_payload", `Unknown time zone ${q.tz}`);
    const names = d.svc.names;
    const result = await rangeStats(d.kv, q, async (ids) => {
      await names.load(ids);
      return (id) => names.cached(id);
    });
    return c.json(result, 200);
  });
  return app;
}
