// A list filter the API refuses (an old or hand-made link: ?status=BOGUS, ?table=bogus) is shown as written,
// not as "any", marked, with the API's message under it (both dialects, and the CDC's INVALID_TABLE).
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen } from "@testing-library/react";
import { jobsPage } from "./cdc-api";
import { pageOf, renderAt } from "./render";

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    cdc: {
      tables: async () => ["users", "orders"],
      jobs: async (q: { table?: string; status?: string }) => {
        if (q.table === "bogus") throw real.toApiError(400, { error: "INVALID_TABLE", message: "Table 'bogus' does not exist or is not configured for replication", valid_tables: ["users", "orders"] });
        if (q.status === "BOGUS") throw real.toApiError(400, { error: "VALIDATION_ERROR", message: "Invalid query parameter 'status': must be one of RUNNING, COMPLETED, FAILED", details: [{ field: "status", problem: "must be one of RUNNING, COMPLETED, FAILED" }] });
        return jobsPage([]);
      },
    },
    exceptions: {
      list: async (q: { status?: string }) => {
        if (q.status === "BOGUS") throw real.toApiError(400, { success: false, message: "Invalid query parameter", data: null, errorCode: "VALIDATION_ERROR", errors: [{ field: "status", code: "INVALID_ENUM", message: "must be one of OPEN, RESOLVED, IGNORED" }] });
        return pageOf([]);
      },
    },
    streams: { list: async () => pageOf([]) },
  })),
);
afterEach(cleanup);

function expectMarked(select: HTMLSelectElement, shown: string, message: string) {
  expect(select.selectedOptions[0].textContent).toBe(shown);
  expect(select.getAttribute("aria-invalid")).toBe("true");
  const under = document.getElementById(select.getAttribute("aria-describedby")!)!;
  expect(under.textContent).toContain(message);
  expect(select.closest("label")!.contains(under)).toBe(true);
}

describe("a list filter the API refuses", () => {
  it("jobs ?status=BOGUS: shown as BOGUS, marked, the problem under it", async () => {
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs?status=BOGUS", "/cdc/jobs", <JobList />);
    await screen.findByText("must be one of RUNNING, COMPLETED, FAILED");
    expectMarked(document.getElementById("status") as HTMLSelectElement, "BOGUS", "must be one of RUNNING, COMPLETED, FAILED");
    // the other filters are not marked
    expect(document.getElementById("table")!.getAttribute("aria-invalid")).toBeNull();
  });

  it("jobs ?table=bogus (INVALID_TABLE): shown as bogus, marked, the catalog's tables named under it", async () => {
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs?table=bogus", "/cdc/jobs", <JobList />);
    await screen.findAllByText(/Table 'bogus' does not exist/);
    expectMarked(document.getElementById("table") as HTMLSelectElement, "bogus", "Valid tables: users, orders");
  });

  it("exceptions ?status=BOGUS (the streams dialect)", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=BOGUS", "/exceptions", <ExceptionsPage />);
    await screen.findByText("must be one of OPEN, RESOLVED, IGNORED");
    expectMarked(document.getElementById("status") as HTMLSelectElement, "BOGUS", "must be one of OPEN, RESOLVED, IGNORED");
  });
});
