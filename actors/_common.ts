/** Names and small types shared by the actors. Entity type names are part of storage keys. */
import type { Role } from "../src/auth/principal.ts";

export const SESSION = "session";
export const QUEUE = "queue";
export const OPERATOR = "operator";
export const CLIENT = "client";

/** Who sends a command: the `id` and `role` of a {@link Principal}, or an actor acting as admin. */
export interface Caller {
  readonly id: string;
  readonly role: Role;
}

/** How a queue actor signs the commands it sends to sessions. */
export function queueCaller(queueName: string): Caller {
  return { id: `queue:${queueName}`, role: "admin" };
}

/**
 * A participant of a chat as a key with its kind, `c:<id>` or `s:<id>`: read marks and retry
 * lookups are keyed by it, so a client and a staff member with the same id stay apart.
 */
export function participantKey(by: Caller): string {
  return by.role === "client" ? `c:${by.id}` : `s:${by.id}`;
}

/** The key and the bare id (entries stored before keys had a kind match the bare id). */
export function senderOf(by: Caller): { key: string; id: string } {
  return { key: participantKey(by), id: by.id };
}

/**
 * `{ decision }` when there is one: a queue ownership decision's seq, carried by the queue's
 * commands to a session (state and commands stored before it have none).
 */
export const decided = (decision: number | undefined): { decision?: number } =>
  decision === undefined ? {} : { decision };
