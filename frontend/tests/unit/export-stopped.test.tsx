// The exceptions' CSV reads every page of the filters before saving: the filters changed (or the page left)
// while it reads must not end in a file of the old filters' rows saved under the new filters; paging the list
// meanwhile (same filters) does not stop it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const exc = (id: number, status: string) => ({
  id, reconciliationId: 12004, streamId: 9002, runId: 9202, stepRunId: 9304, stepOrder: 1, side: "SOURCE", rowKey: `ORD-${id}`,
  rowData: { order_id: `ORD-${id}` }, reason: "NO_CANDIDATE", closestCandidate: null, status, assignee: null, note: null,
  resolvedBy: null, resolvedAt: null, createdAt: "2026-12-02T06:42:43Z", updatedAt: "2026-12-02T06:42:43Z",
});
// 150 OPEN exceptions (two pages of 100 for the download), 3 IGNORED
const rows = [...Array.from({ length: 150 }, (_, i) => exc(i + 1, "OPEN")), ...[201, 202, 203].map((id) => exc(id, "IGNORED"))];
// the download's second page of OPEN rows is answered only when the test says so
let releasePage2: () => void = () => {};
const signals: (AbortSignal | undefined)[] = [];

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    saveBlob: () => undefined,
    streams: { list: async () => pageOf([]) },
    exceptions: {
      list: async (q: { status?: string; page?: number; pageSize?: number }, signal?: AbortSignal) => {
        const answer = pageOf(rows.filter((x) => !q.status || x.status === q.status), q);
        if (q.pageSize === 100) {
          signals.push(signal);
          if (q.page === 2) await new Promise<void>((r) => { releasePage2 = r; });
        }
        return answer;
      },
    },
  }),
);
afterEach(cleanup);

async function open(url: string) {
  const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
  return renderAt(url, "/exceptions", <ExceptionsPage />);
}

describe("the exceptions' CSV download", () => {
  it("stops when the filters change while it reads: nothing saved, the request aborted, the page says so", async () => {
    const api = await import("../../src/services/api");
    signals.length = 0;
    await open("/exceptions?status=OPEN");
    fireEvent.click(await screen.findByRole("button", { name: "Download CSV (150)" }));
    await screen.findByRole("button", { name: "Reading 100 of 150…" });
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "IGNORED" } });
    await screen.findByRole("button", { name: "Download CSV (3)" });
    expect(signals[1]?.aborted).toBe(true);
    releasePage2(); // the old filters' last page answers after all: still nothing saved
    await new Promise((r) => setTimeout(r, 50));
    expect(api.saveBlob).not.toHaveBeenCalled();
    expect(document.querySelector("[data-export-stopped]")!.textContent).toMatch(/CSV download was stopped: the filters changed/);
    // the new filters' download holds their rows only, and its name says which
    fireEvent.click(screen.getByRole("button", { name: "Download CSV (3)" }));
    await waitFor(() => expect(api.saveBlob).toHaveBeenCalledTimes(1));
    const [blob, name] = vi.mocked(api.saveBlob).mock.calls[0];
    expect(name).toMatch(/^exceptions-status-IGNORED-\d{8}T\d{4}Z\.csv$/);
    const ids = (await (blob as Blob).text()).trim().split("\r\n").slice(1).map((l) => l.split(",")[0]);
    expect(ids).toEqual(["201", "202", "203"]);
    expect(document.querySelector("[data-export-stopped]")).toBeNull();
  });

  it("stops when the page is left", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.saveBlob).mockClear();
    signals.length = 0;
    const { unmount } = await open("/exceptions?status=OPEN");
    fireEvent.click(await screen.findByRole("button", { name: "Download CSV (150)" }));
    await screen.findByRole("button", { name: "Reading 100 of 150…" });
    unmount();
    expect(signals[1]?.aborted).toBe(true);
    releasePage2();
    await new Promise((r) => setTimeout(r, 50));
    expect(api.saveBlob).not.toHaveBeenCalled();
  });

  it("goes on when another page of the same filters is shown meanwhile", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.saveBlob).mockClear();
    signals.length = 0;
    await open("/exceptions?status=OPEN");
    fireEvent.click(await screen.findByRole("button", { name: "Download CSV (150)" }));
    await screen.findByRole("button", { name: "Reading 100 of 150…" });
    fireEvent.click(screen.getByRole("button", { name: "Next →" }));
    await screen.findByText(/page 2 of 6/);
    releasePage2();
    await waitFor(() => expect(api.saveBlob).toHaveBeenCalledTimes(1));
    expect(signals[1]?.aborted).toBe(false);
    const [blob] = vi.mocked(api.saveBlob).mock.calls[0];
    expect((await (blob as Blob).text()).trim().split("\r\n")).toHaveLength(151);
  });
});
