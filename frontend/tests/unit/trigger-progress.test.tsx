// The trigger page's job cards: a bar only while a job works; a job that compared every segment and a failed job said in words.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen, waitFor } from "@testing-library/react";
import { job } from "./cdc-api";
import { renderAt } from "./render";

const detail = (id: string, table: string, status: string, done: number, total: number) => ({
  ...job(id, "CHECKSUM", "2026-12-02T16:17:38Z", 0.6, 12, 1997), table_name: table, status,
  completed_at: status === "RUNNING" ? null : "2026-12-02T16:17:45Z", priority: "NORMAL",
  progress: { segments_done: done, segments_total: total }, mismatch_summary: {}, sample_mismatches: [],
});
const jobs: Record<string, ReturnType<typeof detail>> = {
  "00000000-0000-4000-8000-0000000000a1": detail("00000000-0000-4000-8000-0000000000a1", "users", "RUNNING", 3, 8),
  "00000000-0000-4000-8000-0000000000a2": detail("00000000-0000-4000-8000-0000000000a2", "orders", "RUNNING", 8, 8),
  "00000000-0000-4000-8000-0000000000a3": detail("00000000-0000-4000-8000-0000000000a3", "products", "FAILED", 2, 8),
  "00000000-0000-4000-8000-0000000000a4": detail("00000000-0000-4000-8000-0000000000a4", "payments", "COMPLETED", 8, 8),
};
// a running job that waits for PostgreSQL to come back says so in its validation_errors
const waiting = { ...detail("00000000-0000-4000-8000-0000000000a5", "users", "RUNNING", 1, 8), validation_errors: ["retrying since 2026-12-02T16:18:00Z: segment 2: PostgreSQL unreachable: server closed the connection"] };
vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, { job: async (id: string) => jobs[id] ?? waiting }),
);
afterEach(cleanup);

describe("the trigger page's job cards", () => {
  it("show a bar only while a job works, say when every segment is compared, and say a job failed instead of a full bar", async () => {
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt(`/cdc/trigger?jobs=${Object.keys(jobs).join(",")}`, "/cdc/trigger", <TriggerPage />);
    const card = (id: string) => document.querySelector(`article[data-job="${id}"]`)!;
    await waitFor(() => expect(document.querySelectorAll("article.job-progress")).toHaveLength(4));
    const [running, finishing, failed, completed] = Object.keys(jobs).map(card);
    expect(running.querySelector('[role="progressbar"]')!.getAttribute("aria-valuenow")).toBe("38");
    expect(running.querySelector("[data-finishing]")).toBeNull();
    expect(finishing.querySelector("[data-finishing]")!.textContent).toBe("All 8 segments compared: recording the results…");
    expect(failed.querySelector('[role="progressbar"]')).toBeNull();
    expect(failed.querySelector("[data-failed]")!.textContent).toContain("The job failed 2026-12-02 16:17:45 UTC");
    expect(completed.querySelector('[role="progressbar"]')).toBeNull();
    expect(screen.getAllByRole("link", { name: "Open the job" })).toHaveLength(4);
    expect(document.querySelector("[data-retrying]")).toBeNull();
  });

  it("say a running job is waiting for a fault to clear, as a warning", async () => {
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt(`/cdc/trigger?jobs=${waiting.job_id}`, "/cdc/trigger", <TriggerPage />);
    await waitFor(() => expect(document.querySelector("article [data-retrying]")).not.toBeNull());
    const warning = document.querySelector("article [data-retrying]")!;
    expect(warning.textContent).toContain("Waiting for a fault to clear: the job has not failed.");
    expect(warning.textContent).toContain("Retrying since 2026-12-02 16:18:00 UTC (");
    expect(warning.textContent).toContain("segment 2: PostgreSQL unreachable: server closed the connection");
  });
});
