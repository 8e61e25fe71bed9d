// Exceptions as CSV for a spreadsheet (pure: unit-tested).
import type { ClosestCandidate, ReconException } from "./types";

/** One CSV field (RFC 4180); text a spreadsheet would run as a formula is prefixed with ' (numbers, e.g. -5.00, stay as they are). */
export function csvField(v: unknown): string {
  if (v === null || v === undefined) return "";
  let s = typeof v === "object" ? JSON.stringify(v) : String(v);
  if (/^[=+\-@\t\r]/.test(s) && !/^[+-]?\d+(\.\d+)?$/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
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
