/**
 * One engine.io v4 session: its write buffer, heartbeat (ping/pong reaping) and the polling →
 * WebSocket upgrade. It offers what socket.io uses of an engine.io socket (`id`, `request`,
 * `protocol`, `readyState`, `transport`, `write`, `close`, events `data`/`close`/`drain`/
 * `upgrade`/`heartbeat`). Design after `@socket.io/bun-engine` (MIT).
 */
import { EventEmitter } from "node:events";
import { IGNORE, type Packet, type PacketType, type Transport } from "./_socketio_transports.ts";

export interface EngineOptions {
  readonly pingInterval: number;
  readonly pingTimeout: number;
  readonly upgradeTimeout: number;
  /** Largest packet (and polling request body) in bytes; larger closes the connection. */
  readonly maxPayload: number;
}

/** The handshake request as socket.io reads it (`socket.handshake`). */
export interface HandshakeRequest {
  readonly url: string;
  readonly headers: Record<string, string>;
  readonly _query: Record<string, string>;
  readonly connection: { readonly encrypted: boolean };
}

type Timer = ReturnType<typeof setTimeout>;

export class EngineSocket extends EventEmitter {
  readonly protocol = 4;
  readyState: "open" | "closing" | "closed" = "open";
  transport: Transport;
  #buffer: Packet[] = [];
  #bytes = 0;
  /** The WebSocket being probed, and how to abandon it. */
  #upgrade: { ws: Transport; cancel(): void } | null = null;
  #upgraded = false;
  #ping: Timer | undefined;
  #pong: Timer | undefined;
  #closing: Timer | undefined;

  constructor(
    readonly id: string,
    readonly request: HandshakeRequest,
    readonly remoteAddress: string,
    transport: Transport,
    readonly o: EngineOptions,
  ) {
    super();
    this.transport = transport;
    this.#bind(transport);
    this.#send(
      "open",
      JSON.stringify({
        sid: id,
        upgrades: transport.name === "polling" ? ["websocket"] : [],
        pingInterval: o.pingInterval,
        pingTimeout: o.pingTimeout,
        maxPayload: o.maxPayload,
      }),
    );
    this.#schedulePing();
  }

  get upgraded(): boolean {
    return this.#upgraded;
  }

  /** Bytes waiting for the peer: queued packets plus what the transport has not sent. */
  get bufferedBytes(): number {
    return this.#bytes + this.transport.bufferedAmount;
  }

  /** Sends a `message` packet (what socket.io calls for each encoded packet). */
  write(data: string | Uint8Array): this {
    this.#send("message", data);
    return this;
  }

  send(data: string | Uint8Array): this {
    return this.write(data);
  }

  /**
   * Closes after what is queued has been flushed (bounded by `pingTimeout`), or at once with
   * `discard` (what is queued is dropped; a WebSocket closes with `code`/`reason`).
   */
  close(opts: { discard?: boolean; code?: number; reason?: string } = {}): void {
    if (this.readyState === "closed") return;
    if (opts.discard || this.#buffer.length === 0) {
      return this.#onClose("forced close", opts.code, opts.reason);
    }
    if (this.readyState === "closing") return;
    this.readyState = "closing";
    const close = () => this.#onClose("forced close", opts.code, opts.reason);
    this.once("drain", close);
    this.#closing = setTimeout(close, this.o.pingTimeout);
  }

  /** Resolves once at most `limit` bytes wait for the peer (or the socket closed). */
  async drained(limit: number): Promise<void> {
    while (this.readyState !== "closed" && this.bufferedBytes > limit) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  /** A WebSocket for this session: probe (`2probe` → `3probe`), then `5` switches to it. */
  maybeUpgrade(ws: Transport): void {
    if (this.#upgrade || this.#upgraded || this.readyState !== "open") return ws.close();
    let noops: ReturnType<typeof setInterval> | undefined;
    const done = () => {
      clearTimeout(timeout);
      clearInterval(noops);
      this.#upgrade = null;
    };
    const cancel = () => (done(), ws.close());
    const timeout = setTimeout(cancel, this.o.upgradeTimeout);
    this.#upgrade = { ws, cancel };
    // A pending poll is ended with `noop` so the client can pause polling without losing data.
    const noop = () => {
      if (this.transport.name === "polling" && this.transport.writable) {
        this.transport.send([{ type: "noop" }]);
      }
    };
    ws.sink = {
      packet: (p) => {
        if (p.type === "ping" && p.data === "probe") {
          ws.send([{ type: "pong", data: "probe" }]);
          noop();
          clearInterval(noops);
          noops = setInterval(noop, 100);
        } else if (p.type === "upgrade" && this.readyState !== "closed") {
          done();
          const old = this.transport;
          old.sink = IGNORE;
          old.close(0);
          this.#upgraded = true;
          this.#bind(ws);
          this.emit("upgrade", ws);
          this.#flush();
        } else {
          cancel();
        }
      },
      drain: () => {},
      closed: done,
    };
  }

  #bind(t: Transport): void {
    this.transport = t;
    t.sink = {
      packet: (p) => this.#onPacket(p),
      drain: () => this.#flush(),
      closed: (reason) => this.#onClose(reason),
    };
  }

  #onPacket(p: Packet): void {
    if (this.readyState === "closed") return;
    this.emit("packet", p);
    switch (p.type) {
      case "pong":
        if (this.#pong === undefined) return;
        clearTimeout(this.#pong);
        this.#pong = undefined;
        this.#schedulePing();
        this.emit("heartbeat");
        return;
      case "message":
        if (this.readyState === "open") this.emit("data", p.data);
        return;
      case "close":
        return this.#onClose("transport close");
      case "error":
      case "ping": // the v4 heartbeat goes server → client only
        return this.#onClose("parse error");
    }
  }

  #schedulePing(): void {
    this.#ping = setTimeout(() => {
      this.#send("ping");
      this.#pong = setTimeout(() => this.#onClose("ping timeout"), this.o.pingTimeout);
    }, this.o.pingInterval);
  }

  #send(type: PacketType, data?: string | Uint8Array): void {
    if (this.readyState !== "open") return;
    const p: Packet = data === undefined ? { type } : { type, data };
    this.#buffer.push(p);
    this.#bytes += 1 +
      (data === undefined ? 0 : typeof data === "string" ? data.length : data.byteLength);
    this.emit("packetCreate", p);
    this.#flush();
  }

  #flush(): void {
    if (this.readyState === "closed" || !this.transport.writable || !this.#buffer.length) return;
    const packets = this.#buffer;
    this.#buffer = [];
    this.#bytes = 0;
    this.transport.send(packets);
    this.emit("drain");
  }

  #onClose(reason: string, code?: number, text?: string): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    for (const t of [this.#ping, this.#pong, this.#closing]) clearTimeout(t);
    this.#buffer = [];
    this.#bytes = 0;
    this.#upgrade?.cancel();
    this.transport.sink = IGNORE;
    this.transport.close(code, text);
    this.emit("close", reason);
  }
}
