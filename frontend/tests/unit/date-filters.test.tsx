// The CDC lists' date filters: typed in UTC as the API writes dates, whatever the browser's locale;
// the bound sent keeps the precision typed (the API's bounds are inclusive at that precision).
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { boundText, parseUtcBound } from "../../src/services/format";
import { job, jobsPage, mismatch, mismatchesPage } from "./cdc-api";
import { renderAt } from "./render";

vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    jobs: async () => jobsPage([job("00000000-0000-4000-8000-000000000002", "CHECKSUM", "2026-12-02T06:42:16Z", 0.6, 12, 1997)]),
    mismatches: async (q) => mismatchesPage([mismatch("m1", "u1")], q),
  }),
);

afterEach(cleanup);

describe("a date bound typed in UTC", () => {
  it("reads a day, a minute or a second, as the API writes them too, and nothing else", () => {
    expect(parseUtcBound("2026-12-02")).toBe("2026-12-02");
    expect(parseUtcBound(" 2026-12-02 14:30 ")).toBe("2026-12-02T14:30Z");
    expect(parseUtcBound("2026-12-02T14:30:15Z")).toBe("2026-12-02T14:30:15Z");
    expect(parseUtcBound("2026-12-02t06:42z")).toBe("2026-12-02T06:42Z");
    for (const bad of ["02/12/2026", "12/02/2026", "2026-13-01", "2026-02-30", "2026-12-02 24:00", "2026-12-02 14", "2026", "yesterday"]) expect(parseUtcBound(bad)).toBeNull();
    expect(boundText("2026-12-02T14:30Z")).toBe("2026-12-02 14:30");
    expect(boundText("2026-12-02")).toBe("2026-12-02");
  });
});

describe("the jobs' date filters", () => {
  it("send the day or minute typed, on Enter, as a UTC bound (not one request per keystroke)", async () => {
    const api = await import("../../src/services/api");
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs", "/cdc/jobs", <JobList />);
    await screen.findByRole("table", { name: "jobs" });
    const to = screen.getByLabelText("to (UTC)") as HTMLInputElement;
    const calls = vi.mocked(api.cdc.jobs).mock.calls.length;
    for (const partial of ["2", "20", "202", "2026", "2026-12-0"]) fireEvent.change(to, { target: { value: partial } });
    expect(vi.mocked(api.cdc.jobs).mock.calls.length).toBe(calls);
    fireEvent.change(to, { target: { value: "2026-12-02" } });
    fireEvent.keyDown(to, { key: "Enter" });
    // the whole day of 2 December, UTC, whatever the zone this runs in
    await waitFor(() => expect(api.cdc.jobs).toHaveBeenLastCalledWith(expect.objectContaining({ to_date: "2026-12-02" })));
    const from = screen.getByLabelText("Started from (UTC)") as HTMLInputElement;
    fireEvent.change(from, { target: { value: "2026-12-01 22:15" } });
    fireEvent.blur(from);
    await waitFor(() => expect(api.cdc.jobs).toHaveBeenLastCalledWith(expect.objectContaining({ from_date: "2026-12-01T22:15Z", to_date: "2026-12-02" })));
    expect((screen.getByLabelText("Started from (UTC)") as HTMLInputElement).value).toBe("2026-12-01 22:15");
  });

  it("mark a date in a locale's order at the field and send nothing", async () => {
    const api = await import("../../src/services/api");
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs", "/cdc/jobs", <JobList />);
    await screen.findByRole("table", { name: "jobs" });
    const calls = vi.mocked(api.cdc.jobs).mock.calls.length;
    const from = screen.getByLabelText("Started from (UTC)") as HTMLInputElement;
    fireEvent.change(from, { target: { value: "02/12/2026" } });
    fireEvent.keyDown(from, { key: "Enter" });
    expect(from.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(from.getAttribute("aria-describedby")!)!.textContent).toBe('"02/12/2026" is not a date: write it as 2026-12-02 or 2026-12-02 14:30 (UTC)');
    expect(vi.mocked(api.cdc.jobs).mock.calls.length).toBe(calls);
    // corrected: the mark goes and the bound is sent
    fireEvent.change(from, { target: { value: "2026-12-02" } });
    fireEvent.keyDown(from, { key: "Enter" });
    await waitFor(() => expect(api.cdc.jobs).toHaveBeenLastCalledWith(expect.objectContaining({ from_date: "2026-12-02" })));
    expect(from.getAttribute("aria-invalid")).toBeNull();
  });
});

describe("the mismatches' date filters", () => {
  it("show a bound from a link as typed, and send a new one with its minute", async () => {
    const api = await import("../../src/services/api");
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?from_date=2026-12-01", "/cdc/mismatches", <MismatchBrowser />);
    await waitFor(() => expect(api.cdc.mismatches).toHaveBeenCalledWith(expect.objectContaining({ from_date: "2026-12-01" })));
    expect((screen.getByLabelText("Detected from (UTC)") as HTMLInputElement).value).toBe("2026-12-01");
    const to = screen.getByLabelText("to (UTC)") as HTMLInputElement;
    fireEvent.change(to, { target: { value: "2026-12-02 06:42" } });
    fireEvent.keyDown(to, { key: "Enter" });
    await waitFor(() => expect(api.cdc.mismatches).toHaveBeenLastCalledWith(expect.objectContaining({ from_date: "2026-12-01", to_date: "2026-12-02T06:42Z" })));
  });
});
