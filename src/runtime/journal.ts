/**
 * Event log and snapshots of actors in Deno KV.
 *
 * Keys (all under a configurable prefix):
 * - `[...prefix, "ev", type, id, firstSeq]` → UTF-8 JSON of an array of envelopes: the events one
 *   batch wrote (a chunk), so a busy actor costs one key per batch, not one per event.
 * - `[...prefix, "sn", type, id]` → snapshot header `{seq, parts, clean, at}`.
 * - `[...prefix, "sp", type, id, seq, part]` → UTF-8 JSON pieces of the snapshot state.
 * - `[...prefix, "ob", type, id, seq, i]` → `{to, command, at}`: a command the actor owes another
 *   actor (a tell effect of its event `seq`), written with that event and deleted by the
 *   receiver in the atomic that handles it.
 */
import { AppError } from "../errors.ts";
import { type GroupCommitter, KV_LIMITS, type KvCheck, type KvMutation } from "./committer.ts";
import type { Envelope, KvWrite } from "./entity.ts";

export interface SnapshotHeader {
  readonly seq: number;
  readonly parts: number;
  readonly clean: boolean;
  readonly at: number;
}

/** A command an actor owes another (see the file's header, "ob"). */
export interface OwedRecord {
  readonly key: Deno.KvKey;
  readonly from: { readonly type: string; readonly id: string };
  readonly to: { readonly type: string; readonly id: string };
  readonly command: unknown;
  /** When it was decided (ms since epoch). */
  readonly at: number;
}

export interface Recovered<S, E> {
  readonly snapshot: { readonly header: SnapshotHeader; readonly state: S } | null;
  readonly events: Envelope<E>[];
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CHUNK_BYTES = KV_LIMITS.valueBytes;
/** Reads of one recovery before a gap in the stored log counts as real (see `recover`). */
const RECOVER_READS = 3;

export class Journal {
  readonly kv: Deno.Kv;
  readonly committer: GroupCommitter;
  readonly #prefix: Deno.KvKey;

  constructor(kv: Deno.Kv, committer: GroupCommitter, prefix: Deno.KvKey = ["a"]) {
    this.kv = kv;
    this.committer = committer;
    this.#prefix = prefix;
  }

