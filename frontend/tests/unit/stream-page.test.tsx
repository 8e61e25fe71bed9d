import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import type { StreamDefinition } from "../../src/services/types";
import { pageOf, renderAt } from "./render";

const base = {
  id: 9003, name: "Settlement", description: null, status: "ACTIVE", domain: "FINANCE", version: 1, createdAt: "2026-12-02T06:42:37Z", updatedAt: "2026-12-02T06:42:37Z",
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs bank", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 1003 }, ruleSetId: 52, config: { continueOnFailure: false, maxRetries: 0 } }],
};
const scheduled = {
  ...base, triggerType: "SCHEDULED", triggerConfig: { cron: "0 30 2 * * *", timezone: "Europe/Berlin" }, nextRunAt: "2026-12-03T01:30:00Z",
  recentOccurrences: [{ occurrenceAt: "2026-12-02T01:30:00Z", status: "STARTED", runId: 9210, late: false, detail: null }],
} as unknown as StreamDefinition;
const evented = {
  ...base, id: 9005, triggerType: "EVENT", triggerConfig: { event: "FILE_UPLOADED", filenamePattern: "bank_*.csv", bind: { stepOrder: 1, input: "TARGET" } }, nextRunAt: null,
  recentOccurrences: [
    { occurrenceAt: "2026-12-02T06:50:01Z", status: "STARTED", runId: 9211, late: false, detail: "bank_0212.csv (file 1030)" },
    { occurrenceAt: "2026-12-02T06:50:01Z", status: "SKIPPED_RUN_ACTIVE", runId: null, late: false, detail: "bank_0213.csv (file 1031)" },
  ],
} as unknown as StreamDefinition;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    streams: { get: async (id: number) => (id === 9005 ? evented : scheduled), runs: async () => pageOf([]), run: async () => ({ runId: 9300 }) },
    ruleSets: { list: async () => pageOf([]) },
    files: { get: async (id: number) => ({ id, filename: `file${id}.csv` }) },
    dataSources: { get: () => undefined },
  }),
);

afterEach(cleanup);

async function open(id: number) {
  const { StreamDetailPage } = await import("../../src/pages/streams/Streams");
  renderAt(`/streams/${id}`, "/streams/:id", <StreamDetailPage />);
}

describe("a stream's trigger", () => {
  it("a schedule's next run and occurrences are read in the schedule's own zone, UTC alongside", async () => {
    await open(9003);
    expect((await screen.findByTestId("trigger")).textContent).toBe("at 02:30, Europe/Berlin time (cron 0 30 2 * * *)");
    expect(screen.getByTestId("next-run").textContent).toMatch(/^2026-12-03 02:30:00 Europe\/Berlin \(2026-12-03 01:30:00 UTC, /);
    const occ = screen.getByRole("table", { name: "recent occurrences" });
    expect(occ.querySelector("thead")!.textContent).toContain("Occurrence (Europe/Berlin)");
    // UTC alongside, on screen (not only in a title a phone never shows)
    expect(occ.querySelector("tbody td")!.textContent).toBe("2026-12-02 02:30:00 Europe/Berlin (2026-12-02 01:30:00 UTC)");
  });

  it("an EVENT stream lists the events that triggered it, and says in words what it waits for", async () => {
    await open(9005);
    expect((await screen.findByTestId("trigger")).textContent).toBe("when a file named bank_*.csv is uploaded and READY: it becomes step 1's target");
    const events = screen.getByRole("table", { name: "recent events" });
    const rows = [...events.querySelectorAll("tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent));
    expect(rows).toEqual([
      ["2026-12-02 06:50:01 UTC", "started", "#9211", "bank_0212.csv (file 1030)"],
      ["2026-12-02 06:50:01 UTC", "skipped run active", "—", "bank_0213.csv (file 1031)"],
    ]);
    expect(within(events).getByRole("link", { name: "Run 9211" }).getAttribute("href")).toBe("/runs/9211");
  });

  it("a run started by hand records the reason typed for it", async () => {
    const api = await import("../../src/services/api");
    await open(9003);
    fireEvent.change(await screen.findByLabelText("Reason for the run"), { target: { value: "month-end close, re-run after the bank fix" } });
    fireEvent.click(screen.getByRole("button", { name: "Run now" }));
    await waitFor(() => expect(api.streams.run).toHaveBeenCalledWith(9003, "month-end close, re-run after the bank fix"));
  });

  it("Enter in the reason runs the stream, as Run now does", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.streams.run).mockClear();
    await open(9003);
    const reason = await screen.findByLabelText("Reason for the run");
    fireEvent.change(reason, { target: { value: "bank file re-sent" } });
    fireEvent.submit(reason.closest("form")!); // what Enter in the field does (implicit submission)
    await waitFor(() => expect(api.streams.run).toHaveBeenCalledWith(9003, "bank file re-sent"));
    expect(api.streams.run).toHaveBeenCalledTimes(1);
  });
});
