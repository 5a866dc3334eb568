/**
 * A small engine.io v4 server on `Deno.serve` (Web `Request` → `Response`), which the official
 * `socket.io` server binds to with `io.bind(engine)`: handshake, long-polling requests, WebSocket
 * upgrades (the edge's `upgradeWebSocket`), routed to the {@link EngineSocket} of each session.
 * Protocol: https://socket.io/docs/v4/engine-io-protocol/
 */
import { EventEmitter } from "node:events";
import { upgradeWebSocket } from "./edge/upgrade.ts";
import { Buffer } from "node:buffer";
import { type EngineOptions, EngineSocket, type HandshakeRequest } from "./_socketio_socket.ts";
import { Polling, WsTransport } from "./_socketio_transports.ts";

export type { EngineOptions, EngineSocket };

/** Polling clients on other origins: tokens travel in the payload, never in cookies. */
const CORS = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, POST, OPTIONS",
  "access-control-allow-headers": "content-type, authorization",
};

export class Engine extends EventEmitter {
  readonly clients = new Map<string, EngineSocket>();
  readonly o: EngineOptions;

  constructor(o: EngineOptions) {
    super();
    this.o = o;
  }

  handle(req: Request, remoteAddress: string): Promise<Response> {
    const headers = new Headers(CORS);
    if (req.method === "OPTIONS") {
      return Promise.resolve(new Response(null, { status: 204, headers }));
    }
    const url = new URL(req.url);
    const q = url.searchParams;
    const name = q.get("transport");
    const fail = (code: number, message: string) => {
      headers.set("content-type", "application/json");
      return Promise.resolve(Response.json({ code, message }, { status: 400, headers }));
    };
    if (name !== "polling" && name !== "websocket") return fail(0, "Transport unknown");
    const isWs = req.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (isWs !== (name === "websocket")) return fail(3, "Bad request");
    const ws = () => {
      try {
        const { socket, response } = upgradeWebSocket(req, {
          idleTimeoutS: 0, // engine.io runs its own heartbeat
          maxMessageBytes: this.o.maxPayload,
          allowBinary: true,
        });
        return { t: new WsTransport(socket, this.o.maxPayload), response };
      } catch {
        return null; // not a valid upgrade request
      }
    };
    const sid = q.get("sid");
    if (sid) {
      const socket = this.clients.get(sid);
      if (!socket) return fail(1, "Session ID unknown");
      if (socket.transport.name !== "polling") return fail(3, "Bad request");
      if (!isWs) return (socket.transport as Polling).onRequest(req, headers);
      const up = ws();
      if (!up) return fail(3, "Bad request");
      socket.maybeUpgrade(up.t);
      return Promise.resolve(up.response);
    }
    if (req.method !== "GET") return fail(2, "Bad handshake method");
    if (q.get("EIO") !== "4") return fail(5, "Unsupported protocol version");
    const id = Buffer.from(crypto.getRandomValues(new Uint8Array(15))).toString("base64url");
    const request: HandshakeRequest = {
      url: url.pathname + url.search,
      headers: Object.fromEntries(req.headers),
      _query: Object.fromEntries(q),
      connection: { encrypted: url.protocol === "https:" },
    };
    const up = isWs ? ws() : null; // after reading the headers: the upgrade consumes the request
    if (isWs && !up) return fail(3, "Bad request");
    const transport = up ? up.t : new Polling(this.o.maxPayload);
    const socket = new EngineSocket(id, request, remoteAddress, transport, this.o);
    this.clients.set(id, socket);
    socket.once("close", () => this.clients.delete(id));
    const res = up ? Promise.resolve(up.response) : (transport as Polling).onRequest(req, headers);
    this.emit("connection", socket);
    return res;
  }

  /** Closes every session at once (server shutdown); pending polls are answered. */
  close(): void {
    for (const s of [...this.clients.values()]) s.close({ discard: true, code: 1001 });
  }
}
