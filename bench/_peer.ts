/**
 * Thin WebSocket peers for the load generator. Hot frames (ack, message) go to a fast handler
 * that looks at the frame's prefix only; other frames are parsed only when someone waits for
 * their type, so idle sockets and large queue snapshots cost the bench almost nothing.
 */
import { FramePeer } from "./_client_peer.ts";
import { RawWs, type Socket } from "./_rawws.ts";

export interface Frame {
  type: string;
  payload: Record<string, unknown>;
  ref?: string;
}

/** Error frames and unexpected closes, counted by code, with a few examples kept. */
export class ErrorLog {
  total = 0;
  readonly byCode = new Map<string, number>();
  readonly examples: string[] = [];
  /** While set: frames outside the measured traffic (not ack/message), counted by type. */
  other: Map<string, number> | null = null;

  add(code: string, detail: string): void {
    this.total++;
    this.byCode.set(code, (this.byCode.get(code) ?? 0) + 1);
    if (this.examples.length < 5) this.examples.push(`${code}: ${detail.slice(0, 300)}`);
  }

  addFrame(raw: string): void {
    try {
      const f = JSON.parse(raw) as Frame;
      this.add(String(f.payload?.code ?? "error"), raw);
    } catch {
      this.add("bad_frame", raw);
    }
  }
}

export type ClientKind = "raw" | "std";

/** The WebSocket client of a pair (and every operator): frames dispatched as in `FramePeer`. */
export class Peer extends FramePeer {
  readonly ws: Socket;

  private constructor(ws: Socket, errors: ErrorLog) {
    super(errors);
    this.ws = ws;
    ws.onText = (raw) => {
      if (this.fast?.(raw)) return;
      if (raw.startsWith('{"type":"ping"')) { // the server's heartbeat: answer as a client would
        const id = (JSON.parse(raw) as Frame).payload?.id;
        if (typeof id === "string") {
          ws.send(`{"type":"pong","payload":{"id":${JSON.stringify(id)}}}`);
        }
      }
      this.dispatch(raw, true);
    };
    ws.onClose = (code, reason) => {
      if (!this.closing) errors.add(`closed_${code}`, reason || "socket closed by server");
      this.#onClose?.(code);
    };
  }

  #onClose: ((code: number) => void) | null = null;

  /** Opens a socket and waits for the server's `connected` frame (or the frame `until`). */
  static async open(
    url: string,
    errors: ErrorLog,
    kind: ClientKind = "raw",
    timeoutMs = 30_000,
    until = "connected",
  ): Promise<Peer> {
    const ws = kind === "raw" ? await RawWs.connect(url, timeoutMs) : await stdSocket(url);
    const peer = new Peer(ws, errors);
    const connected = peer.waitFor(until, () => true, timeoutMs);
    const closed = new Promise<never>((_, reject) => {
      peer.#onClose = (code) => reject(new Error(`socket closed (${code}) before connected`));
    });
    ws.start();
    try {
      await Promise.race([connected, closed]);
      return peer;
    } catch (err) {
      peer.close();
      throw err;
    } finally {
      peer.#onClose = null;
    }
  }

  sendRaw(text: string): void {
    this.ws.send(text);
  }

  send(type: string, payload: Record<string, unknown>, ref?: string): void {
    this.ws.send(JSON.stringify(ref ? { type, payload, ref } : { type, payload }));
  }

  close(): void {
    this.closing = true;
    try {
      this.ws.close();
    } catch { /* already closed */ }
  }
}

/** Runs `fn` over 0..n-1 with at most `concurrency` at once; fails on the first error. */
export async function pool<T>(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
  onProgress?: (done: number) => void,
): Promise<T[]> {
  const out = new Array<T>(n);
  let next = 0, done = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      out[i] = await fn(i);
      if (++done % 1000 === 0) onProgress?.(done);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return out;
}

export interface CreatedChat {
  chat_id: string;
  client_id: string;
  ws_url: string;
}

/** A chat of a new anonymous visitor (the bench server lifts the creation rate limits). */
export async function createChat(baseUrl: string): Promise<CreatedChat> {
  const res = await fetch(`${baseUrl}/api/v1/chat/chats`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: "{}",
    signal: AbortSignal.timeout(30_000),
  });
  if (res.status !== 201) throw new Error(`create chat: ${res.status} ${await res.text()}`);
  return await res.json();
}

export function staffWsUrl(baseUrl: string, token: string): string {
  return `${baseUrl.replace(/^http/, "ws")}/api/v1/chat/ws/chat?token=${encodeURIComponent(token)}`;
}

/** The standard WebSocket class behind the same interface (`--client std`). */
export function stdSocket(url: string): Promise<Socket> {
  const ws = new WebSocket(url);
  const s: Socket = {
    onText: () => {},
    onClose: () => {},
    start: () => {},
    send: (text) => ws.send(text),
    close: () => ws.close(),
  };
  ws.onmessage = (e) => s.onText(e.data as string);
  ws.onclose = (e) => s.onClose(e.code, e.reason);
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(s);
    ws.onerror = (e) => reject(new Error(`WebSocket error: ${(e as ErrorEvent).message}`));
  });
}
