/**
 * Entry point: `deno task start`. Reads the environment, starts one node, stops on SIGINT/SIGTERM.
 * Whatever slips past every handler (a promise rejected with nobody listening, an exception in a
 * callback) is logged with its stack and counted, and the process goes on: one bad request must
 * never stop a node that holds thousands of conversations.
 */
import { CONFIG_DOCS, loadConfig } from "./config.ts";
import { createLogger } from "./log.ts";
import { startServer } from "./server/server.ts";
import { installLastResort } from "./server/last_resort.ts";
import { allocatorAdvice } from "./server/allocator.ts";

if (Deno.args.includes("--help")) {
  console.log("Support-chat engine. Environment variables:");
  for (const [k, v] of Object.entries(CONFIG_DOCS)) console.log(`  ${k.padEnd(20)} ${v}`);
  Deno.exit(0);
}

const config = loadConfig(Deno.env.toObject());
const log = createLogger(config.LOG_LEVEL);
installLastResort(globalThis, log);
const advice = allocatorAdvice(Deno.build.os, Deno.env);
if (advice) log.warn(advice);
let server: Awaited<ReturnType<typeof startServer>>;
try {
  server = await startServer(config, { logger: log });
} catch (err) {
  // A node that could not start exits for its supervisor; the last resort above keeps only
  // a running node alive.
  log.error("start failed", { err });
  log.close();
  Deno.exit(1);
}
console.log(`Support chat listening on ${server.url} (port ${server.port})`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.shutdown();
  log.close(); // the repeat windows' summaries, written before the exit
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
