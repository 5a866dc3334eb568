/**
 * Runs before the test suite (`deno task test`): the browser tests drive Debian's Chromium at
 * /usr/bin/chromium. When it is missing and this user can install packages (root, or password-less
 * sudo) with apt-get, install it; otherwise say loudly how to. The browser tests themselves fail
 * (never skip) when it is still missing.
 */
import { aptInstall, exists } from "./_apt.ts";

if (!(await exists("/usr/bin/chromium"))) {
  await aptInstall(
    ["chromium"],
    "Chromium is missing at /usr/bin/chromium",
    "Install Debian's package (sudo apt-get install -y chromium); " +
      "the browser tests in tests/browser/ will fail until then.",
  );
}
