/**
 * Runs before the test suite (`deno task test`): tests/ops/observability_test.ts proves the alert
 * rules and the Prometheus config with Debian's `promtool`, and scrapes a running engine with
 * Debian's `prometheus`. When they are missing and this user can install packages (root, or
 * password-less sudo) with apt-get, install them; otherwise say loudly how to. The test itself
 * fails (never skips) until then.
 */
import { aptInstall, exists } from "./_apt.ts";

if (!(await exists("/usr/bin/promtool")) || !(await exists("/usr/bin/prometheus"))) {
  await aptInstall(
    ["prometheus"],
    "promtool and prometheus are missing from /usr/bin",
    "Install Debian's package (sudo apt-get install -y --no-install-recommends prometheus); " +
      "tests/ops/observability_test.ts will fail until then.",
    { noRecommends: true },
  );
}
