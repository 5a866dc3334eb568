/**
 * A chat's conversation as plain text, to download (`GET /chats/{id}/transcript`): in Russian or
 * English, times in the reader's time zone. Built from the chat's own log only, so staff notes
 * (which live on the chat's staff stream) are never in it.
 */
import { clientEntity, type ClientView } from "../../actors/client.ts";
import { SESSION } from "../../actors/_common.ts";
import type { SessionEvent, SessionView } from "../../actors/session.ts";
import type { Role } from "../auth/principal.ts";
import type { Envelope } from "../runtime/entity.ts";
import type { ChatService } from "./chat_service.ts";
import { namedStaff } from "./projection.ts";

export type Lang = "ru" | "en";

const PAGE = 500;

const TEXTS = {
  en: {
    chat: "Chat",
    started: "Started",
    zone: "time zone",
    roles: { client: "client", operator: "operator", lawyer: "lawyer", admin: "admin" },
    client: "Client",
    bot: "Bot",
    file: "file",
    created: "Chat started",
    offline: "Offline message: left while nobody was online",
    lawyerChat: (by: string, reason?: string) =>
      `Chat with a lawyer, opened by ${by}${reason ? `: ${reason}` : ""}`,
    queued: "Waiting for an operator",
    joined: (who: string) => `${who} joined the chat`,
    transferred: (who: string) => `Chat transferred to ${who}`,
    requeued: "Chat returned to the queue",
    lawyer: (who: string) => `A personal lawyer was assigned: ${who}`,
    escalated: "An operator was asked for",
    closed: "Chat closed",
    rated: (score: number, comment?: string) =>
      `Rating: ${score}/5${comment ? ` (${comment})` : ""}`,
  },
  ru: {
    chat: "Чат",
    started: "Начат",
    zone: "часовой пояс",
    roles: { client: "клиент", operator: "оператор", lawyer: "юрист", admin: "администратор" },
    client: "Клиент",
    bot: "Бот",
    file: "файл",
    created: "Чат начат",
    offline: "Сообщение, оставленное, когда никого не было в сети",
    lawyerChat: (by: string, reason?: string) =>
      `Чат с юристом, открыт: ${by}${reason ? `. Причина: ${reason}` : ""}`,
    queued: "Ожидание оператора",
    joined: (who: string) => `В чате: ${who}`,
    transferred: (who: string) => `Чат передан: ${who}`,
    requeued: "Чат возвращён в очередь",
    lawyer: (who: string) => `Назначен персональный юрист: ${who}`,
    escalated: "Запрошен оператор",
    closed: "Чат закрыт",
    rated: (score: number, comment?: string) =>
      `Оценка: ${score}/5${comment ? ` (${comment})` : ""}`,
  },
} as const;

/** `?lang=` wins; else the first of ru/en in `Accept-Language` by weight; else English. */
export function pickLang(acceptLanguage: string | undefined | null, lang?: string): Lang {
  if (lang === "ru" || lang === "en") return lang;
  const ranked = (acceptLanguage ?? "").split(",").map((part, i) => {
    const [tag, ...params] = part.trim().toLowerCase().split(";");
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    return { tag: tag.split("-")[0], q: q ? Number(q.slice(2)) || 0 : 1, i };
  }).filter((l) => (l.tag === "ru" || l.tag === "en") && l.q > 0)
    .sort((a, b) => b.q - a.q || a.i - b.i);
  return (ranked[0]?.tag as Lang | undefined) ?? "en";
}

/** Whether `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/** `2026-01-05 15:00:12` (en) or `05.01.2026 15:00:12` (ru), in `tz`. */
export function formatTime(ms: number, tz: string, lang: Lang): string {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-GB", {
      timeZone: tz,
      hourCycle: "h23",
      year: "numeric",
      month: "2-digit",
      day: "2-digit",
      hour: "2-digit",
      minute: "2-digit",
      second: "2-digit",
    }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]),
  );
  const time = `${parts.hour}:${parts.minute}:${parts.second}`;
  return lang === "ru"
    ? `${parts.day}.${parts.month}.${parts.year} ${time}`
    : `${parts.year}-${parts.month}-${parts.day} ${time}`;
}

/** The transcript of the chat `view` (the caller may read it: checked before). */
export async function transcript(
  svc: ChatService,
  view: SessionView,
  o: { lang: Lang; tz: string },
): Promise<string> {
  const t = TEXTS[o.lang];
  const envs: Envelope<SessionEvent>[] = [];
  for (;;) {
    const page = await svc.system.readEvents<SessionEvent>(SESSION, view.chatId, envs.length, PAGE);
    envs.push(...page);
    if (page.length < PAGE) break;
  }
  const profile = await svc.router.ask(clientEntity, view.clientId, { type: "get" })
    .then((v) => (v as ClientView).profile).catch(() => null);
  await svc.names.load(namedStaff(envs));
  const created = envs[0]?.event.type === "created" ? envs[0].event : null;
  const clientName = profile?.name ?? created?.clientName ?? t.client;
  const staff = (id: string) => svc.names.cached(id) ?? id;
  const who = (id: string, role: Role) =>
    role === "client" ? clientName : `${staff(id)} (${t.roles[role]})`;
  const lines = [
    `${t.chat} ${view.chatId}`,
    `${t.started}: ${
      formatTime(view.createdAt ?? envs[0]?.at ?? 0, o.tz, o.lang)
    } (${t.zone} ${o.tz})`,
    "",
  ];
  for (const env of envs) {
    const line = describe(env.event, t, who, staff);
    if (line !== null) lines.push(`[${formatTime(env.at, o.tz, o.lang)}] ${line}`);
  }
  return lines.join("\n") + "\n";
}

type Texts = typeof TEXTS[Lang];

function describe(
  e: SessionEvent,
  t: Texts,
  who: (id: string, role: Role) => string,
  staff: (id: string) => string,
): string | null {
  switch (e.type) {
    case "created":
      if (e.kind === "lawyer") return `— ${t.lawyerChat(staff(e.byId), e.reason)}`;
      return `— ${e.offline ? t.offline : t.created}`;
    case "queued":
      return `— ${t.queued}`;
    case "assigned":
      return `— ${t.joined(who(e.operatorId, e.reason === "lawyer" ? "lawyer" : "operator"))}`;
    case "message": {
      const files = (e.attachments ?? []).map((a) => `[${t.file}: ${a.name}]`);
      return `${who(e.senderId, e.senderRole)}: ${[e.text, ...files].filter(Boolean).join(" ")}`;
    }
    case "bot_message":
      return `${t.bot}: ${e.text}`;
    case "transferred":
      return `— ${e.to === null ? t.requeued : t.transferred(who(e.to, "operator"))}`;
    case "lawyer_assigned":
      return `— ${t.lawyer(who(e.lawyerId, "lawyer"))}`;
    case "escalated":
      return `— ${t.escalated}`;
    case "closed":
      return `— ${t.closed}`;
    case "rated":
      return `— ${t.rated(e.score, e.comment)}`;
    case "read":
    case "titled":
      return null;
  }
}
