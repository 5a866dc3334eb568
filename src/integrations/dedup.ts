/**
 * Deduplication of inbound messages from at-least-once senders (Telegram updates, webhook
 * retries): the sender's id is remembered in KV for a while, and a second arrival of the same id
 * within that time is reported as seen. The check and the mark are one atomic step, so of two
 * concurrent arrivals (two nodes, two requests) exactly one is "new".
 *
 *     if (await seen(kv, "telegram", String(update.update_id), 24 * 3600_000)) return; // a retry
 *     try { await handle(update); } catch (err) { await forget(kv, "telegram", id); throw err; }
 */

const PREFIX = "dedup";

interface Mark {
  /** When the mark stops counting (ms since the epoch). */
  readonly until: number;
}

/**
 * True if `id` was already seen in `scope` within the last `ttlMs`; otherwise marks it and
 * returns false. KV deletes expired keys lazily, so the stored time decides, not the key's
 * presence.
 */
export async function seen(
  kv: Deno.Kv,
  scope: string,
  id: string,
  ttlMs: number,
  now: number = Date.now(),
): Promise<boolean> {
  if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be positive, got ${ttlMs}`);
  const key = [PREFIX, scope, id];
  // A lost race retries: the winner's mark is then read and reported as seen.
  for (let tries = 0; tries < 5; tries++) {
    const cur = await kv.get<Mark>(key);
    if (cur.value && cur.value.until > now) return true;
    const res = await kv.atomic()
      .check(cur)
      .set(key, { until: now + ttlMs } satisfies Mark, { expireIn: ttlMs })
      .commit();
    if (res.ok) return false;
  }
  throw new Error(`Deduplication of ${scope}/${id} kept conflicting`);
}

/** Removes the mark, so a retry of a message whose handling failed is handled again. */
export async function forget(kv: Deno.Kv, scope: string, id: string): Promise<void> {
  await kv.delete([PREFIX, scope, id]);
}
