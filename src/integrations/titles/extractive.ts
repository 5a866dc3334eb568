/**
 * The offline title of a chat, taken from the client's own words: the first sentence with the
 * greeting and filler in front of it removed ("Hi! I need help with my invoice from May" →
 * "My invoice from May"), cut at a word boundary; when that sentence says too little
 * ("Quick question."), the first meaningful words of the whole text instead.
 */
import { STOP_WORDS, words } from "../bot/text.ts";

/** Longest title in characters (the session allows 80; console lists have room for ~60). */
export const TITLE_MAX = 60;
/** Words a keyword title keeps. */
const KEYWORDS_MAX = 6;

/** Greetings and small talk: a message of only these says nothing about the topic. */
const SMALL_TALK = new Set(
  (
    "hi hello hey hiya howdy yo hallo hola ola oi good morning afternoon evening day there " +
    "thanks thank ok okay yes yeah yep no nope sure cool great fine bye goodbye hmm um"
  ).split(" "),
);

/** Openings removed before the first sentence becomes a title (longest first). */
const LEAD_INS = [
  /^(?:(?:hi|hello|hey|hiya|howdy|good (?:morning|afternoon|evening|day))(?: there| all| team)?[\s,!.:;-]*)+/i,
  /^(?:i (?:have|got) a (?:quick )?question (?:about|regarding|on)|i(?:'| a)?m (?:having|facing) (?:a )?(?:problem|issue|trouble)s? with|i need help with|i need some help with|can you help me with|could you help me with|please help me with|help with|question about|problem with|issue with)\s+/i,
];

/** Words that announce a topic without naming it ("quick question", "a problem"). */
const VAGUE = new Set(
  "quick question questions query problem problems issue issues ask".split(" "),
);

/** Normalised words that say what the chat is about. */
function topical(text: string): string[] {
  return words(text).filter((w) => !STOP_WORDS.has(w) && !SMALL_TALK.has(w) && !VAGUE.has(w));
}

/** True when the message names no topic (greetings, thanks, "quick question" and the like). */
export function isTrivial(text: string): boolean {
  return topical(text).length === 0;
}

/** A title from the client's first messages (non-trivial ones preferred). Never empty. */
export function extractiveTitle(messages: readonly string[]): string {
  const useful = messages.filter((m) => !isTrivial(m));
  const text = (useful.length > 0 ? useful : messages).join("\n").replace(/[ \t]+/g, " ").trim();
  if (text === "") return "New chat";
  const sentences = splitSentences(text).map(withoutLeadIn).filter((x) => x !== "");
  // The first sentence that names a topic; "Quick question." and "Hi!" are skipped.
  const sentence = sentences.find((x) => topical(x).length > 0) ?? sentences[0] ?? text;
  // A wall of text without punctuation says more as its keywords than as its first 60 chars.
  const title = sentence.length > 2 * TITLE_MAX ? keywords(sentence) || sentence : sentence;
  return capitalize(cut(tidy(title), TITLE_MAX));
}

function splitSentences(text: string): string[] {
  return text.split(/(?<=[.!?…])\s+|\n+/).map((x) => x.trim()).filter((x) => x !== "");
}

function withoutLeadIn(sentence: string): string {
  let x = sentence;
  for (const lead of LEAD_INS) x = x.replace(lead, "");
  return x.trim();
}

/** No closing punctuation or dangling separators (a title is not a sentence). */
function tidy(s: string): string {
  return s.replace(/[\s.!?,;:–—-]+$/u, "").replace(/^[\s,;:–—-]+/u, "") || s;
}

/** The first distinct meaningful words, in the order the client wrote them. */
function keywords(text: string): string {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const raw of text.split(/\s+/)) {
    const w = raw.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, "");
    const key = words(w).join("");
    if (!key || topical(w).length === 0 || seen.has(key)) continue;
    seen.add(key);
    out.push(w);
    if (out.length === KEYWORDS_MAX) break;
  }
  return out.join(" ");
}

/** At most `max` characters, cut at a word boundary with an ellipsis. */
export function cut(text: string, max: number): string {
  const t = text.trim();
  if (t.length <= max) return t;
  const head = t.slice(0, max - 1);
  const space = head.lastIndexOf(" ");
  return `${(space > max / 2 ? head.slice(0, space) : head).replace(/[\s,;:.–—-]+$/, "")}…`;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
