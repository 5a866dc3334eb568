/** REST calls for the webhook tests: `/api/v1/chat/<path>` with an optional token and body. */
import type { TestServer } from "../integration/_harness.ts";

export interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

export async function call(
  server: TestServer,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  const res = await fetch(`${server.url}/api/v1/chat/${path}`, {
    method,
    headers,
    ...(opts.body === undefined
      ? {}
      : { body: typeof opts.body === "string" ? opts.body : JSON.stringify(opts.body) }),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Admin calls that must succeed with `expect`; answers the body. */
export function adminApi(server: TestServer, token: string) {
  const ok = async (method: string, path: string, body: unknown, expect: number) => {
    const r = await call(server, method, `admin/webhooks${path}`, { token, body });
    if (r.status !== expect) {
      throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.body)}`);
    }
    return r.body;
  };
  return {
    create: (body: unknown) => ok("POST", "", body, 201),
    list: () => ok("GET", "", undefined, 200),
    get: (id: string) => ok("GET", `/${id}`, undefined, 200),
    update: (id: string, body: unknown) => ok("PATCH", `/${id}`, body, 200),
    remove: (id: string) => ok("DELETE", `/${id}`, undefined, 204),
    deadLetters: (query = "") => ok("GET", `/dead-letters${query}`, undefined, 200),
    replay: (id: string) => ok("POST", `/dead-letters/${id}/replay`, undefined, 202),
  };
}
