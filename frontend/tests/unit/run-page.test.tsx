import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import type { StepRun, StreamDefinition, StreamRun } from "../../src/services/types";
import { renderAt } from "./render";

const run: StreamRun = {
  id: 7, streamId: 3, streamVersion: 1, status: "RUNNING", currentStepOrder: 2, triggerType: "MANUAL", triggerMetadata: {},
  metrics: { totalSteps: 3, completedSteps: 1, failedSteps: 0, matchedRecords: 120, exceptionCount: 0 },
  createdAt: "2026-02-21T06:20:00Z", updatedAt: "2026-02-21T06:21:00Z", startedAt: "2026-02-21T06:20:01Z", completedAt: null,
  errorMessage: null,
};
// every key the API always writes (null where nothing is known yet), then the case's own values
const step = (p: Partial<StepRun>): StepRun => ({
  id: 1, runId: 7, stepId: null, stepOrder: 1, name: null, status: "PENDING", attemptNo: 1, progress: 0, reconciliationId: 100,
  ruleSetId: null, ruleSetVersion: null, sourceRows: null, targetRows: null, matchedSourceRows: null, matchedTargetRows: null,
  unmatchedSourceRows: null, unmatchedTargetRows: null, exceptionCount: 0, errorMessage: null, startedAt: null, completedAt: null,
  ...p,
});
const steps: StepRun[] = [
  step({ id: 1, stepOrder: 1, status: "COMPLETED", progress: 100, startedAt: "2026-02-21T06:20:01Z", completedAt: "2026-02-21T06:20:09Z" }),
  step({ id: 2, stepOrder: 2, attemptNo: 1, status: "FAILED", errorMessage: "worker lost its lease", startedAt: "2026-02-21T06:20:10Z", completedAt: "2026-02-21T06:20:40Z" }),
  step({ id: 3, stepOrder: 2, attemptNo: 2, status: "RETRY_WAIT", progress: 0 }),
  step({ id: 4, stepOrder: 3, status: "PENDING" }),
];
const stream = {
  id: 3, name: "Settlement", status: "ACTIVE", triggerType: "MANUAL", version: 1, createdAt: "", updatedAt: "",
  steps: [1, 2, 3].map((o) => ({ id: o, stepOrder: o, name: `Step ${o} name`, ruleSetId: 1, sourceInput: { type: "FILE", id: 1 }, targetInput: { type: "FILE", id: 2 }, config: { continueOnFailure: false, maxRetries: 2 } })),
} as unknown as StreamDefinition;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    runs: { get: async () => run, steps: async () => steps, artifacts: async () => [], cancel: () => undefined },
    streams: { get: async () => stream, run: async () => ({ runId: 8, streamId: 3, status: "PENDING" }) },
    ruleSets: { get: async (id: number) => ({ id, name: "Orders vs bank" }) },
  }),
);

afterEach(cleanup);

describe("run timeline", () => {
  it("shows each step's latest attempt, the retry wait and the earlier attempt's error", async () => {
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await screen.findByText(/attempt 2 of 3/); // once the stream's definition (max retries) is loaded
    const items = screen.getAllByRole("listitem");
    const byStep = (o: number) => document.querySelector(`li[data-step="${o}"]`)!;
    expect(items.length).toBeGreaterThanOrEqual(3);
    expect(byStep(1).getAttribute("data-status")).toBe("COMPLETED");
    expect(byStep(2).getAttribute("data-status")).toBe("RETRY_WAIT");
    expect(byStep(2).textContent).toContain("attempt 2 of 3");
    expect(byStep(2).textContent).toContain("waiting before attempt 3");
    expect(byStep(2).textContent).toContain("2 attempts");
    expect(byStep(2).textContent).toContain("worker lost its lease");
    expect(byStep(3).getAttribute("data-status")).toBe("PENDING");
    // a running run can be canceled; progress counts finished steps
    expect(screen.getByRole("button", { name: "Cancel run" })).toBeTruthy();
    expect(screen.getByRole("progressbar", { name: "run progress" }).getAttribute("aria-valuenow")).toBe("33");
    expect(document.title).toBe("Run #7 running · recon");
  });
});

