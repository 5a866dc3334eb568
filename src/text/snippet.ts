/**
 * Snippets with highlights: the part of a text around the words that matched a query, cut at word
 * boundaries, with the matched words' places. A word matches when its stem is one of the query's
 * stems, so «заказы» is highlighted for a search for «заказ» and "refunded" for "refund".
 *
 * Highlights are offsets into the snippet (UTF-16, `end` exclusive), not markup: the text stays
 * plain, and whoever shows it (the console) wraps those ranges itself, so a message holding HTML
 * can never become markup on the way.
 */
import { isStopWord, stem, tokens } from "./analyze.ts";

export interface Snippet {
  readonly text: string;
  /** `[start, end)` ranges of `text` to highlight, in order, not overlapping. */
  readonly highlights: Array<[number, number]>;
}

/** Characters shown before the first match. */
const LEAD = 40;

/** How many of the query's stems the text contains (each counted once). */
export function matchCount(text: string, stems: ReadonlySet<string>): number {
  const found = new Set<string>();
  for (const t of tokens(text)) {
    if (isStopWord(t.word)) continue;
    const s = stem(t.word);
    if (stems.has(s)) found.add(s);
  }
  return found.size;
}

/**
 * At most `max` characters of `text` (whitespace squeezed), starting a little before the first
 * word whose stem is in `stems` (or at the start when none is), with every matched word in the
 * window highlighted. "…" marks a cut at either end.
 */
export function snippet(text: string, stems: ReadonlySet<string>, max = 160): Snippet {
  const flat = text.replace(/\s+/g, " ").trim();
  const hits = tokens(flat).filter((t) => !isStopWord(t.word) && stems.has(stem(t.word)));
  let from = 0;
  if (hits.length > 0 && flat.length > max) {
    from = Math.max(0, hits[0].start - LEAD);
    // Start at a word: after the last space before `from` (unless the match itself is there).
    if (from > 0) {
      const space = flat.lastIndexOf(" ", from);
      from = space >= 0 && space < hits[0].start ? space + 1 : from;
    }
    from = Math.min(from, Math.max(0, flat.length - max));
  }
  let to = Math.min(flat.length, from + max);
  if (to < flat.length) {
    const space = flat.lastIndexOf(" ", to);
    if (space > from + max / 2) to = space;
  }
  const head = from > 0 ? "…" : "";
  const body = flat.slice(from, to);
  const out = head + body + (to < flat.length ? "…" : "");
  const highlights: Array<[number, number]> = [];
  for (const h of hits) {
    if (h.start < from || h.end > to) continue;
    const start = h.start - from + head.length;
    const end = h.end - from + head.length;
    const last = highlights[highlights.length - 1];
    if (last && last[1] >= start) last[1] = Math.max(last[1], end);
    else highlights.push([start, end]);
  }
  return { text: out, highlights };
}
