/**
 * Client: one end user (id = client id: `v-…` for an anonymous website visitor, `u:…` for a user
 * the site vouched for, `tg-…` for a Telegram user), their profile (name, e-mail and the
 * attributes the site or the visitor gave, shown to staff) and the chats they have — their
 * support chats and the separate chats with their personal lawyers — so a client can list and
 * reopen them.
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

/** What is known of the person; `verified` once a site vouched for them (identity verification). */
export interface ClientProfile {
  readonly name?: string;
  readonly email?: string;
  readonly attributes: Readonly<Record<string, string>>;
  readonly verified: boolean;
  readonly updatedAt: number | null;
}

export interface ClientState {
  readonly id: string;
  readonly chats: readonly ClientChat[];
  readonly profile?: ClientProfile;
}

/** A profile change: from the site (verified, wins) or typed by the visitor. */
export interface ProfilePatch {
  readonly name?: string;
  readonly email?: string;
  readonly attributes?: Readonly<Record<string, string>>;
  readonly verified: boolean;
}

export type ClientCommand =
  | ({ type: "chat_linked" } & ClientChat)
  | { type: "list" }
  | { type: "set_profile"; patch: ProfilePatch; at: number }
  | { type: "get" }
  /** The chat was deleted (retention, src/ops/): it leaves the list. */
  | { type: "forget_chat"; chatId: string };

export type ClientEvent =
  | ({ type: "chat_linked" } & ClientChat)
  | { type: "profile_set"; profile: ClientProfile }
  | { type: "chat_forgotten"; chatId: string };

export type ClientListReply = { chats: ClientChat[] };
export type ClientReply = ClientListReply | ClientView;

export interface ClientView {
  readonly id: string;
  readonly profile: ClientProfile;
  readonly chats: ClientChat[];
}

/** Newest chats kept per client. */
export const CLIENT_CHATS_LIMIT = 200;
/** Attributes kept per client (the newest win), and their key and value lengths. */
export const CLIENT_ATTRIBUTES_MAX = 20;
export const ATTRIBUTE_KEY = /^[\w.-]{1,40}$/;
export const ATTRIBUTE_VALUE_MAX = 200;

const EMPTY_PROFILE: ClientProfile = { attributes: {}, verified: false, updatedAt: null };

function decide(state: ClientState, cmd: ClientCommand): Decision<ClientEvent, ClientReply> {
  switch (cmd.type) {
    case "list":
      return accept([], { chats: [...state.chats] });
    case "get":
      return accept([], view(state));
    case "set_profile": {
      const profile = merge(state.profile ?? EMPTY_PROFILE, cmd.patch, cmd.at);
      if (sameProfile(profile, state.profile ?? EMPTY_PROFILE)) return accept([], view(state));
      const event: ClientEvent = { type: "profile_set", profile };
      return accept([event], view(evolve(state, event)));
    }
    case "forget_chat": {
      if (!state.chats.some((c) => c.chatId === cmd.chatId)) {
        return accept([], { chats: [...state.chats] });
      }
      const event: ClientEvent = { type: "chat_forgotten", chatId: cmd.chatId };
      return accept([event], { chats: [...evolve(state, event).chats] });
    }
    case "chat_linked": {
      if (state.chats.some((c) => c.chatId === cmd.chatId)) {
        return accept([], { chats: [...state.chats] });
      }
      const { type: _t, ...chat } = cmd;
      const event: ClientEvent = { type: "chat_linked", ...chat };
      return accept([event], { chats: [...evolve(state, event).chats] });
    }
  }
}

/**
 * The profile after a patch: what the site vouched for is not overwritten by what the visitor
 * types; attributes merge (site-given keys win), at most {@link CLIENT_ATTRIBUTES_MAX}.
 */
function merge(p: ClientProfile, patch: ProfilePatch, at: number): ClientProfile {
  const trusted = patch.verified || !p.verified;
  const attributes: Record<string, string> = { ...p.attributes };
  for (const [k, v] of Object.entries(patch.attributes ?? {})) {
    if (!ATTRIBUTE_KEY.test(k)) continue;
    if (!patch.verified && p.verified && Object.hasOwn(p.attributes, k)) continue;
    delete attributes[k];
    attributes[k] = v.slice(0, ATTRIBUTE_VALUE_MAX);
  }
  const keys = Object.keys(attributes);
  for (const k of keys.slice(0, Math.max(0, keys.length - CLIENT_ATTRIBUTES_MAX))) {
    delete attributes[k];
  }
  const name = trusted && patch.name !== undefined ? patch.name : p.name;
  const email = trusted && patch.email !== undefined ? patch.email : p.email;
  return {
    ...(name === undefined ? {} : { name }),
    ...(email === undefined ? {} : { email }),
    attributes,
    verified: p.verified || patch.verified,
    updatedAt: at,
  };
}

function sameProfile(a: ClientProfile, b: ClientProfile): boolean {
  const strip = ({ updatedAt: _u, ...rest }: ClientProfile) => JSON.stringify(rest);
  return strip(a) === strip(b);
}

function view(state: ClientState): ClientView {
  return { id: state.id, profile: state.profile ?? EMPTY_PROFILE, chats: [...state.chats] };
}

function evolve(state: ClientState, event: ClientEvent): ClientState {
  if (event.type === "profile_set") return { ...state, profile: event.profile };
  if (event.type === "chat_forgotten") {
    return { ...state, chats: state.chats.filter((c) => c.chatId !== event.chatId) };
  }
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
