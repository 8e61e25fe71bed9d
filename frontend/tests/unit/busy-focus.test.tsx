// A button pressed from the keyboard keeps the focus while its request runs (Chromium drops the focus of a
// `disabled` button to the top of the page), a second press meanwhile sends nothing, and a button that its
// action removes hands the focus to what the page says next.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { useState } from "react";
import { pageOf, renderAt } from "./render";

/** A request held open until the test answers it. */
function held<T = unknown>() {
  let answer: (v: T) => void = () => {};
  const promise = new Promise<T>((r) => (answer = r));
  return { promise, answer };
}
let pending: ReturnType<typeof held> | null = null;
const wait = <T,>(value: T) => (pending ? pending.promise.then(() => value) : Promise.resolve(value));

const T0 = "2026-12-02T06:41:09Z";
let streamStatus = "ACTIVE";
let runStatus = "RUNNING";
const stream = () => ({
  id: 3, name: "Settlement", description: null, status: streamStatus, domain: null, triggerType: "MANUAL", triggerConfig: null, version: 1, createdAt: T0, updatedAt: T0,
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs bank", sourceInput: { type: "FILE", id: 1 }, targetInput: { type: "FILE", id: 2 }, ruleSetId: 5, config: { continueOnFailure: false, maxRetries: 0 } }],
});
const run = () => ({
  id: 7, streamId: 3, streamVersion: 1, status: runStatus, currentStepOrder: 1, triggerType: "MANUAL", triggerMetadata: {},
  metrics: { totalSteps: 1, completedSteps: 0, failedSteps: 0, matchedRecords: 0, exceptionCount: 0 },
  createdAt: T0, updatedAt: T0, startedAt: T0, completedAt: runStatus === "RUNNING" ? null : T0, errorMessage: null,
});
const source = { id: 300, name: "OMS orders", type: "POSTGRES", config: { connection: { env: "OMS_DATABASE_URL" }, table: "orders" }, createdAt: T0, updatedAt: T0 };
const exc = (id: number) => ({
  id, reconciliationId: 12004, streamId: 3, runId: 7, stepRunId: 1, stepOrder: 1, side: "SOURCE", rowKey: `ORD-${id}`, rowData: {}, reason: "NO_CANDIDATE",
  closestCandidate: null, status: "OPEN", assignee: null, note: null, resolvedBy: null, resolvedAt: null, createdAt: T0, updatedAt: T0,
});

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    streams: {
      get: async () => stream(),
      runs: async () => pageOf([]),
      pause: () => wait(null).then(() => void (streamStatus = "PAUSED")),
      resume: () => wait(null).then(() => void (streamStatus = "ACTIVE")),
      archive: () => wait(null).then(() => void (streamStatus = "ARCHIVED")),
    },
    runs: { get: async () => run(), steps: async () => [], artifacts: async () => [], cancel: () => wait(null).then(() => void (runStatus = "CANCELED")) },
    ruleSets: { get: async (id: number) => ({ id, name: "Orders vs bank" }) },
    files: { get: async (id: number) => ({ id, filename: `file${id}.csv` }) },
    cdc: { tables: async () => ["users"] },
    dataSources: {
      get: async () => source,
      list: async () => pageOf([source]),
      test: () => wait({ ok: true, columns: [{ name: "order_id", type: "text" }], rowEstimate: 10, errorMessage: null }),
      update: () => wait({ ...source, updatedAt: "2026-12-02T07:00:00Z" }),
    },
    exceptions: { list: async () => pageOf([exc(1), exc(2)]), patch: (id: number) => wait(exc(id)) },
  }),
);

beforeEach(() => {
  vi.clearAllMocks();
  pending = null;
  streamStatus = "ACTIVE";
  runStatus = "RUNNING";
});
afterEach(cleanup);

/** A press from the keyboard: the button has the focus, then is clicked (Enter or Space). */
function press(b: HTMLElement) {
  b.focus();
  fireEvent.click(b);
}

describe("BusyButton", () => {
  it("is aria-disabled, not disabled, while busy; a press then neither calls it nor submits its form", async () => {
    const { BusyButton } = await import("../../src/components/ui");
    const onSubmit = vi.fn((e: { preventDefault: () => void }) => e.preventDefault());
    function Form() {
      const [busy, setBusy] = useState(false);
      return (
        <form onSubmit={(e) => { onSubmit(e); setBusy(true); }} aria-label="f">
          <input name="note" />
          <BusyButton type="submit" busy={busy}>Save</BusyButton>
        </form>
      );
    }
    render(<Form />);
    const save = screen.getByRole("button", { name: "Save" }) as HTMLButtonElement;
    press(save);
    expect(onSubmit).toHaveBeenCalledTimes(1);
    expect(save.disabled).toBe(false);
    expect(save.getAttribute("aria-disabled")).toBe("true");
    expect(document.activeElement).toBe(save);
    press(save);
    expect(onSubmit).toHaveBeenCalledTimes(1);
  });
});

