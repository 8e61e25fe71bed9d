import { describe, expect, it } from "vitest";
import { csvField, exceptionsCsv } from "../../src/services/export";
import type { ReconException } from "../../src/services/types";

describe("exceptions as CSV", () => {
  it("quotes what needs quoting and keeps spreadsheets from running text as a formula", () => {
    expect(csvField("236.28")).toBe("236.28");
    expect(csvField("-5.00")).toBe("-5.00");
    expect(csvField("Smith, John")).toBe('"Smith, John"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField("=HYPERLINK(\"x\")")).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvField("@sum")).toBe("'@sum");
    expect(csvField(null)).toBe("");
    expect(csvField(0)).toBe("0");
  });

  it("lists each exception with its row's columns, amounts exactly as sent, and its explanation", () => {
    const x = (id: number, rowData: Record<string, unknown>, extra: Partial<ReconException> = {}) =>
      ({
        id, status: "OPEN", reason: "TOLERANCE_EXCEEDED", side: "SOURCE", rowKey: `ORD-${id}`, rowData,
        closestCandidate: { rowKey: "TX-1", pass: "Reference, amount", failedCondition: "amount", detail: "amount differs by 0.37; tolerance 0.01" },
        assignee: null, note: null, streamId: 9001, runId: 9201, stepOrder: 1, reconciliationId: 12001, stepRunId: 9301,
        createdAt: "2026-12-02T06:42:43Z", updatedAt: "2026-12-02T06:42:43Z", resolvedBy: null, resolvedAt: null, ...extra,
      }) as unknown as ReconException;
    const csv = exceptionsCsv([x(1, { order_id: "ORD-1", amount: "120.30" }), x(2, { order_id: "ORD-2", amount: "7.00", channel: "BANK" }, { note: "fee, booked" })]);
    const lines = csv.split("\r\n");
    expect(lines[0]).toBe("id,status,reason,side,rowKey,row.order_id,row.amount,row.channel,candidateRowKey,candidatePass,failedCondition,explanation,assignee,note,streamId,runId,stepOrder,reconciliationId,createdAt,updatedAt,resolvedBy,resolvedAt");
    expect(lines[1]).toBe('1,OPEN,TOLERANCE_EXCEEDED,SOURCE,ORD-1,ORD-1,120.30,,TX-1,"Reference, amount",amount,amount differs by 0.37; tolerance 0.01,,,9001,9201,1,12001,2026-12-02T06:42:43Z,2026-12-02T06:42:43Z,,');
    expect(lines[2]).toContain('ORD-2,7.00,BANK,');
    expect(lines[2]).toContain(',"fee, booked",');
    expect(lines).toHaveLength(4); // header, 2 rows, the final line break
  });
});
