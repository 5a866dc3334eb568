/**
 * Human output of `deno task ops`: aligned tables and short lines for a terminal. Each renderer
 * takes the JSON an admin endpoint returned (see routes/admin.ts) and returns the text to print.
 */

type Row = Record<string, unknown>;
type Cell = string | number | boolean | null | undefined;

/** Columns padded to their widest cell; numbers right-aligned; null/undefined shown as "-". */
export function table(headers: string[], rows: Cell[][]): string {
  const text = rows.map((r) => r.map((c) => (c === null || c === undefined ? "-" : String(c))));
  const widths = headers.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]?.length ?? 0)));
  const numeric = headers.map((_, i) =>
    rows.length > 0 && rows.every((r) => typeof r[i] === "number" || r[i] == null)
  );
  const line = (cells: string[]) =>
    cells.map((c, i) => {
      if (numeric[i]) return c.padStart(widths[i]);
      return i === cells.length - 1 ? c : c.padEnd(widths[i]);
    }).join("  ").trimEnd();
  return [line(headers), ...text.map(line)].join("\n");
}

/** Key/value lines with the keys aligned. */
export function pairs(entries: Array<[string, Cell]>): string {
  const w = Math.max(...entries.map(([k]) => k.length));
  return entries.map(([k, v]) => `${(k + ":").padEnd(w + 1)}  ${v ?? "-"}`).join("\n");
}

/** 75 → "1m 15s", 3700 → "1h 01m", null → "-". */
export function duration(s: unknown): string {
  if (typeof s !== "number") return "-";
  const n = Math.round(s);
  if (n < 60) return `${n}s`;
  if (n < 3600) return `${Math.floor(n / 60)}m ${String(n % 60).padStart(2, "0")}s`;
  return `${Math.floor(n / 3600)}h ${String(Math.floor((n % 3600) / 60)).padStart(2, "0")}m`;
}

