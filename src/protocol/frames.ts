/**
 * The WebSocket protocol: every frame in both directions as a zod schema, with inferred types.
 * See docs/PROTOCOL.md. Inbound schemas and wire primitives live in `inbound.ts`, outbound
 * schemas and the typed builder in `outbound.ts`; this module re-exports both.
 */
export * from "./inbound.ts";
export * from "./outbound.ts";
