/**
 * Runs before the test suite (`deno task test`): the kafkajs tests (tests/cluster/kafka_broker_test.ts)
 * run against librdkafka's mock cluster, a small C helper (tests/kafka_mock/mock_cluster.c) built
 * with gcc against Debian's `librdkafka-dev`. When gcc, pkg-config or librdkafka-dev is missing and
 * this user can install packages (root, or password-less sudo) with apt-get, install them; then
 * build the helper. Otherwise say loudly how to; the kafka tests themselves fail (never skip) until
 * then.
 */
import { buildKafkaMock, INSTALL_HINT, missingBuildTools } from "../tests/kafka_mock/mock.ts";

const PACKAGES = ["librdkafka-dev", "gcc", "pkg-config"];

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function run(cmd: string[], env: Record<string, string> = {}): Promise<boolean> {
  const child = new Deno.Command(cmd[0], {
    args: cmd.slice(1),
    env,
    stdout: "inherit",
    stderr: "inherit",
  });
  return (await child.output()).success;
}

const missing = await missingBuildTools();
if (missing) {
  const root = Deno.uid?.() === 0;
  const sudo = !root && await run(["sudo", "-n", "true"]).catch(() => false);
  const apt = await exists("/usr/bin/apt-get");
  if (apt && (root || sudo)) {
    console.error(
      `[tests] the Kafka mock needs ${missing}: installing ${PACKAGES.join(" ")} with apt-get …`,
    );
    const pre = root ? [] : ["sudo", "-n"];
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    const ok = await run([...pre, "apt-get", "update", "-qq"], env) &&
      await run([...pre, "apt-get", "install", "-y", "-qq", ...PACKAGES], env);
    if (!ok) {
      console.error(
        `[tests] apt-get could not install ${PACKAGES.join(" ")}; the Kafka tests will fail.`,
      );
    }
  } else {
    console.error(
      `[tests] The Kafka tests need ${missing} and they cannot be installed from here.\n` +
        `[tests] ${INSTALL_HINT}\n` +
        "[tests] tests/cluster/kafka_broker_test.ts will fail until then.",
    );
  }
}

try {
  await buildKafkaMock();
} catch (e) {
  console.error(`[tests] ${e instanceof Error ? e.message : e}`);
}
