/**
 * The client side of a pair over socket.io (`--transport socketio`, or `socketio-polling` for
 * HTTP long-polling): socket.io-client with `auth: {token, chat_id}`, event name = frame type,
 * each frame sent with an ack callback that receives the reply frame.
 */
import { io, type Socket } from "socket.io-client";
import { chatParams, FramePeer } from "./_client_peer.ts";
import type { ErrorLog, Frame } from "./_peer.ts";

export class SioPeer extends FramePeer {
  #onEnd: ((why: string) => void) | null = null;

  private constructor(readonly socket: Socket, errors: ErrorLog) {
    super(errors);
    socket.onAny((type: string, payload: unknown) => this.#deliver(type, payload));
    socket.on("disconnect", (reason: string) => {
      if (!this.closing) errors.add("sio_disconnect", reason);
      this.#onEnd?.(reason);
    });
    socket.on("connect_error", (err: Error) => this.#onEnd?.(`connect_error: ${err.message}`));
  }

  /** Connects with chat `wsUrl`'s token and waits for the `connected` event. */
  static async open(
    baseUrl: string,
    wsUrl: string,
    errors: ErrorLog,
    polling = false,
    timeoutMs = 30_000,
  ): Promise<SioPeer> {
    const socket = io(baseUrl, {
      auth: chatParams(wsUrl),
      transports: polling ? ["polling"] : ["websocket"],
      reconnection: false,
      forceNew: true,
      timeout: timeoutMs,
    });
    const peer = new SioPeer(socket, errors);
    const connected = peer.waitFor("connected", () => true, timeoutMs);
    const ended = new Promise<never>((_, reject) => {
      peer.#onEnd = (why) => reject(new Error(`socket.io closed before connected: ${why}`));
    });
    try {
      await Promise.race([connected, ended]);
      return peer;
    } catch (err) {
      peer.close();
      throw err;
    } finally {
      peer.#onEnd = null;
    }
  }

  /**
   * Hands an event to the load's fast handler. `ack` and `message` (the hot ones, which the
   * client-side handler tells apart by type alone) go as a bare `{"type":…}` first, so the bench
   * does not re-serialise what socket.io-client has already parsed.
   */
  #deliver(type: string, payload: unknown): void {
    const hot = this.fast !== null && (type === "ack" || type === "message");
    if (hot && this.fast!(`{"type":"${type}"}`)) return;
    this.dispatch(JSON.stringify({ type, payload }), hot);
  }

  sendRaw(text: string): void {
    const f = JSON.parse(text) as Frame;
    this.socket.emit(f.type, f.payload, (reply: Frame) => this.#deliver(reply.type, reply.payload));
  }

  close(): void {
    this.closing = true;
    this.socket.disconnect();
  }
}
