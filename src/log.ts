/** Structured logging: one line per record, `level msg key=value ...`, to stderr. */
export type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

function format(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.stack ?? value.message);
  if (typeof value === "string") return /^[\w.:/@-]+$/.test(value) ? value : JSON.stringify(value);
  return JSON.stringify(value);
}

export function createLogger(
  level: Level = "info",
  write = (line: string) => console.error(line),
): Logger {
  const min = ORDER[level];
  const emit = (l: Level) => (msg: string, fields: Record<string, unknown> = {}) => {
    if (ORDER[l] < min) return;
    const kv = Object.entries(fields).map(([k, v]) => `${k}=${format(v)}`).join(" ");
    write(`${new Date().toISOString()} ${l.toUpperCase()} ${msg}${kv ? " " + kv : ""}`);
  };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

/** A logger that drops everything (tests). */
export const silentLogger: Logger = createLogger("error", () => {});
