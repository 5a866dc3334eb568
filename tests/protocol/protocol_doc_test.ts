/**
 * docs/PROTOCOL.md against the code (issue 12's corrections, kept): the inbound table has a row
 * for every inbound frame and none answers `not_supported`; the error table lists every code of
 * src/errors.ts with its HTTP status and retryable flag; the list of session events that carry a
 * `seq` is exactly the stored session-event frames.
 */
import assert from "node:assert/strict";
import { ERROR_CODES } from "../../src/errors.ts";
import { INBOUND_TYPES } from "../../src/protocol/inbound.ts";
import { SESSION_EVENT_TYPES } from "../../src/protocol/outbound.ts";

const DOC = await Deno.readTextFile(new URL("../../docs/PROTOCOL.md", import.meta.url));

/** The rows of the first table after `heading`, as arrays of trimmed cells. */
function tableAfter(heading: string): string[][] {
  const at = DOC.indexOf(heading);
  assert.ok(at >= 0, `PROTOCOL.md has "${heading}"`);
  const lines = DOC.slice(at).split("\n");
  const start = lines.findIndex((l) => l.startsWith("|"));
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith("|")) break;
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim()));
  }
  return rows;
}

const named = (cell: string) => /^`([a-z_]+)`$/.exec(cell)?.[1];

Deno.test("PROTOCOL.md: the inbound table has every inbound frame, none refused as not_supported", () => {
  const rows = tableAfter("## Inbound frames");
  for (const row of rows) {
    assert.ok(!row.join(" ").includes("not_supported"), `row ${row[0]} says not_supported`);
  }
  const types = rows.map((r) => named(r[0]));
  assert.deepEqual([...types].sort(), [...INBOUND_TYPES].sort());
});

Deno.test("PROTOCOL.md: the error table lists every error code with its status and retryable flag", () => {
  const rows = tableAfter("## Error codes");
  const byCode = new Map(rows.map((r) => [named(r[0]), r]));
  for (const [code, spec] of Object.entries(ERROR_CODES)) {
    const row = byCode.get(code);
    assert.ok(row, `the error table lacks ${code}`);
    assert.equal(row[1], String(spec.status), `${code}: status`);
    assert.equal(row[2], spec.retryable ? "yes" : "no", `${code}: retryable`);
  }
  assert.equal(byCode.size, Object.keys(ERROR_CODES).length, "no code the server lacks");
});

Deno.test("PROTOCOL.md: the events said to carry a seq are exactly the stored session events", () => {
  const m = /a _session event_:([^)]*)\) gets a `seq`/.exec(DOC.replace(/\s+/g, " "));
  assert.ok(m, "PROTOCOL.md lists the session events that get a seq");
  const listed = [...m[1].matchAll(/`([a-z_]+)`/g)].map((x) => x[1]);
  assert.deepEqual([...listed].sort(), [...SESSION_EVENT_TYPES].sort());
});
