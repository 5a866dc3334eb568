/**
 * Mints a staff JWT: `deno task token --role operator --sub op-1 [--name Olga] [--ttl 86400]`.
 * Prints only the token on stdout, so `TOKEN=$(deno task token ...)` works.
 */
import { parseArgs } from "node:util";
import { Authenticator, resolveSecret } from "../src/auth/mod.ts";
import { isStaffRole } from "../src/auth/jwt.ts";

const USAGE =
  `Usage: deno task token --role <operator|lawyer|admin> --sub <id> [--name <name>] [--ttl <seconds>]

Prints a staff JWT signed with JWT_SECRET (or the development secret when it is not set).

Options:
  --role   Staff role: operator, lawyer or admin (required)
  --sub    User id, the token subject (required)
  --name   Display name (optional)
  --ttl    Lifetime in seconds (default 86400)
  --help   Show this help`;

async function main(args: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        role: { type: "string" },
        sub: { type: "string" },
        name: { type: "string" },
        ttl: { type: "string", default: "86400" },
        help: { type: "boolean", short: "h" },
      },
    }));
  } catch (err) {
    return usageError(err instanceof Error ? err.message : String(err));
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const { role, sub, name, ttl } = values;
  if (!isStaffRole(role)) {
    return usageError(`--role must be operator, lawyer or admin (got ${JSON.stringify(role)})`);
  }
  if (!sub) return usageError("--sub is required and must not be empty");
  const ttlSeconds = Number(ttl);
  if (!/^[1-9][0-9]*$/.test(ttl) || !Number.isSafeInteger(ttlSeconds)) {
    return usageError(
      `--ttl must be a positive whole number of seconds (got ${JSON.stringify(ttl)})`,
    );
  }
  let secret: string;
  try {
    const resolved = resolveSecret(Deno.env);
    secret = resolved.secret;
    if (resolved.isDevDefault) {
      console.error("Warning: JWT_SECRET is not set; signing with the development secret");
    }
  } catch (err) {
    console.error(`Error: ${err instanceof Error ? err.message : String(err)}`);
    return 1;
  }
  const auth = new Authenticator({ secret, clock: { now: () => Date.now() } });
  console.log(await auth.mintStaffToken({ sub, role, name, ttlSeconds }));
  return 0;
}

function usageError(message: string): number {
  console.error(`Error: ${message}\n\n${USAGE}`);
  return 2;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
