/**
 * Ops tasks against a running server's admin REST: `deno task ops <command> [args] [--json]`.
 * Reads CHAT_URL (default http://127.0.0.1:8080) and ADMIN_TOKEN (an admin JWT, e.g. from
 * `deno task token --role admin --sub ops`). `backup` and `restore` work on this machine's KV file
 * and attachment folder instead (scripts/_ops_backup.ts). Exit codes: 0 done, 1 the server refused
 * or could not be reached (the coded error is printed), 2 usage error.
 */
import {
  renderAudit,
  renderCluster,
  renderError,
  renderOperator,
  renderOperators,
  renderQueue,
  renderStats,
} from "./_ops_output.ts";
import { integer, parseArgs, type Parsed, UsageError } from "./_ops_args.ts";
import { LOCAL_COMMANDS, runLocal } from "./_ops_backup.ts";

const USAGE = `Usage: deno task ops <command> [args] [--json]

Commands:
  queue [--offset N] [--limit N]                 waiting (a page, 100 by default) and active chats
  operators                                      operators: status, load, capacity, counters
  stats                                          global and per-operator statistics
  audit [--chat ID | --operator ID] [--limit N]  audit records, newest first (limit 1..1000)
  cluster                                        cluster nodes and which node owns which partition
  transfer <chat_id> (--to <operator> | <operator> | --queue) --reason "…"
                                                 move an assigned chat (admin: forced)
  close <chat_id> [--reason "…"]                 close a chat
  priority <chat_id> <n>                         set a chat's priority (higher goes first)
  status <operator_id> <online|away|busy|offline> [--capacity N|default]
                                                 set an operator's status (and capacity)
  erase-client <client_id> --reason "…"           erase a person: every chat (closed first if
                                                 open), file, index and outbox record, profile
  backup [<dir>] [--kv PATH] [--attachments DIR]  consistent copy of the KV file (while the node
                                                 runs) and the attachment files, with a manifest
                                                 (default dir: backups/chat-<time>)
  restore <dir> [--kv PATH] [--attachments DIR] [--force]
                                                 write a backup to a KV path no node uses
                                                 (--force replaces an existing, unused file)

Options:
  --json   print the server's JSON as is (for scripts)
  --help   show this help

Environment: CHAT_URL (default http://127.0.0.1:8080), ADMIN_TOKEN (admin JWT, required);
backup and restore read KV_PATH, ATTACHMENT_STORE and ATTACHMENTS_DIR (no server, no token).`;

const STATUSES = ["online", "away", "busy", "offline"];

interface Request {
  readonly method: "GET" | "POST";
  readonly path: string;
  readonly body?: Record<string, unknown>;
}

interface Command {
  /** How many arguments follow the command: exactly n, or from min to max. */
  readonly positionals: number | readonly [number, number];
  readonly options: readonly string[];
  request(args: string[], opt: (name: string) => string | undefined): Request;
  render(data: unknown): string;
}

type Row = Record<string, unknown>;

const COMMANDS: Record<string, Command> = {
  queue: {
    positionals: 0,
    options: ["offset", "limit"],
    request: (_, opt) => {
      const q = new URLSearchParams();
      if (opt("offset")) q.set("offset", String(integer("--offset", opt("offset")!, 0)));
      if (opt("limit")) q.set("limit", String(integer("--limit", opt("limit")!, 0)));
      return { method: "GET", path: `queue${q.size ? `?${q}` : ""}` };
    },
    render: (d) => renderQueue(d as Row),
  },
  operators: {
    positionals: 0,
    options: [],
    request: () => ({ method: "GET", path: "operators" }),
    render: (d) => renderOperators(d as Row[]),
  },
  stats: {
    positionals: 0,
    options: [],
    request: () => ({ method: "GET", path: "stats" }),
    render: (d) => renderStats(d as Row),
  },
  cluster: {
    positionals: 0,
    options: [],
    request: () => ({ method: "GET", path: "cluster" }),
    render: (d) => renderCluster(d as Row),
  },
  audit: {
    positionals: 0,
    options: ["chat", "operator", "limit"],
    request: (_, opt) => {
      const q = new URLSearchParams();
      if (opt("chat") && opt("operator")) {
        throw new UsageError("Give --chat or --operator, not both");
      }
      if (opt("chat")) q.set("chat_id", opt("chat")!);
      if (opt("operator")) q.set("operator_id", opt("operator")!);
      if (opt("limit")) q.set("limit", String(integer("--limit", opt("limit")!, 1)));
      return { method: "GET", path: `audit${q.size ? `?${q}` : ""}` };
    },
    render: (d) => renderAudit(d as Row[]),
  },
  transfer: {
    positionals: [1, 2],
    options: ["to", "queue", "reason"],
    request: ([chat, operator], opt) => {
      if (operator !== undefined && opt("to") !== undefined) {
        throw new UsageError("Give the operator once: as an argument or with --to");
      }
      const to = operator ?? opt("to");
      if ((to === undefined) === (opt("queue") === undefined)) {
        throw new UsageError("Give exactly one of --to <operator> or --queue");
      }
      if (!opt("reason")?.trim()) throw new UsageError('--reason "…" is required');
      const target = to === undefined ? { to_queue: true } : { target_operator_id: to };
      return {
        method: "POST",
        path: "transfer-chat",
        body: { chat_id: chat, ...target, reason: opt("reason") },
      };
    },
    render: (d) => {
      const r = d as Row;
      return r.to_queue
        ? `Chat ${r.chat_id} returned to the queue.`
        : `Chat ${r.chat_id} transferred to ${r.target_operator_id}.`;
    },
  },
  close: {
    positionals: 1,
    options: ["reason"],
    request: ([chat], opt) => ({
      method: "POST",
      path: "close-chat",
      body: { chat_id: chat, ...(opt("reason") ? { reason: opt("reason") } : {}) },
    }),
    render: (d) => `Chat ${(d as Row).chat_id} closed at ${(d as Row).closed_at}.`,
  },
  priority: {
    positionals: 2,
    options: [],
    request: ([chat, n]) => ({
      method: "POST",
      path: "update-queue-priority",
      body: { chat_id: chat, priority: integer("Priority", n) },
    }),
    render: (d) => `Chat ${(d as Row).chat_id} now has priority ${(d as Row).priority}.`,
  },
  "erase-client": {
    positionals: 1,
    options: ["reason"],
    request: ([client], opt) => {
      if (!opt("reason")?.trim()) throw new UsageError('--reason "…" is required');
      return {
        method: "POST",
        path: "erase-client",
        body: { client_id: client, reason: opt("reason") },
      };
    },
    render: (d) => {
      const r = d as Row;
      return `Client ${r.client_id} erased: ${r.chats} chat(s) (${r.closed} closed first). ` +
        `Audit record ${r.audit_source}.`;
    },
  },
  status: {
    positionals: 2,
    options: ["capacity"],
    request: ([operator, status], opt) => {
      if (!STATUSES.includes(status)) {
        throw new UsageError(`Status must be one of ${STATUSES.join(", ")} (got ${status})`);
      }
      const cap = opt("capacity");
      const capacity = cap === undefined
        ? {}
        : { capacity: cap === "default" ? null : integer("--capacity", cap, 0) };
      return {
        method: "POST",
        path: "update-operator-status",
        body: { operator_id: operator, status, ...capacity },
      };
    },
    render: (d) => renderOperator(d as Row),
  },
};

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

