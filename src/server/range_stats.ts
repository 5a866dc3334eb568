/**
 * Statistics over a chosen range of days (`GET /admin/stats/range`): the hourly counters session
 * events write (actors/_stats_range.ts) summed over the local days `from`..`to` of a time zone,
 * as totals plus a series per day, operator or queue — waits, first response, resolution, CSAT.
 * An hour belongs to the local day its start falls in; in zones whose offset is not a whole
 * number of hours the hour around local midnight counts to one side. Data stored before these
 * counters existed is in no range.
 */
import {
  RANGE_FIELDS,
  RANGE_PREFIX,
  type RangeField,
  SCOPE_PREFIX,
} from "../../actors/_stats_range.ts";
import { AppError } from "../errors.ts";

export type RangeGroup = "day" | "operator" | "queue";

/** Longest range one request may ask for (days, both ends included). */
export const MAX_RANGE_DAYS = 366;

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const DATE = /^\d{4}-\d{2}-\d{2}$/;

type Counts = Record<RangeField, number>;

const zero = (): Counts => Object.fromEntries(RANGE_FIELDS.map((f) => [f, 0])) as Counts;
const round1 = (n: number) => Math.round(n * 10) / 10;
const avgS = (sumMs: number, n: number) => (n ? round1(sumMs / n / 1000) : null);

/** The figures of one range, day, operator or queue. */
export function metrics(c: Counts) {
  return {
    chats_created: c.created,
    chats_closed: c.closed,
    served: c.served,
    wait_avg_s: avgS(c.wait_ms, c.served),
    first_responses: c.frt_n,
    first_response_avg_s: avgS(c.frt_ms, c.frt_n),
    resolved: c.res_n,
    resolution_avg_s: avgS(c.res_ms, c.res_n),
    ratings: c.rated,
    rating_avg: c.rated ? round1(c.rating_sum / c.rated) : null,
    /** Share of ratings that are 4 or 5 (0–1). */
    csat: c.rated ? Math.round(((c.r4 + c.r5) / c.rated) * 1000) / 1000 : null,
    ratings_by_score: { "1": c.r1, "2": c.r2, "3": c.r3, "4": c.r4, "5": c.r5 },
  };
}

export type Metrics = ReturnType<typeof metrics>;

/** Parses `YYYY-MM-DD` into ms at UTC midnight; throws `invalid_payload` otherwise. */
function dateMs(date: string, name: string): number {
  const [y, m, d] = date.split("-").map(Number);
  const ms = Date.UTC(y, m - 1, d);
  if (!DATE.test(date) || new Date(ms).toISOString().slice(0, 10) !== date) {
    throw new AppError("invalid_payload", `${name} must be a date YYYY-MM-DD, got ${date}`);
  }
  return ms;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

function partsOf(ms: number, tz: string): Record<string, number> {
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    });
    if (formatters.size > 100) formatters.clear();
    formatters.set(tz, f);
  }
  return Object.fromEntries(
    f.formatToParts(new Date(ms)).filter((p) => p.type !== "literal").map((p) => [
      p.type,
      Number(p.value),
    ]),
  );
}

/** Local time minus UTC at `ms`, in ms. */
function offsetAt(ms: number, tz: string): number {
  const p = partsOf(ms, tz);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) -
    (ms - (((ms % 1000) + 1000) % 1000));
}

/** The instant local midnight starts the day `utcMidnightMs` names, in `tz`. */
export function zonedMidnight(utcMidnightMs: number, tz: string): number {
  let t = utcMidnightMs - offsetAt(utcMidnightMs, tz);
  const again = utcMidnightMs - offsetAt(t, tz);
  if (again !== t) t = again;
  return t;
}

/** `YYYY-MM-DD` of `ms` in `tz`. */
export function localDate(ms: number, tz: string): string {
  const p = partsOf(ms, tz);
  const pad = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${pad(p.year, 4)}-${pad(p.month)}-${pad(p.day)}`;
}

const hourKeyOf = (ms: number) => new Date(ms).toISOString().slice(0, 13);
const ceilHour = (ms: number) => Math.ceil(ms / HOUR_MS) * HOUR_MS;

export interface RangeRequest {
  readonly from: string;
  readonly to: string;
  readonly tz: string;
  readonly group: RangeGroup;
}

/** Sums the counters of the range; `nameOf` gives operators' display names for the series. */
export async function rangeStats(
  kv: Deno.Kv,
  q: RangeRequest,
  nameOf: (ids: string[]) => Promise<(id: string) => string | undefined>,
) {
  const from = dateMs(q.from, "from");
  const to = dateMs(q.to, "to");
  if (to < from) throw new AppError("invalid_payload", "to must not be before from");
  const days = (to - from) / DAY_MS + 1;
  if (days > MAX_RANGE_DAYS) {
    throw new AppError("invalid_payload", `A range has at most ${MAX_RANGE_DAYS} days`);
  }
  const startHour = hourKeyOf(ceilHour(zonedMidnight(from, q.tz)));
  const endHour = hourKeyOf(ceilHour(zonedMidnight(to + DAY_MS, q.tz)));

  /** Every counter of one scope in the range, added into `into(hour)`. */
  const sum = async (scope: string, into: (hour: string) => Counts) => {
    const iter = kv.list<Deno.KvU64>({
      start: [...RANGE_PREFIX, scope, startHour],
      end: [...RANGE_PREFIX, scope, endHour],
    });
    for await (const e of iter) {
      const [, , , hour, field] = e.key as string[];
      const row = into(hour);
      if (Object.hasOwn(row, field)) row[field as RangeField] += Number(e.value.value);
    }
  };

  const totals = zero();
  const byDay = new Map<string, Counts>();
  const dayOf = new Map<string, string>();
  await sum("all", (hour) => {
    if (q.group !== "day") return totals;
    let day = dayOf.get(hour);
    if (day === undefined) dayOf.set(hour, day = localDate(Date.parse(`${hour}:00:00Z`), q.tz));
    let row = byDay.get(day);
    if (!row) byDay.set(day, row = zero());
    return row;
  });
  if (q.group === "day") {
    for (const row of byDay.values()) for (const f of RANGE_FIELDS) totals[f] += row[f];
  }

  let series: Array<{ key: string; name?: string } & Metrics>;
  if (q.group === "day") {
    series = Array.from({ length: days }, (_, i) => {
      const key = new Date(from + i * DAY_MS).toISOString().slice(0, 10);
      return { key, ...metrics(byDay.get(key) ?? zero()) };
    });
  } else {
    const prefix = q.group === "operator" ? "op:" : "queue:";
    const scopes: string[] = [];
    for await (const e of kv.list({ prefix: [...SCOPE_PREFIX] })) {
      const scope = e.key[e.key.length - 1] as string;
      if (scope.startsWith(prefix)) scopes.push(scope);
    }
    const rows = await Promise.all(scopes.map(async (scope) => {
      const row = zero();
      await sum(scope, () => row);
      return { id: scope.slice(prefix.length), row };
    }));
    const used = rows.filter((r) => RANGE_FIELDS.some((f) => r.row[f] > 0));
    const name = q.group === "operator" ? await nameOf(used.map((r) => r.id)) : () => undefined;
    series = used.map(({ id, row }) => {
      const n = name(id);
      return { key: id, ...(n ? { name: n } : {}), ...metrics(row) };
    });
  }
  return { from: q.from, to: q.to, tz: q.tz, group: q.group, totals: metrics(totals), series };
}
