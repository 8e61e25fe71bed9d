// Exceptions and mismatches as CSV for a spreadsheet (pure: unit-tested).
import type { ClosestCandidate, Mismatch, ReconException } from "./types";

/** One CSV field (RFC 4180); text a spreadsheet would run as a formula is prefixed with ' (numbers, e.g. -5.00, stay as they are). */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  let s = typeof v === "object" ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^[+-]?\d+(\.\d+)?$/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/**
 * The name of a list's CSV, saying the filters its rows were read for (`exceptions-status-OPEN-side-SOURCE-20261203T1536Z.csv`):
 * two downloads of different filters are told apart without opening them. Values are kept to letters, digits,
 * `.`, `@` and `-` (an assignee's address stays readable), 40 characters each.
 */
export function csvName(list: string, filters: Record<string, unknown>, at = new Date()): string {
  const parts = Object.entries(filters)
    .filter(([, v]) => v !== undefined && v !== null && v !== "")
    .map(([k, v]) => `${k}-${String(v).replace(/[^A-Za-z0-9.@_]+/g, "_").slice(0, 40)}`);
  const stamp = at.toISOString().slice(0, 16).replace(/[-:]/g, "");
  return [list, ...parts, `${stamp}Z.csv`].join("-");
}

const HEAD = ["id", "status", "reason", "side", "rowKey"] as const;
const TAIL = ["candidateRowKey", "candidatePass", "failedCondition", "explanation", "assignee", "note", "streamId", "runId", "stepOrder", "reconciliationId", "createdAt", "updatedAt", "resolvedBy", "resolvedAt"] as const;

/**
 * The exceptions with their row's columns (in the order they first appear; values exactly as the API
 * sent them, so amounts keep their decimals) between the exception's own fields and its explanation.
 */
export function exceptionsCsv(items: ReconException[]): string {
  const cols: string[] = [];
  for (const x of items) for (const k of Object.keys(x.rowData ?? {})) if (!cols.includes(k)) cols.push(k);
  const lines = [[...HEAD, ...cols.map((c) => `row.${c}`), ...TAIL].map(csvField).join(",")];
  for (const x of items) {
    const c = (x.closestCandidate ?? null) as ClosestCandidate | null;
    const row = (x.rowData ?? {}) as Record<string, unknown>;
    lines.push(
      [
        x.id, x.status, x.reason, x.side, x.rowKey,
        ...cols.map((k) => row[k]),
        c?.rowKey, c?.pass, c?.failedCondition, c?.detail, x.assignee, x.note, x.streamId, x.runId, x.stepOrder, x.reconciliationId, x.createdAt, x.updatedAt, x.resolvedBy, x.resolvedAt,
      ].map(csvField).join(","),
    );
  }
  return lines.join("\r\n") + "\r\n";
}

const MISMATCH_FIELDS = ["mismatch_id", "job_id", "table_name", "primary_key_value", "mismatch_type", "differing_columns", "detected_at", "resolution_status", "resolution_notes", "resolved_by", "resolved_at", "cassandra_checksum", "postgres_checksum", "cassandra_data", "postgres_data"] as const;

/**
 * The mismatches with the CDC API's field names: the differing columns space-separated, each side's row as
 * the API's JSON (values exactly as sent; empty for the side where the row is missing).
 */
export function mismatchesCsv(items: Mismatch[]): string {
  const lines = [MISMATCH_FIELDS.map(csvField).join(",")];
  for (const m of items) {
    const row: Record<string, unknown> = { ...m, differing_columns: (m.differing_columns ?? []).join(" ") };
    lines.push(MISMATCH_FIELDS.map((k) => csvField(row[k])).join(","));
  }
  return lines.join("\r\n") + "\r\n";
}

/**
 * A CSV file's bytes: UTF-8 after a byte order mark, without which Excel reads the file in the machine's
 * legacy code page ("Ã¼nÃ¯cÃ¶dÃ©" for "ünïcödé"). Other spreadsheets and scripts skip the mark.
 */
export function csvBlob(text: string): Blob {
  return new Blob(["\uFEFF", text], { type: "text/csv;charset=utf-8" });
}
