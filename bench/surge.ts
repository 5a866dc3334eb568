/**
 * `deno task bench --surge …` (or `deno task bench:surge …`): a surge of new chats against many
 * online operators (issue 13). M operators connect over WebSocket; K chats are created through
 * `POST /api/v1/chat/chats` (at most `--concurrency` in flight, paced at `--rate` chats/s or as fast
 * as they are answered); fresh operator connects and `GET …/admin/queue` are timed against the
 * full queue; then the operators accept every chat (chat i by operator i mod M), paced the same.
 * Prints create and accept throughput and p50/p99, failures, and the frames and bytes each
 * operator received per second. Results: docs/BENCHMARKS.md ("Surge").
 */
import { parseArgs } from "node:util";
import { num } from "./_options.ts";
import { percentile, sleep } from "./_load.ts";
import { createChat, type CreatedChat, ErrorLog } from "./_peer.ts";
import {
  busiestThreads,
  commitStats,
  cpuSeconds,
  machineBusySeconds,
  threadCpuSeconds,
  waitForQuiet,
} from "./_report.ts";
import { Inspector } from "./_prof.ts";
import { startChildServer } from "./_server.ts";
import {
  type AcceptOutcome,
  connectOperators,
  type SurgeOperator,
  timeConnects,
} from "./_surge_ops.ts";

const HELP = `deno task bench --surge [options]

  --operators M     operators online during the surge                         [100]
  --chats K         chats created, then accepted                               [3000]
  --rate R          creates/s and accepts/s, paced; 0 = as fast as answered    [0]
  --concurrency C   creates (and accepts) in flight at most                    [50]
  --view V          operators' queue view: delta (features=queue_delta) or
                    legacy (new_chat_available / chat_removed)                 [delta]
  --connects N      fresh operator connects timed against the full queue       [10]
  --settle S        seconds to wait after the accepts before counting frames   [2]
  --server-stats    run the server through bench/_stats_main.ts: event-loop lag and
                    group-commit figures over the surge
  --server-prof F   CPU profile of the server over the creates (F.create.cpuprofile) and
                    the accepts (F.accept.cpuprofile), summarised by self time (the
                    attached inspector itself slows the server down)
  --quiet S         first wait up to S s for the machine to be idle (other
                    processes < 25% of a core)                                 [0]
  --env K=V         extra server environment (repeatable)
  --json            machine-readable result on stdout
`;

const { values: a } = parseArgs({
  args: Deno.args.filter((x) => x !== "--surge"),
  options: {
    operators: { type: "string", default: "100" },
    chats: { type: "string", default: "3000" },
    rate: { type: "string", default: "0" },
    concurrency: { type: "string", default: "50" },
    view: { type: "string", default: "delta" },
    connects: { type: "string", default: "10" },
    settle: { type: "string", default: "2" },
    quiet: { type: "string", default: "0" },
    "server-stats": { type: "boolean", default: false },
    "server-prof": { type: "string" },
    env: { type: "string", multiple: true, default: [] },
    json: { type: "boolean", default: false },
    help: { type: "boolean", default: false },
  },
});
if (a.help) {
  console.log(HELP);
  Deno.exit(0);
}
const M = Math.floor(num("operators", a.operators, 1));
const K = Math.floor(num("chats", a.chats, 1));
const rate = num("rate", a.rate, 0);
const conc = Math.floor(num("concurrency", a.concurrency, 1));
const delta = a.view === "delta";
if (!delta && a.view !== "legacy") throw new Error("--view must be delta or legacy");
const log = (msg: string) => console.error(`[surge] ${msg}`);
const env = Object.fromEntries(
  a.env.map((kv) => [kv.split("=")[0], kv.slice(kv.indexOf("=") + 1)]),
);

/** Runs `fn(i)` for i < n, at most `conc` at once, the i-th not before t0 + i / rate. */
async function paced<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out = new Array<T>(n);
  const t0 = performance.now();
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      if (rate > 0) await sleep(t0 + (i * 1000) / rate - performance.now());
      out[i] = await fn(i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(conc, n) }, worker));
  return out;
}

const summary = (xs: number[]) => {
  const s = Float64Array.from(xs).sort();
  return { p50: percentile(s, 0.5), p99: percentile(s, 0.99), max: s[s.length - 1] ?? NaN };
};

