/**
 * librdkafka's mock Kafka cluster (`rdkafka_mock.h`) as a child process, for the kafkajs tests.
 * It is not a real broker: an in-memory implementation of enough of the Kafka protocol (produce,
 * fetch, metadata, consumer groups, offset commits) that lives inside librdkafka for its own tests.
 * The helper `mock_cluster.c` is compiled on first use (and whenever the source is newer than the
 * binary) into the gitignored `tests/kafka_mock/.build/`. It needs gcc, pkg-config and Debian's
 * `librdkafka-dev`; when they are missing this fails loudly (tests fail, never skip) and says how
 * to install them. `scripts/ensure_kafka_mock.ts` (run by `deno task test`) installs and builds.
 *
 * `down(id)` / `up(id)` make a broker outage and its end (`rd_kafka_mock_broker_set_down/_up`),
 * through the helper's stdin (one command per line, one `OK …` or `ERR …` answer per line).
 */
import type { TopicSpec } from "../../src/cluster/broker.ts";

const HERE = new URL(".", import.meta.url);
export const MOCK_SOURCE = new URL("mock_cluster.c", HERE).pathname;
export const MOCK_BUILD_DIR = new URL(".build/", HERE).pathname;
export const MOCK_BINARY = `${MOCK_BUILD_DIR}mock_cluster`;
const MOCK_HEADER = "/usr/include/librdkafka/rdkafka_mock.h";

export const INSTALL_HINT = "Install them with: sudo apt-get update && " +
  "sudo apt-get install -y librdkafka-dev gcc pkg-config " +
  "(or run `npx -y deno@2.9.6 task test`, which installs them when it can).";

export interface KafkaMock {
  /** Comma-separated `127.0.0.1:port` list of the mock brokers. */
  readonly bootstrap: string;
  /** The same, as an array (kafkajs's `brokers`). */
  readonly brokers: string[];
  /**
   * Takes a mock broker down (`rd_kafka_mock_broker_set_down`): its connections are closed and new
   * ones refused until `up`; it keeps its partitions (no leader change). `id` is 1..brokers, or
   * "all". Resolves once the helper has done it.
   */
  down(id: number | "all"): Promise<void>;
  /** Lets a broker taken `down` accept connections again (`rd_kafka_mock_broker_set_up`). */
  up(id: number | "all"): Promise<void>;
  /** Closes the helper's stdin, sends SIGTERM, and waits for it to exit. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface KafkaMockOptions {
  /** Mock brokers in the cluster (default 1). Partition leaders are spread over them. */
  readonly brokers?: number;
  /** How long to wait for the BOOTSTRAP line (default 15 s). */
  readonly startTimeoutMs?: number;
}

async function mtime(path: string): Promise<number | null> {
  try {
    return (await Deno.stat(path)).mtime?.getTime() ?? 0;
  } catch {
    return null;
  }
}

async function run(cmd: string, args: string[]): Promise<{ ok: boolean; out: string }> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped" }).output();
    const dec = new TextDecoder();
    return { ok: r.success, out: (dec.decode(r.stdout) + dec.decode(r.stderr)).trim() };
  } catch (e) {
    return { ok: false, out: e instanceof Error ? e.message : String(e) };
  }
}

/** Why the helper cannot be built here, or null when gcc, pkg-config and librdkafka-dev exist. */
export async function missingBuildTools(): Promise<string | null> {
  const missing: string[] = [];
  if (!(await run("gcc", ["--version"])).ok) missing.push("gcc");
  const pc = await run("pkg-config", ["--exists", "rdkafka"]);
  if (!(await run("pkg-config", ["--version"])).ok) missing.push("pkg-config");
  else if (!pc.ok) missing.push("librdkafka-dev (pkg-config knows no `rdkafka`)");
  if ((await mtime(MOCK_HEADER)) === null && !missing.some((m) => m.startsWith("librdkafka"))) {
    missing.push(`librdkafka-dev (${MOCK_HEADER} is missing)`);
  }
  return missing.length ? missing.join(", ") : null;
}

/**
 * Compiles `mock_cluster.c` when the binary is missing or older than the source; returns the
 * binary's path. Throws a loud Error naming what is missing and how to install it.
 */
