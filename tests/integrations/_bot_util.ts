/**
 * Helpers for the bot and title tests: a real server (in this process, free loopback port,
 * fresh KV) whose log lines are kept for assertions, and small frame predicates.
 */
import { loadConfig } from "../../src/config.ts";
import { type Logger, recordingLogger } from "../../src/log.ts";
import type { Clock } from "../../src/runtime/clock.ts";
import { startServer } from "../../src/server/server.ts";
import { type Frame, TEST_SECRET, type TestServer, withHelpers } from "../integration/_harness.ts";

/** The sample knowledge file that ships with the server. */
export const SAMPLE_KNOWLEDGE = new URL("../../config/knowledge.json", import.meta.url).pathname;

export interface LogLine {
  readonly level: string;
  readonly msg: string;
  readonly fields: Record<string, unknown>;
}

export interface BotServer extends TestServer {
  readonly logs: LogLine[];
}

/** Starts a server with the sample knowledge file unless `overrides` names another. */
export async function startBotServer(
  overrides: Record<string, string>,
  opts: { clock?: Clock } = {},
): Promise<BotServer> {
  const dir = await Deno.makeTempDir({ prefix: "chat-bot-test-" });
  const config = loadConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    KV_PATH: `${dir}/chat.kv`,
    LOG_LEVEL: "error",
    BOT_KNOWLEDGE_FILE: SAMPLE_KNOWLEDGE,
    BOT_MODE: "off",
    TITLE_MODE: "off",
    ...overrides,
  });
  const logs: LogLine[] = [];
  const logger: Logger = recordingLogger((level, msg, fields) => {
    if (level !== "debug") logs.push({ level, msg, fields });
  });
  const env = { get: (k: string) => (k === "JWT_SECRET" ? TEST_SECRET : undefined) };
  let server;
  try {
    server = await startServer(config, {
      logger,
      env,
      ...(opts.clock ? { clock: opts.clock } : {}),
    });
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  const helpers = withHelpers(server, server.auth, async () => {
    await server.shutdown();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  });
  return { ...helpers, logs };
}

export const isBot = (chatId: string, intent?: string) => (f: Frame) =>
  f.type === "bot_response" && f.payload.chat_id === chatId &&
  (intent === undefined || (f.payload.metadata as { intent: string }).intent === intent);

export const isType = (type: string, chatId: string) => (f: Frame) =>
  f.type === type && f.payload.chat_id === chatId;

export interface BotMeta {
  intent: string;
  confidence: number;
  quick_replies: string[];
}

export const meta = (f: Frame) => f.payload.metadata as BotMeta;
