/**
 * KV helpers of the data lifecycle (retention, erasure): batched deletes, listing, and walking
 * the chats of the store one by one without reading their whole logs.
 */
import { retryWhileLocked } from "../runtime/committer.ts";
import { SESSION } from "../../actors/_common.ts";

/** Where the actor runtime keeps logs and snapshots (`ActorSystem`'s default `keyPrefix`). */
export const ACTORS: Deno.KvKey = ["a"];
/** Deletes per atomic: well under KV's 1000 mutations and 800 KiB of keys. */
const DELETES_PER_ATOMIC = 400;

/** Deletes `keys`, several per atomic. Deleting a missing key is not an error. */
export async function deleteKeys(kv: Deno.Kv, keys: readonly Deno.KvKey[]): Promise<number> {
  for (let i = 0; i < keys.length; i += DELETES_PER_ATOMIC) {
    const op = kv.atomic();
    for (const k of keys.slice(i, i + DELETES_PER_ATOMIC)) op.delete(k);
    await retryWhileLocked(() => op.commit());
  }
  return keys.length;
}

/** Every entry under `prefix` (callers use it for prefixes that stay small or are per chat). */
export async function listAll<T = unknown>(
  kv: Deno.Kv,
  prefix: Deno.KvKey,
): Promise<Deno.KvEntry<T>[]> {
  const out: Deno.KvEntry<T>[] = [];
  for await (const e of kv.list<T>({ prefix })) out.push(e);
  return out;
}

/** Deletes the key `prefix` and every key under it (a listing leaves the prefix key out). */
export async function deletePrefix(kv: Deno.Kv, prefix: Deno.KvKey): Promise<number> {
  const keys: Deno.KvKey[] = [prefix];
  for await (const e of kv.list({ prefix })) keys.push(e.key);
  return await deleteKeys(kv, keys);
}

/**
 * The chat after `after` (in key order) that has a stored event, with the first chunk of its
 * log (which holds its `created` event), or null at the end. One list call per chat: `true`
 * sorts after every number, so `[..., id, true]` starts past all of that chat's chunks.
 */
export async function nextChat(
  kv: Deno.Kv,
  after: string | null,
): Promise<{ chatId: string; first: Uint8Array } | null> {
  const base = [...ACTORS, "ev", SESSION];
  const iter = kv.list<Uint8Array>(
    after === null ? { prefix: base } : { prefix: base, start: [...base, after, true] },
    { limit: 1 },
  );
  for await (const e of iter) return { chatId: String(e.key[base.length]), first: e.value };
  return null;
}

/**
 * The distinct values of key part `depth` under `prefix`, in order (a skip scan: one list call
 * each). `true` sorts after every string and number, so `[...prefix, v, true]` starts past `v`.
 */
export async function keyParts(kv: Deno.Kv, prefix: Deno.KvKey): Promise<Deno.KvKeyPart[]> {
  const out: Deno.KvKeyPart[] = [];
  let start: Deno.KvKey | null = null;
  for (;;) {
    const selector: Deno.KvListSelector = start ? { prefix, start } : { prefix };
    const iter: Deno.KvListIterator<unknown> = kv.list(selector, { limit: 1 });
    let found: Deno.KvKeyPart | undefined;
    for await (const e of iter) found = e.key[prefix.length];
    if (found === undefined) return out;
    out.push(found);
    start = [...prefix, found, true];
  }
}

/**
 * The bot roots of the Telegram integration (`["tg", <bot id>]`), current and past: a new bot
 * token starts a new root, and erasure must look in the old ones too.
 */
export async function telegramRoots(kv: Deno.Kv): Promise<string[]> {
  return (await keyParts(kv, ["tg"])).map(String);
}

/** The JSON text of a value as it would match an id (ids inside JSON are escaped). */
export function mentions(value: unknown, ids: ReadonlySet<string>): boolean {
  const text = typeof value === "string" ? value : JSON.stringify(value, bigintSafe);
  if (text === undefined) return false;
  for (const id of ids) if (text.includes(JSON.stringify(id).slice(1, -1))) return true;
  return false;
}

function bigintSafe(_k: string, v: unknown): unknown {
  return typeof v === "bigint" ? v.toString() : v;
}
