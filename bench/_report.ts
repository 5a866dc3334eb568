/** Results of a bench run: the record, CPU readings from /proc, text output, medians. */

export interface RunResult {
  pairs: number;
  inflight: number;
  rate: number;
  duration_s: number;
  sockets: number;
  idle_sockets: number;
  delivered_per_s: number;
  acked_per_s: number;
  latency_ms: { p50: number; p90: number; p99: number; max: number; samples: number };
  /** Rate mode: p99 of how late the bench sent against its schedule (load-generator health). */
  /** The client's send → ack round trip: p50 and p99. */
  ack_ms: { p50: number; p99: number };
  /** `--webhook`: deliveries the receiver got per second over the window. */
  webhooks_per_s?: number;
  send_lag_p99_ms: number;
  rss_kb: {
    start: number;
    before_sockets: number;
    after_idle_sockets: number;
    after_sockets: number;
    end: number;
  };
  /** (after_sockets - before_sockets) / sockets: every socket, pairs included. */
  rss_per_socket_kb: number;
  /** (after_idle_sockets - before_sockets) / idle sockets: client sockets only, no operators. */
  rss_per_idle_socket_kb: number;
  /** RSS read after a forced full GC (--server-gc). */
  rss_after_gc: boolean;
  /** CPU time over the measured window, % of one core (2 cores = 200 %); `other` is every
   * other process on the machine (other sessions' tests: load noise). */
  cpu_pct: { server: number; bench: number; other: number };
  counts: {
    sent: number;
    acked: number;
    delivered: number;
    skipped: number;
    errors: number;
  };
  errors_by_code: Record<string, number>;
  error_examples: string[];
  /** Frames other than the measured traffic received during the window, by type. */
  other_frames: Record<string, number>;
  setup_s: { chats: number; sockets: number };
  /** With --server-stats: group-commit figures over (about) the measured window. */
  server_stats?: CommitStats;
}

export interface CommitStats {
  commits_per_s: number;
  requests_per_commit: number;
  mutations_per_commit: number;
  mean_commit_ms: number;
  /** Share of commits per latency bucket (upper bounds in ms). */
  commit_ms_histogram: Record<string, number>;
  /** Share of 10 ms ticks of the server's event loop that were late by more than 5/20/50 ms. */
  loop_late_share: { over5: number; over20: number; over50: number };
  heap_used_mb: number;
  heap_total_mb: number;
  external_mb: number;
  /** Busiest server threads over the window, % of one core. */
  threads?: Record<string, number>;
}

interface StatsLine {
  at: number;
  committer: {
    commits: number;
    requests: number;
    mutations: number;
    latencySumMs: number;
    latencyBuckets: number[];
  };
  memory: { heapTotal: number; heapUsed: number; external: number };
  lag: { samples: number; over5: number; over20: number; over50: number };
}

const BUCKETS = ["0.5", "1", "2.5", "5", "10", "25", "50", "100", "250", "1000"];

export function commitStats(a: StatsLine, b: StatsLine): CommitStats {
  const commits = b.committer.commits - a.committer.commits;
  const per = (x: number) => (commits ? x / commits : 0);
  const hist: Record<string, number> = {};
  b.committer.latencyBuckets.forEach((n, i) => {
    const d = n - a.committer.latencyBuckets[i];
    if (d > 0) hist[`<=${BUCKETS[i]}`] = Math.round(100 * per(d)) / 100;
  });
  return {
    commits_per_s: commits / ((b.at - a.at) / 1000),
    requests_per_commit: per(b.committer.requests - a.committer.requests),
    mutations_per_commit: per(b.committer.mutations - a.committer.mutations),
    mean_commit_ms: per(b.committer.latencySumMs - a.committer.latencySumMs),
    commit_ms_histogram: hist,
    loop_late_share: (() => {
      const n = Math.max(1, b.lag.samples - a.lag.samples);
      const share = (k: "over5" | "over20" | "over50") =>
        Math.round((1000 * (b.lag[k] - a.lag[k])) / n) / 1000;
      return { over5: share("over5"), over20: share("over20"), over50: share("over50") };
    })(),
    heap_used_mb: b.memory.heapUsed / 2 ** 20,
    heap_total_mb: b.memory.heapTotal / 2 ** 20,
    external_mb: b.memory.external / 2 ** 20,
  };
}

