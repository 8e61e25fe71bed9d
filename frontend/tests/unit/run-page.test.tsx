import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import type { StepRun, StreamDefinition, StreamRun } from "../../src/services/types";

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

vi.mock("../../src/services/api", async (orig) => {
  const real = await orig<typeof import("../../src/services/api")>();
  return {
    ...real,
    runs: { get: vi.fn(async () => run), steps: vi.fn(async () => steps), artifacts: vi.fn(async () => []), cancel: vi.fn() },
    streams: { ...real.streams, get: vi.fn(async () => stream) },
  };
});

afterEach(cleanup);

describe("run timeline", () => {
  it("shows each step's latest attempt, the retry wait and the earlier attempt's error", async () => {
    const { RunPage } = await import("../../src/pages/streams/Runs");
    render(
      <MemoryRouter initialEntries={["/runs/7"]}>
        <Routes><Route path="/runs/:id" element={<RunPage />} /></Routes>
      </MemoryRouter>,
    );
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
    render(
      <MemoryRouter initialEntries={["/runs/7"]}>
        <Routes><Route path="/runs/:id" element={<RunPage />} /></Routes>
      </MemoryRouter>,
    );
    const table = await screen.findByRole("table", { name: "artifacts of step run 1" });
    const order = [...table.querySelectorAll("tbody tr")].map((r) => r.getAttribute("data-artifact"));
    expect(order).toEqual(["MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET", "SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"]);
  });
});
