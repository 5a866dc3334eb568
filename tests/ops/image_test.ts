/**
 * The production image without a Docker engine (none runs here): the lock is frozen; the module
 * graph of what the image runs holds no test-only package; the lock pruned for the image
 * (`scripts/image_lock.ts`) is a verbatim subset of `deno.lock` that Deno accepts frozen and that
 * starts the server offline; the Dockerfile, read instruction by instruction, installs from it as
 * a non-root user with a working `/healthz` check; docker-compose.yml still runs that image.
 */
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import {
  type DenoConfig,
  denoInfo,
  type DenoLock,
  graphPackages,
  npmPackageOf,
  pruneLock,
} from "../../scripts/image_lock.ts";

const ROOT = new URL("../../", import.meta.url);
const read = (path: string) => Deno.readTextFile(new URL(path, ROOT));
const config: DenoConfig & { lock?: unknown; tasks?: Record<string, string> } = JSON.parse(
  await read("deno.json"),
);
const lock: DenoLock = JSON.parse(await read("deno.lock"));

/** Imports of deno.json that only tests and test tools load. */
const TEST_ONLY = [
  "playwright-core",
  "socket.io-client",
  "fast-check",
  "fflate",
  "axe-core",
  "parse-prometheus-text-format",
];
/** What the image runs: the server, `deno task kafka:topics` and `deno task token`. */
const ENTRYPOINTS = ["src/main.ts", "scripts/kafka_topics.ts", "scripts/token.ts"];
/** `@scope/name@1.2.3_peer@4.5.6` → `@scope/name`. */
const nameOf = (id: string) => id.slice(0, id.indexOf("@", 1));

const graph = graphPackages(
  await Promise.all(ENTRYPOINTS.map((e) => denoInfo(new URL(e, ROOT).pathname))),
);

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** The Dockerfile's stages: instructions with continuation lines joined, comments dropped. */
function dockerStages(text: string): Instruction[][] {
  const joined = text.replace(/\\\n/g, " ").split("\n").map((l) => l.trim());
  const stages: Instruction[][] = [];
  for (const line of joined) {
    if (line === "" || line.startsWith("#")) continue;
    const [, op, args] = /^(\S+)\s+(.*)$/.exec(line) ?? [];
    if (op.toUpperCase() === "FROM") stages.push([]);
    stages.at(-1)!.push({ op: op.toUpperCase(), args: args.replace(/\s+/g, " ") });
  }
  return stages;
}

Deno.test("deno.json freezes deno.lock, and a config that differs from the lock is refused", async () => {
  assert.deepEqual(config.lock, { path: "deno.lock", frozen: true });
  // Drop an import in a copy: Deno must refuse instead of rewriting the copied lock.
  const dir = await Deno.makeTempDir({ prefix: "lock-frozen-" });
  try {
    const imports = { ...config.imports };
    delete imports[Object.keys(imports)[0]];
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ ...config, imports }));
    await Deno.writeTextFile(`${dir}/deno.lock`, JSON.stringify(lock, null, 2) + "\n");
    const before = await Deno.readTextFile(`${dir}/deno.lock`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--config", `${dir}/deno.json`, new URL("src/config.ts", ROOT).pathname],
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(out.success, false);
    assert.match(new TextDecoder().decode(out.stderr), /lockfile is out of date/);
    assert.equal(await Deno.readTextFile(`${dir}/deno.lock`), before, "the lock is unchanged");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the module graph of src/main.ts (and the image's scripts) holds no test-only package", () => {
  const names = new Set([...graph].map(nameOf));
  for (const pkg of TEST_ONLY) assert.ok(!names.has(pkg), `${pkg} is in the production graph`);
  // The dynamic import of the kafkajs broker and the upload checks are in it.
  for (const pkg of ["hono", "kafkajs", "file-type", "socket.io"]) assert.ok(names.has(pkg), pkg);
  // Every import of deno.json is either loaded by the image or known to be test-only, so a new
  // dependency has to be placed on one side.
  for (const [key, target] of Object.entries(config.imports ?? {})) {
    const pkg = npmPackageOf(target);
    assert.ok(pkg, `${key} is an npm import`);
    const name = pkg.replace(/@[^@]+$/, "");
    assert.ok(names.has(name) || TEST_ONLY.includes(name), `${key}: production or TEST_ONLY?`);
  }
});

