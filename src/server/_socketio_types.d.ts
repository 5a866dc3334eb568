/**
 * The part of the `socket.io` server API that `socketio.ts` uses (via `@ts-types`). The package's
 * own declarations pull in the newest `@types/node` (engine.io depends on `>=10`), which would
 * replace the Node types of the whole project and break other modules' type checks.
 */
export interface Handshake {
  readonly auth: Record<string, unknown>;
  readonly query: Record<string, unknown>;
  readonly headers: Record<string, string | undefined>;
}

export interface Socket {
  readonly id: string;
  readonly connected: boolean;
  /** The engine.io socket underneath (ours: `EngineSocket`). */
  readonly conn: unknown;
  readonly handshake: Handshake;
  emit(event: string, ...args: unknown[]): boolean;
  onAny(listener: (event: unknown, ...args: unknown[]) => void): this;
  on(event: "disconnect", listener: (reason: string) => void): this;
  disconnect(close?: boolean): this;
}

export declare class Server {
  constructor(opts?: { serveClient?: boolean; connectTimeout?: number });
  /** Binds to an engine.io-compatible server (emits `connection` with engine sockets). */
  bind(engine: unknown): this;
  on(event: "connection", listener: (socket: Socket) => void): this;
  close(): Promise<void>;
}
