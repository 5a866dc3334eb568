/**
 * The bot's knowledge file (`BOT_KNOWLEDGE_FILE`, JSON or YAML by extension) as hint documents: one
 * per intent, its example phrases as the question side and its first answer as the text. The bot
 * owns the format (`src/integrations/bot/knowledge.ts`: `{intents: [{name, examples, answers}]}`)
 * and checks it strictly; this reader is tolerant on purpose, so hints keep working with a file
 * the bot would refuse: it also accepts a list of intents or a map of name → intent, and the usual
 * names for each field (`phrases`/`patterns`, `answer`/`response`…). Intents without an answer,
 * and those that hand the client to a human (`escalate: true`), are skipped and counted. An
 * intent's translations (`lang: {ru: {examples, answers}}`) are documents of their own
 * (`k:<intent>:ru`), so a Russian question is offered the Russian answer.
 */
import { parse as parseYaml } from "yaml";
import type { HintDoc } from "./search.ts";

/** A knowledge file is a few hundred intents; anything far bigger is a mistake, not knowledge. */
export const KNOWLEDGE_MAX_BYTES = 5 * 1024 * 1024;
const MAX_INTENTS = 5000;

const NAME_FIELDS = ["name", "intent", "id", "tag", "title"];
const PHRASE_FIELDS = [
  "examples",
  "phrases",
  "patterns",
  "utterances",
  "questions",
  "training_phrases",
  "keywords",
];
const BOT_OWN = new Set(["fallback", "handoff"]);
const ANSWER_FIELDS = ["answer", "response", "reply", "text", "answers", "responses", "replies"];

export interface KnowledgeDocs {
  readonly docs: HintDoc[];
  /** Entries that were not intents with an answer. */
  readonly skipped: number;
}

/** Reads intents out of parsed JSON of any of the accepted shapes. */
export function knowledgeDocs(json: unknown): KnowledgeDocs {
  const entries = intentEntries(json).slice(0, MAX_INTENTS);
  const docs: HintDoc[] = [];
  let skipped = 0;
  const used = new Set<string>();
  entries.forEach(([key, raw], i) => {
    const doc = toDoc(raw, key ?? `intent-${i + 1}`);
    if (!doc || used.has(doc.id)) return void skipped++;
    used.add(doc.id);
    docs.push(doc, ...translations(raw as Record<string, unknown>, doc.ref));
  });
  return { docs, skipped };
}

/** Reads and parses the file; throws with the path in the message when it cannot. */
export async function readKnowledgeFile(path: string): Promise<KnowledgeDocs> {
  const info = await Deno.stat(path);
  if (info.size > KNOWLEDGE_MAX_BYTES) {
    throw new Error(`Knowledge file ${path} has ${info.size} bytes; the limit is 5 MiB`);
  }
  const text = await Deno.readTextFile(path);
  const yaml = /\.ya?ml$/i.test(path);
  let parsed: unknown;
  try {
    parsed = yaml ? parseYaml(text) : JSON.parse(text);
  } catch (err) {
    const what = yaml ? "YAML" : "JSON";
    throw new Error(`Knowledge file ${path} is not valid ${what}: ${(err as Error).message}`);
  }
  return knowledgeDocs(parsed);
}

function intentEntries(json: unknown): Array<[string | null, unknown]> {
  if (Array.isArray(json)) return json.map((v) => [null, v]);
  if (!isObject(json)) return [];
  if (Array.isArray(json.intents)) return json.intents.map((v: unknown) => [null, v]);
  const map = isObject(json.intents) ? json.intents : json;
  // The bot's own "not understood" and "handing over" answers are no reply to anything.
  return Object.entries(map).filter(([k, v]) => isObject(v) && !BOT_OWN.has(k));
}

function toDoc(raw: unknown, fallbackName: string): HintDoc | null {
  // An intent that hands the client to a human answers "I'm passing you on": no operator reply.
  if (!isObject(raw) || raw.escalate === true) return null;
  const name = firstString(raw, NAME_FIELDS) ?? fallbackName;
  const answers = strings(raw, ANSWER_FIELDS);
  if (answers.length === 0) return null;
  return {
    id: `k:${name}`,
    source: "knowledge",
    title: name,
    keys: strings(raw, PHRASE_FIELDS).join("\n"),
    // The first answer is the one the bot gives; an operator needs one reply, not variants.
    text: answers[0],
    ref: name,
  };
}

/** One document per language of an intent's `lang` map that has an answer. */
function translations(raw: Record<string, unknown>, name: string): HintDoc[] {
  if (!isObject(raw.lang)) return [];
  return Object.entries(raw.lang).slice(0, 20).flatMap(([code, t]) => {
    if (!isObject(t) || !/^[a-z]{2,8}$/.test(code)) return [];
    const answers = strings(t, ANSWER_FIELDS);
    if (answers.length === 0) return [];
    return [{
      id: `k:${name}:${code}`,
      source: "knowledge" as const,
      title: name,
      keys: strings(t, PHRASE_FIELDS).join("\n"),
      text: answers[0],
      ref: name,
    }];
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function firstString(o: Record<string, unknown>, fields: readonly string[]): string | null {
  for (const f of fields) {
    const v = o[f];
    if (typeof v === "string" && v.trim()) return v.trim();
  }
  return null;
}

/** Every non-empty string under the first of `fields` that has any (string or string list). */
function strings(o: Record<string, unknown>, fields: readonly string[]): string[] {
  for (const f of fields) {
    const v = o[f];
    const list = typeof v === "string" ? [v] : Array.isArray(v) ? v : [];
    const found = list.filter((s): s is string => typeof s === "string" && s.trim() !== "")
      .map((s) => s.trim());
    if (found.length) return found;
  }
  return [];
}
