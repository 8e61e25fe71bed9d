// A list read again for other filters with a slow API: its old rows stay (the focus stays on the filter or
// the pager's button) but are marked as not the new filters' rows, busy while the read runs, and still so
// when it fails; the new rows come unmarked.
import { afterEach, describe, expect, it, onTestFinished, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const exc = (id: number, status: string) => ({
  id, reconciliationId: 12004, streamId: 9002, runId: 9202, stepRunId: 9304, stepOrder: 1, side: "SOURCE", rowKey: `ORD-${id}`,
  rowData: {}, reason: "NO_CANDIDATE", closestCandidate: null, status, assignee: null, note: null,
  resolvedBy: null, resolvedAt: null, createdAt: "2026-12-02T06:42:43Z", updatedAt: "2026-12-02T06:42:43Z",
});
/** The read of the RESOLVED exceptions, held open until the test answers (or fails) it. */
let resolved: { answer: (v: unknown) => void; fail: (e: unknown) => void } | null = null;
/** The API down: the reads of OPEN exceptions fail (502) while it is. */
let down = false;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    streams: { list: async () => pageOf([]) },
    exceptions: {
      list: async (q: { status?: string; olderThanDays?: unknown }) => {
        const { ApiError } = await vi.importActual<typeof import("../../src/services/api")>("../../src/services/api");
        if (String(q.olderThanDays) === "-1") throw new ApiError(400, "VALIDATION_ERROR", "olderThanDays must be >= 0", { olderThanDays: "must be >= 0" });
        if (down) throw new ApiError(502, "SERVICE_UNAVAILABLE", "The API cannot be reached ([Errno 111] Connection refused)");
        if (q.status === "RESOLVED") return new Promise((answer, fail) => (resolved = { answer, fail }));
        return String(q.olderThanDays) === "400" ? pageOf([]) : pageOf([exc(1, "OPEN"), exc(2, "OPEN")]);
      },
    },
  }),
);

afterEach(() => {
  cleanup();
  resolved = null;
  down = false;
});

const rows = () => [...document.querySelectorAll("table[aria-label=exceptions] tbody tr")].map((r) => r.getAttribute("data-exception"));
const outdated = () => document.querySelector("[data-outdated]");

async function open() {
  const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
  renderAt("/exceptions?status=OPEN", "/exceptions", <ExceptionsPage />);
  await screen.findByRole("table", { name: "exceptions" });
  expect(outdated()).toBeNull();
  fireEvent.change(screen.getByLabelText("Status"), { target: { value: "RESOLVED" } });
  await waitFor(() => expect(resolved).not.toBeNull());
}