const consoleIo: Io = { out: (t) => console.log(t), err: (t) => console.error(t) };

/** Runs one ops command; returns the exit code. */
export async function main(
  args: readonly string[],
  env: { get(key: string): string | undefined },
  io: Io = consoleIo,
): Promise<number> {
  const usage = (
    msg: string,
  ) => (io.err(`error: ${msg}\nRun "deno task ops --help" for usage.`), 2);
  let parsed: Parsed;
  try {
    parsed = parseArgs(args);
  } catch (e) {
    return usage((e as Error).message);
  }
  const [name, ...rest] = parsed.positionals;
  if (parsed.options.has("help") || name === "help") return io.out(USAGE), 0;
  if (name === undefined) return usage("No command given");
  if ((LOCAL_COMMANDS as readonly string[]).includes(name)) {
    const allowed = ["json", "kv", "attachments", ...(name === "restore" ? ["force"] : [])];
    for (const o of parsed.options.keys()) {
      if (!allowed.includes(o)) return usage(`${name} does not take --${o}`);
    }
    const [min, max] = name === "restore" ? [1, 1] : [0, 1];
    if (rest.length < min || rest.length > max) {
      return usage(`${name} takes ${min === max ? min : `${min} to ${max}`} argument(s)`);
    }
    const value = (o: string) => {
      const v = parsed.options.get(o);
      return typeof v === "string" ? v : undefined;
    };
    return await runLocal(
      {
        command: name as typeof LOCAL_COMMANDS[number],
        positionals: rest,
        opt: value,
        flag: (o) => parsed.options.has(o),
        env,
      },
      io,
      parsed.options.has("json"),
    );
  }
  const cmd = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!cmd) return usage(`Unknown command ${name}`);
  for (const o of parsed.options.keys()) {
    if (o !== "json" && !cmd.options.includes(o)) return usage(`${name} does not take --${o}`);
  }
  const [min, max] = typeof cmd.positionals === "number"
    ? [cmd.positionals, cmd.positionals]
    : cmd.positionals;
  if (rest.length < min || rest.length > max) {
    const n = min === max ? `${min}` : `${min} to ${max}`;
    return usage(`${name} takes ${n} argument(s), got ${rest.length}`);
  }
  const opt = (o: string) => {
    const v = parsed.options.get(o);
    return v === undefined ? undefined : String(v);
  };
  let req: Request;
  try {
    req = cmd.request(rest, opt);
  } catch (e) {
    if (e instanceof UsageError) return usage(e.message);
    throw e;
  }
  const token = env.get("ADMIN_TOKEN");
  if (!token) {
    return usage("ADMIN_TOKEN is not set (an admin JWT: deno task token --role admin --sub ops)");
  }
  const base = (env.get("CHAT_URL") || "http://127.0.0.1:8080").replace(/\/+$/, "");
  if (!URL.canParse(base)) return usage(`CHAT_URL is not a URL: ${base}`);
  const url = `${base}/api/v1/chat/admin/${req.path}`;

  let res: Response;
  try {
    res = await fetch(url, {
      method: req.method,
      headers: {
        authorization: `Bearer ${token}`,
        ...(req.body ? { "content-type": "application/json" } : {}),
      },
      ...(req.body ? { body: JSON.stringify(req.body) } : {}),
    });
  } catch (e) {
    io.err(`error: cannot reach ${base}: ${(e as Error).message}`);
    return 1;
  }
  const text = await res.text();
  let data: unknown = text;
  try {
    data = JSON.parse(text);
  } catch { /* not JSON: shown as text */ }
  const json = parsed.options.has("json");
  if (!res.ok) {
    if (json) io.out(JSON.stringify(data, null, 2));
    io.err(renderError(res.status, data));
    return 1;
  }
  io.out(json ? JSON.stringify(data, null, 2) : cmd.render(data));
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args, Deno.env));
