/**
 * Who is behind a connection or request, as proven by a token, and the one key under which every
 * index, count and check finds a user. A client and a staff member may carry the same id (a
 * visitor the site vouched for as `op-1`, or data from before visitor identity), so a user is
 * always keyed by its kind and its id together ({@link userKey}), never by the id alone.
 */
export type StaffRole = "operator" | "lawyer" | "admin";
export type Role = "client" | StaffRole;
/** What a token proves: one chat (chat token), a visitor (visitor token) or a staff member. */
export type Scope = "chat" | "visitor" | "staff";

export interface Principal {
  /** Stable user id: the JWT `sub` for staff, the client's id for clients. */
  readonly id: string;
  readonly role: Role;
  readonly scope: Scope;
  /** For chat tokens: the one chat the token opens. */
  readonly chatId?: string;
  /** Display name, when the token carries one. */
  readonly name?: string;
  /** Token expiry, ms since epoch. */
  readonly expiresAt: number;
}

export function isStaff(role: Role): role is StaffRole {
  return role !== "client";
}

/** A user as a key: `c:<id>` for clients, `s:<id>` for staff (whatever their role). */
export type UserKey = `c:${string}` | `s:${string}`;

export function userKey(kind: "client" | "staff", id: string): UserKey {
  return kind === "client" ? `c:${id}` : `s:${id}`;
}

export function staffKey(id: string): UserKey {
  return `s:${id}`;
}

export function clientKey(id: string): UserKey {
  return `c:${id}`;
}

/** The key of a principal's user. */
export function keyOf(p: Pick<Principal, "id" | "role">): UserKey {
  return isStaff(p.role) ? staffKey(p.id) : clientKey(p.id);
}

/**
 * Ids that may become storage keys (user ids, chat ids): 1 to 128 printable ASCII characters
 * without spaces, so every key stays far below KV's 2 KiB key limit and prints unambiguously.
 */
export const ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

export function isValidId(id: unknown): id is string {
  return typeof id === "string" && ID_PATTERN.test(id);
}