/** ISO string or ms → "2026-01-02 03:04:05Z". */
export function time(t: unknown): string {
  if (typeof t !== "string" && typeof t !== "number") return "-";
  return new Date(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function renderQueue(q: Row): string {
  const waiting = (q.waiting ?? []) as Row[];
  const active = (q.active ?? []) as Row[];
  const rate = q.service_rate_per_min === null
    ? "no service rate yet"
    : `${q.service_rate_per_min}/min`;
  // Paged answers carry the totals; older servers listed everything.
  const waitingTotal = (q.length ?? waiting.length) as number;
  const activeTotal = (q.active_total ?? active.length) as number;
  const out = [
    `Queue ${q.queue} (${q.mode}): ${waitingTotal} waiting, ${activeTotal} active, ${rate}`,
  ];
  const more = (shown: number, total: number, what: string) =>
    total > shown ? [`(${shown} of ${total} ${what} listed; --offset/--limit for more)`] : [];
  if (waiting.length) {
    out.push(
      "",
      "Waiting:",
      table(
        ["#", "CHAT", "CLIENT", "PRIO", "WAITED", "ESTIMATE", "OFFERED TO", "NOTE"],
        waiting.map((w) => [
          w.position as number,
          w.chat_id as string,
          w.client_id as string,
          w.priority as number,
          duration(w.waited_s),
          duration(w.estimated_wait_s),
          w.offered_to as string | null,
          w.requeued ? "requeued" : "",
        ]),
      ),
      ...more(waiting.length, waitingTotal, "waiting chats"),
    );
  }
  if (active.length) {
    out.push(
      "",
      "Active:",
      table(
        ["CHAT", "CLIENT", "OPERATOR", "PRIO", "ASSIGNED"],
        active.map((a) => [
          a.chat_id as string,
          a.client_id as string,
          a.operator_id as string,
          a.priority as number,
          time(a.assigned_at),
        ]),
      ),
    );
  }
  return out.join("\n");
}

export function renderOperators(ops: Row[]): string {
  if (ops.length === 0) return "No operators known yet.";
  return table(
    ["OPERATOR", "ROLE", "STATUS", "CONN", "OPEN/CAP", "HANDLED", "FIRST REPLY", "RATING"],
    ops.map((o) => {
      const s = (o.stats ?? {}) as Row;
      const conn = o.connected ? `yes (${o.connections})` : o.presence_lost_at ? "lost" : "no";
      return [
        o.operator_id as string,
        o.role as string,
        o.status as string,
        conn,
        `${o.open_chats}/${o.capacity}`,
        s.chats_handled as number,
        duration(s.first_response_avg_s),
        s.rating_avg === null ? null : `${s.rating_avg} (${s.ratings})`,
      ];
    }),
  );
}

export function renderStats(s: Row): string {
  const conns = Object.entries((s.connections ?? {}) as Record<string, number>)
    .map(([role, n]) => `${role} ${n}`).join(", ");
  const out = [pairs([
    ["Queue length", s.queue_length as number],
    ["Active chats", s.active_chats as number],
    ["Chats created", s.chats_created as number],
    ["Chats closed", s.chats_closed as number],
    ["Served", s.served as number],
    ["Wait avg", duration(s.wait_avg_s)],
    ["Wait p90", duration(s.wait_p90_s)],
    ["Messages", s.messages_total as number],
    ["Connections", `${s.connections_total} (${conns}); peak ${s.peak_connections}`],
  ])];
  const ops = Object.entries((s.operators ?? {}) as Record<string, Row>);
  if (ops.length) {
    out.push(
      "",
      table(
        ["OPERATOR", "ASSIGNED", "HANDLED", "FIRST REPLY", "RESOLUTION", "RATING"],
        ops.map(([id, o]) => [
          id,
          o.chats_assigned as number,
          o.chats_handled as number,
          duration(o.first_response_avg_s),
          duration(o.resolution_avg_s),
          o.rating_avg === null ? null : `${o.rating_avg} (${o.ratings})`,
        ]),
      ),
    );
  }
  return out.join("\n");
}

export function renderAudit(records: Row[]): string {
  if (records.length === 0) return "No audit records.";
  return table(
    ["TIME", "ACTION", "BY", "CHAT", "OPERATORS", "REASON"],
    records.map((r) => {
      const actor = r.actor as Row;
      return [
        time(r.at),
        r.action as string,
        `${actor.id} (${actor.role})`,
        r.chat_id as string | undefined,
        ((r.operator_ids ?? []) as string[]).join(",") || null,
        r.reason as string,
      ];
    }),
  );
}

export function renderOperator(o: Row): string {
  const open = `${o.open_chats} open chat${o.open_chats === 1 ? "" : "s"}`;
  return `Operator ${o.operator_id}: ${o.status}, capacity ${o.capacity}, ${open}`;
}

/** The coded error body of a failed request, as one line. */
export function renderError(status: number, body: unknown): string {
  const e = (body as { error?: { code?: string; message?: string; retryable?: boolean } })?.error;
  if (!e?.code) return `error: HTTP ${status}: ${JSON.stringify(body)}`;
  return `error: ${e.code}: ${e.message}${e.retryable ? " (retryable)" : ""} [HTTP ${status}]`;
}

/** [0,1,2,3,5,7,8] → "0-3,5,7-8"; [] → "-". */
export function ranges(ns: readonly number[]): string {
  const sorted = [...ns].sort((a, b) => a - b);
  const out: string[] = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    out.push(j === i ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return out.join(",") || "-";
}

/** `GET admin/cluster`: the live nodes, then the partitions grouped by owner. */
export function renderCluster(c: Row): string {
  if (c.mode !== "cluster") {
    return "Single node (KAFKA_BROKERS not set): no cluster, no partitions.";
  }
  const self = (c.node ?? {}) as Row;
  const nodes = (c.nodes ?? []) as Row[];
  const parts = (c.partitions ?? []) as Row[];
  const total = typeof c.command_partitions === "number" ? c.command_partitions : null;
  const live = new Set(nodes.map((n) => n.node as string));
  const owners = new Map<string, { name: string; ps: number[]; epochs: number[] }>();
  for (const p of parts) {
    const id = p.node as string;
    const o = owners.get(id) ?? { name: p.name as string, ps: [], epochs: [] };
    o.ps.push(p.partition as number);
    o.epochs.push(p.epoch as number);
    owners.set(id, o);
  }
  const span = (ns: number[]) => {
    const [lo, hi] = [Math.min(...ns), Math.max(...ns)];
    return lo === hi ? `${lo}` : `${lo}-${hi}`;
  };
  const claimed = new Set(parts.map((p) => p.partition as number));
  const unowned = total === null ? [] : [...Array(total).keys()].filter((p) => !claimed.has(p));
  const plural = (n: number, w: string) => `${n} ${w}${n === 1 ? "" : "s"}`;
  const out = [
    `Cluster: ${plural(nodes.length, "live node")}, ${
      total === null
        ? plural(claimed.size, "partition")
        : `${total - unowned.length} of ${plural(total, "partition")}`
    } owned; answered by ${self.name} (${self.id}).`,
    "",
    table(
      ["NODE", "ID", "URL", "STARTED", "LAST BEAT", "OWNS"],
      nodes.map((n) => [
        `${n.name}${n.node === self.id ? " *" : ""}`,
        n.node as string,
        n.url as string,
        time(n.started_at),
        time(n.at),
        owners.get(n.node as string)?.ps.length ?? 0,
      ]),
    ),
    "",
    "Partitions by owner:",
    table(
      ["OWNER", "ID", "LIVE", "COUNT", "EPOCHS", "PARTITIONS"],
      [...owners].sort(([, a], [, b]) => a.name.localeCompare(b.name)).map(([id, o]) => [
        o.name,
        id,
        live.has(id) ? "yes" : "NO",
        o.ps.length,
        span(o.epochs),
        ranges(o.ps),
      ]),
    ),
  ];
  if (unowned.length) out.push("", `Unowned partitions: ${ranges(unowned)}`);
  const local = c.local as Row | null;
  if (local) {
    const counters = Object.entries((local.counters ?? {}) as Record<string, number>)
      .map(([k, v]) => `${k} ${v}`).join(", ");
    out.push(
      "",
      `${self.name} (*) serves ${ranges(local.owned as number[])}; ` +
        `${local.pending_asks} pending remote asks; ${counters || "no counters"}.`,
    );
  }
  return out.join("\n");
}