Deno.test("the image's lock is a verbatim subset of deno.lock that Deno accepts frozen and runs offline", async () => {
  const pruned = pruneLock(config, lock, graph);
  assert.deepEqual(new Set(Object.keys(pruned.lock.npm ?? {})), graph);
  for (const [id, entry] of Object.entries(pruned.lock.npm ?? {})) {
    assert.deepEqual(entry, lock.npm?.[id], `${id} copied as it is`);
  }
  for (const [spec, resolved] of Object.entries(pruned.lock.specifiers ?? {})) {
    assert.equal(resolved, lock.specifiers?.[spec]);
  }
  const kept = Object.keys(pruned.config.imports ?? {});
  for (const pkg of TEST_ONLY) assert.ok(!kept.includes(pkg), `${pkg} left in the image's config`);

  const dir = await Deno.makeTempDir({ prefix: "image-lock-" });
  const data = await Deno.makeTempDir({ prefix: "image-data-" });
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify(pruned.config, null, 2));
    await Deno.writeTextFile(`${dir}/deno.lock`, JSON.stringify(pruned.lock, null, 2) + "\n");
    // Frozen: Deno fails if the pruned lock misses anything the graph needs. What it reports as
    // the npm snapshot is what `deno install` caches in the image.
    const info = await denoInfo(new URL("src/main.ts", ROOT).pathname, `${dir}/deno.json`);
    assert.deepEqual(new Set(Object.keys(info.npmPackages)), graph);

    // The server starts with the image's config, from the cache only (no download).
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "--cached-only", "--config", `${dir}/deno.json`, "-A", "src/main.ts"],
      cwd: ROOT.pathname,
      env: { PORT: "0", HOST: "127.0.0.1", KV_PATH: ":memory:", ATTACHMENTS_DIR: data },
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      const port = await portOf(child.stdout);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
      await res.body?.cancel();
    } finally {
      child.kill("SIGTERM");
      await child.status;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(data, { recursive: true });
  }
});

/** The port from "Support chat listening on … (port N)"; the rest of the output is drained. */
async function portOf(stdout: ReadableStream<Uint8Array>): Promise<number> {
  const lines = stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (true) {
    const { done, value } = await lines.read();
    if (done) throw new Error(`the server exited before listening:\n${seen}`);
    seen += value;
    const m = /\(port (\d+)\)/.exec(seen);
    if (m) {
      (async () => {
        while (!(await lines.read()).done);
      })();
      return Number(m[1]);
    }
  }
}