const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of a process, in seconds. */
export function cpuSeconds(pid: number | "self"): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

/** Busy CPU seconds of the whole machine (all cores), from /proc/stat. */
export function machineBusySeconds(): number {
  const f = Deno.readTextFileSync("/proc/stat").split("\n")[0].trim().split(/\s+/).slice(1)
    .map(Number);
  const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
  return (total - f[3] - f[4]) / TICKS_PER_S; // minus idle and iowait
}

/**
 * Waits (up to `maxS` seconds) until the rest of the machine is quiet: less than `pct` % of one
 * core busy over one second. Returns that busy share as last measured.
 */
export async function waitForQuiet(maxS: number, pct = 25): Promise<number> {
  const deadline = performance.now() + maxS * 1000;
  for (;;) {
    const a = machineBusySeconds();
    await new Promise((r) => setTimeout(r, 1000));
    const busy = 100 * (machineBusySeconds() - a);
    if (busy < pct || performance.now() >= deadline) return busy;
  }
}

/** CPU seconds per thread name of a process. */
export function threadCpuSeconds(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const t of Deno.readDirSync(`/proc/${pid}/task`)) {
    try {
      const stat = Deno.readTextFileSync(`/proc/${pid}/task/${t.name}/stat`);
      const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // Same-named threads (V8 workers) are added up; the main thread is called "deno".
      out.set(name, (out.get(name) ?? 0) + (Number(f[11]) + Number(f[12])) / TICKS_PER_S);
    } catch { /* thread ended */ }
  }
  return out;
}

/** Busiest threads between two readings, as % of one core over `secs`. */
export function busiestThreads(
  a: Map<string, number>,
  b: Map<string, number>,
  secs: number,
): Record<string, number> {
  const rows = [...b].map(([k, v]) => [k, (100 * (v - (a.get(k) ?? 0))) / secs] as const);
  return Object.fromEntries(
    rows.filter(([, p]) => p >= 2).sort((x, y) => y[1] - x[1]).slice(0, 6)
      .map(([k, p]) => [k, Math.round(p)]),
  );
}

const n0 = (v: number) => Math.round(v).toLocaleString("en-US");
const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(v < 10 ? 2 : 1) : "-");

