/**
 * Statistics that can be summed over any range of time: hourly buckets (UTC hours) of KV `sum`
 * counters, written by session events in the same atomic as the event (so they are exactly as
 * durable as the chat), per scope: `all`, `queue:<name>` and `op:<staff id>`. A reader adds up
 * the hours of a range (src/server/range_stats.ts); an hour is the finest grain, so days in any
 * time zone with whole-hour offsets are exact.
 *
 * Key: `["stats","h",scope,"YYYY-MM-DDTHH",field]` → KvU64, plus `["stats","scope",scope]` (a
 * `max` of 1) so readers know which scopes exist. Support chats only: lawyer chats are not
 * queued, answered or rated as support is. Events stored before these counters existed are in
 * no bucket.
 */
import type { Envelope, KvWrite } from "../src/runtime/entity.ts";
import type { SessionEvent, SessionState } from "./_session_types.ts";

export const RANGE_PREFIX = ["stats", "h"] as const;
export const SCOPE_PREFIX = ["stats", "scope"] as const;

export const RANGE_FIELDS = [
  "created",
  "closed",
  /** Chats taken from the queue, and the sum of their waits (ms). */
  "served",
  "wait_ms",
  /** First staff answers, and the sum of the times from the chat's start to them (ms). */
  "frt_n",
  "frt_ms",
  /** Chats closed after an operator had them, and the sum of their lifetimes (ms). */
  "res_n",
  "res_ms",
  "rated",
  "rating_sum",
  "r1",
  "r2",
  "r3",
  "r4",
  "r5",
] as const;

export type RangeField = typeof RANGE_FIELDS[number];

/** The UTC hour of a time, as the bucket's key part: `2026-01-05T13`. */
export function hourKey(ms: number): string {
  return new Date(ms).toISOString().slice(0, 13);
}

export const rangeKey = (scope: string, hour: string, field: RangeField): Deno.KvKey => [
  ...RANGE_PREFIX,
  scope,
  hour,
  field,
];

const opScope = (id: string) => `op:${id}`;
const queueScope = (name: string) => `queue:${name}`;

/** The counters one session event adds to, in the hour it happened. */
export function rangeWrites(
  before: SessionState,
  env: Envelope<SessionEvent>,
  after: SessionState,
): KvWrite[] {
  if (after.kind !== "support") return [];
  const e = env.event;
  const hour = hourKey(env.at);
  const out: KvWrite[] = [];
  const scopes = (operatorId: string | null) =>
    operatorId === null
      ? ["all", queueScope(after.queue)]
      : ["all", queueScope(after.queue), opScope(operatorId)];
  const add = (operatorId: string | null, counts: Partial<Record<RangeField, number>>) => {
    for (const scope of scopes(operatorId)) {
      out.push({ op: "max", key: [...SCOPE_PREFIX, scope], n: 1n });
      for (const [field, n] of Object.entries(counts) as [RangeField, number][]) {
        out.push({
          op: "sum",
          key: rangeKey(scope, hour, field),
          n: BigInt(Math.max(0, Math.round(n))),
        });
      }
    }
  };
  const start = before.queuedAt ?? before.createdAt;
  switch (e.type) {
    case "created":
      add(null, { created: 1 });
      break;
    case "assigned":
      add(e.operatorId, { served: 1, wait_ms: e.at - (before.queuedAt ?? e.at) });
      break;
    case "message": {
      const first = before.firstResponseAt === null && after.firstResponseAt !== null;
      if (first && e.senderRole !== "client" && start !== null) {
        add(e.senderId, { frt_n: 1, frt_ms: e.at - start });
      }
      break;
    }
    case "closed":
      add(before.operatorId, {
        closed: 1,
        ...(before.operatorId !== null && before.createdAt !== null
          ? { res_n: 1, res_ms: e.at - before.createdAt }
          : {}),
      });
      break;
    case "rated":
      add(after.operatorId, { rated: 1, rating_sum: e.score, [`r${e.score}`]: 1 });
      break;
    default:
      break;
  }
  return out;
}
