/** Argument parsing of `deno task ops` (see scripts/ops.ts). */

const VALUE_OPTIONS = [
  "to",
  "reason",
  "chat",
  "operator",
  "limit",
  "offset",
  "capacity",
  "kv",
  "attachments",
] as const;
const FLAG_OPTIONS = ["json", "queue", "help", "force"] as const;

export class UsageError extends Error {}

export interface Parsed {
  readonly positionals: string[];
  readonly options: Map<string, string | true>;
}

/** `--name value`, `--name=value` and flags; anything else (also `-5`) is positional. */
export function parseArgs(args: readonly string[]): Parsed {
  const positionals: string[] = [];
  const options = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "-h") options.set("help", true);
    else if (a === "--") positionals.push(...args.slice(i + 1)), i = args.length;
    else if (!a.startsWith("--")) positionals.push(a);
    else {
      const [name, inline] = a.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
      if ((FLAG_OPTIONS as readonly string[]).includes(name)) {
        if (inline !== undefined) throw new UsageError(`--${name} takes no value`);
        options.set(name, true);
      } else if ((VALUE_OPTIONS as readonly string[]).includes(name)) {
        const value = inline ?? args[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
        options.set(name, value);
      } else throw new UsageError(`Unknown option --${name}`);
    }
  }
  return { positionals, options };
}

/** A whole number from an argument, at least `min`; otherwise a usage error. */
export const integer = (what: string, s: string, min = -Infinity) => {
  const n = Number(s);
  if (!/^-?\d+$/.test(s) || !Number.isSafeInteger(n) || n < min) {
    throw new UsageError(
      `${what} must be a whole number${min > -Infinity ? ` >= ${min}` : ""} (got ${s})`,
    );
  }
  return n;
};
