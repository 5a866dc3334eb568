/** KV helpers shared by the hint stores. */
import { AppError } from "../../errors.ts";

/** Every hint key lives under this prefix of the shared KV. */
export const HINTS_PREFIX: Deno.KvKey = ["hints"];

/** Optimistic writes from several nodes rarely collide; a few retries settle any collision. */
const ATTEMPTS = 10;

/**
 * Lets `build` read and fill an atomic (checking what it read), commits it, and starts again from
 * the reads when a check fails because another writer got there first. `build` returns false when
 * there is nothing to write, and may throw to abort. (It fills the atomic it is given rather than
 * returning one: an atomic refuses to be awaited, which returning it from an async function does.)
 */
export async function commitWithRetry(
  kv: Deno.Kv,
  build: (atomic: Deno.AtomicOperation) => Promise<boolean>,
): Promise<void> {
  for (let i = 0; i < ATTEMPTS; i++) {
    const op = kv.atomic();
    if (!await build(op)) return;
    const res = await op.commit();
    if (res.ok) return;
  }
  throw new AppError("overloaded", "Hint store is busy (concurrent writes); retry");
}