describe("step artifacts", () => {
  it("lists the outputs first, then the snapshots, whatever order they were registered in", async () => {
    const api = await import("../../src/services/api");
    const art = (id: number, artifactType: string) => ({
      id, artifactType, fileId: 100 + id, filename: `stream_7_step_1_${artifactType.toLowerCase()}.csv`, rowCount: id,
      checksum: null, downloadUrl: `/api/v1/files/${100 + id}/download`, createdAt: "2026-02-21T06:20:09Z",
    });
    vi.mocked(api.runs.artifacts).mockResolvedValue([
      art(5, "UNMATCHED_TARGET"), art(3, "SNAPSHOT_SOURCE"), art(9, "MATCHED"), art(4, "UNMATCHED_SOURCE"), art(2, "SNAPSHOT_TARGET"),
    ] as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    const table = await screen.findByRole("table", { name: "artifacts of step run 1" });
    const order = [...table.querySelectorAll("tbody tr")].map((r) => r.getAttribute("data-artifact"));
    expect(order).toEqual(["MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET", "SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"]);
    // each Download button is named with its file (a column of five "Download" buttons reads alike otherwise)
    expect([...table.querySelectorAll("button")].map((b) => b.textContent)).toEqual(
      ["matched", "unmatched_source", "unmatched_target", "snapshot_source", "snapshot_target"].map((t) => `Download stream_7_step_1_${t}.csv`),
    );
    expect(screen.getByRole("button", { name: "Download stream_7_step_1_matched.csv" })).toBeTruthy();
  });
});

describe("a finished run", () => {
  const finished: StreamRun = { ...run, status: "PARTIAL_FAILED", completedAt: "2026-02-21T06:21:00Z", metrics: { totalSteps: 3, completedSteps: 1, failedSteps: 1, matchedRecords: 531, exceptionCount: 477 } };
  const done: StepRun[] = [
    step({ id: 11, stepOrder: 1, status: "FAILED", errorMessage: "bank feed unreadable", startedAt: "2026-02-21T06:20:01Z", completedAt: "2026-02-21T06:20:02Z" }),
    step({
      id: 12, stepOrder: 2, status: "COMPLETED", progress: 100, reconciliationId: 12007, ruleSetId: 1, ruleSetVersion: 3,
      sourceRows: 1000, targetRows: 539, matchedSourceRows: 531, matchedTargetRows: 531, unmatchedSourceRows: 469, unmatchedTargetRows: 8, exceptionCount: 477,
      startedAt: "2026-02-21T06:20:03Z", completedAt: "2026-02-21T06:20:05Z",
    }),
    step({ id: 13, stepOrder: 3, status: "SKIPPED", errorMessage: "step 1 did not complete", completedAt: "2026-02-21T06:20:06Z" }),
  ];
  async function show() {
    const api = await import("../../src/services/api");
    vi.mocked(api.runs.get).mockResolvedValue(finished as never);
    vi.mocked(api.runs.steps).mockResolvedValue(done as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await screen.findByText(/partial failed/);
  }

  it("shows each step's counts, its exceptions and the rule set version it used", async () => {
    await show();
    const counts = await screen.findByRole("table", { name: "counts of step 2" });
    const row = (side: string) => [...counts.querySelectorAll(`tr[data-side="${side}"] td`)].map((c) => c.textContent);
    expect(row("source")).toEqual(["1,000", "531", "469"]);
    expect(row("target")).toEqual(["539", "531", "8"]);
    const byStep = (o: number) => document.querySelector(`li[data-step="${o}"]`)!;
    expect(byStep(2).querySelector("a[data-step-exceptions]")!.getAttribute("href")).toBe("/exceptions?reconciliationId=12007");
    expect(byStep(2).textContent).toContain("477 exceptions");
    await waitFor(() => expect(byStep(2).querySelector('a[href="/rule-sets/1?version=3"]')?.textContent).toBe("Orders vs bank v3"));
  });

  it("has no progress bar reading as unfinished work, and a skipped step says it never ran", async () => {
    await show();
    expect(screen.queryByRole("progressbar", { name: "run progress" })).toBeNull();
    expect(screen.queryByRole("button", { name: "Cancel run" })).toBeNull();
    const skipped = document.querySelector('li[data-step="3"]')!;
    expect(skipped.textContent).toContain("skipped 2026-02-21 06:20:06 UTC");
    expect(skipped.textContent).not.toContain("finished");
    expect(skipped.querySelector('[role="progressbar"]')).toBeNull();
    expect(document.querySelector('li[data-step="1"]')!.textContent).toContain("failed 2026-02-21 06:20:02 UTC (1 s)");
    // the failed step has no bar at "0%" (work still to come): it says where it stopped
    const failed = document.querySelector('li[data-step="1"]')!;
    expect(failed.querySelector('[role="progressbar"]')).toBeNull();
    expect(failed.textContent).toContain("stopped at 0 %");
    expect(document.querySelector('li[data-step="2"] [role="progressbar"]')!.getAttribute("aria-valuenow")).toBe("100");
  });
});

describe("canceling a run", () => {
  it("asks first, and does nothing when the person says no", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.runs.get).mockResolvedValue(run as never);
    vi.mocked(api.runs.steps).mockResolvedValue(steps as never);
    const ask = vi.spyOn(window, "confirm").mockReturnValue(false);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    fireEvent.click(await screen.findByRole("button", { name: "Cancel run" }));
    expect(ask).toHaveBeenCalledWith(expect.stringContaining("Cancel run #7?"));
    expect(api.runs.cancel).not.toHaveBeenCalled();
    ask.mockReturnValue(true);
    fireEvent.click(screen.getByRole("button", { name: "Cancel run" }));
    await waitFor(() => expect(api.runs.cancel).toHaveBeenCalledWith(7));
    ask.mockRestore();
  });
});

