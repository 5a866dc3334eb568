/**
 * The offline brain: TF-IDF vectors of every example phrase, cosine similarity with the client's
 * message, best example per intent. Confidence is that similarity (0–1); a message equal to an
 * example after normalisation (a pressed quick reply, typically) scores 1.
 *
 * Words the knowledge file never uses still count in the message's vector (with the highest
 * weight), so a long message that only brushes an intent scores lower than a short one that is
 * all about it: the confidence says how much of the message the bot understood.
 *
 * Russian and English are two vocabularies (no stem is shared across scripts), so a word's rarity
 * is measured among the examples of its own language: adding the Russian examples leaves every
 * English confidence what it was, and the other way round.
 */
import { allExamples, type Intent, type Knowledge } from "./knowledge.ts";
import { detectLanguage, type Language, normalize, terms } from "./text.ts";

export interface Match {
  /** The best intent, or null when nothing shares a word with the message. */
  readonly intent: Intent | null;
  readonly confidence: number;
}

type Vector = Map<string, number>;

interface Example {
  readonly intent: Intent;
  readonly vector: Vector;
  readonly norm: number;
}

export class Matcher {
  readonly #examples: Example[] = [];
  readonly #exact = new Map<string, Intent>();
  readonly #idf = new Map<string, number>();
  /** Weight of a word no example contains (as if it appeared in none of its language's). */
  readonly #unknownIdf: Record<Language, number>;

  constructor(knowledge: Knowledge) {
    const docs = knowledge.intents.flatMap((intent) =>
      allExamples(intent).map((text) => ({ intent, text, terms: terms(text) }))
    );
    const n: Record<Language, number> = { en: 0, ru: 0 };
    for (const d of docs) n[detectLanguage(d.text) ?? "en"]++;
    const df = new Map<string, number>();
    for (const d of docs) for (const t of new Set(d.terms)) df.set(t, (df.get(t) ?? 0) + 1);
    for (const [t, f] of df) this.#idf.set(t, Math.log((n[languageOf(t)] + 1) / (f + 1)) + 1);
    this.#unknownIdf = { en: Math.log(n.en + 1) + 1, ru: Math.log(n.ru + 1) + 1 };
    for (const d of docs) {
      // The first intent that lists a phrase keeps it (the file is read top to bottom).
      const key = normalize(d.text);
      if (!this.#exact.has(key)) this.#exact.set(key, d.intent);
      const vector = this.#vector(d.terms);
      if (vector.size > 0) this.#examples.push({ intent: d.intent, vector, norm: norm(vector) });
    }
  }

  match(text: string): Match {
    const exact = this.#exact.get(normalize(text));
    if (exact) return { intent: exact, confidence: 1 };
    const q = this.#vector(terms(text));
    if (q.size === 0) return { intent: null, confidence: 0 };
    const qNorm = norm(q);
    let best: Match = { intent: null, confidence: 0 };
    for (const e of this.#examples) {
      let dot = 0;
      for (const [t, w] of q) dot += w * (e.vector.get(t) ?? 0);
      const score = dot / (qNorm * e.norm);
      if (score > best.confidence) best = { intent: e.intent, confidence: score };
    }
    return { intent: best.intent, confidence: Math.round(best.confidence * 100) / 100 };
  }

  #vector(ts: readonly string[]): Vector {
    const v: Vector = new Map();
    for (const t of ts) {
      v.set(t, (v.get(t) ?? 0) + (this.#idf.get(t) ?? this.#unknownIdf[languageOf(t)]));
    }
    return v;
  }
}

/** A stem's language, by its script (digits and other scripts count as English). */
function languageOf(term: string): Language {
  return detectLanguage(term) ?? "en";
}

function norm(v: Vector): number {
  let s = 0;
  for (const w of v.values()) s += w * w;
  return Math.sqrt(s);
}
