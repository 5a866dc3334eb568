/**
 * File-descriptor limit. `ulimit -n` is per process and inherited, and Deno cannot set it, so
 * when the soft limit is too low for the sockets asked for, the bench re-runs itself under
 * `sh -c "ulimit -n <n> && exec deno run ..."` (the server child inherits the new limit).
 */

const MARK = "CHAT_BENCH_FD_REEXEC";

async function sh(script: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", script], stdout: "piped" }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Returns when the soft limit covers `needed` descriptors (or cannot be raised: then it warns).
 * If a re-exec is needed and possible, runs the bench again under the raised limit and exits
 * with its status.
 */
export async function ensureFdLimit(needed: number): Promise<void> {
  if (Deno.build.os !== "linux" && Deno.build.os !== "darwin") return;
  const soft = await sh("ulimit -n");
  if (soft === "unlimited" || Number(soft) >= needed) return;
  const hard = await sh("ulimit -Hn");
  const want = Math.max(needed, 65_536);
  const target = hard === "unlimited" ? want : Math.min(Number(hard), want);
  if (Deno.env.get(MARK) || target <= Number(soft)) {
    console.error(
      `warning: open-file limit is ${soft} (hard ${hard}); ${needed} are needed. ` +
        `Raise it (e.g. as root: ulimit -Hn ${want}) or ask for fewer sockets.`,
    );
    return;
  }
  console.error(`raising the open-file limit from ${soft} to ${target} and restarting the bench`);
  const main = new URL(Deno.mainModule).pathname;
  const status = await new Deno.Command("sh", {
    args: [
      "-c",
      `ulimit -n ${target} && exec "$0" "$@"`,
      Deno.execPath(),
      "run",
      "-A",
      main,
      ...Deno.args,
    ],
    env: { [MARK]: "1" },
    stdin: "inherit",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  Deno.exit(status.code);
}
