/** Helpers of the observability tests: Debian's Prometheus tools, the dashboard and the rules. */
import { parse as parseYaml } from "yaml";

export const ROOT = new URL("../../", import.meta.url);
export const path = (p: string) => new URL(p, ROOT).pathname;
export const read = (p: string) => Deno.readTextFile(new URL(p, ROOT));

/** Runs a tool of Debian's `prometheus` package; fails loudly when it is not installed. */
export async function promTool(
  tool: "promtool" | "prometheus",
  args: string[],
): Promise<{ ok: boolean; out: string }> {
  const bin = `/usr/bin/${tool}`;
  try {
    await Deno.stat(bin);
  } catch {
    throw new Error(
      `${bin} is missing: the observability tests need Debian's prometheus package. ` +
        "Install it with: apt-get install -y --no-install-recommends prometheus",
    );
  }
  const out = await new Deno.Command(bin, { args, stdout: "piped", stderr: "piped" }).output();
  const dec = new TextDecoder();
  return { ok: out.success, out: dec.decode(out.stdout) + dec.decode(out.stderr) };
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { h: number; w: number; x: number; y: number };
  datasource?: { type: string; uid: string };
  targets?: Array<{ refId: string; expr: string; datasource?: { uid: string } }>;
}

export interface Variable {
  name: string;
  type: string;
  current?: { value?: string };
}

export async function dashboard(): Promise<
  { panels: Panel[]; templating: { list: Variable[] } } & Record<string, unknown>
> {
  return JSON.parse(await read("deploy/grafana/dashboards/support-chat.json"));
}

/** The PromQL of every alert rule: `[alert name, expr]`. */
export async function alertExprs(): Promise<Array<[string, string]>> {
  const doc = parseYaml(await read("deploy/prometheus/alerts.yml")) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  return doc.groups.flatMap((g) => g.rules.map((r) => [r.alert, r.expr] as [string, string]));
}
