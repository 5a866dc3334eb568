/**
 * The production image's `deno.json` and `deno.lock`: the project's own, pruned to the npm
 * packages the given entrypoints load (their module graph, as `deno info --json` reports it,
 * dynamic imports included). Entries are copied verbatim from `deno.lock`, never resolved again,
 * so the image is built from the lock; the Dockerfile then runs `deno install --frozen` against
 * the pruned pair, which fails if anything is missing.
 *
 *   deno run --allow-read --allow-write=OUT --allow-run scripts/image_lock.ts OUT src/main.ts …
 *
 * Why not `deno install --frozen --entrypoint src/main.ts` on the full lock: Deno 2.9 caches (and
 * `deno run` insists on finding) every npm package of the lockfile's snapshot, whatever the
 * entrypoint, so test-only packages (playwright-core, socket.io-client, fast-check, fflate) would
 * be downloaded into the image, or at its first start. Dropping them from the import map makes
 * Deno drop them from the snapshot; the lock has to follow, which is what this does.
 */

/** `deno.lock`, version 5: the parts this reads and writes. */
export interface DenoLock {
  version: string;
  specifiers?: Record<string, string>;
  npm?: Record<string, { integrity?: string; dependencies?: string[]; [k: string]: unknown }>;
  workspace?: { dependencies?: string[]; [k: string]: unknown };
  [k: string]: unknown;
}

export interface DenoConfig {
  imports?: Record<string, string>;
  [k: string]: unknown;
}

/** What `deno info --json` says about one entrypoint: the parts this reads. */
export interface DenoInfo {
  modules: Array<{ kind?: string; npmPackage?: string }>;
  npmPackages: Record<string, { dependencies?: string[] }>;
}

/** Package ids (`name@version[_peer…]`, as keyed in `deno.lock`) the graphs load, transitively. */
export function graphPackages(infos: readonly DenoInfo[]): Set<string> {
  const out = new Set<string>();
  for (const info of infos) {
    const todo = info.modules.flatMap((m) => (m.kind === "npm" && m.npmPackage) || []);
    while (todo.length) {
      const id = todo.pop()!;
      if (out.has(id)) continue;
      out.add(id);
      todo.push(...(info.npmPackages[id]?.dependencies ?? []));
    }
  }
  return out;
}

/** `npm:hono@4.13.19`, `npm:/hono@4.13.19/` or `npm:@scope/x@1.2.3/sub` → `hono@4.13.19`. */
export function npmPackageOf(specifier: string): string | null {
  const m = /^npm:\/?((?:@[^/@]+\/)?[^/@]+)@([^/]+)/.exec(specifier);
  return m ? `${m[1]}@${m[2]}` : null;
}

const inGraph = (pkg: string, ids: ReadonlySet<string>) =>
  [...ids].some((id) => id === pkg || id.startsWith(`${pkg}_`));

/** The config and lock with only what `ids` needs; every kept lock entry is the original's. */
export function pruneLock(
  config: DenoConfig,
  lock: DenoLock,
  ids: ReadonlySet<string>,
): { config: DenoConfig; lock: DenoLock } {
  /** An import or workspace entry is kept when the package it resolves to is in the graph. */
  const keep = (spec: string) => {
    const pkg = npmPackageOf(spec);
    if (pkg === null) return true;
    const name = pkg.replace(/@[^@]+$/, "");
    const resolved = lock.specifiers?.[`npm:${pkg}`];
    return resolved ? ids.has(`${name}@${resolved}`) : inGraph(pkg, ids);
  };
  const imports = Object.fromEntries(
    Object.entries(config.imports ?? {}).filter(([, target]) => keep(target)),
  );
  const specifiers = Object.fromEntries(
    Object.entries(lock.specifiers ?? {}).filter(([spec, resolved]) => {
      const name = npmPackageOf(spec)?.replace(/@[^@]+$/, "");
      return name === undefined || ids.has(`${name}@${resolved}`);
    }),
  );
  const npm = Object.fromEntries(Object.entries(lock.npm ?? {}).filter(([id]) => ids.has(id)));
  const missing = [...ids].filter((id) => !(id in (lock.npm ?? {})));
  if (missing.length) throw new Error(`deno.lock has no entry for ${missing.join(", ")}`);
  const workspace = lock.workspace && {
    ...lock.workspace,
    dependencies: (lock.workspace.dependencies ?? []).filter(keep),
  };
  return {
    config: { ...config, imports },
    lock: { ...lock, specifiers, npm, ...(workspace ? { workspace } : {}) },
  };
}

/** `deno info --json` of one entrypoint, with the project's (frozen) lock. */
export async function denoInfo(entrypoint: string, configPath?: string): Promise<DenoInfo> {
  const args = ["info", "--json", ...(configPath ? ["--config", configPath] : []), entrypoint];
  const out = await new Deno.Command(Deno.execPath(), { args, stderr: "inherit" }).output();
  if (!out.success) throw new Error(`deno info ${entrypoint} failed (exit ${out.code})`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

if (import.meta.main) {
  const [outDir, ...entrypoints] = Deno.args;
  if (!outDir || entrypoints.length === 0) {
    console.error("usage: image_lock.ts OUT_DIR ENTRYPOINT…");
    Deno.exit(2);
  }
  const ids = graphPackages(await Promise.all(entrypoints.map((e) => denoInfo(e))));
  const pruned = pruneLock(
    JSON.parse(await Deno.readTextFile("deno.json")),
    JSON.parse(await Deno.readTextFile("deno.lock")),
    ids,
  );
  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(`${outDir}/deno.json`, JSON.stringify(pruned.config, null, 2) + "\n");
  await Deno.writeTextFile(`${outDir}/deno.lock`, JSON.stringify(pruned.lock, null, 2) + "\n");
  console.log(`${Object.keys(pruned.lock.npm ?? {}).length} npm packages for ${entrypoints}`);
}
