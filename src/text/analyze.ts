/**
 * One text analysis for Russian and English, used wherever text is matched: the bot's matcher and
 * escalation rules, the hints index and the conversation search. Normalise (lower case, accents
 * and stress marks dropped, `ё` → `е`, `й` kept, apostrophes joined), split into words, drop stop
 * words (./stopwords.ts), stem each word with the Snowball stemmer of its script.
 *
 * Stemmers: Russian words go to the Snowball Russian stemmer of `@orama/stemmers` (3.1.18): the
 * code is the Snowball compiler's own JavaScript output (Snowball 2's Russian, which already folds
 * `ё`), ES modules with no dependencies, published by the Orama search project, which keeps it up
 * to date (2026). English words go to `wink-porter2-stemmer` (2.0.1): Porter2, which is Snowball's
 * English algorithm, by the winkjs NLP project, no dependencies. Why not the others:
 * `@orama/stemmers/english` is a hand port of the older Porter algorithm that strays from it
 * ("subscription" → "subscrip"); the `stemmer` package used before is a faithful Porter (1980)
 * but not Snowball ("generously" → "gener", Porter2 "generous"); `snowball-stemmers` (jssnowball)
 * bundles an old Snowball without the `ё` rules and is not maintained; `natural` drags in dozens
 * of packages and its Russian stemmer is the older Porter one; `@nlpjs/lang-ru` needs nlp.js's
 * core. Each word picks its stemmer by its letters, so a Russian message naming "PayPal" or an
 * English one naming «Сбербанк» stems both words right; words with digits and words of one or two
 * letters stay as they are.
 */
import { stemmer as stemRu } from "@orama/stemmers/russian";
import stemEn from "wink-porter2-stemmer";
import { STOP_WORDS } from "./stopwords.ts";

export { STOP_WORDS, STOP_WORDS_EN, STOP_WORDS_RU } from "./stopwords.ts";

/** The languages told apart (by script). */
export type Language = "en" | "ru";

/** A word of a text: where it is in the original string, and its normalised form. */
export interface Token {
  /** Normalised word (stop words included). */
  readonly word: string;
  /** UTF-16 offsets in the original text, `end` exclusive. */
  readonly start: number;
  readonly end: number;
}

/** Letters, digits, combining marks (decomposed accents) and apostrophes inside a word. */
const WORD = /[\p{L}\p{N}\p{M}'’`]+/gu;
const CYRILLIC = /\p{Script=Cyrillic}/u;
const CYRILLIC_G = /\p{Script=Cyrillic}/gu;
const LATIN_G = /\p{Script=Latin}/gu;

/**
 * Lower case; accents and stress marks removed (`é` → `e`, `ё` → `е`, «за́мок» → «замок») but `й`
 * kept (Unicode decomposes it into `и` and a breve, and «мой» is not «мои»); apostrophes removed
 * ("can't" → "cant"); runs of anything else that is not a letter or digit become one space.
 */
export function normalize(text: string): string {
  return fold(text).replace(/[^\p{L}\p{N}]+/gu, " ").trim();
}

/** Case, accents and apostrophes of one run of word characters. */
function fold(text: string): string {
  return text
    .toLowerCase()
    .normalize("NFKD")
    .replace(/и\u0306/g, "й")
    .replace(/\p{M}+/gu, "")
    .normalize("NFC")
    .replace(/['’`]/g, "");
}

/** Every word of the text with its place in it (stop words included). */
export function tokens(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(WORD)) {
    // Symbols inside a folded run (e.g. a compatibility character) split it further.
    const folded = fold(m[0]).split(/[^\p{L}\p{N}]+/u).filter(Boolean);
    for (const word of folded) out.push({ word, start: m.index, end: m.index + m[0].length });
  }
  return out;
}

/** Every word of the text, normalised, stop words included. */
export function words(text: string): string[] {
  const n = normalize(text);
  return n === "" ? [] : n.split(" ");
}

/** The stem of one normalised word: Russian or English Snowball by its script. */
export function stem(word: string): string {
  if (word.length <= 2 || /\d/.test(word)) return word;
  return CYRILLIC.test(word) ? stemRu(word) : /^[a-z]+$/.test(word) ? stemEn(word) : word;
}

export function isStopWord(word: string): boolean {
  return STOP_WORDS.has(word);
}

/** Stems of the words that carry meaning (stop words removed), in order. */
export function terms(text: string): string[] {
  return words(text).filter((w) => !STOP_WORDS.has(w)).map(stem);
}

/**
 * The language a text is written in, by its letters: Russian when Cyrillic letters, counted three
 * times, outnumber Latin ones, else English; null with no letters of either (digits, emoji,
 * another script), where the caller keeps what it knew. The weight is there because Russian text
 * carries Latin brand names, codes and links («оплатил через PayPal») far more often than English
 * text carries Cyrillic.
 */
export function detectLanguage(text: string): Language | null {
  const cyr = text.match(CYRILLIC_G)?.length ?? 0;
  const lat = text.match(LATIN_G)?.length ?? 0;
  if (cyr === 0 && lat === 0) return null;
  return cyr * 3 > lat ? "ru" : "en";
}
