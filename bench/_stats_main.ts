/**
 * The server exactly as `src/main.ts` starts it, plus one `STATS {json}` line per second on
 * stdout: the group committer's counters, actor-system stats, hub size, V8 memory and event-loop
 * lag (a 10 ms interval timer's lateness). Used by
 * `deno task bench --server-stats`; the default bench runs `src/main.ts` itself.
 */
import { loadConfig } from "../src/config.ts";
import { startServer } from "../src/server/server.ts";

const config = loadConfig(Deno.env.toObject());
const server = await startServer(config);
console.log(`Support chat listening on ${server.url} (port ${server.port})`);

const system = server.svc.system;
// Event-loop lag: how late a 10 ms interval fires (cumulative counts, by threshold).
const lag = { samples: 0, over5: 0, over20: 0, over50: 0, maxMs: 0 };
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const late = now - last - 10;
  last = now;
  lag.samples++;
  if (late > 5) lag.over5++;
  if (late > 20) lag.over20++;
  if (late > 50) lag.over50++;
  lag.maxMs = Math.max(lag.maxMs, late);
}, 10);
setInterval(() => {
  const mem = Deno.memoryUsage();
  console.log(`STATS ${
    JSON.stringify({
      at: performance.now(),
      committer: system.committer.stats,
      system: system.stats(),
      connections: server.svc.hub.size,
      messages: server.svc.counters.messages,
      lag,
      memory: {
        rss: mem.rss,
        heapTotal: mem.heapTotal,
        heapUsed: mem.heapUsed,
        external: mem.external,
      },
    })
  }`);
}, 1000);

const stop = async () => {
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
