/**
 * The C allocator's arena limit. glibc gives each thread that allocates its own malloc arena
 * (up to 8 per core); Deno's I/O threads allocate every frame and read buffer there, and a burst
 * (a hundred operators joining a 9,800-chat queue, a round of queue positions to every waiting
 * client) leaves those arenas holding freed memory the process never returns. Measured at 10,000
 * sockets (docs/BENCHMARKS.md, "RSS per socket"): 880 MB resident after a forced GC without a
 * limit, 516 MB with `MALLOC_ARENA_MAX=2`, same load, same latency. glibc reads the variable
 * once, at process start, so it cannot be set from here: `deno task start` and the image set it,
 * and a node started some other way says so in its log.
 */

/** The arena limit the launchers set (`deno.json` task `start`, the Dockerfile). */
export const MALLOC_ARENA_MAX = "2";

/**
 * A warning for a node on Linux (glibc) started without an arena limit, else null. musl and other
 * systems have no per-thread arenas and need nothing.
 */
export function allocatorAdvice(
  os: typeof Deno.build.os,
  env: { get(key: string): string | undefined },
): string | null {
  if (os !== "linux" || env.get("MALLOC_ARENA_MAX") !== undefined) return null;
  return `MALLOC_ARENA_MAX is not set: glibc keeps freed memory in per-thread arenas and the ` +
    `node's RSS grows with every burst of frames; start it with MALLOC_ARENA_MAX=` +
    `${MALLOC_ARENA_MAX} (deno task start and the Docker image do)`;
}