export function formatRun(r: RunResult, label = ""): string {
  const mode = r.rate ? `${n0(r.rate)} msgs/s paced` : "max throughput";
  const l = r.latency_ms;
  const lines = [
    `${label}pairs=${r.pairs} inflight=${r.inflight} ${mode} duration=${r.duration_s}s ` +
    `sockets=${n0(r.sockets)} (idle ${n0(r.idle_sockets)})`,
    `  setup: chats ${r.setup_s.chats.toFixed(1)} s, sockets ${r.setup_s.sockets.toFixed(1)} s`,
    `  delivered ${n0(r.delivered_per_s)} msgs/s, acked ${n0(r.acked_per_s)} msgs/s`,
    `  latency ms: p50 ${ms(l.p50)}  p90 ${ms(l.p90)}  p99 ${ms(l.p99)}  max ${ms(l.max)} ` +
    `(${n0(l.samples)} samples${r.rate ? `, send lag p99 ${ms(r.send_lag_p99_ms)}` : ""})`,
    `  ack round trip ms (client): p50 ${ms(r.ack_ms.p50)}  p99 ${ms(r.ack_ms.p99)}`,
    ...(r.webhooks_per_s === undefined
      ? []
      : [`  webhook deliveries ${n0(r.webhooks_per_s)}/s received (chat.message)`]),
    `  server RSS${r.rss_after_gc ? " (after forced GC)" : ""}: start ${mb(r.rss_kb.start)}, ` +
    `chats created ${mb(r.rss_kb.before_sockets)}, ` +
    (r.idle_sockets ? `idle sockets open ${mb(r.rss_kb.after_idle_sockets)}, ` : "") +
    `all sockets open ${mb(r.rss_kb.after_sockets)}, end ${mb(r.rss_kb.end)}`,
    `  RSS per socket: ${r.rss_per_socket_kb.toFixed(1)} KB (all sockets)` +
    (r.idle_sockets
      ? `, ${r.rss_per_idle_socket_kb.toFixed(1)} KB (idle client sockets only)`
      : ""),
    `  cpu over window: server ${r.cpu_pct.server.toFixed(0)}%, bench ${
      r.cpu_pct.bench.toFixed(0)
    }%, other processes ${r.cpu_pct.other.toFixed(0)}% (of one core; 2 cores = 200%)`,
    `  counts: sent ${n0(r.counts.sent)}, acked ${n0(r.counts.acked)}, delivered ${
      n0(r.counts.delivered)
    }, skipped ${n0(r.counts.skipped)}, errors ${n0(r.counts.errors)}`,
  ];
  if (Object.keys(r.other_frames).length) {
    lines.push(`  other frames during the window: ${JSON.stringify(r.other_frames)}`);
  }
  const k = r.server_stats;
  if (k) {
    lines.push(
      `  group commit: ${n0(k.commits_per_s)} commits/s, ${k.requests_per_commit.toFixed(1)} ` +
        `requests and ${k.mutations_per_commit.toFixed(1)} mutations per commit, mean ` +
        `${ms(k.mean_commit_ms)} ms; latency shares ${JSON.stringify(k.commit_ms_histogram)}`,
      `  server V8 heap: used ${k.heap_used_mb.toFixed(0)} MB of ${
        k.heap_total_mb.toFixed(0)
      } MB, ` +
        `external ${k.external_mb.toFixed(0)} MB`,
      `  server threads (% of a core): ${JSON.stringify(k.threads ?? {})}`,
      `  server event loop: share of 10 ms ticks late by >5/20/50 ms: ` +
        `${k.loop_late_share.over5}/${k.loop_late_share.over20}/${k.loop_late_share.over50}`,
    );
  }
  if (r.counts.errors > 0) {
    lines.push(`  errors by code: ${JSON.stringify(r.errors_by_code)}`);
    for (const e of r.error_examples) lines.push(`    ${e}`);
  }
  return lines.join("\n");
}

function mb(kb: number): string {
  return `${(kb / 1024).toFixed(1)} MB`;
}

/** Element-wise median of every numeric field (nested objects too); other fields from run 0. */
export function medianRun(runs: RunResult[]): RunResult {
  const med = (xs: number[]) => {
    const s = [...xs].sort((a, b) => a - b);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const merge = (objs: Record<string, unknown>[]): Record<string, unknown> => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(objs[0])) {
      if (typeof v === "number") out[k] = med(objs.map((o) => (o[k] as number) ?? 0));
      else if (v && typeof v === "object" && !Array.isArray(v) && k !== "errors_by_code") {
        out[k] = merge(objs.map((o) => o[k] as Record<string, unknown>));
      } else out[k] = v;
    }
    return out;
  };
  const m = merge(runs as unknown as Record<string, unknown>[]) as unknown as RunResult;
  // Errors are not a median matter: report every one seen in any run.
  m.counts.errors = runs.reduce((n, r) => n + r.counts.errors, 0);
  m.errors_by_code = {};
  for (const r of runs) {
    for (const [k, v] of Object.entries(r.errors_by_code)) {
      m.errors_by_code[k] = (m.errors_by_code[k] ?? 0) + v;
    }
  }
  m.error_examples = runs.flatMap((r) => r.error_examples).slice(0, 5);
  return m;
}
