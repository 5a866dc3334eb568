/**
 * Helpers of the data-lifecycle tests: every KV entry as text (all prefixes), every file under a
 * folder, lookups of who still mentions an id, and admin REST calls.
 */
import type { TestServer } from "../integration/_harness.ts";

const decoder = new TextDecoder();

/** Every KV entry as `key = value` text: bytes decoded as UTF-8, KvU64 as its number. */
export async function dumpKv(kv: Deno.Kv): Promise<string[]> {
  const lines: string[] = [];
  for await (const e of kv.list({ prefix: [] })) {
    lines.push(`${show(e.key)} = ${show(e.value)}`);
  }
  return lines;
}

function show(v: unknown): string {
  if (v instanceof Uint8Array) return decoder.decode(v);
  if (v instanceof Deno.KvU64) return `u64:${v.value}`;
  return JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? `${x}n` : x));
}

/** The lines that mention any of `needles`. */
export function mentioning(lines: readonly string[], needles: readonly string[]): string[] {
  return lines.filter((l) => needles.some((n) => l.includes(n)));
}

/** The distinct first two key parts of a dump (which prefixes were searched). */
export function prefixesOf(lines: readonly string[]): string[] {
  return [
    ...new Set(lines.map((l) => l.slice(0, l.indexOf(" = ")).split(",").slice(0, 2).join(","))),
  ];
}

/** Every file under `dir`: its path relative to `dir` and its bytes as text. */
export async function files(dir: string): Promise<Array<{ path: string; text: string }>> {
  const out: Array<{ path: string; text: string }> = [];
  const walk = async (d: string, rel: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = await Array.fromAsync(Deno.readDir(d));
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      throw err;
    }
    for (const e of entries) {
      const path = `${rel}${e.name}`;
      if (e.isDirectory) await walk(`${d}/${e.name}`, `${path}/`);
      else {out.push({
          path,
          text: new TextDecoder("latin1").decode(await Deno.readFile(`${d}/${e.name}`)),
        });}
    }
  };
  await walk(dir, "");
  return out;
}

/** The KV handle of a server started in this process. */
export const kvOf = (server: TestServer): Deno.Kv => server.svc.system.journal.kv;

export interface Reply {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

/** `POST|GET /api/v1/chat/<path>` with a token (and a JSON body). */
export async function api(
  server: TestServer,
  method: string,
  path: string,
  token: string,
  body?: unknown,
): Promise<Reply> {
  const res = await fetch(`${server.url}/api/v1/chat/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** A free loopback port nothing listens on (connections to it are refused). */
export function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}
