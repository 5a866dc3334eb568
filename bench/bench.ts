/**
 * `deno task bench`: load test of the real server, run as a child process with persistence on
 * (fresh KV file). Drives client–operator pairs over WebSockets on 127.0.0.1 and reports
 * delivered/acked msgs/s, client-to-operator latency, server RSS per socket and errors.
 * Options: `deno task bench --help` (bench/_options.ts); scenarios and results:
 * docs/BENCHMARKS.md. `--surge` runs the queue surge benchmark instead (bench/surge.ts).
 */
import { ensureFdLimit } from "./_fdlimit.ts";
import { type LoadResult, type Pair, percentile, runLoad, setUpPair, sleep } from "./_load.ts";
import { createChat, ErrorLog, Peer, pool } from "./_peer.ts";
import { parseOptions } from "./_options.ts";
import { HookReceiver } from "./_hooks.ts";
import { Inspector, summarizeHeap } from "./_prof.ts";
import {
  busiestThreads,
  commitStats,
  cpuSeconds,
  formatRun,
  machineBusySeconds,
  medianRun,
  type RunResult,
  threadCpuSeconds,
  waitForQuiet,
} from "./_report.ts";
import { type ChildServer, killChildren, type ServerStats, startChildServer } from "./_server.ts";

// `--surge`: the queue surge benchmark instead (bench/surge.ts); it exits when done.
if (Deno.args.includes("--surge")) await import("./surge.ts");

const opt = parseOptions(Deno.args);
const idle = Math.max(0, opt.sockets - 2 * opt.pairs);
const log = (msg: string) => console.error(`[bench] ${msg}`);

// SSE: one keep-alive connection per POST in flight besides the streams.
const posts = opt.transport === "sse" ? opt.pairs * opt.inflight : 0;
await ensureFdLimit(2 * opt.pairs + idle + posts + 512);

let current: ChildServer | null = null;
const abort = async (why: string, code: number) => {
  log(why);
  killChildren();
  await current?.stop(0);
  Deno.exit(code);
};
Deno.addSignalListener("SIGINT", () => void abort("interrupted", 130));
// Watchdog: the bench always ends, whatever hangs.
const budgetS = (opt.maxOther > 0 ? 4 : 1) * opt.repeat *
  (120 + opt.quiet + (opt.pairs + idle) / 20 + (opt.warmupMs + opt.durationMs) / 1000 + 30);
setTimeout(
  () => void abort(`watchdog: still running after ${budgetS.toFixed(0)} s`, 3),
  budgetS * 1000,
);

