/**
 * The full-text index behind operator hints: one MiniSearch index over three sources (canned
 * responses, the bot's knowledge file, past operator answers). Each document has a question side
 * (`title`, `keys`) and the answer (`text`) the operator gets; both are searched, the question side
 * weighs more. Fuzzy and prefix matching make "pasword" and "reset pass" find "reset password".
 * Words go through the shared Russian and English analysis (src/text/analyze.ts), so «возврата»
 * finds «возврат» and "refunded" finds "refund" in either direction.
 */
import MiniSearch, { type SearchResult } from "minisearch";
import { isStopWord, stem, tokens } from "../../text/analyze.ts";

export type HintSource = "canned" | "knowledge" | "history";

export interface HintDoc {
  /** Unique across sources: `c:<id>`, `k:<intent>`, `h:<n>`. */
  readonly id: string;
  readonly source: HintSource;
  /** Canned title or knowledge intent; empty for history. */
  readonly title: string;
  /** The question side: canned tags, knowledge example phrases, the client's past question. */
  readonly keys: string;
  /** The answer shown to the operator. */
  readonly text: string;
  /** The source's own id (canned id, intent name, chat id), returned as `id`. */
  readonly ref: string;
}

export interface Hint {
  readonly source: HintSource;
  readonly text: string;
  readonly score: number;
  readonly title?: string;
  readonly id?: string;
}

/**
 * Canned responses are written by the team for operators, so on the same topic they come first,
 * even against a bot intent whose example phrase is the client's very question (that match scores
 * ~1.25× the canned one on text alone). Bot answers are curated too, so they edge out one
 * operator's past reply; history fills in what nobody wrote down.
 */
const SOURCE_BOOST: Record<HintSource, number> = { canned: 2, knowledge: 1.1, history: 1 };

/**
 * Besides the shared stop words: greetings and thanks, which open and close nearly every support
 * question and only add noise to the ranking of replies.
 */
const NOISE = new Set(
  ("hi hello hey thanks thank привет здравствуйте здрасте добрый день доброе утро вечер " +
    "спасибо благодарю").split(" "),
);

/** Normalised words of a field or query: the words the bot sees (apostrophes joined, no accents). */
function tokenize(text: string): string[] {
  return tokens(text).map((t) => t.word);
}

/** A word's stem, or null for stop words, greetings and single letters. */
function processTerm(word: string): string | null {
  return word.length < 2 || isStopWord(word) || NOISE.has(word) ? null : stem(word);
}

export class HintIndex {
  readonly #ms = new MiniSearch<HintDoc>({
    fields: ["title", "keys", "text"],
    storeFields: ["source", "title", "text", "ref"],
    tokenize,
    processTerm,
  });
  /** Ids per source, so a whole source can be swapped (canned and knowledge reloads). */
  readonly #bySource: Record<HintSource, Set<string>> = {
    canned: new Set(),
    knowledge: new Set(),
    history: new Set(),
  };

  get size(): number {
    return this.#ms.documentCount;
  }

  countOf(source: HintSource): number {
    return this.#bySource[source].size;
  }

  /** Adds or replaces one document. */
  put(doc: HintDoc): void {
    if (this.#ms.has(doc.id)) this.#ms.discard(doc.id);
    this.#ms.add(doc);
    this.#bySource[doc.source].add(doc.id);
  }

  remove(id: string): void {
    if (!this.#ms.has(id)) return;
    this.#ms.discard(id);
    for (const ids of Object.values(this.#bySource)) ids.delete(id);
  }

  /** Replaces every document of one source with `docs`. */
  replaceSource(source: HintSource, docs: readonly HintDoc[]): void {
    for (const id of [...this.#bySource[source]]) this.remove(id);
    for (const d of docs) this.put({ ...d, source });
  }

  /**
   * The best hints for a free-text query, best first. Answers with the same text (operators
   * repeat themselves) appear once, with the best score.
   */
  search(query: string, limit: number): Hint[] {
    const results = this.#ms.search(query, {
      boost: { title: 2, keys: 2, text: 1 },
      // Typos: one edit in 5 letters. Prefix: "pass" finds "password" while the operator types.
      fuzzy: (term) => (term.length >= 4 ? 0.2 : false),
      prefix: (term) => term.length >= 3,
      boostDocument: (_id, _term, stored) => SOURCE_BOOST[stored?.source as HintSource] ?? 1,
    });
    const seen = new Set<string>();
    const out: Hint[] = [];
    for (const r of results) {
      const key = normalise(String(r.text));
      if (seen.has(key)) continue;
      seen.add(key);
      out.push(toHint(r));
      if (out.length >= limit) break;
    }
    return out;
  }
}

function normalise(text: string): string {
  return text.toLowerCase().replace(/\s+/g, " ").trim();
}

function toHint(r: SearchResult): Hint {
  const source = r.source as HintSource;
  const title = String(r.title ?? "");
  return {
    source,
    text: String(r.text),
    score: Math.round(r.score * 1000) / 1000,
    ...(title ? { title } : {}),
    ...(r.ref ? { id: String(r.ref) } : {}),
  };
}
