/**
 * The parts of Telegram Bot API objects this integration reads, as zod schemas (validated at the
 * edge: the poller's `getUpdates` result and the webhook body). Unknown fields pass through.
 */
import { z } from "@hono/zod-openapi";

export const TgUserSchema = z.looseObject({
  id: z.number().int(),
  is_bot: z.boolean().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
});

export const TgChatSchema = z.looseObject({
  id: z.number().int(),
  type: z.string(),
  title: z.string().optional(),
  first_name: z.string().optional(),
  last_name: z.string().optional(),
  username: z.string().optional(),
});

export const TgMessageSchema = z.looseObject({
  message_id: z.number().int(),
  date: z.number().int(),
  chat: TgChatSchema,
  from: TgUserSchema.optional(),
  text: z.string().optional(),
  caption: z.string().optional(),
});

export const TgUpdateSchema = z.looseObject({
  update_id: z.number().int().min(0),
  message: TgMessageSchema.optional(),
}).openapi("TelegramUpdate", {
  description: "A Telegram Bot API `Update`; only `message` updates open or continue chats",
});

export type TgUser = z.infer<typeof TgUserSchema>;
export type TgChat = z.infer<typeof TgChatSchema>;
export type TgMessage = z.infer<typeof TgMessageSchema>;
export type TgUpdate = z.infer<typeof TgUpdateSchema>;

/** The display name of a Telegram chat: the person's name (and @username), or the group title. */
export function displayName(chat: TgChat, from?: TgUser): string {
  if (chat.type !== "private" && chat.title) return chat.title;
  const who = from ?? chat;
  const name = [who.first_name, who.last_name].filter(Boolean).join(" ");
  const handle = who.username ? `@${who.username}` : "";
  return [name, handle].filter(Boolean).join(" ") || `Telegram ${chat.id}`;
}

/** Message kinds without text; the first one present names a message we cannot show as text. */
const KINDS = [
  "photo",
  "video",
  "document",
  "audio",
  "voice",
  "video_note",
  "sticker",
  "animation",
  "location",
  "contact",
  "poll",
] as const;

/** The text to store for a message: its text or caption, else a marker of what was sent. */
export function messageText(m: TgMessage, maxLength: number): string {
  const raw = m.text ?? m.caption;
  if (raw !== undefined && raw.trim() !== "") {
    // Longer texts are cut rather than refused: a refused update would block the ones after it.
    return raw.length <= maxLength ? raw : `${raw.slice(0, maxLength - 1)}…`;
  }
  const kind = KINDS.find((k) => k in m);
  return kind ? `[${kind}]` : "[unsupported message]";
}
