/**
 * Runs before the test suite (`deno task test`): the browser tests drive Debian's Chromium at
 * /usr/bin/chromium. When it is missing and this user can install packages (root, or password-less
 * sudo) with apt-get, install it; otherwise say loudly how to. The browser tests themselves fail
 * (never skip) when it is still missing.
 */
const CHROMIUM = "/usr/bin/chromium";

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

if (!(await exists(CHROMIUM))) {
  const root = Deno.uid?.() === 0;
  const sudo = !root && await run(["sudo", "-n", "true"]).catch(() => false);
  const apt = await exists("/usr/bin/apt-get");
  if (apt && (root || sudo)) {
    console.error("[tests] Chromium is missing: installing Debian's chromium with apt-get …");
    const pre = root ? [] : ["sudo", "-n"];
    const env = { DEBIAN_FRONTEND: "noninteractive" };
    const ok = await run([...pre, "apt-get", "update", "-qq"], env) &&
      await run([...pre, "apt-get", "install", "-y", "-qq", "chromium"], env);
    if (!ok) {
      console.error("[tests] apt-get could not install chromium; the browser tests will fail.");
    }
  } else {
    console.error(
      "[tests] Chromium is missing at /usr/bin/chromium and cannot be installed from here.\n" +
        "[tests] Install Debian's package (sudo apt-get install -y chromium); " +
        "the browser tests in tests/browser/ will fail until then.",
    );
  }
}
