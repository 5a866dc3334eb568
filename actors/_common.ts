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
