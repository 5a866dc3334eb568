/**
 * The last line of defence of a node: an exception or a rejected promise that nothing handled
 * would end the process (Deno's default). Here it is logged with its stack, counted
 * (`chat_unhandled_errors_total`), and the process goes on. Each such log line is a bug to fix at
 * its cause; the tests fail on any of them (they run without this handler).
 */
import type { Logger } from "../log.ts";

let count = 0;

/** Unhandled errors and rejections caught since the process started. */
export function unhandledErrors(): number {
  return count;
}

export function installLastResort(target: typeof globalThis, log: Logger): void {
  target.addEventListener("unhandledrejection", (e) => {
    e.preventDefault();
    count++;
    log.error("unhandled promise rejection (the process goes on)", { err: e.reason });
  });
  target.addEventListener("error", (e) => {
    e.preventDefault();
    count++;
    log.error("uncaught exception (the process goes on)", { err: e.error ?? e.message });
  });
}
