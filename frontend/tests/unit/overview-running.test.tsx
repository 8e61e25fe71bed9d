// The CDC overview while a table's job runs (every hour) or after one failed: the last completed job's figures stay.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { job, jobsPage } from "./cdc-api";

const done = job("00000000-0000-4000-8000-000000000010", "CHECKSUM", "2026-12-02T16:00:06Z", 0.6010016694490818, 18, 2995);
const running = { ...job("00000000-0000-4000-8000-000000000011", "CHECKSUM", "2026-12-02T16:17:38Z", 0, 0, 0), status: "RUNNING", completed_at: null as string | null, duration_seconds: null as number | null, cassandra_row_count: null as number | null, postgres_row_count: null as number | null, mismatch_count: null as number | null, drift_percentage: null as number | null };
const failed = { ...running, job_id: "00000000-0000-4000-8000-000000000012", table_name: "orders", status: "FAILED", completed_at: "2026-12-02T16:17:40Z" };
vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    tables: async () => ["users", "orders"],
    // the running job's detail: waiting for Cassandra to come back
    job: async () => ({ ...running, validation_errors: ["retrying since 2026-12-02T16:18:00Z: segment 3: Cassandra unreachable: NoHostAvailable"] }),
    jobs: async (q: { table?: string; status?: string }) => {
      if (q.status === "COMPLETED") return jobsPage(q.table === "users" ? [done] : []);
      return jobsPage(q.table === "users" ? [running] : [failed]);
    },
  }),
);
afterEach(cleanup);

describe("the CDC overview while a job runs or after one failed", () => {
  it("keeps the last completed job's drift, says it is that job's, and links the running job", async () => {
    const api = await import("../../src/services/api");
    const { CdcOverview } = await import("../../src/pages/cdc/Overview");
    render(<MemoryRouter><CdcOverview /></MemoryRouter>);
    const users = (await screen.findByRole("link", { name: "Job of users" })).closest("article")!;
    expect(users.querySelector(".badge")!.getAttribute("data-status")).toBe("RUNNING");
    expect(users.querySelector("[data-drift]")!.textContent).toBe("0.601 %");
    expect(users.textContent).toContain("18 mismatches");
    expect(users.textContent).toContain("2,995 / 2,995");
    expect(users.querySelector("[data-latest-job]")!.textContent).toContain("A CHECKSUM job is running");
    // a relative time has the time written beside it, on screen (not only in a title)
    expect(users.querySelector("[data-latest-job]")!.textContent).toMatch(/started 2026-12-02 16:17:38 UTC \([^)]+\)/);
    const when = [...users.querySelectorAll("dt")].find((d) => d.textContent === "when")!.nextElementSibling!;
    expect(when.textContent).toMatch(/^2026-12-02 16:\d\d:\d\d UTC \([^)]+\)$/);
    expect(screen.getByRole("link", { name: "last completed job of users" }).getAttribute("href")).toBe(`/cdc/jobs/${done.job_id}`);
    expect(screen.getByRole("link", { name: "Job of users" }).getAttribute("href")).toBe(`/cdc/jobs/${running.job_id}`);
    expect(api.cdc.jobs).toHaveBeenCalledWith({ table: "users", status: "COMPLETED", page_size: 1 });
    // a failed latest job and nothing completed before it: said, not a blank card
    const orders = screen.getByRole("link", { name: "Job of orders" }).closest("article")!;
    expect(orders.querySelector("[data-latest-job]")!.textContent).toContain("The latest job failed");
    expect(orders.querySelector("[data-latest-job]")!.textContent).toContain("no job of this table has completed yet");
    expect(orders.querySelector("[data-drift]")!.textContent).toBe("—");
    // the running job waits out a fault: said on its card as a warning, not a failure
    const warning = users.querySelector("[data-retrying]")!;
    expect(warning.getAttribute("role")).toBe("status");
    expect(warning.textContent).toContain("Waiting for a fault to clear: the job has not failed.");
    expect(warning.textContent).toContain("segment 3: Cassandra unreachable: NoHostAvailable");
    expect(orders.querySelector("[data-retrying]")).toBeNull();
    expect(api.cdc.job).toHaveBeenCalledWith(running.job_id);
    expect(vi.mocked(api.cdc.job).mock.calls.every(([id]) => id === running.job_id)).toBe(true); // only the running job's detail is read
  });
});
