/**
 * Client: one end user (id = client id) and the chats they have — their support chats and the
 * separate chats with their personal lawyers — so a client can list and reopen them.
 */
import { accept, type Decision, type Entity } from "../src/runtime/entity.ts";
import { CLIENT } from "./_common.ts";

export interface ClientChat {
  readonly chatId: string;
  readonly kind: "support" | "lawyer";
  readonly createdAt: number;
  readonly lawyerId?: string;
  readonly linkedChatId?: string;
}

export interface ClientState {
  readonly id: string;
  readonly chats: readonly ClientChat[];
}

export type ClientCommand =
  | ({ type: "chat_linked" } & ClientChat)
  | { type: "list" };

export type ClientEvent = { type: "chat_linked" } & ClientChat;

export type ClientReply = { chats: ClientChat[] };

/** Newest chats kept per client. */
export const CLIENT_CHATS_LIMIT = 200;

function decide(state: ClientState, cmd: ClientCommand): Decision<ClientEvent, ClientReply> {
  if (cmd.type === "list") return accept([], { chats: [...state.chats] });
  if (state.chats.some((c) => c.chatId === cmd.chatId)) {
    return accept([], { chats: [...state.chats] });
  }
  const { type: _t, ...chat } = cmd;
  const event: ClientEvent = { type: "chat_linked", ...chat };
  return accept([event], { chats: [...evolve(state, event).chats] });
}

function evolve(state: ClientState, event: ClientEvent): ClientState {
  const { type: _t, ...chat } = event;
  return { ...state, chats: [...state.chats, chat].slice(-CLIENT_CHATS_LIMIT) };
}

export type ClientEntity = Entity<ClientState, ClientCommand, ClientEvent, ClientReply>;

export const clientEntity: ClientEntity = {
  type: CLIENT,
  initialState: (id) => ({ id, chats: [] }),
  decide: (state, cmd) => decide(state, cmd),
  evolve,
};
