/** Entry point: `deno task start`. Reads the environment, starts one node, stops on SIGINT/SIGTERM. */
import { CONFIG_DOCS, loadConfig } from "./config.ts";
import { startServer } from "./server/server.ts";

if (Deno.args.includes("--help")) {
  console.log("Support-chat engine. Environment variables:");
  for (const [k, v] of Object.entries(CONFIG_DOCS)) console.log(`  ${k.padEnd(20)} ${v}`);
  Deno.exit(0);
}

const config = loadConfig(Deno.env.toObject());
const server = await startServer(config);
console.log(`Support chat listening on ${server.url} (port ${server.port})`);

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await server.shutdown();
  Deno.exit(0);
};
Deno.addSignalListener("SIGINT", stop);
Deno.addSignalListener("SIGTERM", stop);
