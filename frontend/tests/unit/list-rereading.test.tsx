// A list read again for other filters with a slow API: its old rows stay (the focus stays on the filter or
// the pager's button) but are marked as not the new filters' rows, busy while the read runs, and still so
// when it fails; the new rows come unmarked.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const exc = (id: number, status: string) => ({
  id, reconciliationId: 12004, streamId: 9002, runId: 9202, stepRunId: 9304, stepOrder: 1, side: "SOURCE", rowKey: `ORD-${id}`,
  rowData: {}, reason: "NO_CANDIDATE", closestCandidate: null, status, assignee: null, note: null,
  resolvedBy: null, resolvedAt: null, createdAt: "2026-12-02T06:42:43Z", updatedAt: "2026-12-02T06:42:43Z",
});
/** The read of the RESOLVED exceptions, held open until the test answers (or fails) it. */
let resolved: { answer: (v: unknown) => void; fail: (e: unknown) => void } | null = null;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    streams: { list: async () => pageOf([]) },
    exceptions: {
      list: (q: { status?: string }) =>
        q.status === "RESOLVED" ? new Promise((answer, fail) => (resolved = { answer, fail })) : Promise.resolve(pageOf([exc(1, "OPEN"), exc(2, "OPEN")])),
    },
  }),
);

afterEach(() => {
  cleanup();
  resolved = null;
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
