/**
 * What the load needs of a pair's client side, whatever carries it (`--transport`): the
 * WebSocket `Peer` of bench/_peer.ts, or the SSE and socket.io peers (bench/_sse_peer.ts,
 * bench/_sio_peer.ts), which share the frame dispatch below.
 */
import type { ErrorLog, Frame } from "./_peer.ts";

export type Transport = "ws" | "sse" | "socketio" | "socketio-polling";
export const TRANSPORTS: Transport[] = ["ws", "sse", "socketio", "socketio-polling"];

export interface ClientPeer {
  /** Returns true when it consumed the frame (raw JSON text). Set for the measured phase. */
  fast: ((raw: string) => boolean) | null;
  closing: boolean;
  waitFor(type: string, test: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>;
  /** Sends one inbound frame given as JSON text; its reply frame comes back through `fast`. */
  sendRaw(text: string): void;
  close(): void;
}

interface Waiter {
  type: string;
  test: (f: Frame) => boolean;
  resolve: (f: Frame) => void;
}

/** Frame dispatch as in `Peer`: fast handler first, then error log, counters and waiters. */
export abstract class FramePeer implements ClientPeer {
  fast: ((raw: string) => boolean) | null = null;
  closing = false;
  #waiters: Waiter[] = [];

  constructor(protected readonly errors: ErrorLog) {}

  abstract sendRaw(text: string): void;
  abstract close(): void;

  /** One frame from the server (JSON text); `skipFast` when the fast handler already saw it. */
  protected dispatch(raw: string, skipFast = false): void {
    if (!skipFast && this.fast?.(raw)) return;
    const type = raw.slice(9, raw.indexOf('"', 9)); // frames start with {"type":"
    if (type === "error") this.errors.addFrame(raw);
    const other = this.errors.other;
    if (other) other.set(type, (other.get(type) ?? 0) + 1);
    if (!this.#waiters.some((w) => w.type === type || w.type === "*")) return;
    const f = JSON.parse(raw) as Frame;
    this.#waiters = this.#waiters.filter((w) => {
      if ((w.type !== type && w.type !== "*") || !w.test(f)) return true;
      w.resolve(f);
      return false;
    });
  }

  /** The next frame of `type` ("*" = any) that passes `test`. */
  waitFor(type: string, test: (f: Frame) => boolean, timeoutMs = 15_000): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const w: Waiter = { type, test, resolve: (f) => (clearTimeout(timer), resolve(f)) };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${type}`));
      }, timeoutMs);
      this.#waiters.push(w);
    });
  }
}

/** `token` and `chat_id` of a chat's `ws_url`. */
export function chatParams(wsUrl: string): { token: string; chat_id: string } {
  const q = new URL(wsUrl).searchParams;
  return { token: q.get("token") ?? "", chat_id: q.get("chat_id") ?? "" };
}