Deno.test("the Dockerfile installs frozen from the pruned lock as a non-root user, with a healthcheck", async () => {
  const stages = dockerStages(await read("Dockerfile"));
  assert.equal(stages.length, 2, "a lock stage and the image");
  const [build, image] = stages;
  const at = (op: string, test: (args: string) => boolean) =>
    image.findIndex((i) => i.op === op && test(i.args));

  // Stage 1 prunes the lock for exactly the entrypoints the image installs.
  assert.match(build[0].args, /^denoland\/deno:2\.9\.6 AS lock$/);
  assert.ok(build.some((i) => i.op === "COPY" && /deno\.json deno\.lock/.test(i.args)));
  const prune = build.find((i) => i.op === "RUN" && i.args.includes("scripts/image_lock.ts"));
  assert.ok(prune && prune.args.includes("--frozen"), "pruned under the frozen lock");
  assert.ok(prune.args.endsWith(`/out ${ENTRYPOINTS.join(" ")}`), prune.args);

  // The image: the pruned config and lock, then the sources, installed frozen.
  const copyLock = at("COPY", (a) => a === "--from=lock /out/deno.json /out/deno.lock ./");
  const install = at("RUN", (a) => a.startsWith("deno install --frozen --entrypoint"));
  assert.ok(copyLock >= 0, "copies deno.lock (pruned) from the lock stage");
  assert.ok(install > copyLock);
  assert.equal(image[install].args, `deno install --frozen --entrypoint ${ENTRYPOINTS.join(" ")}`);
  assert.equal(at("COPY", (a) => /(^| )\.\/? \.\/?$|(^| )\. /.test(a)), -1, "no `COPY . .`");
  for (const c of image.filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))) {
    const sources = c.args.split(" ").slice(0, -1);
    for (const s of sources) {
      assert.ok(!/^(tests|bench|docs)\b/.test(s), `${s} copied into the image`);
      await Deno.stat(new URL(s, ROOT)); // exists
    }
  }
  // Every task the image or compose runs has its script among the installed entrypoints.
  for (const task of ["start", "kafka:topics", "token"]) {
    const script = /\S+\.ts/.exec(config.tasks?.[task] ?? "")?.[0];
    assert.ok(script && ENTRYPOINTS.includes(script), `task ${task}: ${script}`);
  }

  // A non-root user, set before the install (its DENO_DIR) and before CMD; data it owns.
  const user = at("USER", () => true);
  const cmd = at("CMD", () => true);
  assert.ok(user >= 0 && user < install && user < cmd, "USER before install and CMD");
  assert.ok(!/^(root|0)(:|$)/.test(image[user].args), `USER ${image[user].args}`);
  assert.equal(image.filter((i) => i.op === "USER").length, 1, "no switch back to root");
  assert.ok(at("RUN", (a) => /mkdir -p \/data.*chown -R deno:deno \/data/.test(a)) >= 0);
  assert.ok(at("VOLUME", (a) => a.includes('"/data"')) >= 0);
  const env = image.filter((i) => i.op === "ENV").map((i) => i.args).join(" ");
  assert.match(env, /KV_PATH=\/data\//);
  assert.match(env, /ATTACHMENTS_DIR=\/data\/attachments/);
  assert.deepEqual(JSON.parse(image[cmd].args), ["task", "start"]);

  const health = image.find((i) => i.op === "HEALTHCHECK");
  assert.ok(health, "HEALTHCHECK");
  const probe: string[] = JSON.parse(health.args.replace(/^.*?CMD /, ""));
  assert.deepEqual(probe.slice(0, 2), ["deno", "eval"]);
  assert.match(probe.at(-1)!, /\/healthz/);
  await checkProbe(probe.slice(1));
});

/** The healthcheck (`deno` and these arguments) exits 0 for a healthy server on $PORT, else 1. */
async function checkProbe(args: string[]): Promise<void> {
  let status = 200;
  await using server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (req) =>
      new Response(null, { status: new URL(req.url).pathname === "/healthz" ? status : 404 }),
  );
  const run = async () =>
    (await new Deno.Command(Deno.execPath(), {
      args,
      env: { PORT: String(server.addr.port) },
      stdout: "null",
      stderr: "null",
    }).output()).code;
  assert.equal(await run(), 0, "healthy");
  status = 503;
  assert.equal(await run(), 1, "unhealthy");
}

Deno.test(".dockerignore keeps tests, data and history out of the build context", async () => {
  const ignored = (await read(".dockerignore")).split("\n").map((l) => l.trim());
  for (const p of [".git", "data", "tests", "bench", "test-output"]) {
    assert.ok(ignored.includes(p), p);
  }
});

Deno.test("docker-compose.yml still runs this image, with healthchecks and the data volumes", async () => {
  const doc = parseYaml(await read("docker-compose.yml"), { merge: true });
  const services = doc.services as Record<string, Record<string, unknown>>;
  for (const name of ["engine-1", "engine-2", "topics", "chat"]) {
    assert.equal(services[name].build, ".", `${name} builds this Dockerfile`);
    assert.equal(services[name].image, "support-chat:latest", name);
  }
  for (const name of ["engine-1", "engine-2"]) {
    const test = (services[name].healthcheck as { test: string[] }).test;
    assert.deepEqual(test.slice(0, 3), ["CMD", "deno", "eval"], name);
    assert.match(test[3], /\/(readyz|healthz)/);
    assert.ok((services[name].volumes as string[]).includes("attachments:/data/attachments"));
  }
  // The single node keeps the image's own healthcheck; the topic setup is a one-shot task.
  assert.equal(services.chat.healthcheck, undefined);
  assert.ok((services.chat.volumes as string[]).includes("chat-data:/data"));
  assert.deepEqual(services.topics.command, ["task", "kafka:topics"]);
  assert.ok(config.tasks?.["kafka:topics"], "the task compose runs exists");
});

Deno.test("CI fails when deno.lock is out of date or changed by the run", async () => {
  const ci = await read(".ci/run");
  assert.match(ci, /\$DENO install --frozen\n/);
  assert.match(ci, /git diff --quiet -- deno\.lock/);
});