if (Number(a.quiet) > 0) {
  const busy = await waitForQuiet(Number(a.quiet));
  log(`other processes use ${busy.toFixed(0)}% of a core`);
}
const prof = a["server-prof"]?.replace(/\.cpuprofile$/, "");
const server = await startChildServer({
  stats: a["server-stats"],
  inspect: prof !== undefined,
  env: { DEFAULT_CAPACITY: String(Math.ceil(K / M) + 5), ...env },
});
const errors = new ErrorLog();
let ops: SurgeOperator[] = [];
let code = 0;
const profiler = prof && server.inspectorUrl ? await Inspector.connect(server.inspectorUrl) : null;
/** Profiles `fn` when asked to (`--server-prof`), into `<F>.<part>.cpuprofile`. */
async function profiled<T>(part: string, fn: () => Promise<T>): Promise<T> {
  if (!profiler) return await fn();
  await profiler.startProfile();
  const out = await fn();
  const file = `${prof}.${part}.cpuprofile`;
  log(`server CPU profile (${part}) written to ${file}\n${await profiler.stopProfile(file)}`);
  return out;
}
try {
  const rssStart = await server.rssKb();
  log(`server pid ${server.pid} at ${server.url}; ${M} operators, ${K} chats`);
  ops = await connectOperators(M, server.url, server.auth, delta, errors, log);
  await sleep(1000);
  const rssOps = await server.rssKb();
  const t0 = performance.now();
  for (const op of ops) op.reset(t0);
  const cpu0 = cpuSeconds(server.pid);
  const threads0 = threadCpuSeconds(server.pid);
  const busy0 = { machine: machineBusySeconds(), bench: cpuSeconds("self") };
  const stats0 = server.stats();

  // Creates.
  const createMs: number[] = [];
  const tc = performance.now();
  const chats: CreatedChat[] = await profiled("create", () =>
    paced(K, async () => {
      const t = performance.now();
      const chat = await createChat(server.url);
      createMs.push(performance.now() - t);
      return chat;
    }));
  const createS = (performance.now() - tc) / 1000;
  const cpuCreate = cpuSeconds(server.pid) - cpu0;
  const threadsCreate = busiestThreads(threads0, threadCpuSeconds(server.pid), createS);
  log(`  ${K} chats created in ${createS.toFixed(1)} s`);
  const rssQueued = await server.rssKb();

  // The full queue: fresh connects with their snapshot, and the admin view of the queue.
  const connectMs = await timeConnects(Number(a.connects), server.url, server.auth, delta, errors);
  const adminToken = await server.auth.mintStaffToken({
    sub: "bench-admin",
    role: "admin",
    ttlSeconds: 3600,
  });
  const ta = performance.now();
  const res = await fetch(`${server.url}/api/v1/chat/admin/queue?limit=50`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  const adminBytes = (await res.text()).length;
  const adminMs = performance.now() - ta;

  // Accepts.
  const cpu1 = cpuSeconds(server.pid);
  const threads1 = threadCpuSeconds(server.pid);
  const ts = performance.now();
  const outcomes: AcceptOutcome[] = await profiled(
    "accept",
    () => paced(K, (i) => ops[i % M].accept(chats[i].chat_id)),
  );
  const acceptS = (performance.now() - ts) / 1000;
  const cpuAccept = cpuSeconds(server.pid) - cpu1;
  const threadsAccept = busiestThreads(threads1, threadCpuSeconds(server.pid), acceptS);
  log(`  ${K} accepts in ${acceptS.toFixed(1)} s`);
  await sleep(Number(a.settle) * 1000);
  const windowS = (performance.now() - t0) / 1000;
  const serverCpu = cpuSeconds(server.pid) - cpu0;
  const benchCpu = cpuSeconds("self") - busy0.bench;
  const otherCpu = machineBusySeconds() - busy0.machine - serverCpu - benchCpu;
  const stats1 = server.stats();
  const rssEnd = await server.rssKb();

  const failed = outcomes.filter((o) => !o.ok);
  const byCode: Record<string, number> = {};
  for (const f of failed) byCode[f.code ?? "?"] = (byCode[f.code ?? "?"] ?? 0) + 1;
  const sum = (f: (o: SurgeOperator) => number) => ops.reduce((n, o) => n + f(o), 0);
  const buckets = ops.flatMap((o) => Array.from(o.perSecond, (n) => n ?? 0));
  const types: Record<string, number> = {};
  for (const o of ops) for (const [t, n] of o.byType) types[t] = (types[t] ?? 0) + n;
  const result = {
    operators: M,
    chats: K,
    rate,
    concurrency: conc,
    view: delta ? "delta" : "legacy",
    create: {
      per_s: K / createS,
      ms: summary(createMs),
      server_cpu_pct: (100 * cpuCreate) / createS,
      server_threads_pct: threadsCreate,
    },
    accept: {
      per_s: K / acceptS,
      ms: summary(outcomes.map((o) => o.ms)),
      failed: failed.length,
      failed_by_code: byCode,
      server_cpu_pct: (100 * cpuAccept) / acceptS,
      server_threads_pct: threadsAccept,
    },
    connect_with_full_queue_ms: summary(connectMs),
    admin_queue: { ms: adminMs, bytes: adminBytes, status: res.status },
    frames: {
      window_s: windowS,
      total: sum((o) => o.frames),
      bytes: sum((o) => o.bytes),
      queue_view: sum((o) => o.queueFrames),
      queue_view_bytes: sum((o) => o.queueBytes),
      per_operator_per_s: sum((o) => o.frames) / M / windowS,
      bytes_per_operator_per_s: sum((o) => o.bytes) / M / windowS,
      queue_view_per_operator_per_s: sum((o) => o.queueFrames) / M / windowS,
      queue_view_max_in_one_second: buckets.reduce((m, n) => Math.max(m, n), 0),
      by_type: types,
    },
    cpu_pct: {
      server: (100 * serverCpu) / windowS,
      bench: (100 * benchCpu) / windowS,
      other: Math.max(0, (100 * otherCpu) / windowS),
    },
    rss_mb: {
      start: rssStart / 1024,
      operators_online: rssOps / 1024,
      queue_full: rssQueued / 1024,
      end: rssEnd / 1024,
    },
    socket_errors: Object.fromEntries(errors.byCode),
    ...(stats0 && stats1
      ? { server_stats: commitStats(stats0, stats1), lag_max_ms: stats1.lag.maxMs }
      : {}),
  };
  if (a.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(format(result));
    const k = result.server_stats;
    if (k) {
      console.log(
        `  server: ${k.commits_per_s.toFixed(0)} commits/s, mean ${
          k.mean_commit_ms.toFixed(1)
        } ms; ` +
          `10 ms ticks late by >5/20/50 ms: ${k.loop_late_share.over5}/` +
          `${k.loop_late_share.over20}/${k.loop_late_share.over50}, worst ${
            result.lag_max_ms?.toFixed(0)
          } ms (whole run); heap ${k.heap_used_mb.toFixed(0)} MB`,
      );
    }
  }
  if (failed.length > 0 || errors.total > 0) code = 1;
} catch (err) {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : err}`);
  code = 1;
} finally {
  profiler?.close();
  for (const op of ops) op.peer.closing = true;
  await server.stop();
  for (const op of ops) op.peer.close();
}
Deno.exit(code);

function format(r: {
  operators: number;
  chats: number;
  rate: number;
  view: string;
  create: { per_s: number; ms: ReturnType<typeof summary>; server_threads_pct: object };
  accept: {
    per_s: number;
    ms: ReturnType<typeof summary>;
    failed: number;
    failed_by_code: object;
    server_threads_pct: object;
  };
  connect_with_full_queue_ms: ReturnType<typeof summary>;
  admin_queue: { ms: number; bytes: number };
  frames: Record<string, number | object>;
  rss_mb: Record<string, number>;
  cpu_pct: Record<string, number>;
}): string {
  const n = (v: number) => Math.round(v).toLocaleString("en-US");
  const ms = (s: ReturnType<typeof summary>) =>
    `p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms, max ${s.max.toFixed(1)} ms`;
  const f = r.frames as Record<string, number>;
  return [
    `surge: ${r.operators} operators (${r.view} view), ${r.chats} chats, ` +
    (r.rate ? `${n(r.rate)}/s paced` : "as fast as answered"),
    `  create: ${n(r.create.per_s)} chats/s; ${ms(r.create.ms)}`,
    `  accept: ${n(r.accept.per_s)} accepts/s; ${ms(r.accept.ms)}; failed ${r.accept.failed} ` +
    JSON.stringify(r.accept.failed_by_code),
    `  server threads (% of a core): creating ${JSON.stringify(r.create.server_threads_pct)}, ` +
    `accepting ${JSON.stringify(r.accept.server_threads_pct)}`,
    `  connect with ${n(r.chats)} waiting (until queue_snapshot): ${
      ms(r.connect_with_full_queue_ms)
    }`,
    `  GET admin/queue?limit=50: ${r.admin_queue.ms.toFixed(1)} ms, ${
      n(r.admin_queue.bytes)
    } bytes`,
    `  frames to operators over ${f.window_s.toFixed(1)} s: ${n(f.total)} (${
      (f.bytes / 2 ** 20).toFixed(1)
    } MiB); per operator per s: ${f.per_operator_per_s.toFixed(1)} frames, ${
      n(f.bytes_per_operator_per_s)
    } bytes; queue view ${
      f.queue_view_per_operator_per_s.toFixed(2)
    }/s, at most ${f.queue_view_max_in_one_second} in one second`,
    `  frame types: ${JSON.stringify(r.frames.by_type)}`,
    `  cpu over the surge (% of one core): ${
      Object.entries(r.cpu_pct).map(([k, v]) => `${k} ${v.toFixed(0)}%`).join(", ")
    }`,
    `  server RSS: ${
      Object.entries(r.rss_mb).map(([k, v]) => `${k} ${v.toFixed(0)} MB`).join(", ")
    }`,
  ].join("\n");
}
