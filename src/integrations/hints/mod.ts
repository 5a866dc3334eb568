/**
 * Operator hints: suggested replies from a full-text index (MiniSearch) over canned responses
 * (admin REST, shared KV), the bot's knowledge file and past operator answers harvested from
 * closed chats (shared KV, bounded). Entirely local: no outside service. Every node serves hints;
 * the node owning a chat harvests it when it closes, and every node's index catches up from KV on
 * its next query (see `catalog.ts`).
 */
import { SESSION } from "../../../actors/_common.ts";
import type { SessionEvent } from "../../../actors/session.ts";
import type { ChatService } from "../../server/chat_service.ts";
import type { Integration, IntegrationContext } from "../mod.ts";
import { HintCatalog } from "./catalog.ts";
import { Harvester, type ReadEvents } from "./harvest.ts";
import { hintRoutes } from "./routes.ts";

export interface HintsIntegration extends Integration {
  readonly catalog: HintCatalog;
  readonly harvester: Harvester;
}

/** The hints of each running server, by its chat service (tests wait on harvests through it). */
const running = new WeakMap<ChatService, HintsIntegration>();

export function hintsOf(svc: ChatService): HintsIntegration | undefined {
  return running.get(svc);
}

export async function startHints(ctx: IntegrationContext): Promise<HintsIntegration | null> {
  const { config, svc, kv, clock, log } = ctx;
  if (config.HINTS === "off") return null;
  const catalog = new HintCatalog({
    kv,
    clock,
    log,
    historyMax: config.HINTS_HISTORY_MAX,
    knowledgePath: config.BOT_KNOWLEDGE_FILE,
  });
  // Rebuilds the index from KV (canned, history) and the file, as after every restart.
  await catalog.refresh();
  const read: ReadEvents = (chatId, after, limit) =>
    svc.system.readEvents<SessionEvent>(SESSION, chatId, after, limit);
  const harvester = new Harvester({
    read,
    history: catalog.history,
    now: () => clock.now(),
    log,
    onStored: () => catalog.refresh(),
  });
  const unsubscribe = svc.onChatEvent((n) => {
    // Lawyer chats are legal advice for one client, not answers to reuse.
    if (n.event.type === "closed" && n.view.kind === "support" && config.HINTS_HISTORY_MAX > 0) {
      harvester.add(n.chatId);
    }
  });
  const hints: HintsIntegration = {
    name: "hints",
    catalog,
    harvester,
    routes(api) {
      hintRoutes(api, {
        catalog,
        svc,
        auth: ctx.auth,
        read,
        maxTextLength: config.MAX_TEXT_LENGTH,
      });
    },
    async stop() {
      unsubscribe();
      running.delete(svc);
      await harvester.stop();
    },
  };
  running.set(svc, hints);
  return hints;
}
