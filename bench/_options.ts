/** Command-line options of `deno task bench` (parsed with node:util parseArgs). */
import { parseArgs } from "node:util";
import { type Transport, TRANSPORTS } from "./_client_peer.ts";
import type { ClientKind } from "./_peer.ts";

export const HELP = `deno task bench [options]

  --pairs N         client-operator pairs (chats with traffic)               [200]
  --inflight W      messages per pair sent and not yet acked, at most        [50]
  --duration S      measured window in seconds, after the warm-up            [10]
  --warmup S        seconds of traffic before the window                     [2]
  --rate R          total msgs/s over all pairs, paced; 0 = as fast as acks  [0]
  --sockets N       sockets in total: 2 per pair plus idle clients, each in
                    its own chat (0 = the pairs only)                        [0]
  --size C          characters of message text                               [64]
  --repeat K        runs, each on a fresh server; prints each and the median [1]
  --quiet S         before each run, wait up to S s for the machine to be
                    idle (other processes < 25% of a core)                   [0]
  --max-other P     redo a run (up to 3 times per run) when other processes
                    used more than P % of a core during its window (0 = off) [0]
  --concurrency N   chats created / sockets opened at once during setup      [64]
  --json            machine-readable output on stdout (logs stay on stderr)
  --client raw|std  load-generator socket: lean RFC 6455 client or the
                    standard WebSocket class                                 [raw]
  --transport ws|sse|socketio|socketio-polling
                    the clients' transport (operators stay on WebSocket): SSE
                    stream + one POST per message, socket.io over WebSocket
                    or over HTTP long-polling                                [ws]
  --server real|null  the real server, or the storage-free calibration relay [real]
  --server-stats    run the server through bench/_stats_main.ts: group-commit
                    figures, thread CPU, event-loop lag, V8 heap
  --server-prof F   CPU profile of the server over the window, written to F
                    (the attached inspector itself slows the server down)
  --server-heap F   heap snapshot of the server once all sockets are open, written to
                    F (.heapsnapshot) and summarised by constructor
  --server-gc       force a full GC in the server before each RSS reading
                    (the inspector is attached only for those moments)
  --env K=V         extra server environment (repeatable), e.g. SNAPSHOT_EVERY=1000
  --webhook         subscribe the clients' messages (chat.message) to a webhook
                    receiver in the bench; prints deliveries/s over the window
`;

export interface Options {
  pairs: number;
  inflight: number;
  durationMs: number;
  rate: number;
  sockets: number;
  warmupMs: number;
  size: number;
  repeat: number;
  quiet: number;
  maxOther: number;
  concurrency: number;
  json: boolean;
  env: Record<string, string>;
  prof: string | undefined;
  heap: string | undefined;
  stats: boolean;
  gc: boolean;
  nullRelay: boolean;
  client: ClientKind;
  transport: Transport;
  webhook: boolean;
}

export function parseOptions(args: string[]): Options {
  const { values: a } = parseArgs({
    args,
    options: {
      pairs: { type: "string", default: "200" },
      inflight: { type: "string", default: "50" },
      duration: { type: "string", default: "10" },
      rate: { type: "string", default: "0" },
      sockets: { type: "string", default: "0" },
      warmup: { type: "string", default: "2" },
      size: { type: "string", default: "64" },
      repeat: { type: "string", default: "1" },
      quiet: { type: "string", default: "0" },
      "max-other": { type: "string", default: "0" },
      concurrency: { type: "string", default: "64" },
      json: { type: "boolean", default: false },
      "server-prof": { type: "string" },
      "server-heap": { type: "string" },
      "server-stats": { type: "boolean", default: false },
      "server-gc": { type: "boolean", default: false },
      server: { type: "string", default: "real" },
      client: { type: "string", default: "raw" },
      transport: { type: "string", default: "ws" },
      env: { type: "string", multiple: true, default: [] },
      webhook: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
    },
  });
  if (a.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const oneOf = (name: string, v: string, allowed: string[]) => {
    if (!allowed.includes(v)) throw new Error(`--${name} must be one of ${allowed.join(", ")}`);
    return v;
  };
  return {
    pairs: Math.floor(num("pairs", a.pairs, 1)),
    inflight: Math.floor(num("inflight", a.inflight, 1)),
    durationMs: num("duration", a.duration, 0.1) * 1000,
    rate: num("rate", a.rate, 0),
    sockets: Math.floor(num("sockets", a.sockets, 0)),
    warmupMs: num("warmup", a.warmup, 0) * 1000,
    size: Math.floor(num("size", a.size, 12)),
    repeat: Math.floor(num("repeat", a.repeat, 1)),
    quiet: num("quiet", a.quiet, 0),
    maxOther: num("max-other", a["max-other"], 0),
    concurrency: Math.floor(num("concurrency", a.concurrency, 1)),
    json: a.json,
    env: Object.fromEntries(a.env.map((kv) => [kv.split("=")[0], kv.slice(kv.indexOf("=") + 1)])),
    prof: a["server-prof"],
    heap: a["server-heap"],
    stats: a["server-stats"],
    gc: a["server-gc"],
    nullRelay: oneOf("server", a.server, ["real", "null"]) === "null",
    client: oneOf("client", a.client, ["raw", "std"]) as ClientKind,
    transport: oneOf("transport", a.transport, TRANSPORTS) as Transport,
    webhook: a.webhook,
  };
}

/** The number of option `--name`, at least `min`; throws a usage error otherwise. */
export function num(name: string, v: string, min: number): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new Error(`--${name} must be a number >= ${min}`);
  return n;
}
