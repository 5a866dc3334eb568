/** The actors of the chat engine: chat sessions, department queues and staff members. */
export { type Caller, CLIENT, OPERATOR, QUEUE, queueCaller, SESSION } from "./_common.ts";
export * from "./session.ts";
export * from "./queue.ts";
export * from "./operator.ts";
export * from "./client.ts";
export * from "./chat_staff.ts";
