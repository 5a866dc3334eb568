/**
 * The bot's text handling: the shared Russian and English analysis (src/text/analyze.ts:
 * normalising, stop words of both languages, Snowball stems), re-exported here for the bot's
 * matcher and rules and for the chat titles, plus the phrase test the escalation rules use.
 */
export {
  detectLanguage,
  type Language,
  normalize,
  stem,
  STOP_WORDS,
  terms,
  words,
} from "../../text/analyze.ts";

/** True when `needle` (stems) occurs as consecutive words in `hay` (stems). */
export function containsPhrase(hay: readonly string[], needle: readonly string[]): boolean {
  if (needle.length === 0 || needle.length > hay.length) return false;
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}
