/**
 * The server under test, as a child process: fresh KV file in a temp dir, port chosen by the OS,
 * loopback only. Also reads its RSS from /proc and, on request, opens the V8 inspector so the
 * bench can take a CPU profile of it.
 */
import { MALLOC_ARENA_MAX } from "../src/server/allocator.ts";
import { Authenticator } from "../src/auth/mod.ts";

export interface ChildServer {
  readonly url: string;
  readonly pid: number;
  readonly auth: Authenticator;
  /** ws://… address of the inspector, when started with `inspect`. */
  readonly inspectorUrl: string | null;
  /** Latest `STATS` line of a server started with `stats` (see _stats_main.ts), else null. */
  stats(): ServerStats | null;
  /** Resident set size of the server process in KiB (VmRSS). */
  rssKb(): Promise<number>;
  /** SIGTERM, then SIGKILL after `graceMs`; removes the temp dir. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface ServerOptions {
  readonly env?: Record<string, string>;
  /** Opens the V8 inspector on a loopback port (for `--server-prof`). */
  readonly inspect?: boolean;
  /** Extra `deno run` flags, e.g. `--v8-flags=...`. */
  readonly denoFlags?: string[];
  readonly startTimeoutMs?: number;
  /** Runs bench/_stats_main.ts (the same server, plus a stats line per second). */
  readonly stats?: boolean;
  /** Runs the calibration relay bench/_null_server.ts instead of the server. */
  readonly nullRelay?: boolean;
}

export interface ServerStats {
  at: number;
  committer: {
    commits: number;
    requests: number;
    mutations: number;
    failures: number;
    latencySumMs: number;
    latencyBuckets: number[];
  };
  system: { actors: number; mailboxDepth: number; maxMailboxDepth: number };
  connections: number;
  messages: number;
  lag: { samples: number; over5: number; over20: number; over50: number; maxMs: number };
  memory: { rss: number; heapTotal: number; heapUsed: number; external: number };
}

const MAIN = new URL("../src/main.ts", import.meta.url).pathname;
/** Every child still running, so an abort (watchdog, Ctrl-C) can kill one that is starting. */
const live = new Set<Deno.ChildProcess>();

/** SIGKILLs every server child at once (for aborts; normal ends use `stop`). */
export function killChildren(): void {
  for (const child of live) {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }
}
const STATS_MAIN = new URL("./_stats_main.ts", import.meta.url).pathname;
const NULL_MAIN = new URL("./_null_server.ts", import.meta.url).pathname;

export async function startChildServer(o: ServerOptions = {}): Promise<ChildServer> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bench-" });
  // A JWT_SECRET in `env` (cluster nodes share one) is also the secret of the returned `auth`.
  const secret = o.env?.JWT_SECRET ?? `bench-${crypto.randomUUID()}-${crypto.randomUUID()}`;
  const inspectPort = 20_000 + Math.floor(Math.random() * 20_000);
  const args = [
    "run",
    "-A",
    "--unstable-kv",
    ...(o.denoFlags ?? []),
    ...(Deno.env.get("BENCH_SERVER_FLAGS")?.split(" ").filter(Boolean) ?? []),
  ];
  if (o.inspect) args.push(`--inspect=127.0.0.1:${inspectPort}`);
  args.push(o.nullRelay ? NULL_MAIN : o.stats ? STATS_MAIN : MAIN);
  const child = new Deno.Command(Deno.execPath(), {
    args,
    env: {
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: `${dir}/chat.kv`,
      JWT_SECRET: secret,
      LOG_LEVEL: "warn",
      // As `deno task start` and the image run the server (src/server/allocator.ts).
      MALLOC_ARENA_MAX,
      RATE_LIMIT_PER_MIN: "1000000",
      // One load generator on one address opens every chat and socket.
      CREATE_RATE_PER_ADDRESS: "10000000",
      CREATE_RATE_GLOBAL: "10000000",
      MAX_CONNECTIONS_PER_ADDRESS: "100000",
      MAX_CONNECTIONS: "100000",
      ...o.env,
    },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child);
  void child.status.then(() => live.delete(child), () => live.delete(child));

  let stopped = false;
  const stop = async (graceMs = 3000) => {
    if (stopped) return;
    stopped = true;
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    }, graceMs);
    await child.status.catch(() => {});
    clearTimeout(timer);
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  try {
    let inspectorUrl: string | null = null;
    const inspectorSeen = Promise.withResolvers<void>();
    if (!o.inspect) inspectorSeen.resolve();
    forwardLines(child.stderr, (line) => {
      const m = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w/-]+)/.exec(line);
      if (m && !inspectorUrl) {
        inspectorUrl = m[1];
        inspectorSeen.resolve();
        return;
      }
      if (/^(Debugger listening|Debugger session|Visit chrome|Deno is listening)/.test(line)) {
        return;
      }
      console.error(`[server] ${line}`);
    });
    let latest: ServerStats | null = null;
    const port = await readPort(child.stdout, o.startTimeoutMs ?? 60_000, (line) => {
      if (line.startsWith("STATS ")) latest = JSON.parse(line.slice(6));
    });
    const noInspector = setTimeout(() => inspectorSeen.reject(new Error("no inspector URL")), 5000);
    await inspectorSeen.promise.finally(() => clearTimeout(noInspector));
    return {
      url: `http://127.0.0.1:${port}`,
      pid: child.pid,
      auth: new Authenticator({ secret, clock: { now: () => Date.now() } }),
      inspectorUrl,
      stats: () => latest,
      rssKb: () => readRssKb(child.pid),
      stop,
    };
  } catch (err) {
    await stop(0);
    throw err;
  }
}

/** Resolves with the port from the "listening" line; passes every later line to `onLine`. */
async function readPort(
  stdout: ReadableStream<Uint8Array>,
  timeoutMs: number,
  onLine: (line: string) => void,
): Promise<number> {
  const { promise, resolve, reject } = Promise.withResolvers<number>();
  const timer = setTimeout(() => reject(new Error("server did not start in time")), timeoutMs);
  let seen = "";
  forwardLines(stdout, (line) => {
    const m = /\(port (\d+)\)/.exec(line);
    if (m) resolve(Number(m[1]));
    else if (seen.length < 4000) seen += line + "\n";
    onLine(line);
  }, () => reject(new Error(`server exited before listening: ${seen}`)));
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
  }
}

function forwardLines(
  stream: ReadableStream<Uint8Array>,
  onLine: (line: string) => void,
  onEnd?: () => void,
): void {
  (async () => {
    let buf = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        onLine(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    }
    if (buf) onLine(buf);
  })().catch(() => {}).finally(() => onEnd?.());
}

export async function readRssKb(pid: number): Promise<number> {
  const status = await Deno.readTextFile(`/proc/${pid}/status`);
  const m = /VmRSS:\s+(\d+)\s+kB/.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]);
}