describe("a list read for other filters", () => {
  it("marks the old rows busy and not the new filters' until the new ones come", async () => {
    const api = await import("../../src/services/api");
    await open();
    expect(rows()).toEqual(["1", "2"]); // the OPEN rows, still there
    await waitFor(() => expect(outdated()).not.toBeNull());
    expect(outdated()!.getAttribute("aria-busy")).toBe("true");
    expect(outdated()!.contains(screen.getByRole("table", { name: "exceptions" }))).toBe(true);
    expect(outdated()!.textContent).toContain("Reading the list for these filters");
    resolved!.answer(pageOf([exc(7, "RESOLVED")]));
    await waitFor(() => expect(rows()).toEqual(["7"]));
    expect(outdated()).toBeNull();
    expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ status: "RESOLVED" }));
  });

  it("says no count of the old rows as the list's: neither the pager's nor the CSV download's", async () => {
    const count = () => document.querySelector(".pager [data-count]")?.textContent;
    const exports = () => screen.queryByRole("button", { name: /Download CSV/ });
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN", "/exceptions", <ExceptionsPage />);
    await screen.findByRole("table", { name: "exceptions" });
    expect(count()).toBe("page 1 of 1 · 2 items");
    expect(exports()!.textContent).toBe("Download CSV (2)");
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "RESOLVED" } });
    await waitFor(() => expect(resolved).not.toBeNull());
    await waitFor(() => expect(outdated()).not.toBeNull());
    // the OPEN rows are still shown (dimmed), but 2 is not the count of the RESOLVED ones, and the download
    // would be of the RESOLVED ones
    expect(rows()).toEqual(["1", "2"]);
    expect(count()).toBe("counting the rows of these filters…");
    expect(exports()).toBeNull();
    expect(screen.getByText("Counting the exceptions of these filters…")).toBeTruthy();
    resolved!.answer(pageOf([exc(7, "RESOLVED"), exc(8, "RESOLVED"), exc(9, "RESOLVED")]));
    await waitFor(() => expect(rows()).toEqual(["7", "8", "9"]));
    expect(count()).toBe("page 1 of 1 · 3 items");
    expect(exports()!.textContent).toBe("Download CSV (3)");
  });

  it("Previous and Next wait for the new rows: their pages are the old filters'", async () => {
    const many = Array.from({ length: 60 }, (_, i) => exc(100 + i, "OPEN"));
    const api = await import("../../src/services/api");
    const usual = vi.mocked(api.exceptions.list).getMockImplementation()!;
    onTestFinished(() => void vi.mocked(api.exceptions.list).mockImplementation(usual));
    vi.mocked(api.exceptions.list).mockImplementation((async (q: { status?: string; page?: number }) =>
      q.status === "RESOLVED" ? new Promise((answer, fail) => (resolved = { answer, fail })) : pageOf(many, { page: q.page, pageSize: 25 })) as never);
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN&page=3", "/exceptions", <ExceptionsPage />);
    await waitFor(() => expect(document.querySelector(".pager [data-count]")?.textContent).toBe("page 3 of 3 · 60 items"));
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "RESOLVED" } }); // page 1 of the RESOLVED ones
    await waitFor(() => expect(outdated()).not.toBeNull());
    const previous = screen.getByRole("button", { name: "← Previous" });
    expect(previous.getAttribute("aria-disabled")).toBe("true");
    fireEvent.click(previous); // page 2 of the RESOLVED ones, from the old rows' page 3: nothing
    expect(api.exceptions.list).not.toHaveBeenCalledWith(expect.objectContaining({ status: "RESOLVED", page: 2 }));
    resolved!.answer(pageOf([exc(7, "RESOLVED")]));
    await waitFor(() => expect(rows()).toEqual(["7"]));
    expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ status: "RESOLVED", page: 1 }));
  });

  it("an empty answer of the old filters does not say the new filters find nothing", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN&olderThanDays=400", "/exceptions", <ExceptionsPage />);
    expect((await screen.findByText("No exception matches these filters.")).closest("[data-outdated]")).toBeNull();
    fireEvent.change(screen.getByLabelText("Status"), { target: { value: "RESOLVED" } });
    await waitFor(() => expect(resolved).not.toBeNull());
    await waitFor(() => expect(outdated()).not.toBeNull());
    expect(screen.queryByText("No exception matches these filters.")).toBeNull();
    expect(outdated()!.textContent).toContain("Reading the list for these filters");
    resolved!.answer(pageOf([exc(7, "RESOLVED")]));
    await waitFor(() => expect(rows()).toEqual(["7"]));
  });

  it("keeps them marked under the error when that read fails", async () => {
    const api = await import("../../src/services/api");
    await open();
    resolved!.fail(new api.ApiError(503, "SERVICE_UNAVAILABLE", "database restarting"));
    expect((await screen.findByRole("alert")).textContent).toContain("database restarting");
    expect(rows()).toEqual(["1", "2"]);
    expect(outdated()!.getAttribute("aria-busy")).toBeNull();
    expect(outdated()!.textContent).toContain("Not read for these filters: the rows below are the last ones read.");
  });
});

describe("a list the API could not answer", () => {
  it("offers to read it again, and shows it once the API is back, with its filters", async () => {
    const api = await import("../../src/services/api");
    down = true;
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN", "/exceptions", <ExceptionsPage />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The API cannot be reached");
    down = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Read again" }));
    await screen.findByRole("table", { name: "exceptions" });
    expect(rows()).toEqual(["1", "2"]);
    expect(screen.queryByRole("alert")).toBeNull();
    expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ status: "OPEN" }));
  });

  it("offers nothing of the kind for a refusal: reading again would be refused again", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?olderThanDays=-1", "/exceptions", <ExceptionsPage />);
    const alerts = await screen.findAllByRole("alert");
    expect(alerts.map((a) => a.textContent).join(" ")).toContain("must be >= 0");
    expect(screen.queryByRole("button", { name: "Read again" })).toBeNull();
  });
});
