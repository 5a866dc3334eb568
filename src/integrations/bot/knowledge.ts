/**
 * The bot's knowledge file: intents with example phrases, answers and quick replies, plus the
 * answers for "not understood" (fallback) and "passing you to a human" (handoff). JSON or YAML,
 * chosen by the file's extension; checked completely at start so a broken file stops the server
 * with a message that names the file and the field, instead of a bot that misbehaves later.
 */
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { normalize } from "./text.ts";

const Text = z.string().trim().min(1).max(2000);
const QuickReplies = z.array(z.string().trim().min(1).max(80)).max(10).default([]);

const IntentSchema = z.object({
  name: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "lower-case letters, digits and _"),
  /** Phrases a client might write; matched after normalisation, stop words and stems. */
  examples: z.array(z.string().trim().min(1).max(300)).min(1),
  /** One is picked per answer (in turn), so repeated questions do not read robotic. */
  answers: z.array(Text).min(1),
  quick_replies: QuickReplies,
  /** The client asks for a person: answer, then hand the chat to a human. */
  escalate: z.boolean().default(false),
});

export const KnowledgeSchema = z.object({
  /** Optional first words of the bot in a chat it holds (BOT_MODE=all), before the client writes. */
  welcome: z.object({ answer: Text, quick_replies: QuickReplies }).optional(),
  fallback: z.object({ answer: Text, quick_replies: QuickReplies }),
  handoff: z.object({ answer: Text }),
  intents: z.array(IntentSchema).min(1),
});

export type Intent = z.infer<typeof IntentSchema>;
export type Knowledge = z.infer<typeof KnowledgeSchema>;

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
    for (const e of i.examples) {
      if (normalize(e) === "") out.push(`intent ${i.name}: example "${e}" has no words`);
      examples.add(normalize(e));
    }
  }
  const replies = [
    ...(k.welcome?.quick_replies ?? []).map((r) => ({ from: "welcome", r })),
    ...k.fallback.quick_replies.map((r) => ({ from: "fallback", r })),
    ...k.intents.flatMap((i) => i.quick_replies.map((r) => ({ from: `intent ${i.name}`, r }))),
  ];
  for (const { from, r } of replies) {
    if (!examples.has(normalize(r))) {
      out.push(`${from}: quick reply "${r}" is not an example of any intent`);
    }
  }
  return out;
}
