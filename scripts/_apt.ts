/**
 * Installs Debian packages the test suite needs, when this user can (root, or password-less sudo)
 * and apt-get exists. Returns false, having said why, when it could not; the tests that need the
 * packages then fail loudly (never skip).
 */
export async function exists(path: string): Promise<boolean> {
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

/** `why` names what is missing; `cannot` is printed when nothing can be installed from here. */
export async function aptInstall(
  packages: readonly string[],
  why: string,
  cannot: string,
  opts: { noRecommends?: boolean } = {},
): Promise<boolean> {
  const root = Deno.uid?.() === 0;
  const sudo = !root && await run(["sudo", "-n", "true"]).catch(() => false);
  if (!(await exists("/usr/bin/apt-get")) || !(root || sudo)) {
    console.error(`[tests] ${why}, and it cannot be installed from here.\n[tests] ${cannot}`);
    return false;
  }
  console.error(`[tests] ${why}: installing ${packages.join(" ")} with apt-get …`);
  const pre = root ? [] : ["sudo", "-n"];
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  const ok = await run([...pre, "apt-get", "update", "-qq"], env) &&
    await run([
      ...pre,
      "apt-get",
      "install",
      "-y",
      "-qq",
      ...(opts.noRecommends ? ["--no-install-recommends"] : []),
      ...packages,
    ], env);
  if (!ok) console.error(`[tests] apt-get could not install ${packages.join(" ")}.`);
  return ok;
}
