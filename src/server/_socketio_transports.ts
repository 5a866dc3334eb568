/**
 * engine.io v4 packets and its two transports over Web-standard `Request`/`Response`: HTTP
 * long-polling and WebSocket (the edge's `upgradeWebSocket`). Used by `_socketio_engine.ts`.
 * Protocol: https://socket.io/docs/v4/engine-io-protocol/
 */
import { Buffer } from "node:buffer";
import type { WebSocketLike } from "./ws_deno.ts";

export type PacketType = "open" | "close" | "ping" | "pong" | "message" | "upgrade" | "noop";
export interface Packet {
  readonly type: PacketType | "error";
  readonly data?: string | Uint8Array;
}

const TYPES: readonly PacketType[] = [
  "open",
  "close",
  "ping",
  "pong",
  "message",
  "upgrade",
  "noop",
];
/** Separates packets in a polling payload (ASCII record separator). */
const SEPARATOR = "\x1e";
const encoder = new TextEncoder();

export function encodePacket(p: Packet, binary: boolean): string | Uint8Array {
  if (p.data instanceof Uint8Array) {
    return binary ? p.data : "b" + Buffer.from(p.data).toString("base64");
  }
  return TYPES.indexOf(p.type as PacketType) + (p.data ?? "");
}

export function decodePacket(raw: string | ArrayBuffer): Packet {
  if (typeof raw !== "string") return { type: "message", data: new Uint8Array(raw) };
  if (raw[0] === "b") return { type: "message", data: Buffer.from(raw.slice(1), "base64") };
  const type = TYPES[raw.charCodeAt(0) - 48];
  if (type === undefined) return { type: "error" };
  return raw.length > 1 ? { type, data: raw.slice(1) } : { type };
}

/** Whether data is over `max` bytes (UTF-8 for text; encodes only when it may matter). */
export function overLimit(data: string | Uint8Array, max: number): boolean {
  if (typeof data !== "string") return data.byteLength > max;
  return data.length > max || (data.length * 3 > max && encoder.encode(data).byteLength > max);
}

/** What a transport reports to the socket it serves. */
export interface Sink {
  packet(p: Packet): void;
  /** The transport can take packets now (a poll arrived, the WebSocket opened). */
  drain(): void;
  closed(reason: string): void;
}

export const IGNORE: Sink = { packet() {}, drain() {}, closed() {} };

export interface Transport {
  readonly name: "polling" | "websocket";
  readonly writable: boolean;
  /** Bytes handed to the transport that the peer has not taken yet. */
  readonly bufferedAmount: number;
  sink: Sink;
  send(packets: Packet[]): void;
  /** Code 0: the session moved to another transport (polling then answers `noop`). */
  close(code?: number, reason?: string): void;
}

/** HTTP long-polling: a pending GET is answered with the next packets; a POST carries packets in. */
export class Polling implements Transport {
  readonly name = "polling";
  readonly bufferedAmount = 0;
  sink: Sink = IGNORE;
  #poll: { resolve(r: Response): void; headers: Headers } | null = null;
  #closed = false;
  readonly #maxPayload: number;

  constructor(maxPayload: number) {
    this.#maxPayload = maxPayload;
  }

  get writable(): boolean {
    return this.#poll !== null;
  }

  onRequest(req: Request, headers: Headers): Promise<Response> {
    if (req.method === "GET") return this.#onPoll(headers);
    if (req.method === "POST") return this.#onData(req, headers);
    return Promise.resolve(new Response(null, { status: 400, headers }));
  }

  #onPoll(headers: Headers): Promise<Response> {
    if (this.#poll || this.#closed) {
      this.sink.closed("transport error"); // overlapping polls are a protocol violation
      return Promise.resolve(new Response(null, { status: 400, headers }));
    }
    // A client that went away mid-poll is reaped by the ping timeout. (`req.signal` is not used:
    // Deno also aborts it after every successful response.)
    return new Promise((resolve) => {
      this.#poll = { resolve, headers };
      this.sink.drain();
    });
  }

  async #onData(req: Request, headers: Headers): Promise<Response> {
    const tooLarge = () => {
      this.sink.closed("transport error");
      return new Response(null, { status: 413, headers });
    };
    if (Number(req.headers.get("content-length") ?? 0) > this.#maxPayload) {
      await req.body?.cancel().catch(() => {});
      return tooLarge();
    }
    let text: string;
    try {
      text = await req.text();
    } catch {
      this.sink.closed("transport error");
      return new Response(null, { status: 400, headers });
    }
    if (overLimit(text, this.#maxPayload)) return tooLarge();
    for (const raw of text.split(SEPARATOR)) {
      const p = decodePacket(raw);
      this.sink.packet(p);
      if (p.type === "error") break;
    }
    headers.set("content-type", "text/html");
    return new Response("ok", { headers });
  }

  send(packets: Packet[]): void {
    const poll = this.#poll;
    if (!poll) return;
    this.#poll = null;
    poll.headers.set("content-type", "text/plain; charset=UTF-8");
    const body = packets.map((p) => encodePacket(p, false)).join(SEPARATOR);
    poll.resolve(new Response(body, { headers: poll.headers }));
  }

  /** Ends a pending poll with `close` (or `noop` when the socket moved to another transport). */
  close(code?: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.send([{ type: code === 0 ? "noop" : "close" }]);
  }
}

/** What is used of a server WebSocket (the edge's `ServerWebSocket`, or Deno's). */
type ServerSocket = WebSocketLike & { binaryType: string; send(data: string | Uint8Array): void };

/** A WebSocket; it opens after the upgrade response is returned. */
export class WsTransport implements Transport {
  readonly name = "websocket";
  sink: Sink = IGNORE;
  readonly #ws: ServerSocket;
  #open = false;
  #closeWhenOpen: [number, string] | null = null;

  constructor(ws: ServerSocket, maxPayload: number) {
    this.#ws = ws;
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      if (this.#closeWhenOpen) return ws.close(...this.#closeWhenOpen);
      this.#open = true;
      this.sink.drain();
    };
    ws.onmessage = (e: MessageEvent<string | ArrayBuffer>) => {
      if (!this.#open) return;
      if (overLimit(typeof e.data === "string" ? e.data : new Uint8Array(e.data), maxPayload)) {
        this.close(1009, "frame_too_large");
        return this.sink.closed("transport error");
      }
      this.sink.packet(decodePacket(e.data));
    };
    ws.onclose = ws.onerror = () => {
      this.#open = false;
      this.sink.closed("transport close");
    };
  }

  get writable(): boolean {
    return this.#open && this.#ws.readyState === 1; // OPEN
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(packets: Packet[]): void {
    if (!this.writable) return;
    try {
      for (const p of packets) this.#ws.send(encodePacket(p, true));
    } catch {
      // Closed under us; onclose cleans up.
    }
  }

  close(code = 1000, reason = ""): void {
    this.#open = false;
    if (this.#ws.readyState === 0) { // CONNECTING
      this.#closeWhenOpen = [code, reason];
      return;
    }
    try {
      this.#ws.close(code, reason);
    } catch {
      // Already closing.
    }
  }
}
