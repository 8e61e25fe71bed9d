// A run's step → its exceptions → the files the step wrote, and back: the links between them.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen, waitFor, within } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const exc = (id: number, over: Record<string, unknown> = {}) => ({
  id, reconciliationId: 12006, streamId: 9001, runId: 9204, stepRunId: 9311, stepOrder: 1, side: "TARGET", rowKey: `MP-${id}`,
  rowData: { txn_id: `MP-${id}`, gross: "56.55" }, reason: "NO_CANDIDATE", closestCandidate: null, status: "OPEN", assignee: null, note: null,
  resolvedBy: null, resolvedAt: null, createdAt: "2026-12-02T12:49:09Z", updatedAt: "2026-12-02T12:49:09Z", ...over,
});
const artifact = (id: number, artifactType: string, rowCount: number) => ({
  id, stepRunId: 9311, artifactType, fileId: 1100 + id, filename: `stream_9204_step_1_${artifactType.toLowerCase()}.csv`, rowCount,
  checksum: `sha256:${"0".repeat(64)}`, downloadUrl: `/api/v1/files/${1100 + id}/download`, createdAt: "2026-12-02T12:49:09Z",
});
const step = (o: number) => ({
  id: 9310 + o, runId: 9204, stepId: null, stepOrder: o, name: null, status: "COMPLETED", attemptNo: 1, progress: 100, reconciliationId: 12005 + o,
  ruleSetId: null, ruleSetVersion: null, sourceRows: 10, targetRows: 10, matchedSourceRows: 9, matchedTargetRows: 9, unmatchedSourceRows: 1,
  unmatchedTargetRows: 1, exceptionCount: 1, errorMessage: null, startedAt: "2026-12-02T12:49:07Z", completedAt: "2026-12-02T12:49:09Z",
});
let listed = [exc(1), exc(2)];
let later = 0; // exceptions of the list on later pages

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    exceptions: {
      list: async () => ({ items: listed, page: 1, pageSize: 25, totalItems: listed.length + later, totalPages: later ? 2 : 1 }),
      get: async (id: number) => exc(id),
      history: async () => pageOf([]),
    },
    runs: {
      get: async () => ({
        id: 9204, streamId: 9001, streamVersion: 1, status: "COMPLETED", currentStepOrder: 3, triggerType: "MANUAL",
        triggerMetadata: { requestedBy: "demo@recon.local", reason: "month-end close" },
        metrics: { totalSteps: 3, completedSteps: 3, failedSteps: 0, matchedRecords: 27, exceptionCount: 3 },
        createdAt: "2026-12-02T12:49:07Z", updatedAt: "2026-12-02T12:49:12Z", startedAt: "2026-12-02T12:49:07Z", completedAt: "2026-12-02T12:49:12Z", errorMessage: null,
      }),
      steps: async () => [step(1), step(2), step(3)],
      // in the order the API registered them (a snapshot first), as on the stack
      artifacts: async () => [artifact(4, "SNAPSHOT_SOURCE", 1000), artifact(5, "UNMATCHED_SOURCE", 469), artifact(6, "MATCHED", 531), artifact(7, "UNMATCHED_TARGET", 8)],
    },
    streams: { get: async () => ({ id: 9001, name: "Settlement", steps: [] }) },
  }),
);
beforeEach(() => {
  listed = [exc(1), exc(2)];
});
afterEach(cleanup);

describe("an exception's step and files", () => {
  it("lists the files its step wrote, the one holding the row first and marked, and links to the step", async () => {
    const api = await import("../../src/services/api");
    const { ExceptionDetailPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions/3", "/exceptions/:id", <ExceptionDetailPage />);
    const files = await screen.findByRole("table", { name: "files of the step" });
    expect(api.runs.artifacts).toHaveBeenCalledWith(9311);
    const rows = within(files).getAllByRole("row").slice(1);
    // then the others as the run page lists them: outputs, then the snapshot (not in the order registered)
    expect(rows.map((r) => r.getAttribute("data-artifact"))).toEqual(["UNMATCHED_TARGET", "MATCHED", "UNMATCHED_SOURCE", "SNAPSHOT_SOURCE"]);
    expect(rows[0].getAttribute("data-holds-row")).toBe("yes");
    expect(rows[0].textContent).toContain("holds this row");
    expect(rows[1].textContent).not.toContain("holds this row");
    expect(within(rows[0]).getByRole("link", { name: "stream_9204_step_1_unmatched_target.csv" }).getAttribute("href")).toBe("/files/1107");
    // the run link goes to the step itself, not to the top of the run
    for (const link of screen.getAllByRole("link", { name: /#9204 step 1/ })) expect(link.getAttribute("href")).toBe("/runs/9204#step-1");
  });

  it("the list narrowed to one step says which run and step, with a link to that step", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?reconciliationId=12006", "/exceptions", <ExceptionsPage />);
    later = 30; // however many pages: the list is filtered to the step's reconciliation
    const context = await screen.findByText(/^Exceptions of/, { selector: "[data-step-context]" });
    later = 0;
    expect(within(context).getByRole("link", { name: "run #9204, step 1" }).getAttribute("href")).toBe("/runs/9204#step-1");
  });

  it("says nothing of the kind on the whole queue (or one filtered by status) whose page happens to hold one step's rows", async () => {
    listed = [exc(1), exc(2)]; // both of run 9204 step 1, but the queue holds others on later pages
    later = 30;
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    for (const url of ["/exceptions", "/exceptions?status=OPEN", "/exceptions?streamId=9001"]) {
      renderAt(url, "/exceptions", <ExceptionsPage />);
      await screen.findByRole("table", { name: "exceptions" });
      expect(document.querySelector("[data-step-context]")).toBeNull();
      cleanup();
    }
    later = 0;
  });

  it("says nothing of the kind when the rows come from several steps", async () => {
    listed = [exc(1), exc(2, { stepOrder: 3, stepRunId: 9313, reconciliationId: 12008 })];
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?runId=9204", "/exceptions", <ExceptionsPage />);
    await screen.findByRole("table", { name: "exceptions" });
    expect(document.querySelector("[data-step-context]")).toBeNull();
  });
});

describe("a link to one step of a run", () => {
  it("marks that step and gives it the focus; the trigger's metadata reads in words", async () => {
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/9204#step-2", "/runs/:id", <RunPage />);
    const target = await screen.findByRole("listitem", { current: "location" });
    expect(target.getAttribute("data-step")).toBe("2");
    expect(target.className).toContain("targeted");
    await waitFor(() => expect(document.activeElement).toBe(target));
    expect(document.querySelectorAll("li.targeted")).toHaveLength(1);
    expect(document.querySelector(".kv")!.textContent).toContain("requested by: demo@recon.local · reason: month-end close");
  });
});