  eventsKey(type: string, id: string, firstSeq: number): Deno.KvKey {
    return [...this.#prefix, "ev", type, id, firstSeq];
  }

  outboxKey(type: string, id: string, seq: number, i: number): Deno.KvKey {
    return [...this.#prefix, "ob", type, id, seq, i];
  }

  /** Owed commands, in sender and seq order (every sender's in the order it decided them). */
  async *owed(): AsyncGenerator<OwedRecord> {
    for await (
      const e of this.kv.list<Omit<OwedRecord, "key" | "from">>({
        prefix: [...this.#prefix, "ob"],
      })
    ) {
      const n = this.#prefix.length;
      const from = { type: String(e.key[n + 1]), id: String(e.key[n + 2]) };
      yield { key: e.key, from, ...e.value };
    }
  }

  /** Turns a run of consecutive envelopes into set-mutations of chunks of at most 60 KiB. */
  encodeEvents<E>(type: string, id: string, envelopes: readonly Envelope<E>[]): KvMutation[] {
    const out: KvMutation[] = [];
    let parts: Uint8Array[] = [];
    let bytes = 1;
    let first = 0;
    const flush = () => {
      if (parts.length === 0) return;
      // "[" + parts joined by "," + "]", each event encoded once.
      const value = new Uint8Array(bytes + 1);
      value[0] = 0x5b;
      let at = 1;
      parts.forEach((p, i) => {
        if (i > 0) value[at++] = 0x2c;
        value.set(p, at);
        at += p.byteLength;
      });
      value[at] = 0x5d;
      out.push({
        op: "set",
        key: this.eventsKey(type, id, first),
        value,
        size: value.byteLength + 64,
      });
      parts = [];
      bytes = 1;
    };
    for (const env of envelopes) {
      const encoded = encoder.encode(JSON.stringify(env));
      if (encoded.byteLength + 2 > CHUNK_BYTES) {
        throw new AppError("invalid_payload", `Event ${env.seq} of ${type} is too large to store`);
      }
      if (bytes + encoded.byteLength + 2 > CHUNK_BYTES) flush();
      if (parts.length === 0) first = env.seq;
      else bytes += 1;
      parts.push(encoded);
      bytes += encoded.byteLength;
    }
    flush();
    return out;
  }

  /**
   * Appends events durably through the group committer: one atomic when they fit (the usual
   * case), else consecutive atomics in order.
   */
  append<E>(
    type: string,
    id: string,
    envelopes: readonly Envelope<E>[],
    checks: readonly KvCheck[] = [],
    extra: readonly KvWrite[] = [],
  ): Promise<void> {
    const mutations = this.encodeEvents(type, id, envelopes);
    for (const w of coalesceWrites(extra)) mutations.push(toMutation(w));
    return this.#commitInBatches(mutations, checks);
  }

  /**
   * Every stored event chunk of one actor type, in key order (by id, then seq), a page at a time
   * from `cursor` (a KV list cursor; undefined: from the start). `cursor` of the answer goes on
   * after the page; null when the page was the last. For rebuilding derived data (search).
   */
  async eventPage<E>(
    type: string,
    cursor: string | undefined,
    limit: number,
  ): Promise<{ chunks: Array<{ id: string; events: Envelope<E>[] }>; cursor: string | null }> {
    const n = this.#prefix.length;
    const iter = this.kv.list<Uint8Array>(
      { prefix: [...this.#prefix, "ev", type] },
      { limit, ...(cursor ? { cursor } : {}) },
    );
    const chunks: Array<{ id: string; events: Envelope<E>[] }> = [];
    for await (const e of iter) {
      chunks.push({
        id: String(e.key[n + 2]),
        events: JSON.parse(decoder.decode(e.value)) as Envelope<E>[],
      });
    }
    return { chunks, cursor: chunks.length === limit ? iter.cursor : null };
  }

  /**
   * Latest snapshot plus every event after it.
   *
   * The reads are not one transaction: a snapshot that commits between the header read and the
   * event read (an owner that is still finishing one while another recovers the actor, or a
   * snapshot replacing the one being read) prunes the events after the header read, or deletes its
   * parts. Either shows as a gap or an incomplete snapshot, and a fresh read sees the newer
   * header; a gap that is still there after `RECOVER_READS` reads is real, and recovery refuses it.
   */
  async recover<S, E>(type: string, id: string): Promise<Recovered<S, E>> {
    for (let attempt = 1;; attempt++) {
      const last = attempt >= RECOVER_READS;
      const rec = await this.#readOnce<S, E>(type, id, last);
      if (rec) return rec;
    }
  }

  /** One read of snapshot and events; null when it saw a snapshot written meanwhile. */
  async #readOnce<S, E>(
    type: string,
    id: string,
    last: boolean,
  ): Promise<Recovered<S, E> | null> {
    const head = await this.kv.get<SnapshotHeader>([...this.#prefix, "sn", type, id]);
    let snapshot: Recovered<S, E>["snapshot"] = null;
    if (head.value) {
      const text: string[] = [];
      const iter = this.kv.list<Uint8Array>({
        prefix: [...this.#prefix, "sp", type, id, head.value.seq],
      });
      for await (const e of iter) text.push(decoder.decode(e.value));
      if (text.length !== head.value.parts) {
        if (!last) return null;
        throw new AppError("internal", `Snapshot of ${type} ${id} is incomplete`);
      }
      snapshot = { header: head.value, state: JSON.parse(text.join("")) as S };
    }
    const after = snapshot?.header.seq ?? 0;
    const events = await this.readEvents<E>(type, id, after, Infinity);
    if (!last && events.length > 0 && events[0].seq !== after + 1) return null;
    return { snapshot, events };
  }

  /** Events with seq > afterSeq, in order, at most `limit` of them. */
  async readEvents<E>(
    type: string,
    id: string,
    afterSeq: number,
    limit: number,
  ): Promise<Envelope<E>[]> {
    const out: Envelope<E>[] = [];
    const base = [...this.#prefix, "ev", type, id];
    // The chunk holding afterSeq+1 may start before it: find it with one reverse read (from the
    // start there is nothing before: one read less for every actor without a snapshot).
    let start = afterSeq + 1;
    if (afterSeq > 0) {
      const before = this.kv.list<Uint8Array>(
        { start: [...base, 0], end: [...base, afterSeq + 2] },
        { reverse: true, limit: 1 },
      );
      for await (const e of before) start = e.key[e.key.length - 1] as number;
    }
    const iter = this.kv.list<Uint8Array>({ start: [...base, start], end: [...base, Infinity] });
    for await (const e of iter) {
      for (const env of JSON.parse(decoder.decode(e.value)) as Envelope<E>[]) {
        if (env.seq <= afterSeq) continue;
        if (out.length >= limit) return out;
        out.push(env);
      }
    }
    return out;
  }

  /**
   * Writes a snapshot at `seq`, replacing the previous one. When `pruneEvents` is set, deletes the
   * event chunks the snapshot covers entirely.
   */
  async writeSnapshot<S>(
    type: string,
    id: string,
    seq: number,
    state: S,
    opts: { clean: boolean; at: number; pruneEvents: boolean; checks?: readonly KvCheck[] },
  ): Promise<SnapshotHeader> {
    const headKey = [...this.#prefix, "sn", type, id];
    const prev = (await this.kv.get<SnapshotHeader>(headKey)).value;
    const bytes = encoder.encode(JSON.stringify(state));
    const parts: Uint8Array[] = [];
    for (let i = 0; i < bytes.byteLength; i += CHUNK_BYTES) {
      parts.push(bytes.subarray(i, i + CHUNK_BYTES));
    }
    if (parts.length === 0) parts.push(new Uint8Array());
    const header: SnapshotHeader = { seq, parts: parts.length, clean: opts.clean, at: opts.at };
    const partMutations: KvMutation[] = parts.map((value, i) => ({
      op: "set",
      key: [...this.#prefix, "sp", type, id, seq, i],
      value,
      size: value.byteLength + 64,
    }));
    const finish: KvMutation[] = [{ op: "set", key: headKey, value: header, size: 128 }];
    if (prev && prev.seq !== seq) {
      for (let i = 0; i < prev.parts; i++) {
        finish.push({
          op: "delete",
          key: [...this.#prefix, "sp", type, id, prev.seq, i],
          size: 64,
        });
      }
    }
    if (opts.pruneEvents) finish.push(...await this.#pruneMutations(type, id, seq));
    // Parts first, in atomics that fit; the header that points at them last.
    const checks = opts.checks ?? [];
    await this.#commitInBatches(partMutations, checks);
    await this.#commitInBatches(finish, checks);
    return header;
  }

  async #pruneMutations(type: string, id: string, seq: number): Promise<KvMutation[]> {
    const base = [...this.#prefix, "ev", type, id];
    const firsts: number[] = [];
    for await (const e of this.kv.list({ start: [...base, 0], end: [...base, seq + 2] })) {
      firsts.push(e.key[e.key.length - 1] as number);
    }
    // A chunk ends just before the next one starts; the last one listed may reach past `seq`,
    // so only chunks with a listed successor are known to be covered by the snapshot.
    return firsts.slice(0, -1).map((first) => ({ op: "delete", key: [...base, first], size: 64 }));
  }

  async #commitInBatches(mutations: KvMutation[], checks: readonly KvCheck[]): Promise<void> {
    if (mutations.length <= KV_LIMITS.mutations) {
      const bytes = mutations.reduce((n, m) => n + m.size, 0);
      if (bytes <= KV_LIMITS.bytes) return await this.committer.commit(mutations, checks);
    }
    let i = 0;
    while (i < mutations.length) {
      let bytes = 0, n = 0;
      while (
        i + n < mutations.length && n < KV_LIMITS.mutations &&
        bytes + mutations[i + n].size <= KV_LIMITS.bytes
      ) {
        bytes += mutations[i + n].size;
        n++;
      }
      await this.committer.commit(mutations.slice(i, i + n), checks);
      i += n;
    }
  }
}

/**
 * Sums (or maxima) on the same key become one: a batch of 50 messages adds 50 to a counter once
 * and raises a high-water mark once.
 */
export function coalesceWrites(writes: readonly KvWrite[]): KvWrite[] {
  const out: KvWrite[] = [];
  const merged = new Map<string, number>();
  for (const w of writes) {
    if (w.op !== "sum" && w.op !== "max") {
      out.push(w);
      continue;
    }
    const k = `${w.op}:${JSON.stringify(w.key)}`;
    const at = merged.get(k);
    if (at === undefined) {
      merged.set(k, out.length);
      out.push(w);
      continue;
    }
    const prev = out[at] as typeof w;
    const n = w.op === "sum" ? prev.n + w.n : (w.n > prev.n ? w.n : prev.n);
    out[at] = { op: w.op, key: w.key, n };
  }
  return out;
}

function toMutation(w: KvWrite): KvMutation {
  const keySize = JSON.stringify(w.key).length + 16;
  switch (w.op) {
    case "sum":
    case "max":
      return { op: w.op, key: w.key, n: w.n, size: keySize + 8 };
    case "delete":
      return { op: "delete", key: w.key, size: keySize };
    case "set": {
      const size = keySize + JSON.stringify(w.value ?? null).length * 3;
      if (size > KV_LIMITS.valueBytes) {
        throw new AppError("internal", "Extra KV write is too large");
      }
      return { op: "set", key: w.key, value: w.value, size };
    }
  }
}
