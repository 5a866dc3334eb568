/**
 * The arena limit (src/server/allocator.ts): the launchers set it, and a node started without it
 * says so. End to end: `deno task start` runs the server with MALLOC_ARENA_MAX set (no warning),
 * a bare `deno run src/main.ts` warns.
 */
import assert from "node:assert/strict";
import { allocatorAdvice, MALLOC_ARENA_MAX } from "../../src/server/allocator.ts";

const ROOT = new URL("../../", import.meta.url);
const env = (o: Record<string, string>) => ({ get: (k: string) => o[k] });

Deno.test("allocatorAdvice warns on Linux without MALLOC_ARENA_MAX only", () => {
  assert.match(allocatorAdvice("linux", env({}))!, /MALLOC_ARENA_MAX=2/);
  assert.equal(allocatorAdvice("linux", env({ MALLOC_ARENA_MAX: "4" })), null);
  assert.equal(allocatorAdvice("darwin", env({})), null);
  assert.equal(allocatorAdvice("windows", env({})), null);
});

Deno.test("the start task and the image set MALLOC_ARENA_MAX", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  assert.ok(
    config.tasks.start.startsWith(`MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX} deno run `),
    config.tasks.start,
  );
  const docker = (await Deno.readTextFile(new URL("Dockerfile", ROOT))).replace(/\\\n\s*/g, " ");
  const envLines = docker.split("\n").filter((l) => l.startsWith("ENV "));
  assert.ok(
    envLines.some((l) => l.includes(`MALLOC_ARENA_MAX=${MALLOC_ARENA_MAX}`)),
    envLines.join(),
  );
});

/** Starts the server with `args`, waits for it to listen, stops it; its stderr. */
async function startAndStop(args: string[], extraEnv: Record<string, string>): Promise<string> {
  const data = await Deno.makeTempDir({ prefix: "allocator-" });
  const child = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT.pathname,
    clearEnv: true,
    env: {
      PATH: Deno.env.get("PATH") ?? "",
      HOME: Deno.env.get("HOME") ?? "",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? "",
      PORT: "0",
      HOST: "127.0.0.1",
      KV_PATH: ":memory:",
      ATTACHMENTS_DIR: data,
      LOG_LEVEL: "warn",
      ...extraEnv,
    },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const err = new Response(child.stderr).text();
  try {
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!/\(port \d+\)/.test(seen)) {
      const { done, value } = await lines.read();
      if (done) throw new Error(`the server exited before listening:\n${seen}\n${await err}`);
      seen += value;
    }
    (async () => {
      while (!(await lines.read()).done);
    })();
  } finally {
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(data, { recursive: true });
  }
  return await err;
}

Deno.test("deno task start runs the server with the arena limit; a bare start on Linux warns", async () => {
  const bare = await startAndStop(["run", "-A", "src/main.ts"], {});
  if (Deno.build.os === "linux") assert.match(bare, /MALLOC_ARENA_MAX is not set/);
  else assert.doesNotMatch(bare, /MALLOC_ARENA_MAX/);
  const task = await startAndStop(["task", "start"], {});
  assert.doesNotMatch(task, /MALLOC_ARENA_MAX is not set/);
});
