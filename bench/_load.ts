/**
 * Client–operator pairs and the measured traffic. A pair is one chat: its client sends messages
 * (each with a `client_msg_id`), at most `inflight` of them waiting for their `ack`; its operator
 * receives them. The send time (performance.now()) travels in the text, so the operator side
 * measures client-to-operator latency on the same clock.
 */
import type { ClientPeer, Transport } from "./_client_peer.ts";
import { type ClientKind, type CreatedChat, type ErrorLog, Peer, staffWsUrl } from "./_peer.ts";
import { SioPeer } from "./_sio_peer.ts";
import { SsePeer } from "./_sse_peer.ts";

export interface Counters {
  sent: number;
  acked: number;
  /** Messages answered with an error frame instead of an ack (never delivered). */
  failed: number;
  delivered: number;
  /** Rate mode: sends skipped because the pair already had `inflight` messages waiting. */
  skipped: number;
  sentWin: number;
  ackedWin: number;
  deliveredWin: number;
}

export interface LoadOptions {
  readonly inflight: number;
  /** Total messages per second over all pairs; 0 = as fast as acks allow. */
  readonly rate: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly textSize: number;
  readonly drainMs: number;
  /** Called when the measured window opens and when it closes. */
  readonly onWindow?: (edge: "start" | "end") => void;
  /** Also keeps the window's latencies per group (0, 1, …) of pairs, in `byGroup`. */
  readonly groupOf?: (p: Pair) => number;
}

export interface LoadResult {
  readonly counters: Counters;
  /** Latencies (ms) of messages sent inside the measured window. */
  readonly latencies: Float64Array;
  /** Send → ack round trips (ms) of the client, for messages sent inside the window. */
  readonly ackLatencies: Float64Array;
  /** With `groupOf`: the same latencies split by group (index = group); else empty. */
  readonly byGroup: Float64Array[];
  /** Rate mode: how late sends left against their schedule (ms), p99 and max. */
  readonly sendLagP99: number;
  readonly sendLagMax: number;
  readonly windowStart: number;
  readonly windowEnd: number;
}

export class Pair {
  inflight = 0;
  n = 0;
  /** Send times of the messages waiting for their ack, oldest first (acks come in order). */
  readonly sentAt: number[] = [];
  constructor(
    readonly idx: number,
    readonly chatId: string,
    readonly client: ClientPeer,
    readonly op: Peer,
  ) {}
}

/**
 * Opens the client (over `transport`) and the operator (WebSocket); the operator accepts; both
 * see `chat_assigned`. The operator connects to `opBaseUrl` (default `baseUrl`; another cluster
 * node in bench/cluster.ts); a WebSocket client always to the chat's `ws_url`.
 */
export async function setUpPair(
  idx: number,
  chat: CreatedChat,
  staffToken: string,
  baseUrl: string,
  errors: ErrorLog,
  kind: ClientKind,
  transport: Transport = "ws",
  opBaseUrl: string = baseUrl,
): Promise<Pair> {
  const client: ClientPeer = transport === "sse"
    ? await SsePeer.open(baseUrl, chat.ws_url, errors, kind)
    : transport.startsWith("socketio")
    ? await SioPeer.open(baseUrl, chat.ws_url, errors, transport === "socketio-polling")
    : await Peer.open(chat.ws_url, errors, kind);
  const op = await Peer.open(staffWsUrl(opBaseUrl, staffToken), errors, kind);
  const isMine = (f: { payload: Record<string, unknown> }) => f.payload.chat_id === chat.chat_id;
  const clientAssigned = client.waitFor("chat_assigned", isMine);
  const opAssigned = op.waitFor("chat_assigned", isMine);
  const ref = `accept-${idx}`;
  const reply = op.waitFor("*", (f) => f.ref === ref);
  op.send("accept_chat", { chat_id: chat.chat_id }, ref);
  const r = await reply;
  if (r.type !== "ack") throw new Error(`accept_chat of pair ${idx} failed: ${JSON.stringify(r)}`);
  await Promise.all([clientAssigned, opAssigned]);
  return new Pair(idx, chat.chat_id, client, op);
}

