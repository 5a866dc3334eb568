/**
 * Scrubbing ids out of another actor's stored log. The queue's log names every chat it routed
 * (and its client), an operator's the chats they held, a client's the chats they had: deleting a
 * chat leaves those mentions behind, in event chunks and in the snapshot.
 *
 * Why a rewrite is safe: chunks and snapshot parts are written once and later only deleted (by a
 * snapshot that covers them), so a rewrite checked against each value's versionstamp never races
 * the live actor, whose memory no longer holds the id (the caller has made sure the actor let the
 * chat go). Each id becomes one random pseudonym (`erased-` + 12 hex) everywhere in that actor's
 * log, so replaying it gives the same state as before (the chat came and went under another
 * name), and every changed value of one actor is written in ONE atomic: a log half scrubbed
 * could replay an `enqueued` under the pseudonym and its `released` under the old id, leaving a
 * phantom chat in the queue. The pseudonym is random, so nothing links it to the id.
 *
 * Matching is JSON-aware: a string equal to an id, or an object key equal to one, is replaced;
 * ids of 12 characters or more (UUIDs, Telegram ids, most user ids) are also replaced inside
 * longer strings (reasons that quote a chat id). Short ids inside free text are not touched.
 */
import { KV_LIMITS } from "../runtime/committer.ts";
import type { SnapshotHeader } from "../runtime/journal.ts";
import { ACTORS, mentions } from "./_kv.ts";

export type ScrubResult = "clean" | "scrubbed" | "too_large" | "busy";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
/** Ids at least this long are replaced inside longer strings too. */
const SUBSTRING_MIN = 12;
const ATTEMPTS = 5;

function pseudonym(): string {
  const b = crypto.getRandomValues(new Uint8Array(6));
  return `erased-${Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("")}`;
}

/** Replaces ids in a JSON text (see the file's header); the same id gets the same name. */
export function redactJson(text: string, names: Map<string, string>): string {
  const long = [...names].filter(([id]) => id.length >= SUBSTRING_MIN);
  const str = (s: string): string => {
    const exact = names.get(s);
    if (exact !== undefined) return exact;
    let out = s;
    for (const [id, name] of long) if (out.includes(id)) out = out.replaceAll(id, name);
    return out;
  };
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return str(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const o: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) o[names.get(k) ?? k] = walk(x);
      return o;
    }
    return v;
  };
  return JSON.stringify(walk(JSON.parse(text)));
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/**
 * Replaces `ids` wherever the stored log and snapshot of actor `type`/`id` mention them.
 * `clean`: nothing mentioned them; `too_large`: the changed values do not fit one atomic (the
 * caller tries again later, when a snapshot may have pruned the chunks); `busy`: the values kept
 * changing under it.
 */
export async function scrubActor(
  kv: Deno.Kv,
  type: string,
  id: string,
  ids: ReadonlySet<string>,
): Promise<ScrubResult> {
  const names = new Map([...ids].map((x) => [x, pseudonym()]));
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const op = kv.atomic();
    let checks = 0, mutations = 0, bytes = 0;
    const write = (entry: Deno.KvEntryMaybe<unknown>, value: Uint8Array) => {
      op.check(entry).set(entry.key, value);
      checks++;
      mutations++;
      bytes += value.byteLength + 128;
    };
    for await (const e of kv.list<Uint8Array>({ prefix: [...ACTORS, "ev", type, id] })) {
      const text = decoder.decode(e.value);
      if (mentions(text, ids)) write(e, encoder.encode(redactJson(text, names)));
    }
    const head = await kv.get<SnapshotHeader>([...ACTORS, "sn", type, id]);
    if (head.value) {
      const base = [...ACTORS, "sp", type, id, head.value.seq];
      const parts: Deno.KvEntry<Uint8Array>[] = [];
      for await (const e of kv.list<Uint8Array>({ prefix: base })) parts.push(e);
      const text = decoder.decode(concat(parts.map((p) => p.value)));
      if (parts.length === head.value.parts && mentions(text, ids)) {
        const redacted = encoder.encode(redactJson(text, names));
        const next: Uint8Array[] = [];
        for (let i = 0; i < redacted.byteLength; i += KV_LIMITS.valueBytes) {
          next.push(redacted.subarray(i, i + KV_LIMITS.valueBytes));
        }
        op.check(head);
        for (const p of parts) op.check(p);
        checks += 1 + parts.length;
        next.forEach((value, i) => {
          op.set([...base, i], value);
          mutations++;
          bytes += value.byteLength + 128;
        });
        for (let i = next.length; i < parts.length; i++) op.delete([...base, i]), mutations++;
        op.set(head.key, { ...head.value, parts: next.length } satisfies SnapshotHeader);
        mutations++;
      }
    }
    if (mutations === 0) return "clean";
    if (
      checks > KV_LIMITS.checks || mutations > KV_LIMITS.mutations || bytes > KV_LIMITS.bytes
    ) {
      return "too_large";
    }
    if ((await op.commit()).ok) return "scrubbed";
  }
  return "busy";
}
