// A list read again for other filters with a slow API: its old rows stay (the focus stays on the filter or
// the pager's button) but are marked as not the new filters' rows, busy while the read runs, and still so
// when it fails; the new rows come unmarked.
import { afterEach, describe, expect, it, vi } from "vitest";
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
        return q.status === "RESOLVED" ? new Promise((answer, fail) => (resolved = { answer, fail })) : pageOf([exc(1, "OPEN"), exc(2, "OPEN")]);
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
