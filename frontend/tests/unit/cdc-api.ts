// The CDC part of the API client, faked for the tests of the CDC pages. In a test file:
//
//   vi.mock("../../src/services/api", async (orig) =>
//     (await import("./cdc-api")).withFakeCdc(orig, { mismatches: async (q) => mismatchesPage(rows, q) }));
//
// (vi.mock is hoisted above the file's imports, hence the import inside the factory.) Every function
// given is a vi.fn (so `expect(api.cdc.resolve).toHaveBeenCalledWith(...)` works on it); the rest of
// the client is the real one. The builders below write the API's shapes once, with every field.
import { withFakeApi, type Fake } from "./fake-api";

type Api = typeof import("../../src/services/api");

/** The real module with the given functions of `cdc` replaced by vi.fn fakes; `tables` answers ["users"] unless given. */
export function withFakeCdc(orig: () => Promise<Api>, fakes: Partial<Record<keyof Api["cdc"], Fake>>): Promise<Api> {
  return withFakeApi(orig, { cdc: { tables: async () => ["users"], ...fakes } });
}

/** One mismatch as GET /reconciliation/mismatches lists it (a PENDING DATA_MISMATCH of `users` unless told otherwise). */
export function mismatch(id: string, key: string, over: Record<string, unknown> = {}) {
  return {
    mismatch_id: id, job_id: "00000000-0000-4000-8000-000000000001", table_name: "users", primary_key_value: key,
    mismatch_type: "DATA_MISMATCH", cassandra_checksum: "a", postgres_checksum: "b",
    cassandra_data: { user_id: key, email: "a@x" } as Record<string, unknown> | null, postgres_data: { user_id: key, email: "b@x" } as Record<string, unknown> | null,
    detected_at: "2026-12-02T06:42:13Z", resolution_status: "PENDING", resolution_notes: null as string | null, resolved_at: null as string | null,
    resolved_by: null as string | null, differing_columns: ["email"] as string[] | null,
    ...over,
  };
}

/** The page `q` asks for (page, page_size; 25 a page by default) of `rows`, with the CDC contract's pagination. */
export function mismatchesPage<T>(rows: T[], q: { page?: number; page_size?: number } = {}) {
  const size = q.page_size ?? 25, page = q.page ?? 1;
  return {
    mismatches: rows.slice((page - 1) * size, page * size),
    pagination: { page, page_size: size, total_pages: Math.ceil(rows.length / size), total_items: rows.length },
  };
}

/** One completed job as GET /reconciliation/jobs lists it. */
export function job(id: string, strategy: string, completed: string, drift: number, mismatches: number, rows: number) {
  return {
    job_id: id, table_name: "users", job_type: "MANUAL_ONDEMAND", validation_strategy: strategy, status: "COMPLETED",
    started_at: completed, completed_at: completed, duration_seconds: 1, cassandra_row_count: rows, postgres_row_count: rows,
    mismatch_count: mismatches, drift_percentage: drift, alert_fired: false,
  };
}

/** All of `jobs` on one page, with the CDC contract's pagination. */
export function jobsPage<T>(jobs: T[]) {
  return { jobs, pagination: { page: 1, page_size: 100, total_pages: 1, total_items: jobs.length } };
}
