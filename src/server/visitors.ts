/**
 * Website visitors: who starts a chat, proven rather than claimed. A `POST /chats` (or
 * `POST /visitors`) is for the visitor its visitor token proves, for a user the site vouched for
 * (identity verification, `src/auth/identity.ts`), or for a new anonymous visitor with a
 * server-made id; a `client_id` without proof is refused. The visitor's profile (name, e-mail,
 * attributes) lives on the client actor, and staff read it beside the conversation.
 */
import {
  type ClientChat,
  clientEntity,
  type ClientListReply,
  type ClientView,
  type ProfilePatch,
} from "../../actors/client.ts";
import type { Authenticator } from "../auth/mod.ts";
import type { SiteIdentity } from "../auth/identity.ts";
import type { Principal } from "../auth/principal.ts";
import { AppError } from "../errors.ts";
import type { ChatService } from "./chat_service.ts";

/** What a request says about who it is for (all optional). */
export interface VisitorClaim {
  /** The token of the request (`Authorization`/`?token=`), if any. */
  readonly token?: string;
  /** A site's user id, with `userHash` (identity verification). */
  readonly clientId?: string;
  readonly userHash?: string;
  /** A short JWT from the site's backend (identity verification). */
  readonly identityToken?: string;
  /** Typed by the visitor (unverified). */
  readonly name?: string;
  readonly email?: string;
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface ResolvedVisitor {
  readonly visitorId: string;
  /** A new anonymous visitor (no token, no identity). */
  readonly created: boolean;
  readonly verified: boolean;
}

const iso = (ms: number) => new Date(ms).toISOString();

export class Visitors {
  readonly #svc: ChatService;
  readonly #auth: Authenticator;
  readonly #identity: SiteIdentity | null;

  constructor(svc: ChatService, auth: Authenticator, identity: SiteIdentity | null) {
    this.#svc = svc;
    this.#auth = auth;
    this.#identity = identity;
  }

  /** Who a request is for, and their profile updated with what it carries. */
  async resolve(claim: VisitorClaim): Promise<ResolvedVisitor> {
    const now = this.#now();
    const typed: ProfilePatch = {
      ...(claim.name === undefined ? {} : { name: claim.name }),
      ...(claim.email === undefined ? {} : { email: claim.email }),
      ...(claim.attributes === undefined ? {} : { attributes: claim.attributes }),
      verified: false,
    };
    let resolved: ResolvedVisitor;
    if (claim.identityToken !== undefined || claim.userHash !== undefined) {
      if (!this.#identity) {
        throw new AppError(
          "not_supported",
          "Identity verification is not configured on this server (IDENTITY_SECRET)",
        );
      }
      const vouched = claim.identityToken !== undefined
        ? await this.#identity.verifyToken(claim.identityToken, now)
        : await this.#identity.verifyUserHash(claim.clientId ?? "", claim.userHash!);
      // What the site vouches for is stored first and wins over what the visitor typed.
      await this.#setProfile(vouched.visitorId, {
        ...(vouched.name ? { name: vouched.name } : {}),
        ...(vouched.email ? { email: vouched.email } : {}),
        ...(vouched.attributes ? { attributes: vouched.attributes } : {}),
        verified: true,
      }, now);
      resolved = { visitorId: vouched.visitorId, created: false, verified: true };
    } else if (claim.clientId !== undefined) {
      throw new AppError(
        "forbidden",
        "client_id alone proves nothing: send user_hash or identity_token (identity " +
          "verification), or the visitor token",
      );
    } else if (claim.token !== undefined) {
      const p = await this.#auth.authenticate(claim.token);
      if (p.role !== "client" || p.scope !== "visitor") {
        throw new AppError("forbidden", "Only a visitor token starts chats for a visitor");
      }
      resolved = { visitorId: p.id, created: false, verified: false };
    } else {
      resolved = { visitorId: `v-${crypto.randomUUID()}`, created: true, verified: false };
    }
    if (!isEmpty(typed)) await this.#setProfile(resolved.visitorId, typed, now);
    return resolved;
  }

  /** A fresh visitor token. */
  token(visitorId: string): Promise<{ token: string; expiresAt: number }> {
    return this.#auth.issueVisitorToken(visitorId);
  }

  /** A visitor's fresh token, asked for with their (still valid) visitor token. */
  renew(p: Principal): Promise<{ token: string; expiresAt: number }> {
    visitorOnly(p);
    return this.token(p.id);
  }

  /** The visitor's own profile and chats. */
  own(p: Principal): Promise<ClientView> {
    visitorOnly(p);
    return this.profile(p.id);
  }

  async profile(visitorId: string): Promise<ClientView> {
    return await this.#svc.router.ask(clientEntity, visitorId, { type: "get" }) as ClientView;
  }

  /** Profile changes a visitor makes themself (never verified). */
  async update(p: Principal, patch: Omit<ProfilePatch, "verified">): Promise<ClientView> {
    visitorOnly(p);
    return await this.#setProfile(p.id, { ...patch, verified: false }, this.#now());
  }

  /** The visitor's chats (support and lawyer), each with a fresh chat token to open it. */
  async chats(p: Principal) {
    visitorOnly(p);
    const { chats } = await this.#svc.router.ask(clientEntity, p.id, {
      type: "list",
    }) as ClientListReply;
    return await Promise.all(chats.map(async (c) => {
      const view = await this.#svc.peek(c.chatId);
      const { token, expiresAt } = await this.#auth.issueClientToken(c.chatId, p.id);
      return {
        ...chatRow(c),
        status: view.status,
        operator_id: view.operatorId,
        client_token: token,
        expires_at: iso(expiresAt),
      };
    }));
  }

  /**
   * For staff who may see the chat (its participants, and staff the chat's staff side lets read
   * it: mentioned in a note, a lawyer assigned from it): its client's profile and other chats.
   */
  async ofChat(p: Principal, chatId: string) {
    if (p.role === "client") throw new AppError("forbidden", "Staff only");
    const view = await this.#svc.staff.readableView(p, chatId);
    const client = await this.profile(view.clientId);
    return {
      client_id: view.clientId,
      name: client.profile.name ?? null,
      email: client.profile.email ?? null,
      verified: client.profile.verified,
      attributes: client.profile.attributes,
      chats: client.chats.map(chatRow),
    };
  }

  async #setProfile(visitorId: string, patch: ProfilePatch, at: number): Promise<ClientView> {
    return await this.#svc.router.ask(clientEntity, visitorId, {
      type: "set_profile",
      patch,
      at,
    }) as ClientView;
  }

  #now(): number {
    return this.#svc.system.clock.now();
  }
}

function isEmpty(p: ProfilePatch): boolean {
  return p.name === undefined && p.email === undefined && p.attributes === undefined;
}

function visitorOnly(p: Principal): void {
  if (p.role !== "client" || p.scope !== "visitor") {
    throw new AppError("forbidden", "This needs the visitor token (a chat token opens one chat)");
  }
}

function chatRow(c: ClientChat) {
  return {
    chat_id: c.chatId,
    kind: c.kind,
    linked_chat_id: c.linkedChatId ?? null,
    created_at: iso(c.createdAt),
  };
}
