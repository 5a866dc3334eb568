/**
 * Structured logs: one JSON object per line on stderr, written by pino.
 *
 * - Every error is logged whole: `err` holds its type, message, stack and causes (pino's error
 *   serialiser). An `Error` given under any other field name is moved to `err`, so searches need
 *   one field name; a second error in the same record keeps its own name, serialised alike.
 * - Lines logged while a request or a connection is handled carry its `request_id` or
 *   `connection_id` (and whatever else `withLogContext` set): the context follows the async work
 *   started from there (AsyncLocalStorage), so a service deep below the route needs no parameter.
 * - A warning or error that repeats (same message, same error type and text with numbers
 *   ignored) is written `burst` times per window; the rest of the window is counted and written
 *   as one `repeated` line when the window ends — a Kafka outage is a few lines every 10 s per
 *   node, not ~50 a second.
 *
 * The interface stays small (`debug`/`info`/`warn`/`error` with a fields object, `with` for
 * bound fields) so that the engine does not depend on pino's API beyond this file.
 */
import pino from "pino";
import { AsyncLocalStorage } from "node:async_hooks";
import { type Clock, SystemClock, type TimerId } from "./runtime/clock.ts";

export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
  /** A logger whose every line also carries `fields` (an actor's address, a node id, …). */
  with(fields: Record<string, unknown>): Logger;
  /** Writes what the repeat windows still hold and stops their timers (at shutdown). */
  close(): void;
}

export interface LoggerOptions {
  /** Where lines go (one JSON object each, without the newline); stderr by default. */
  readonly write?: (line: string) => void;
  /** Drives the repeat windows; the real clock by default. */
  readonly clock?: Clock;
  /** Repeat window length (ms); 10 s by default. */
  readonly repeatWindowMs?: number;
  /** Lines of one repeating warning or error written per window before counting; 3 by default. */
  readonly burst?: number;
}

/** The fields of the request or connection being handled, for every line logged meanwhile. */
const context = new AsyncLocalStorage<Readonly<Record<string, unknown>>>();

/**
 * Runs `fn` with `fields` added to every line logged by it and by the async work it starts
 * (nested contexts add to the outer one).
 */
export function withLogContext<T>(fields: Readonly<Record<string, unknown>>, fn: () => T): T {
  const outer = context.getStore();
  return context.run(outer ? { ...outer, ...fields } : fields, fn);
}

const NO_CONTEXT: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * Runs `fn` outside any request or connection context: for loops that serve every caller (an
 * actor's mailbox), which would otherwise carry the id of whoever happened to start them.
 */
export function withoutLogContext<T>(fn: () => T): T {
  // An empty context, not `exit`: Deno's `exit` leaves the async continuations in the outer one.
  return context.run(NO_CONTEXT, fn);
}

/** The fields `withLogContext` set for the work running now, if any. */
export function logContext(): Readonly<Record<string, unknown>> | undefined {
  return context.getStore();
}

const stderr = new TextEncoder();
function writeStderr(line: string): void {
  // Synchronous: the last lines before a crash are on the terminal, not in a buffer.
  const bytes = stderr.encode(line.endsWith("\n") ? line : line + "\n");
  let off = 0;
  while (off < bytes.length) off += Deno.stderr.writeSync(bytes.subarray(off));
}

/**
 * Moves the first `Error` among the fields under `err` (one name for searches); any other error
 * is serialised in place (JSON would write `{}`).
 */
function normalise(fields: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const [k, v] of Object.entries(fields)) {
    if (!(v instanceof Error) || k === "err") continue;
    out ??= { ...fields };
    if (out.err === undefined) {
      delete out[k];
      out = { err: v, ...out };
    } else {
      out[k] = pino.stdSerializers.errWithCause(v);
    }
  }
  return out ?? fields;
}

/** What makes two warnings "the same": message and error, numbers (ports, ids, counts) aside. */
function repeatKey(level: Level, msg: string, fields: Record<string, unknown>): string {
  const err = fields.err;
  const what = err instanceof Error
    ? `${err.name}:${err.message}`
    : typeof err === "string"
    ? err
    : "";
  return `${level}\u0000${msg}\u0000${what.replace(/\d+/g, "#").slice(0, 300)}`;
}

interface Window {
  readonly level: Level;
  readonly msg: string;
  readonly startedAt: number;
  written: number;
  suppressed: number;
  /** The bound fields of the last suppressed line (its actor, its partition). */
  last: Record<string, unknown>;
  lastSink: pino.Logger;
  timer: TimerId | null;
}

