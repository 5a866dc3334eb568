/**
 * The bot's knowledge file: intents with example phrases, answers and quick replies, plus the
 * answers for "not understood" (fallback) and "passing you to a human" (handoff). JSON or YAML,
 * chosen by the file's extension; checked completely at start so a broken file stops the server
 * with a message that names the file and the field, instead of a bot that misbehaves later.
 *
 * Bilingual: the texts at the top level are in the file's `language` (default `en`); each intent,
 * the welcome, the fallback and the handoff may carry `lang: {ru: {...}}` with the same fields in
 * another language (an intent's `examples` there join its other examples). The answer is given in
 * the language of the client's message ({@link localized}), falling back to the top-level texts.
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { type Language, normalize } from "./text.ts";

const Text = z.string().trim().min(1).max(2000);
const QuickReplies = z.array(z.string().trim().min(1).max(80)).max(10).default([]);
const Examples = z.array(z.string().trim().min(1).max(300));
const LANGUAGES = ["en", "ru"] as const satisfies readonly Language[];
const Lang = z.enum(LANGUAGES);
const Said = z.object({ answer: Text, quick_replies: QuickReplies });
const saidIn = <T extends z.ZodType>(t: T) => z.partialRecord(Lang, t).default({});

const IntentSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "lower-case letters, digits and _"),
  /** Phrases a client might write; matched after normalisation, stop words and stems. */
  examples: Examples.min(1),
  /** One is picked per answer (in turn), so repeated questions do not read robotic. */
  answers: z.array(Text).min(1),
  quick_replies: QuickReplies,
  /** The client asks for a person: answer, then hand the chat to a human. */
  escalate: z.boolean().default(false),
  /** The intent in other languages: more examples, and the answers given in that language. */
  lang: saidIn(z.object({
    examples: Examples.default([]),
    answers: z.array(Text).min(1),
    quick_replies: QuickReplies,
  })),
});

export const KnowledgeSchema = z.object({
  /** The language of the top-level texts (what a client writing in any other one gets too). */
  language: Lang.default("en"),
  /** Optional first words of the bot in a chat it holds (BOT_MODE=all), before the client writes. */
  welcome: Said.extend({ lang: saidIn(Said) }).optional(),
  fallback: Said.extend({ lang: saidIn(Said) }),
  handoff: z.object({ answer: Text, lang: saidIn(z.object({ answer: Text })) }),
  intents: z.array(IntentSchema).min(1),
});

export type Intent = z.infer<typeof IntentSchema>;
export type Knowledge = z.infer<typeof KnowledgeSchema>;

/** What the bot says, in one language. */
export interface Localized {
  readonly answers: readonly string[];
  readonly quickReplies: readonly string[];
}

/**
 * An intent's (or the welcome's, fallback's, handoff's) texts in `language`: its translation when
 * it has one, else the top-level texts.
 */
export function localized(
  k: Knowledge,
  what: Intent | "welcome" | "fallback" | "handoff",
  language: Language | null,
): Localized {
  if (typeof what !== "string") {
    const t = language && language !== k.language ? what.lang[language] : undefined;
    return t
      ? { answers: t.answers, quickReplies: t.quick_replies }
      : { answers: what.answers, quickReplies: what.quick_replies };
  }
  const own = what === "handoff" ? k.handoff : k[what];
  if (!own) return { answers: [], quickReplies: [] };
  const t = language && language !== k.language ? own.lang[language] : undefined;
  const said = (t ?? own) as { answer: string; quick_replies?: string[] };
  return { answers: [said.answer], quickReplies: said.quick_replies ?? [] };
}

/** Every example phrase of an intent, in all its languages. */
export function allExamples(i: Intent): string[] {
  return [...i.examples, ...Object.values(i.lang).flatMap((t) => t?.examples ?? [])];
}

/** Intent names the bot uses for its own answers; a file may not define them. */
export const RESERVED_INTENTS = ["welcome", "fallback", "handoff"] as const;

/** Reads, parses and checks a knowledge file. Any problem throws one Error naming the file. */
export async function loadKnowledge(path: string): Promise<Knowledge> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new Error(`Knowledge file ${path}: cannot be read (${(err as Error).message})`);
  }
  return parseKnowledge(text, path);
}

/** Parses and checks knowledge text; `path` picks the format (.yaml/.yml or JSON) and names it. */
export function parseKnowledge(text: string, path: string): Knowledge {
  const yaml = /\.ya?ml$/i.test(path);
  let raw: unknown;
  try {
    raw = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    const what = yaml ? "YAML" : "JSON";
    throw new Error(`Knowledge file ${path}: not valid ${what} (${(err as Error).message})`);
  }
  const parsed = KnowledgeSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`);
    throw new Error(`Knowledge file ${path}: ${issues.join("; ")}`);
  }
  const problems = consistencyProblems(parsed.data);
  if (problems.length > 0) throw new Error(`Knowledge file ${path}: ${problems.join("; ")}`);
  return parsed.data;
}

/**
 * What the schema cannot say: names are unique and not reserved, and every quick reply is an
 * example of some intent, so pressing it (the widget sends its text) always lands somewhere.
 */
function consistencyProblems(k: Knowledge): string[] {
  const out: string[] = [];
  const names = new Set<string>();
  const examples = new Set<string>();
  for (const i of k.intents) {
    if (names.has(i.name)) out.push(`intent ${i.name} is defined twice`);
    if ((RESERVED_INTENTS as readonly string[]).includes(i.name)) {
      out.push(`intent name ${i.name} is reserved for the bot's own answers`);
    }
    names.add(i.name);
    for (const e of allExamples(i)) {
      if (normalize(e) === "") out.push(`intent ${i.name}: example "${e}" has no words`);
      examples.add(normalize(e));
    }
  }
  const inAll = (said: { quick_replies: string[]; lang: Record<string, unknown> }) => [
    ...said.quick_replies,
    ...Object.values(said.lang).flatMap((t) =>
      (t as { quick_replies?: string[] }).quick_replies ?? []
    ),
  ];
  const replies = [
    ...(k.welcome ? inAll(k.welcome) : []).map((r) => ({ from: "welcome", r })),
    ...inAll(k.fallback).map((r) => ({ from: "fallback", r })),
    ...k.intents.flatMap((i) => inAll(i).map((r) => ({ from: `intent ${i.name}`, r }))),
  ];
  for (const { from, r } of replies) {
    if (!examples.has(normalize(r))) {
      out.push(`${from}: quick reply "${r}" is not an example of any intent`);
    }
  }
  return out;
}