describe("a poll that fails", () => {
  it("keeps the run on the page with a notice, and clears the notice when a read works again", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.runs.get).mockResolvedValue(run as never);
    vi.mocked(api.runs.steps).mockResolvedValue(steps as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await screen.findByText(/attempt 2 of 3/);
    vi.mocked(api.runs.get).mockRejectedValue(new api.ApiError(503, "SERVICE_UNAVAILABLE", "The service is unavailable; retry in 2 seconds"));
    const notice = await screen.findByText("Could not read it again:");
    expect(notice.parentElement!.textContent).toContain("The service is unavailable; retry in 2 seconds. What is shown is the last answer.");
    expect(document.querySelectorAll("li[data-step]")).toHaveLength(3); // the timeline is still there
    expect(screen.getByRole("button", { name: "Cancel run" })).toBeTruthy();
    vi.mocked(api.runs.get).mockResolvedValue(run as never);
    await waitFor(() => expect(document.querySelector("[data-stale]")).toBeNull());
  });
});

describe("a run of an earlier version of its stream", () => {
  it("names each step as the run knew it, not by the stream's current steps", async () => {
    const api = await import("../../src/services/api");
    const v1run = { ...run, status: "COMPLETED", completedAt: "2026-02-21T06:21:00Z", streamVersion: 1 };
    vi.mocked(api.runs.get).mockResolvedValue(v1run as never);
    vi.mocked(api.runs.steps).mockResolvedValue([
      step({ id: 21, stepOrder: 1, name: "Orders vs marketplace", status: "COMPLETED", progress: 100, startedAt: "2026-02-21T06:20:01Z", completedAt: "2026-02-21T06:20:09Z" }),
      step({ id: 22, stepOrder: 2, name: null, status: "FAILED", attemptNo: 2, startedAt: "2026-02-21T06:20:10Z", completedAt: "2026-02-21T06:20:40Z" }),
    ] as never);
    // the stream was edited since: version 2 renamed and reordered its steps, with other retries
    vi.mocked(api.streams.get).mockResolvedValue({ ...stream, version: 2 } as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await waitFor(() => expect(vi.mocked(api.streams.get)).toHaveBeenCalled());
    const byStep = (o: number) => document.querySelector(`li[data-step="${o}"] header`)!;
    await waitFor(() => expect(byStep(1).textContent).toContain("Step 1: Orders vs marketplace"));
    expect(byStep(1).textContent).not.toContain("Step 1 name");
    // no name of its own and the stream's definition is another version's: no name rather than a wrong one
    expect(byStep(2).querySelector("strong")!.textContent).toBe("Step 2");
    expect(byStep(2).textContent).toContain("attempt 2");
    expect(byStep(2).textContent).not.toContain("attempt 2 of 3");
  });
});

describe("running a finished run again", () => {
  it("starts a new run of its stream naming this one, opens it, and says when the stream has changed since", async () => {
    const api = await import("../../src/services/api");
    const failed = { ...run, status: "FAILED", completedAt: "2026-02-21T06:21:00Z", streamVersion: 1 };
    let answer8: (r: unknown) => void = () => {};
    const run8 = new Promise((resolve) => { answer8 = resolve; });
    vi.mocked(api.runs.get).mockImplementation(async (id: number) => (id === 7 ? failed : run8) as never);
    vi.mocked(api.runs.steps).mockResolvedValue([] as never);
    vi.mocked(api.streams.get).mockResolvedValue({ ...stream, version: 2 } as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    const again = await screen.findByRole("button", { name: "Run again" });
    expect(screen.getByText(/This run used version 1 of the stream; run again, it runs version 2/).id).toBe(again.getAttribute("aria-describedby"));
    fireEvent.click(again);
    await waitFor(() => expect(api.streams.run).toHaveBeenCalledWith(3, "Run again from run #7"));
    // while run 8 is read, the page says so: not run 7's status and steps under run 8's heading
    await screen.findByText(/Loading the run/);
    expect(screen.queryByText(/Run #7|Run #8/)).toBeNull();
    expect(document.querySelector('[data-status="FAILED"]')).toBeNull();
    answer8({ ...run, id: 8, status: "PENDING", streamVersion: 2 });
    await screen.findByText("Run #8");
    expect(screen.queryByRole("button", { name: "Run again" })).toBeNull(); // the new run is active: cancel, not run again
    expect(screen.getByRole("button", { name: "Cancel run" })).toBeTruthy();
  });

  it("is not offered for a stream that does not run (paused or archived), nor while the run is active", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.runs.get).mockResolvedValue({ ...run, status: "CANCELED", completedAt: "2026-02-21T06:21:00Z" } as never);
    vi.mocked(api.runs.steps).mockResolvedValue([] as never);
    vi.mocked(api.streams.get).mockResolvedValue({ ...stream, status: "PAUSED" } as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await screen.findByText(/canceled/);
    await waitFor(() => expect(vi.mocked(api.streams.get)).toHaveBeenCalled());
    expect(screen.queryByRole("button", { name: "Run again" })).toBeNull();
  });
});

describe("the run page's title", () => {
  it("says the run's status in words, as its heading does", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.runs.get).mockResolvedValueOnce({ ...run, status: "PARTIAL_FAILED", completedAt: "2026-02-21T06:21:00Z" } as never);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await waitFor(() => expect(document.title).toBe("Run #7 partial failed · recon"));
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Run #7 partial failed");
  });
});