export async function buildKafkaMock(): Promise<string> {
  const src = await mtime(MOCK_SOURCE);
  if (src === null) throw new Error(`kafka mock: source missing at ${MOCK_SOURCE}`);
  const bin = await mtime(MOCK_BINARY);
  if (bin !== null && bin >= src) return MOCK_BINARY;

  const missing = await missingBuildTools();
  if (missing) {
    throw new Error(
      `The Kafka tests run against librdkafka's mock cluster, built from ${MOCK_SOURCE}, ` +
        `but this machine lacks: ${missing}. ${INSTALL_HINT}`,
    );
  }
  const flags = await run("pkg-config", ["--cflags", "--libs", "rdkafka"]);
  if (!flags.ok) throw new Error(`kafka mock: pkg-config --cflags --libs rdkafka: ${flags.out}`);
  await Deno.mkdir(MOCK_BUILD_DIR, { recursive: true });
  // Build to a private name and rename, so concurrent builders never run a half-written file.
  const tmp = `${MOCK_BINARY}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}`;
  const cc = await run("gcc", [
    "-O2",
    "-o",
    tmp,
    MOCK_SOURCE,
    ...flags.out.split(/\s+/).filter(Boolean),
  ]);
  if (!cc.ok) {
    await Deno.remove(tmp).catch(() => {});
    throw new Error(`kafka mock: gcc failed to build ${MOCK_SOURCE}:\n${cc.out}\n${INSTALL_HINT}`);
  }
  await Deno.rename(tmp, MOCK_BINARY);
  return MOCK_BINARY;
}

/**
 * Starts librdkafka's mock cluster with the given topics (replication 1) on 127.0.0.1 and
 * resolves with its bootstrap servers once it is listening.
 */
export async function startKafkaMock(
  topics: readonly TopicSpec[],
  opts: KafkaMockOptions = {},
): Promise<KafkaMock> {
  const binary = await buildKafkaMock();
  const brokerCount = opts.brokers ?? 1;
  const child = new Deno.Command(binary, {
    args: [String(brokerCount), ...topics.map((t) => `${t.name}:${t.partitions}`)],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();

  // Keep the last few KB of stderr for error messages; draining it keeps the child from blocking.
  let stderrTail = "";
  const stderrDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(chunk) {
        stderrTail = (stderrTail + chunk).slice(-4096);
      },
    }),
  ).catch(() => {});

  const stdinWriter = child.stdin.getWriter();
  /** Commands sent and not answered yet, in order (the helper answers each with one line). */
  const answers: Array<{ line: string; settle: PromiseWithResolvers<void> }> = [];
  const onAnswer = (line: string) => {
    const next = answers.shift();
    if (!next) return;
    if (line === `OK ${next.line}`) next.settle.resolve();
    else next.settle.reject(new Error(`kafka mock: ${line}`));
  };
  let stdoutDone: Promise<void> = Promise.resolve();
  let stopped: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      await stdinWriter.close().catch(() => {});
      try {
        child.kill("SIGTERM");
      } catch { /* already exited */ }
      const killTimer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch { /* exited meanwhile */ }
      }, 5000);
      try {
        await child.status;
      } finally {
        clearTimeout(killTimer);
      }
      await stdoutDone;
      await stderrDone;
    })();
    return stopped;
  };

  // Read stdout to the BOOTSTRAP line, then keep draining it until the child exits.
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  let bootstrapLine: string | null = null;
  const timeoutMs = opts.startTimeoutMs ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    bootstrapLine = await Promise.race([
      (async () => {
        while (true) {
          const nl = buffered.indexOf("\n");
          if (nl >= 0) {
            const line = buffered.slice(0, nl).trim();
            buffered = buffered.slice(nl + 1);
            if (line.startsWith("BOOTSTRAP ")) return line.slice("BOOTSTRAP ".length).trim();
            continue;
          }
          const { value, done } = await lines.read();
          if (done) return null;
          buffered += value;
        }
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`kafka mock: no BOOTSTRAP line after ${timeoutMs} ms`)),
          timeoutMs,
        );
      }),
    ]);
  } catch (e) {
    clearTimeout(timer);
    await lines.cancel().catch(() => {});
    await stop();
    throw e;
  }
  clearTimeout(timer);
  stdoutDone = (async () => {
    try {
      for (;;) {
        let nl: number;
        while ((nl = buffered.indexOf("\n")) >= 0) {
          onAnswer(buffered.slice(0, nl).trim());
          buffered = buffered.slice(nl + 1);
        }
        const { value, done } = await lines.read();
        if (done) break;
        buffered += value;
      }
    } catch { /* closed */ }
    const gone = new Error("kafka mock: the helper exited");
    for (const a of answers.splice(0)) a.settle.reject(gone);
  })();
  if (!bootstrapLine) {
    await stop();
    throw new Error(`kafka mock: the helper exited before listening:\n${stderrTail}`);
  }
  const brokers = bootstrapLine.split(",").map((s) => s.trim()).filter(Boolean);
  for (const b of brokers) {
    if (!/^127\.0\.0\.1:\d+$/.test(b)) {
      await stop();
      throw new Error(`kafka mock: expected loopback listeners only, got ${bootstrapLine}`);
    }
  }
  const send = async (line: string): Promise<void> => {
    if (stopped) throw new Error(`kafka mock: stopped; cannot send "${line}"`);
    const settle = Promise.withResolvers<void>();
    answers.push({ line, settle });
    await stdinWriter.write(new TextEncoder().encode(`${line}\n`));
    await settle.promise;
  };
  return {
    bootstrap: bootstrapLine,
    brokers,
    down: (id) => send(`down ${id}`),
    up: (id) => send(`up ${id}`),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
