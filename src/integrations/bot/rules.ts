/**
 * When the bot stops and hands the chat to a human, decided before (and without) any answer:
 * a configured keyword appears, or the client asks for a person. The third rule, "not understood
 * twice in a row", needs the chat's previous turn and lives with the responder.
 */
import { allExamples, type Knowledge } from "./knowledge.ts";
import type { Matcher } from "./matcher.ts";
import { containsPhrase, stem, terms, words } from "./text.ts";

export class EscalationRules {
  /** Each keyword as stems of all its words (stop words kept: "not working" must stay whole). */
  readonly #keywords: Array<{ text: string; stems: string[] }>;
  /** Examples of the intents marked `escalate`, as stems of their meaningful words. */
  readonly #humanPhrases: string[][];

  constructor(
    knowledge: Knowledge,
    readonly matcher: Matcher,
    readonly minConfidence: number,
    keywords: string,
  ) {
    this.#keywords = keywords.split(",").map((k) => k.trim()).filter(Boolean)
      .map((text) => ({ text, stems: words(text).map(stem) }))
      .filter((k) => k.stems.length > 0);
    this.#humanPhrases = knowledge.intents.filter((i) => i.escalate)
      .flatMap((i) => allExamples(i).map(terms))
      .filter((p) => p.length > 0);
  }

  /** The configured keyword the message contains (as whole words, any inflection), if any. */
  keyword(text: string): string | null {
    const stems = words(text).map(stem);
    return this.#keywords.find((k) => containsPhrase(stems, k.stems))?.text ?? null;
  }

  /**
   * The client asks for a person: a phrase of an escalating intent ("operator", "real person")
   * appears in the message, or the matcher's best guess is such an intent.
   */
  asksForHuman(text: string): boolean {
    const ts = terms(text);
    if (this.#humanPhrases.some((p) => containsPhrase(ts, p))) return true;
    const m = this.matcher.match(text);
    return m.intent !== null && m.intent.escalate && m.confidence >= this.minConfidence;
  }
}