async function runOnce(run: number): Promise<RunResult> {
  if (opt.quiet > 0) {
    const busy = await waitForQuiet(opt.quiet);
    log(`run ${run}: other processes use ${busy.toFixed(0)}% of a core`);
  }
  const server = current = await startChildServer({
    inspect: !!opt.prof || opt.gc || !!opt.heap,
    stats: opt.stats,
    nullRelay: opt.nullRelay,
    env: opt.env,
  });
  const errors = new ErrorLog();
  const peers: Array<{ closing: boolean; close(): void }> = [];
  const hooks = opt.webhook && !opt.nullRelay ? new HookReceiver() : null;
  try {
    log(`run ${run}: server pid ${server.pid} at ${server.url}`);
    if (hooks) {
      const admin = await server.auth.mintStaffToken({
        sub: "bench",
        role: "admin",
        ttlSeconds: 3600,
      });
      await hooks.subscribe(server.url, admin);
    }
    // An attached inspector slows Deno down (it reports network events to the session), so
    // --server-gc attaches only around each RSS reading; --server-prof stays attached.
    const inspector = opt.prof && server.inspectorUrl
      ? await Inspector.connect(server.inspectorUrl)
      : null;
    /** RSS after a pause (and, with --server-gc, a forced full GC). */
    const rss = async (pauseMs: number) => {
      await sleep(pauseMs);
      if (opt.gc) {
        const gc = inspector ?? await Inspector.connect(server.inspectorUrl!);
        await gc.collectGarbage();
        if (gc !== inspector) gc.close();
        await sleep(200);
      }
      return await server.rssKb();
    };
    const rssStart = await rss(500);
    const nChats = opt.pairs + idle;
    let t = performance.now();
    const chats = await pool(
      nChats,
      opt.concurrency,
      () => createChat(server.url),
      (d) => log(`  ${d}/${nChats} chats`),
    );
    const chatsS = (performance.now() - t) / 1000;
    const rssBefore = await rss(1000);

    t = performance.now();
    const idlePeers = await pool(idle, opt.concurrency, async (i) => {
      const p = await Peer.open(chats[opt.pairs + i].ws_url, errors, opt.client);
      peers.push(p);
      return p;
    }, (d) => log(`  ${d}/${idle} idle sockets`));
    const rssIdle = idle > 0 ? await rss(1000) : rssBefore;
    const pairs: Pair[] = await pool(opt.pairs, Math.min(opt.concurrency, 32), async (i) => {
      const token = await server.auth.mintStaffToken({
        sub: `op-${i}`,
        role: "operator",
        ttlSeconds: 3600,
      });
      const p = await setUpPair(i, chats[i], token, server.url, errors, opt.client, opt.transport);
      peers.push(p.client, p.op);
      return p;
    });
    const socketsS = (performance.now() - t) / 1000;
    const sockets = idlePeers.length + 2 * pairs.length;
    const rssAfter = await rss(1500);
    if (opt.heap) {
      const heap = await Inspector.connect(server.inspectorUrl!);
      log(
        `server heap snapshot written to ${opt.heap}\n${
          summarizeHeap(await heap.heapSnapshot(opt.heap))
        }`,
      );
      heap.close();
    }
    log(
      `  ${sockets} sockets open (clients: ${opt.transport}); measuring for ${
        opt.durationMs / 1000
      } s`,
    );

    const profiler = inspector;
    let otherFrames: Record<string, number> = {};
    const cpu = { server: 0, bench: 0, machine: 0 };
    let hooksInWindow = 0;
    const statsAt: Array<ServerStats | null> = [];
    const threadsAt: Array<Map<string, number>> = [];
    const mark = (sign: number) => {
      cpu.server += sign * cpuSeconds(server.pid);
      cpu.bench += sign * cpuSeconds("self");
      cpu.machine += sign * machineBusySeconds();
      statsAt.push(server.stats());
      hooksInWindow += sign * (hooks?.received ?? 0);
      if (opt.stats) threadsAt.push(threadCpuSeconds(server.pid));
    };
    const load: LoadResult = await runLoad(pairs, {
      inflight: opt.inflight,
      rate: opt.rate,
      warmupMs: opt.warmupMs,
      durationMs: opt.durationMs,
      textSize: opt.size,
      drainMs: 10_000,
      onWindow: (edge) => {
        errors.other = edge === "start" ? new Map() : errors.other;
        if (edge === "end") otherFrames = Object.fromEntries(errors.other ?? []);
        mark(edge === "start" ? -1 : 1);
        if (edge === "start") void profiler?.startProfile();
      },
    });
    if (profiler) {
      const file = opt.repeat > 1 ? opt.prof!.replace(/(\.cpuprofile)?$/, `.${run}$1`) : opt.prof!;
      log(`server CPU profile written to ${file}\n${await profiler.stopProfile(file)}`);
    }
    const rssEnd = await rss(0);
    inspector?.close();
    const lat = load.latencies.sort();
    const secs = opt.durationMs / 1000;
    const c = load.counters;
    return {
      pairs: opt.pairs,
      inflight: opt.inflight,
      rate: opt.rate,
      duration_s: secs,
      sockets,
      idle_sockets: idlePeers.length,
      delivered_per_s: c.deliveredWin / secs,
      acked_per_s: c.ackedWin / secs,
      latency_ms: {
        p50: percentile(lat, 0.5),
        p90: percentile(lat, 0.9),
        p99: percentile(lat, 0.99),
        max: lat.length ? lat[lat.length - 1] : NaN,
        samples: lat.length,
      },
      ack_ms: ackSummary(load.ackLatencies),
      ...(hooks ? { webhooks_per_s: hooksInWindow / secs } : {}),
      send_lag_p99_ms: load.sendLagP99,
      rss_kb: {
        start: rssStart,
        before_sockets: rssBefore,
        after_idle_sockets: rssIdle,
        after_sockets: rssAfter,
        end: rssEnd,
      },
      rss_per_socket_kb: sockets ? (rssAfter - rssBefore) / sockets : 0,
      rss_per_idle_socket_kb: idlePeers.length ? (rssIdle - rssBefore) / idlePeers.length : 0,
      rss_after_gc: opt.gc,
      cpu_pct: {
        server: (100 * cpu.server) / secs,
        bench: (100 * cpu.bench) / secs,
        other: Math.max(0, (100 * (cpu.machine - cpu.server - cpu.bench)) / secs),
      },
      counts: {
        sent: c.sent,
        acked: c.acked,
        delivered: c.delivered,
        skipped: c.skipped,
        errors: errors.total,
      },
      errors_by_code: Object.fromEntries(errors.byCode),
      error_examples: errors.examples,
      other_frames: otherFrames,
      setup_s: { chats: chatsS, sockets: socketsS },
      ...(statsAt[0] && statsAt[1]
        ? {
          server_stats: {
            ...commitStats(statsAt[0], statsAt[1]),
            threads: busiestThreads(threadsAt[0], threadsAt[1], secs),
          },
        }
        : {}),
    };
  } finally {
    for (const p of peers) p.closing = true;
    await server.stop();
    for (const p of peers) p.close();
    await hooks?.close();
    current = null;
  }
}

const runs: RunResult[] = [];
/** Runs redone because other processes were busy during the window (--max-other). */
const discarded: RunResult[] = [];
let failed = false;
try {
  for (let i = 1; i <= opt.repeat; i++) {
    const r = await runOnce(i);
    const noisy = opt.maxOther > 0 && r.cpu_pct.other > opt.maxOther;
    if (noisy && discarded.length < 3 * opt.repeat) {
      log(`run ${i}: other processes used ${r.cpu_pct.other.toFixed(0)}% of a core; redoing it`);
      discarded.push(r);
      i--;
      continue;
    }
    runs.push(r);
    if (!opt.json) console.log(formatRun(r, opt.repeat > 1 ? `run ${i}: ` : ""));
    if (i < opt.repeat) await sleep(2000);
  }
} catch (err) {
  failed = true;
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : err}`);
}
if (runs.length > 0) {
  const med = medianRun(runs);
  if (opt.json) console.log(JSON.stringify({ median: med, runs, discarded }, null, 2));
  else if (runs.length > 1) console.log(formatRun(med, `median of ${runs.length}: `));
  if (discarded.length) log(`${discarded.length} noisy run(s) redone (see --json "discarded")`);
}
Deno.exit(failed || runs.some((r) => r.counts.errors > 0) ? 1 : 0);

/** p50 and p99 of the client's send → ack round trips. */
function ackSummary(values: Float64Array): { p50: number; p99: number } {
  const sorted = values.sort();
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}
