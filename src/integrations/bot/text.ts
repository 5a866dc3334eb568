/**
 * Text normalisation shared by the bot's matcher, its escalation rules and the chat titles:
 * lower case without accents, apostrophes joined ("can't" → "cant"), words split on anything
 * that is not a letter or digit, English stop words, Porter stems.
 */
import { stemmer } from "stemmer";

/**
 * Words that carry no topic: articles, pronouns, auxiliaries and polite filler. Greetings and
 * words like "human" or "operator" are NOT here: intents are matched on them.
 */
export const STOP_WORDS: ReadonlySet<string> = new Set(
  (
    "a an the and or but if of to in on at by for from with about as into over after before " +
    "is am are was were be been being do does did doing have has had having will would shall " +
    "should can could may might must i me my mine myself we us our ours you your yours he him " +
    "his she her it its they them their this that these those there here what which who whom " +
    "whose how why when where just so very too also not no yes any some all please pls want " +
    "wanted need needs like would get got im ive id youre its dont doesnt didnt cant wont " +
    "isnt arent wasnt hasnt havent let lets tell know help thing things one still already " +
    "much many lot lots really"
  ).split(" "),
);

/** Lower case, accents and apostrophes removed, runs of other symbols turned into one space. */
export function normalize(text: string): string {
  return text
    .normalize("NFKD")
    .replace(/\p{M}+/gu, "")
    .toLowerCase()
    .replace(/['’`]/g, "")
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim();
}

/** Every word of the text, normalised, stop words included. */
export function words(text: string): string[] {
  const n = normalize(text);
  return n === "" ? [] : n.split(" ");
}

/** The stem of one normalised word (digits and short words stay as they are). */
export function stem(word: string): string {
  return word.length <= 2 || /\d/.test(word) ? word : stemmer(word);
}

/** Stems of the words that carry meaning (stop words removed), in order. */
export function terms(text: string): string[] {
  return words(text).filter((w) => !STOP_WORDS.has(w)).map(stem);
}

/** True when `needle` (stems) occurs as consecutive words in `hay` (stems). */
export function containsPhrase(hay: readonly string[], needle: readonly string[]): boolean {
  if (needle.length === 0 || needle.length > hay.length) return false;
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
