/** Who is behind a connection or request, as proven by a token. */
export type StaffRole = "operator" | "lawyer" | "admin";
export type Role = "client" | StaffRole;

export interface Principal {
  /** Stable user id: the JWT `sub` for staff, the client's id for clients. */
  readonly id: string;
  readonly role: Role;
  /** For clients: the one chat their token opens. */
  readonly chatId?: string;
  /** Display name, when the token carries one. */
  readonly name?: string;
  /** Token expiry, ms since epoch. */
  readonly expiresAt: number;
}

export function isStaff(role: Role): role is StaffRole {
  return role !== "client";
}