/** The repeat windows of one root logger and its `with` children. */
class Repeats {
  readonly #windows = new Map<string, Window>();
  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly burst: number,
  ) {}

  /** Whether to write this line now; counts it otherwise. */
  admit(
    key: string,
    level: Level,
    msg: string,
    fields: Record<string, unknown>,
    sink: pino.Logger,
  ): boolean {
    const now = this.clock.now();
    let w = this.#windows.get(key);
    if (w && now - w.startedAt >= this.windowMs) {
      this.#end(key, w);
      w = undefined;
    }
    if (!w) {
      w = {
        level,
        msg,
        startedAt: now,
        written: 0,
        suppressed: 0,
        last: fields,
        lastSink: sink,
        timer: null,
      };
      this.#windows.set(key, w);
      // A window that wrote everything it saw ends quietly; the map is trimmed as it grows.
      if (this.#windows.size > 1000) this.#trim(now);
    }
    if (w.written < this.burst) {
      w.written++;
      return true;
    }
    w.suppressed++;
    w.last = fields;
    w.lastSink = sink;
    if (w.timer === null) {
      const win = w;
      w.timer = this.clock.setTimeout(() => {
        win.timer = null;
        if (this.#windows.get(key) === win) this.#end(key, win);
      }, Math.max(0, w.startedAt + this.windowMs - now));
    }
    return false;
  }

  #end(key: string, w: Window): void {
    this.#windows.delete(key);
    if (w.timer !== null) this.clock.clearTimeout(w.timer);
    w.timer = null;
    if (w.suppressed === 0) return;
    const { err, ...rest } = w.last;
    w.lastSink[w.level]({
      ...rest,
      ...(err === undefined ? {} : { err }),
      repeated: w.suppressed,
      window_s: Math.round((this.clock.now() - w.startedAt) / 1000),
    }, `${w.msg} (repeated)`);
  }

  #trim(now: number): void {
    for (const [k, w] of this.#windows) {
      if (w.suppressed === 0 && now - w.startedAt >= this.windowMs) this.#windows.delete(k);
    }
  }

  close(): void {
    for (const [k, w] of [...this.#windows]) this.#end(k, w);
  }
}

class PinoLogger implements Logger {
  constructor(
    private readonly sink: pino.Logger,
    private readonly min: number,
    private readonly repeats: Repeats,
  ) {}

  #emit(level: Level, msg: string, fields: Record<string, unknown> = {}): void {
    if (ORDER[level] < this.min) return;
    const f = normalise(fields);
    if (ORDER[level] >= ORDER.warn) {
      if (!this.repeats.admit(repeatKey(level, msg, f), level, msg, f, this.sink)) return;
    }
    this.sink[level](f, msg);
  }

  debug(msg: string, fields?: Record<string, unknown>): void {
    this.#emit("debug", msg, fields);
  }
  info(msg: string, fields?: Record<string, unknown>): void {
    this.#emit("info", msg, fields);
  }
  warn(msg: string, fields?: Record<string, unknown>): void {
    this.#emit("warn", msg, fields);
  }
  error(msg: string, fields?: Record<string, unknown>): void {
    this.#emit("error", msg, fields);
  }
  with(fields: Record<string, unknown>): Logger {
    return new PinoLogger(this.sink.child(fields), this.min, this.repeats);
  }
  close(): void {
    this.repeats.close();
  }
}

/**
 * A logger writing JSON lines at `level` and above. `write` (tests) receives each line; the
 * second form takes the options whole.
 */
export function createLogger(
  level: Level = "info",
  writeOrOptions: ((line: string) => void) | LoggerOptions = {},
): Logger {
  const o: LoggerOptions = typeof writeOrOptions === "function"
    ? { write: writeOrOptions }
    : writeOrOptions;
  const write = o.write ?? writeStderr;
  const sink = pino({
    level: "debug", // the level is applied above, before the repeat windows count
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    messageKey: "msg",
    errorKey: "err",
    formatters: { level: (label) => ({ level: label }) },
    serializers: { err: pino.stdSerializers.errWithCause },
    mixin: () => ({ ...context.getStore() }),
    // pino calls write with the line and its newline; tests want the line.
  }, { write: (s: string) => write(s.endsWith("\n") ? s.slice(0, -1) : s) });
  const repeats = new Repeats(
    o.clock ?? new SystemClock(),
    o.repeatWindowMs ?? 10_000,
    o.burst ?? 3,
  );
  return new PinoLogger(sink, ORDER[level], repeats);
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  with: () => silentLogger,
  close() {},
};

/** A logger handing each record to `record` (tests that look at what was logged). */
export function recordingLogger(
  record: (level: Level, msg: string, fields: Record<string, unknown>) => void,
): Logger {
  const log: Logger = {
    debug: (msg, fields = {}) => record("debug", msg, fields),
    info: (msg, fields = {}) => record("info", msg, fields),
    warn: (msg, fields = {}) => record("warn", msg, fields),
    error: (msg, fields = {}) => record("error", msg, fields),
    with: (bound) => recordingLogger((l, m, f) => record(l, m, { ...bound, ...f })),
    close() {},
  };
  return log;
}