describe("a stream's Pause and Resume", () => {
  it("keep the focus on the button pressed, which then offers the other action; a second press meanwhile sends nothing", async () => {
    const api = await import("../../src/services/api");
    const { StreamDetailPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/3", "/streams/:id", <StreamDetailPage />);
    pending = held();
    const pause = await screen.findByRole("button", { name: "Pause" });
    press(pause);
    expect((pause as HTMLButtonElement).disabled).toBe(false);
    expect(pause.getAttribute("aria-disabled")).toBe("true");
    fireEvent.click(pause);
    pending.answer(null);
    const resume = await screen.findByRole("button", { name: "Resume" });
    expect(api.streams.pause).toHaveBeenCalledTimes(1);
    expect(document.activeElement).toBe(resume);
    expect(resume.getAttribute("aria-disabled")).toBeNull();
  });

  it("an archived stream's heading takes the focus of the Archive pressed", async () => {
    const ask = vi.spyOn(window, "confirm").mockReturnValue(true);
    const { StreamDetailPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/3", "/streams/:id", <StreamDetailPage />);
    press(await screen.findByRole("button", { name: "Archive" }));
    await waitFor(() => expect(screen.queryByRole("button", { name: "Archive" })).toBeNull());
    // the focus moves in an effect after the render that removes the button
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("heading", { level: 1 })));
    expect(document.activeElement!.textContent).toContain("archived");
    ask.mockRestore();
  });
});

describe("a run's Cancel", () => {
  it("keeps the focus while the request runs, cancels once, and hands the focus to the heading once the run has stopped", async () => {
    const api = await import("../../src/services/api");
    const ask = vi.spyOn(window, "confirm").mockReturnValue(true);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    pending = held();
    const cancel = await screen.findByRole("button", { name: "Cancel run" });
    press(cancel);
    expect(cancel.getAttribute("aria-disabled")).toBe("true");
    expect((cancel as HTMLButtonElement).disabled).toBe(false);
    expect(document.activeElement).toBe(cancel);
    fireEvent.click(cancel);
    pending.answer(null);
    await waitFor(() => expect(screen.queryByRole("button", { name: /Cancel/ })).toBeNull());
    expect(api.runs.cancel).toHaveBeenCalledTimes(1);
    // the heading takes the focus once the page shows the stopped run (an effect after that render)
    await waitFor(() => {
      const h = screen.getByRole("heading", { level: 1 });
      expect(h.textContent).toContain("canceled");
      expect(document.activeElement).toBe(h);
    });
    ask.mockRestore();
  });
});

describe("a run's Cancel refused because the run has finished", () => {
  it("says the API's words and hands the focus to the heading, as the Cancel button is gone", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.runs.cancel).mockImplementationOnce(async () => {
      runStatus = "COMPLETED";
      throw new api.ApiError(409, "CONFLICT", "Stream run 7 is already COMPLETED");
    });
    const ask = vi.spyOn(window, "confirm").mockReturnValue(true);
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    press(await screen.findByRole("button", { name: "Cancel run" }));
    await waitFor(() => expect(screen.queryByRole("button", { name: /Cancel/ })).toBeNull());
    expect(screen.getByRole("alert").textContent).toContain("Stream run 7 is already COMPLETED");
    await waitFor(() => {
      const h = screen.getByRole("heading", { level: 1 });
      expect(h.textContent).toContain("completed");
      expect(document.activeElement).toBe(h);
    });
    ask.mockRestore();
  });
});

describe("a data source's Test and Save", () => {
  it("Test keeps the focus while it runs; Save gives it back to the row's Edit", async () => {
    const api = await import("../../src/services/api");
    const { DataSourcesPage } = await import("../../src/pages/streams/DataSources");
    renderAt("/data-sources", "/data-sources", <DataSourcesPage />);
    pending = held();
    const test = await screen.findByRole("button", { name: "Test" });
    press(test);
    expect((test as HTMLButtonElement).disabled).toBe(false);
    expect(test.getAttribute("aria-disabled")).toBe("true");
    expect(document.activeElement).toBe(test);
    fireEvent.click(test);
    pending.answer(null);
    await screen.findByText(/reachable, about 10 rows/);
    expect(api.dataSources.test).toHaveBeenCalledTimes(1);
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Test" }));

    pending = held();
    fireEvent.click(screen.getByRole("button", { name: "Edit OMS orders" }));
    const save = screen.getByRole("button", { name: "Save" });
    press(save);
    expect(save.getAttribute("aria-disabled")).toBe("true");
    expect(document.activeElement).toBe(save);
    fireEvent.click(save);
    pending.answer(null);
    await waitFor(() => expect(screen.queryByRole("form", { name: "edit data source OMS orders" })).toBeNull());
    expect(api.dataSources.update).toHaveBeenCalledTimes(1);
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("button", { name: "Edit OMS orders" })));
  });
});

describe("a change applied to ticked exceptions", () => {
  it("keeps the focus on Apply while it runs, then hands it to the outcome once the form is gone", async () => {
    const api = await import("../../src/services/api");
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions", "/exceptions", <ExceptionsPage />);
    fireEvent.click(await screen.findByLabelText("select exception 1"));
    fireEvent.click(screen.getByLabelText("select exception 2"));
    const form = screen.getByRole("form", { name: "change the selected exceptions" });
    fireEvent.change(form.querySelector("select[name=bulk-status]")!, { target: { value: "IGNORED" } });
    pending = held();
    const apply = screen.getByRole("button", { name: "Apply to 2 exceptions" });
    press(apply);
    expect((apply as HTMLButtonElement).disabled).toBe(false);
    expect(apply.getAttribute("aria-disabled")).toBe("true");
    expect(document.activeElement).toBe(apply);
    fireEvent.click(apply);
    pending.answer(null);
    const outcome = await screen.findByText(/Changed 2 of 2 exceptions/);
    expect(api.exceptions.patch).toHaveBeenCalledTimes(2);
    await waitFor(() => expect(document.activeElement).toBe(outcome)); // in an effect after the render that shows it
  });
});
