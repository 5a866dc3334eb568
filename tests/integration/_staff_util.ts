/** Helpers of the staff-side tests (notes, roster, transcripts, range statistics). */
import assert from "node:assert/strict";
import { io, type Socket } from "socket.io-client";
import type { Frame, TestServer, WsClient } from "./_harness.ts";

// deno-lint-ignore no-explicit-any
export type Json = any;

/** GET `/api/v1/chat/<path>` with a token (or none); the status and the JSON (or text) body. */
export async function apiGet(
  server: TestServer,
  path: string,
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(new URL(`/api/v1/chat/${path}`, server.url), {
    headers: { ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
  });
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch { /* plain text */ }
  return { status: res.status, body, headers: res.headers };
}

/** GET that must answer 200; its JSON body. */
export async function getOk(server: TestServer, path: string, token?: string): Promise<Json> {
  const r = await apiGet(server, path, token);
  assert.equal(r.status, 200, `${path}: ${JSON.stringify(r.body)}`);
  return r.body;
}

/** The note and labels frames a connection received for a chat, as [type, seq]. */
export function staffEvents(ws: { frames: Frame[] }, chatId: string): Array<[string, number]> {
  return ws.frames.filter((f) =>
    (f.type === "note" || f.type === "labels") && f.payload.chat_id === chatId
  ).map((f) => [f.type, f.payload.seq as number]);
}

/** Whether any frame a peer received mentions `text` anywhere. */
export function sawText(frames: readonly Frame[], text: string): boolean {
  return frames.some((f) => JSON.stringify(f).includes(text));
}

/** Sends a note as `ws`; the ack (asserted). */
export async function note(ws: WsClient, chatId: string, text: string): Promise<Frame> {
  const ack = await ws.request("note", { chat_id: chatId, text });
  assert.equal(ack.type, "ack", JSON.stringify(ack));
  return ack;
}

/** A socket.io peer that records every event as a frame. */
export class SioPeer {
  readonly frames: Frame[] = [];
  readonly socket: Socket;
  #waiters: Array<{ test: (f: Frame) => boolean; resolve: (f: Frame) => void }> = [];

  constructor(server: TestServer, token: string) {
    this.socket = io(server.url, {
      forceNew: true,
      reconnection: false,
      transports: ["websocket"],
      auth: { token },
    });
    this.socket.onAny((type: string, payload: Record<string, unknown>) => {
      const f = { type, payload };
      this.frames.push(f);
      this.#waiters = this.#waiters.filter((w) => !(w.test(f) && (w.resolve(f), true)));
    });
  }

  next(test: (f: Frame) => boolean): Promise<Frame> {
    const found = this.frames.find(test);
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("socket.io: timed out")), 10_000);
      this.#waiters.push({ test, resolve: (f) => (clearTimeout(timer), resolve(f)) });
    });
  }

  request(type: string, payload: Record<string, unknown>): Promise<Frame> {
    return this.socket.timeout(10_000).emitWithAck(type, payload);
  }

  close(): void {
    this.socket.close();
  }
}
