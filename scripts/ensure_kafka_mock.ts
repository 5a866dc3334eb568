/**
 * Runs before the test suite (`deno task test`): the kafkajs tests (tests/cluster/kafka_broker_test.ts)
 * run against librdkafka's mock cluster, a small C helper (tests/kafka_mock/mock_cluster.c) built
 * with gcc against Debian's `librdkafka-dev`. When gcc, pkg-config or librdkafka-dev is missing and
 * this user can install packages (root, or password-less sudo) with apt-get, install them; then
 * build the helper. Otherwise say loudly how to; the kafka tests themselves fail (never skip) until
 * then.
 */
import { buildKafkaMock, INSTALL_HINT, missingBuildTools } from "../tests/kafka_mock/mock.ts";
import { aptInstall } from "./_apt.ts";

const PACKAGES = ["librdkafka-dev", "gcc", "pkg-config"];

const missing = await missingBuildTools();
if (missing) {
  await aptInstall(
    PACKAGES,
    `The Kafka mock needs ${missing}`,
    `${INSTALL_HINT}\n[tests] tests/cluster/kafka_*_test.ts will fail until then.`,
  );
}

try {
  await buildKafkaMock();
} catch (e) {
  console.error(`[tests] ${e instanceof Error ? e.message : e}`);
}
