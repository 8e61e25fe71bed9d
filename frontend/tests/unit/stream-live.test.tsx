// A stream's page left open: its triggering events and schedule are read again while something can still
// change (an event QUEUED behind a run, an ACTIVE schedule), as its runs are, and "in 12 s" counts on.
import { afterEach, describe, expect, it, vi } from "vitest";
import { act, cleanup, screen, waitFor, within } from "@testing-library/react";
import type { StreamDefinition } from "../../src/services/types";
import { pageOf, renderAt } from "./render";

const base = {
  id: 9031, name: "Audit event big", description: null, status: "ACTIVE", domain: null, version: 1, createdAt: "2026-12-05T10:00:00Z", updatedAt: "2026-12-05T10:00:00Z",
  steps: [{ id: 1, stepOrder: 1, name: "Big", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 1003 }, ruleSetId: 52, config: { continueOnFailure: false, maxRetries: 0 } }],
};
const occ = (status: string, runId: number | null, file: number, at = "2026-12-05T10:11:30Z") => ({ occurrenceAt: at, status, runId, late: false, detail: `FileReady of file ${file}` });
const evented = (queued: boolean) => ({
  ...base, triggerType: "EVENT", triggerConfig: { event: "FILE_UPLOADED", filenamePattern: "big_evt_*.csv", bind: { stepOrder: 1, input: "TARGET" } }, nextRunAt: null,
  recentOccurrences: queued ? [occ("QUEUED", null, 1067), occ("STARTED", 9217, 1065)] : [occ("STARTED", 9219, 1067), occ("STARTED", 9217, 1065)],
}) as unknown as StreamDefinition;

let reads = 0;
let current: () => StreamDefinition = () => evented(true);
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    streams: { get: async () => (reads++, current()), runs: async () => pageOf([]) },
    ruleSets: { get: async (id: number) => ({ id, name: "rules" }) },
    files: { get: async (id: number) => ({ id, filename: `file${id}.csv` }) },
  }),
);

afterEach(() => {
  cleanup();
  vi.useRealTimers();
  reads = 0;
});

async function open(id: number) {
  const { StreamDetailPage } = await import("../../src/pages/streams/Streams");
  renderAt(`/streams/${id}`, "/streams/:id", <StreamDetailPage />);
}
const rows = () => [...screen.getByRole("table", { name: /recent/ }).querySelectorAll("tbody tr")].map((r) => [...r.querySelectorAll("td")].map((c) => c.textContent));

describe("a stream's page left open", () => {
  it("reads a QUEUED event again until it has started its run, then stops reading", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    let calls = 0;
    current = () => (++calls < 3 ? evented(true) : evented(false));
    await open(9031);
    await screen.findByRole("table", { name: "recent events" });
    expect(rows()[0].slice(1, 3)).toEqual(["queued", "—"]);
    await act(async () => { await vi.advanceTimersByTimeAsync(4100); }); // two reads 2 s apart, as the runs are read
    await waitFor(() => expect(rows()[0].slice(1, 3)).toEqual(["started", "#9219"]));
    expect(within(screen.getByRole("table", { name: "recent events" })).getByRole("link", { name: "Run 9219" })).toBeTruthy();
    // nothing queued, no run moving, not a schedule: no more reads
    const after = reads;
    await act(async () => { await vi.advanceTimersByTimeAsync(10000); });
    expect(reads).toBe(after);
  });

  it("an ACTIVE schedule: 'in 12 s' counts down, and the next run and new occurrences come without a reload", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    vi.setSystemTime(new Date("2026-12-05T10:21:48Z"));
    const sched = (next: string, extra: object[]) => ({
      ...base, id: 9004, triggerType: "SCHEDULED", triggerConfig: { cron: "0 * * * * *", timezone: "Europe/Berlin" }, nextRunAt: next,
      recentOccurrences: [...extra, { occurrenceAt: "2026-12-05T10:21:00Z", status: "STARTED", runId: 9210, late: false, detail: null }],
    }) as unknown as StreamDefinition;
    current = () => (Date.now() < Date.parse("2026-12-05T10:22:00Z") ? sched("2026-12-05T10:22:00Z", []) : sched("2026-12-05T10:23:00Z", [{ occurrenceAt: "2026-12-05T10:22:00Z", status: "STARTED", runId: 9229, late: false, detail: null }]));
    await open(9004);
    const next = await screen.findByTestId("next-run");
    expect(next.textContent).toBe("2026-12-05 11:22:00 Europe/Berlin (2026-12-05 10:22:00 UTC, in 12 s)");
    await act(async () => { await vi.advanceTimersByTimeAsync(3000); });
    expect(screen.getByTestId("next-run").textContent).toBe("2026-12-05 11:22:00 Europe/Berlin (2026-12-05 10:22:00 UTC, in 9 s)");
    await act(async () => { await vi.advanceTimersByTimeAsync(12000); });
    await waitFor(() => expect(screen.getByTestId("next-run").textContent).toMatch(/^2026-12-05 11:23:00 Europe\/Berlin \(2026-12-05 10:23:00 UTC, in 5\d s\)$/));
    expect(rows()[0]).toEqual(["2026-12-05 11:22:00 Europe/Berlin (2026-12-05 10:22:00 UTC)", "started", "#9229", ""]);
  });
});
