import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const rec = { id: 12001, name: "Month-end / Orders vs bank", status: "COMPLETED", totalSourceRecords: 100000, matchedRecords: 99996, exceptionCount: 4, matchRate: 100.0, createdAt: "2026-12-02T06:42:10Z" };
const one = { ...rec, description: null, sourceFileId: 1004, targetFileId: null, ruleSetId: 50, totalTargetRecords: 539, unmatchedSourceRecords: 4, unmatchedTargetRecords: 0, errorMessage: null, runId: 9201, stepOrder: 1, streamId: 9001, startedAt: null, completedAt: null };
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    legacy: {
      list: async (q: { status?: string }) => pageOf(q.status === "FAILED" ? [] : [rec]),
      get: async () => one,
      status: async () => ({ id: 12001, status: "COMPLETED", progress: 100 }),
      exceptions: async () => pageOf([{ id: 77001, side: "TARGET", rowKey: "MP-0000035", reason: "TOLERANCE_EXCEEDED", status: "OPEN" }]),
    },
    files: { get: async (id: number) => ({ id, filename: "stream_9201_step_1_snapshot_source.csv" }) },
    ruleSets: { get: async () => ({ id: 50, name: "Orders vs marketplace payouts" }) },
  }),
);
afterEach(cleanup);

describe("reconciliations list", () => {
  it("shows the match rate from the counts: 99,996 of 100,000 is not 100 %", async () => {
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    const row = (await screen.findByRole("table", { name: "reconciliations" })).querySelector("tbody tr")!;
    expect([...row.querySelectorAll("td")].map((c) => c.textContent)[5]).toBe("99.996 %");
  });
});

describe("reconciliations of one status", () => {
  it("are asked of the API by the Status filter; none of them is said, with the way back", async () => {
    const api = await import("../../src/services/api");
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    await screen.findByRole("table", { name: "reconciliations" });
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "FAILED" } });
    await screen.findByText(/No reconciliation is failed/);
    expect(api.legacy.list).toHaveBeenLastCalledWith({ page: 1, pageSize: 20, status: "FAILED" });
    fireEvent.click(screen.getByRole("button", { name: "Show every status" }));
    await screen.findByRole("table", { name: "reconciliations" });
    expect(api.legacy.list).toHaveBeenLastCalledWith({ page: 1, pageSize: 20, status: undefined });
  });
});

describe("a reconciliation", () => {
  it("names its inputs and rule set, a missing input as missing, and links its exceptions to the queue", async () => {
    const { LegacyDetailPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations/12001", "/reconciliations/:id", <LegacyDetailPage />);
    await screen.findByText("stream_9201_step_1_snapshot_source.csv (#1004)");
    const kv = (k: string) => [...document.querySelectorAll(".kv > div")].find((d) => d.querySelector("dt")!.textContent === k)!.querySelector("dd")!;
    expect(kv("target file").textContent).toBe("—");
    expect(kv("rule set").textContent).toBe("Orders vs marketplace payouts");
    expect(kv("exceptions").querySelector("a")!.getAttribute("href")).toBe("/exceptions?reconciliationId=12001");
    // its exceptions' side is a badge, as in the exceptions queue
    const row = (await screen.findByRole("link", { name: "77001" })).closest("tr")!;
    expect([...row.querySelectorAll(".badge")].map((b) => b.getAttribute("data-status"))).toEqual(["TARGET", "TOLERANCE_EXCEEDED", "OPEN"]);
  });
});
