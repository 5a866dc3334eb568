/**
 * One pass over JSON text before it is parsed: its nesting depth (the protocol's frames and REST
 * bodies are a few levels deep, while a 64 KiB body of `[[[[…` is 65,536 levels that every
 * recursive walk — parse, validate, stringify — pays for) and the top-level `ref` of a frame, so
 * a frame refused before parsing (too deep, over the budget) still has its `ref` echoed.
 */

/** Deeper JSON than this is refused as `invalid_payload`. */
export const MAX_JSON_DEPTH = 32;

/** What a scan found. */
export interface JsonScan {
  readonly tooDeep: boolean;
  /** The value of a top-level `"ref": "…"` (1–64 characters, no escapes), if any. */
  readonly ref?: string;
}

const REF_VALUE = /^"([^"\\]{1,64})"/;

/** Scans JSON text: nesting beyond `max`, and the top-level `ref` of an object. */
export function scanJson(text: string, max = MAX_JSON_DEPTH): JsonScan {
  let depth = 0;
  let tooDeep = false;
  let ref: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const start = i;
      // Skip a string, with its escapes.
      for (i++; i < text.length; i++) {
        const d = text.charCodeAt(i);
        if (d === 0x5c) i++;
        else if (d === 0x22) break;
      }
      // A key of the top-level object named `ref`, followed by a plain string value.
      if (depth === 1 && ref === undefined && i - start === 4 && text.startsWith('"ref"', start)) {
        const colon = skipSpace(text, i + 1);
        if (text.charCodeAt(colon) === 0x3a) {
          const m = REF_VALUE.exec(text.slice(skipSpace(text, colon + 1), colon + 80));
          if (m) ref = m[1];
        }
      }
    } else if (c === 0x5b || c === 0x7b) {
      // Past the limit the scan goes on (linearly) only for a top-level ref further on.
      if (++depth > max) tooDeep = true;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return ref === undefined ? { tooDeep } : { tooDeep, ref };
}

/** Whether the JSON text nests arrays and objects deeper than `max`. */
export function jsonTooDeep(text: string, max = MAX_JSON_DEPTH): boolean {
  return scanJson(text, max).tooDeep;
}

function skipSpace(text: string, i: number): number {
  while (i < text.length && /\s/.test(text[i])) i++;
  return i;
}

/** Whether an already decoded value nests deeper than `max` (values from socket.io). */
export function valueTooDeep(value: unknown, max = MAX_JSON_DEPTH): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]];
  let visited = 0;
  while (stack.length > 0) {
    const [v, d] = stack.pop()!;
    if (typeof v !== "object" || v === null) continue;
    if (d > max || ++visited > 100_000) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, d + 1]);
  }
  return false;
}

/** The valid top-level `ref` of a decoded frame, if any (frames refused before validation). */
export function refOfValue(value: unknown): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const ref = (value as { ref?: unknown }).ref;
  return typeof ref === "string" && ref.length >= 1 && ref.length <= 64 ? ref : undefined;
}
