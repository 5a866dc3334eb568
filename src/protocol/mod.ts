/** Public entry of the protocol module; same exports as `frames.ts`. */
export * from "./frames.ts";
