import { describe, expect, it } from "vitest";
import { csvField, exceptionsCsv, mismatchesCsv } from "../../src/services/export";
import type { Mismatch, ReconException } from "../../src/services/types";

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

describe("mismatches as CSV", () => {
  it("writes each mismatch with the CDC API's field names, its differing columns, and each side's row as JSON", () => {
    const m = (over: Partial<Mismatch>) =>
      ({
        mismatch_id: "00000000-0000-4000-8000-00000000000a", job_id: "00000000-0000-4000-8000-000000000001", table_name: "users",
        primary_key_value: "user-13", mismatch_type: "DATA_MISMATCH", cassandra_checksum: "a1", postgres_checksum: "b2",
        cassandra_data: { user_id: "user-13", email: "a@x", balance: "10.50" }, postgres_data: { user_id: "user-13", email: "b@x", balance: "10.50" },
        detected_at: "2026-12-02T06:42:13Z", resolution_status: "PENDING", resolution_notes: null, resolved_at: null, resolved_by: null,
        differing_columns: ["email", "balance"], ...over,
      }) as unknown as Mismatch;
    const csv = mismatchesCsv([
      m({}),
      m({ mismatch_id: "00000000-0000-4000-8000-00000000000b", primary_key_value: "=cmd()", mismatch_type: "MISSING_IN_POSTGRES", postgres_data: null, postgres_checksum: null, differing_columns: null, resolution_status: "IGNORED", resolution_notes: "deleted, on purpose", resolved_by: "ops@company.com", resolved_at: "2026-12-02T07:00:00Z" }),
    ]);
    expect(csv.endsWith("\r\n")).toBe(true);
    const lines = csv.split("\r\n");
    expect(lines).toHaveLength(4); // header, two mismatches, the empty end
    expect(lines[0]).toBe("mismatch_id,job_id,table_name,primary_key_value,mismatch_type,differing_columns,detected_at,resolution_status,resolution_notes,resolved_by,resolved_at,cassandra_checksum,postgres_checksum,cassandra_data,postgres_data");
    expect(lines[1]).toBe('00000000-0000-4000-8000-00000000000a,00000000-0000-4000-8000-000000000001,users,user-13,DATA_MISMATCH,email balance,2026-12-02T06:42:13Z,PENDING,,,,a1,b2,"{""user_id"":""user-13"",""email"":""a@x"",""balance"":""10.50""}","{""user_id"":""user-13"",""email"":""b@x"",""balance"":""10.50""}"');
    // a key a spreadsheet would run as a formula is kept as text; the missing side is empty
    expect(lines[2]).toBe("00000000-0000-4000-8000-00000000000b,00000000-0000-4000-8000-000000000001,users,'=cmd(),MISSING_IN_POSTGRES,,2026-12-02T06:42:13Z,IGNORED,\"deleted, on purpose\",ops@company.com,2026-12-02T07:00:00Z,a1,,\"{\"\"user_id\"\":\"\"user-13\"\",\"\"email\"\":\"\"a@x\"\",\"\"balance\"\":\"\"10.50\"\"}\",");
  });
});
