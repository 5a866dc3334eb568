/**
 * The Titler on its own, with a stub chat service: a burst of messages costs one log read per
 * chat, the title is the one message-by-message looking would end with, and an overload is
 * logged once, not once per message.
 */
import assert from "node:assert/strict";
import { type Logger, recordingLogger } from "../../src/log.ts";
import type { ChatEventNotice, ChatService } from "../../src/server/chat_service.ts";
import { Titler } from "../../src/integrations/titles/titler.ts";

interface Stub {
  svc: ChatService;
  reads: string[];
  titles: Map<string, string[]>;
  /** Holds every log read until released. */
  gate: PromiseWithResolvers<void>;
  say(chatId: string, text: string): ChatEventNotice;
}

function stub(): Stub {
  const logs = new Map<string, string[]>();
  const titles = new Map<string, string[]>();
  const reads: string[] = [];
  const gate = Promise.withResolvers<void>();
  const svc = {
    system: {
      async readEvents(_type: string, id: string, _after: number, limit: number) {
        reads.push(id);
        await gate.promise;
        return (logs.get(id) ?? []).slice(0, limit).map((text, i) => ({
          seq: i + 1,
          event: { type: "message", senderRole: "client", text },
        }));
      },
    },
    setTitle(chatId: string, title: string) {
      titles.set(chatId, [...(titles.get(chatId) ?? []), title]);
      return Promise.resolve({ title });
    },
  } as unknown as ChatService;
  const say = (chatId: string, text: string): ChatEventNotice => {
    const log = logs.get(chatId) ?? [];
    log.push(text);
    logs.set(chatId, log);
    return {
      chatId,
      seq: log.length,
      at: 0,
      event: { type: "message", senderRole: "client", text } as ChatEventNotice["event"],
      view: { kind: "support" } as ChatEventNotice["view"],
    };
  };
  return { svc, reads, titles, gate, say };
}

function logger(lines: string[]): Logger {
  return recordingLogger((level, msg) => void lines.push(`${level} ${msg}`));
}

Deno.test("titler: a burst of messages is one look per chat, titled as message by message would end", async () => {
  const s = stub();
  const lines: string[] = [];
  const titler = new Titler({ svc: s.svc, llm: null, log: logger(lines) });
  // Chat a: small talk, then a topic, then more — all before the first look runs.
  for (const t of ["hi", "hello?", "My parcel never arrived", "thanks", "ok"]) {
    titler.onEvent(s.say("a", t));
  }
  // Chat b: a topic first; what follows never retitles it.
  titler.onEvent(s.say("b", "Refund for order 42"));
  titler.onEvent(s.say("b", "Where is my refund for order 43"));
  s.gate.resolve();
  await titler.idle();
  assert.deepEqual(s.titles.get("a"), ["My parcel never arrived"]);
  assert.deepEqual(s.titles.get("b"), ["Refund for order 42"]);
  assert.equal(s.reads.filter((id) => id === "a").length, 1, "one read for five messages");
  assert.equal(s.reads.filter((id) => id === "b").length, 1);
  // Both chats settled: later messages read nothing.
  titler.onEvent(s.say("a", "still there?"));
  titler.onEvent(s.say("b", "hello"));
  await titler.idle();
  assert.equal(s.reads.length, 2);
  assert.deepEqual(lines.filter((l) => l.startsWith("warn")), []);
});

Deno.test("titler: small talk titles, a topic within three messages refines once, the same prefix never twice", async () => {
  const s = stub();
  s.gate.resolve();
  const titler = new Titler({ svc: s.svc, llm: null, log: logger([]) });
  titler.onEvent(s.say("c", "hi"));
  await titler.idle();
  titler.onEvent(s.say("c", "hello"));
  await titler.idle();
  titler.onEvent(s.say("c", "Cannot log in to my account"));
  await titler.idle();
  titler.onEvent(s.say("c", "hi again"));
  await titler.idle();
  assert.deepEqual(s.titles.get("c"), ["Hi", "Cannot log in to my account"]);
  assert.equal(s.reads.length, 3, "settled after the topic: the fourth message reads nothing");
});

Deno.test("titler: past its bound it refuses new chats and says so once per overload", async () => {
  const s = stub();
  const lines: string[] = [];
  const titler = new Titler({ svc: s.svc, llm: null, log: logger(lines) });
  for (let i = 0; i < 1500; i++) {
    titler.onEvent(s.say(`chat-${i}`, "Order missing"));
    titler.onEvent(s.say(`chat-${i}`, "Order missing still"));
  }
  assert.equal(lines.filter((l) => l.startsWith("warn")).length, 1);
  s.gate.resolve();
  await titler.idle();
  assert.equal(s.titles.size, 1000, "the first 1000 chats, one look each");
  titler.onEvent(s.say("late", "Order missing"));
  await titler.idle();
  assert.deepEqual(s.titles.get("late"), ["Order missing"]);
  assert.ok(lines.some((l) => l.startsWith("info titles: taking chats again")));
});
