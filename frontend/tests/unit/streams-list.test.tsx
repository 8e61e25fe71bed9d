import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const summary = (id: number, name: string) => ({ id, name, description: null, domain: "FINANCE", status: "ACTIVE", triggerType: "MANUAL", stepCount: 2, createdAt: "2026-12-02T06:00:00Z", updatedAt: "2026-12-02T06:00:00Z" });
const failed = {
  id: 9202, streamId: 9002, streamVersion: 1, status: "FAILED", currentStepOrder: 2, triggerType: "MANUAL", triggerMetadata: {},
  metrics: { totalSteps: 2, completedSteps: 1, failedSteps: 1, matchedRecords: 531, exceptionCount: 477 }, errorMessage: "Step 2 failed",
  startedAt: "2026-12-02T06:42:39Z", completedAt: "2026-12-02T06:42:45Z", createdAt: "2026-12-02T06:42:39Z", updatedAt: "2026-12-02T06:42:45Z",
};
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    streams: {
      list: async () => pageOf([summary(9002, "Settlement with a failing bank step"), summary(9006, "Never run")]),
      runs: async (id: number) => pageOf(id === 9002 ? [failed] : []),
    },
  }),
);

afterEach(cleanup);

async function openList() {
  const { StreamsPage } = await import("../../src/pages/streams/Streams");
  renderAt("/streams", "/streams", <StreamsPage />);
}

describe("streams list", () => {
  it("shows each stream's latest run: its status, when, and its exceptions", async () => {
    const api = await import("../../src/services/api");
    await openList();
    await screen.findByRole("table", { name: "streams" });
    const cell = (name: string) => document.querySelector(`tr[data-stream="${name}"] td[data-latest-run]`)!;
    await waitFor(() => expect(cell("Never run").textContent).toBe("never run"));
    const latest = cell("Settlement with a failing bank step");
    expect(latest.querySelector('a[href="/runs/9202"]')!.textContent).toBe("#9202");
    // read out as what it is, not as "#9202"
    expect(screen.getByRole("link", { name: "Run 9202, failed" }).getAttribute("href")).toBe("/runs/9202");
    expect(latest.querySelector(".badge")!.getAttribute("data-status")).toBe("FAILED");
    expect(latest.textContent).toContain("477 exceptions");
    // when, written as the console writes times, beside how long ago
    expect(latest.textContent).toMatch(/2026-12-02 06:42:45 UTC \(.+ ago\)/);
    expect(api.streams.runs).toHaveBeenCalledWith(9002, { page: 1, pageSize: 1 });
  });
});

describe("streams list while a run moves on", () => {
  it("reads the latest runs again until none is running, and a stream whose runs cannot be read is not 'never run'", async () => {
    const api = await import("../../src/services/api");
    const running = { ...failed, id: 9230, status: "RUNNING", completedAt: null, errorMessage: null, metrics: { ...failed.metrics, failedSteps: 0, completedSteps: 1, exceptionCount: 0 } };
    const done = { ...running, status: "COMPLETED", completedAt: "2026-12-02T06:43:00Z", metrics: { ...running.metrics, completedSteps: 2, exceptionCount: 12 } };
    let reads = 0;
    vi.mocked(api.streams.runs).mockImplementation((async (id: number) => {
      if (id === 9006) throw new api.ApiError(503, "SERVICE_UNAVAILABLE", "database restarting");
      reads++;
      return pageOf([reads < 2 ? running : done]);
    }) as never);
    await openList();
    await screen.findByRole("table", { name: "streams" });
    const cell = (name: string) => document.querySelector(`tr[data-stream="${name}"] td[data-latest-run]`)!;
    await waitFor(() => expect(cell("Settlement with a failing bank step").querySelector(".badge")?.getAttribute("data-status")).toBe("RUNNING"));
    expect(cell("Never run").textContent).not.toContain("never run");
    expect(cell("Never run").textContent).toBe("—");
    // polled (every 3 s) until the run completed
    await waitFor(() => expect(cell("Settlement with a failing bank step").querySelector(".badge")?.getAttribute("data-status")).toBe("COMPLETED"), { timeout: 8000 });
    expect(cell("Settlement with a failing bank step").textContent).toContain("12 exceptions");
  }, 15000);
});

describe("the streams list's domain filter", () => {
  it("offers the domains streams have, and when a domain typed in another case finds nothing, offers the one meant", async () => {
    const api = await import("../../src/services/api");
    const all = [summary(9002, "Settlement"), { ...summary(9007, "Shop orders"), domain: "ECOMMERCE" }, { ...summary(9008, "No domain"), domain: null }];
    vi.mocked(api.streams.list).mockImplementation(async (q: { domain?: string; page?: number; pageSize?: number }) =>
      pageOf(all.filter((x) => !q.domain || x.domain === q.domain), q) as never);
    const { StreamsPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams?domain=ecommerce", "/streams", <StreamsPage />);
    const hint = await screen.findByRole("status");
    expect(hint.textContent).toContain("A domain is matched exactly: no stream has “ecommerce”.");
    expect([...document.querySelectorAll("datalist#domains option")].map((o) => o.getAttribute("value"))).toEqual(["ECOMMERCE", "FINANCE"]);
    expect(screen.getByLabelText("Domain").getAttribute("list")).toBe("domains");
    fireEvent.click(screen.getByRole("button", { name: "Show the ECOMMERCE streams" }));
    await waitFor(() => expect(document.querySelectorAll("table[aria-label=streams] tbody tr")).toHaveLength(1));
    expect(document.querySelector('tr[data-stream="Shop orders"]')).toBeTruthy();
    expect((screen.getByLabelText("Domain") as HTMLInputElement).value).toBe("ECOMMERCE");
    expect(screen.queryByText(/matched exactly/)).toBeNull();
  });
});
