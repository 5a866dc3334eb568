/**
 * Accessibility checks for the browser tests: axe-core (Deque's rules, WCAG 2.1 A/AA and best
 * practices) run inside the page as it stands. axe's source is evaluated through the DevTools
 * protocol, so the pages' strict CSP (`script-src 'self'`) stays as in production.
 */
import axe from "axe-core";
import type { Page } from "playwright-core";

export interface AxeViolation {
  id: string;
  impact: "minor" | "moderate" | "serious" | "critical" | null;
  help: string;
  nodes: Array<{ target: string[]; failureSummary?: string }>;
}

/** Runs axe over the page (or `include`, a selector) and resolves with its violations. */
export async function axeViolations(page: Page, include?: string): Promise<AxeViolation[]> {
  const loaded = await page.evaluate(() =>
    typeof (globalThis as { axe?: unknown }).axe === "object"
  );
  if (!loaded) await page.evaluate((src) => (0, eval)(src), (axe as { source: string }).source);
  return await page.evaluate(async (sel) => {
    // deno-lint-ignore no-explicit-any
    const a = (globalThis as any).axe;
    // A context of only `exclude` is the whole document.
    const result = await a.run(sel ? { include: [sel] } : { exclude: [] }, {
      runOnly: {
        type: "tag",
        values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
      },
      resultTypes: ["violations"],
    });
    return result.violations.map((v: AxeViolation) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target, failureSummary: n.failureSummary })),
    }));
  }, include ?? null);
}

/**
 * Fails with a readable list when axe finds serious or critical violations in the page's
 * current state (`state` names it in the message).
 */
export async function assertAccessible(page: Page, state: string, include?: string): Promise<void> {
  const bad = (await axeViolations(page, include)).filter((v) =>
    v.impact === "serious" || v.impact === "critical"
  );
  if (bad.length === 0) return;
  const lines = bad.map((v) =>
    `- ${v.impact} ${v.id}: ${v.help}\n` +
    v.nodes.slice(0, 5).map((n) => `    ${n.target.join(" ")}: ${n.failureSummary ?? ""}`).join(
      "\n",
    )
  );
  throw new Error(
    `axe: ${bad.length} serious/critical violations in "${state}":\n${lines.join("\n")}`,
  );
}