class Samples {
  #buf = new Float64Array(1 << 16);
  #n = 0;
  push(v: number): void {
    if (this.#n === this.#buf.length) {
      const bigger = new Float64Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    this.#buf[this.#n++] = v;
  }
  values(): Float64Array {
    return this.#buf.slice(0, this.#n);
  }
}

const MARK = '"message":"';

export async function runLoad(pairs: Pair[], o: LoadOptions): Promise<LoadResult> {
  const c: Counters = {
    sent: 0,
    acked: 0,
    failed: 0,
    delivered: 0,
    skipped: 0,
    sentWin: 0,
    ackedWin: 0,
    deliveredWin: 0,
  };
  const lat = new Samples();
  const acks = new Samples();
  const groups: Samples[] = [];
  const lags = new Samples();
  const t0 = performance.now();
  const winStart = t0 + o.warmupMs;
  const winEnd = winStart + o.durationMs;
  const inWin = (t: number) => t >= winStart && t < winEnd;
  let sending = true;
  const pad = "x".repeat(Math.max(0, o.textSize - 12));
  const drained = Promise.withResolvers<void>();
  const checkDrained = () => {
    if (!sending && c.acked + c.failed >= c.sent && c.delivered >= c.acked) drained.resolve();
  };

  const send = (p: Pair) => {
    const now = performance.now();
    const t = now.toFixed(3).padStart(11, "0");
    p.client.sendRaw(
      `{"type":"message","payload":{"text":"${t} ${pad}","client_msg_id":"${p.idx}-${++p.n}"}}`,
    );
    p.inflight++;
    p.sentAt.push(now);
    c.sent++;
    if (inWin(now)) c.sentWin++;
  };

  for (const p of pairs) {
    const g = o.groupOf ? o.groupOf(p) : -1;
    if (g >= 0) { while (groups.length <= g) groups.push(new Samples()); }
    p.client.fast = (raw) => {
      // During the run the client sends only messages: each ack or error answers one of them.
      const isError = raw.startsWith('{"type":"error"');
      if (isError || raw.startsWith('{"type":"ack"')) {
        p.inflight--;
        if (isError) c.failed++;
        else c.acked++;
        const now = performance.now();
        const sentAt = p.sentAt.shift()!;
        if (!isError && inWin(sentAt)) acks.push(now - sentAt);
        if (!isError && inWin(now)) c.ackedWin++;
        if (o.rate === 0 && sending && now < winEnd) send(p);
        checkDrained();
        return !isError; // error frames go on to the error log
      }
      return raw.startsWith('{"type":"message"'); // the client's own message, echoed
    };
    p.op.fast = (raw) => {
      if (!raw.startsWith('{"type":"message"')) return false;
      const now = performance.now();
      const i = raw.indexOf(MARK);
      const sentAt = parseFloat(raw.slice(i + MARK.length, i + MARK.length + 11));
      c.delivered++;
      if (inWin(now)) c.deliveredWin++;
      if (inWin(sentAt)) {
        lat.push(now - sentAt);
        if (g >= 0) groups[g].push(now - sentAt);
      }
      checkDrained();
      return true;
    };
  }

  if (o.rate === 0) {
    for (const p of pairs) for (let k = 0; k < o.inflight; k++) send(p);
  } else {
    let scheduled = 0, rr = 0;
    const perMs = o.rate / 1000;
    const tick = () => {
      const now = performance.now();
      if (now >= winEnd) {
        clearInterval(timer);
        sending = false;
        checkDrained();
        return;
      }
      const due = Math.floor((now - t0) * perMs);
      for (; scheduled < due; scheduled++) {
        const p = pairs[rr++ % pairs.length];
        const plannedAt = t0 + scheduled / perMs;
        if (p.inflight >= o.inflight) {
          c.skipped++;
          continue;
        }
        if (inWin(plannedAt)) lags.push(now - plannedAt);
        send(p);
      }
    };
    const timer = setInterval(tick, 1);
  }

  await sleep(winStart - performance.now());
  o.onWindow?.("start");
  await sleep(winEnd - performance.now());
  o.onWindow?.("end");
  sending = false;
  checkDrained();
  let drainTimer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<void>((r) => drainTimer = setTimeout(r, o.drainMs));
  await Promise.race([drained.promise, timeout]);
  clearTimeout(drainTimer);
  for (const p of pairs) p.client.fast = p.op.fast = null;
  const lagValues = lags.values().sort();
  return {
    counters: c,
    latencies: lat.values(),
    ackLatencies: acks.values(),
    byGroup: groups.map((s) => s.values()),
    sendLagP99: percentile(lagValues, 0.99),
    sendLagMax: lagValues.length ? lagValues[lagValues.length - 1] : 0,
    windowStart: winStart,
    windowEnd: winEnd,
  };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}
