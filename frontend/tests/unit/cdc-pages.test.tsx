import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen } from "@testing-library/react";
import { countScope } from "../../src/services/format";
import { job, jobsPage } from "./cdc-api";
import { renderAt } from "./render";
import type { ChartData, ChartOptions, TooltipItem } from "chart.js";

// newest first, as the API lists them
const jobs = [
  job("00000000-0000-4000-8000-000000000003", "SAMPLE", "2026-12-02T06:45:12Z", 0.5005005005005005, 5, 999),
  job("00000000-0000-4000-8000-000000000002", "CHECKSUM", "2026-12-02T06:42:16Z", 0.6009013520280421, 12, 1997),
  job("00000000-0000-4000-8000-000000000001", "CHECKSUM", "2026-12-01T06:42:16Z", 0.7010515773660491, 14, 1997),
];

// 25 completed CHECKSUM jobs of orders, newest first
const many = Array.from({ length: 25 }, (_, i) => ({ ...job(`00000000-0000-4000-8000-0000000001${String(25 - i).padStart(2, "0")}`, "CHECKSUM", `2026-12-02T${String(23 - i).padStart(2, "0")}:00:00Z`, 0.5, 10, 2000), table_name: "orders" }));

// the chart's props, for its options' callbacks (the canvas is not drawn in jsdom)
const charted = vi.hoisted(() => ({ props: null as null | { data: ChartData<"line", { x: number; y: number }[]>; options: ChartOptions<"line"> } }));
vi.mock("react-chartjs-2", () => ({
  Line: (p: { data: ChartData<"line", { x: number; y: number }[]>; options: ChartOptions<"line">; role?: string; "aria-label"?: string }) => {
    charted.props = p;
    return <div data-testid="chart" role={p.role} aria-label={p["aria-label"]} data-x={p.data.datasets[0].data.map((d) => d.x).join("|")} data-drift={p.data.datasets[0].data.map((d) => d.y).join("|")} />;
  },
}));
vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    jobs: async (q: { table?: string }) => jobsPage(q.table === "orders" ? many : jobs),
    job: async () => ({ ...jobs[0], priority: "NORMAL", transient_count: 0, auto_resolved_count: 0, mismatches_summary: { DATA_MISMATCH: 3, MISSING_IN_POSTGRES: 1, MISSING_IN_CASSANDRA: 1 }, sample_mismatches: [], progress: null }),
  }),
);

afterEach(cleanup);

describe("what a job's counts cover", () => {
  it("depends on the strategy", () => {
    expect(countScope("CHECKSUM")).toBeNull();
    expect(countScope("ROW_COUNT")).toBeNull();
    expect(countScope("SAMPLE")).toBe("in the sample");
    expect(countScope("TIMESTAMP_RANGE")).toBe("changed in the window");
  });

  it("a SAMPLE job's detail says its rows and drift are the sample's, not the table's", async () => {
    const { JobDetailPage } = await import("../../src/pages/cdc/JobDetail");
    renderAt(`/cdc/jobs/${jobs[0].job_id}`, "/cdc/jobs/:jobId", <JobDetailPage />);
    await screen.findByText("Cassandra rows in the sample");
    expect(screen.getByText("PostgreSQL rows in the sample")).toBeTruthy();
    expect(screen.getByText("drift of the rows in the sample")).toBeTruthy();
    expect(screen.queryByText("Cassandra rows")).toBeNull();
  });

  it("names each 'browse' link of the mismatch summary by its type and count (three links read 'browse' alike)", async () => {
    const { JobDetailPage } = await import("../../src/pages/cdc/JobDetail");
    renderAt(`/cdc/jobs/${jobs[0].job_id}`, "/cdc/jobs/:jobId", <JobDetailPage />);
    const link = await screen.findByRole("link", { name: "browse the 3 of type data mismatch" });
    expect(link.getAttribute("href")).toBe(`/cdc/mismatches?job_id=${jobs[0].job_id}&mismatch_type=DATA_MISMATCH`);
    expect(screen.getByRole("link", { name: "browse the 1 of type missing in postgres" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "browse the 1 of type missing in cassandra" })).toBeTruthy();
  });
});

describe("a running job waiting out a fault", () => {
  const note = "retrying since 2026-12-02T06:40:02Z: segment 1: Cassandra unreachable: connection refused (127.0.0.1:9042)";
  const running = { ...jobs[0], validation_strategy: "CHECKSUM", status: "RUNNING", completed_at: null, priority: "NORMAL", transient_count: 0, auto_resolved_count: 0, mismatches_summary: {}, sample_mismatches: [], progress: { segments_done: 0, segments_total: 4 } };
  async function show(j: Record<string, unknown>) {
    const api = await import("../../src/services/api");
    vi.mocked(api.cdc.job).mockResolvedValue(j as never);
    const { JobDetailPage } = await import("../../src/pages/cdc/JobDetail");
    renderAt(`/cdc/jobs/${jobs[0].job_id}`, "/cdc/jobs/:jobId", <JobDetailPage />);
    await screen.findByText("Mismatch summary");
  }

  it("says so as a warning while it runs, with when it began and the cause; not as a failure", async () => {
    await show({ ...running, validation_errors: [note] });
    const warning = screen.getByRole("status");
    expect(warning.className).toContain("warn-box");
    expect(warning.textContent).toContain("Waiting for a fault to clear: the job has not failed.");
    expect(warning.textContent).toContain("Retrying since 2026-12-02 06:40:02 UTC (");
    expect(warning.textContent).toContain("): segment 1: Cassandra unreachable: connection refused (127.0.0.1:9042)");
    expect(screen.queryByText("Validation errors")).toBeNull();
    expect(document.querySelector(".error-box")).toBeNull();
  });

  it("a running job without a note has no warning; a failed job's validation errors stay errors", async () => {
    await show({ ...running, validation_errors: null });
    expect(document.querySelector("[data-retrying]")).toBeNull();
    cleanup();
    await show({ ...running, status: "FAILED", completed_at: "2026-12-02T07:40:02Z", validation_errors: ["deadline passed: segment 1: Cassandra unreachable"] });
    expect(document.querySelector("[data-retrying]")).toBeNull();
    expect(document.querySelector(".error-box")!.textContent).toContain("deadline passed: segment 1: Cassandra unreachable");
  });
});

describe("drift over time", () => {
  it("warns when the jobs used different strategies, and draws one strategy's jobs when asked", async () => {
    const { default: DriftPage } = await import("../../src/pages/cdc/Drift");
    renderAt("/cdc/tables/users", "/cdc/tables/:table", <DriftPage />);
    const chart = await screen.findByTestId("chart");
    expect(chart.getAttribute("data-drift")!.split("|")).toHaveLength(3);
    // the chart has a text alternative (axe: role-img-alt)
    expect(screen.getByRole("img").getAttribute("aria-label")).toBe("Drift of users over 3 completed jobs: from 0.701 % to 0.501 %; the table below lists them");
    expect(screen.getByRole("note").textContent).toContain("These jobs used 2 strategies (CHECKSUM, SAMPLE)");
    // the API does not report a SAMPLE's size (a setting of the service): no figure is claimed
    expect(screen.getByRole("note").textContent).toContain("(a SAMPLE compares a random sample of rows, not the table)");
    fireEvent.change(screen.getByLabelText("Strategy"), { target: { value: "CHECKSUM" } });
    // oldest first, CHECKSUM jobs only
    expect(screen.getByTestId("chart").getAttribute("data-drift")).toBe("0.7010515773660491|0.6009013520280421");
    expect(screen.queryByRole("note")).toBeNull();
    expect(document.querySelectorAll("table[aria-label='completed jobs'] tbody tr")).toHaveLength(2);
  });
});

describe("the drift chart's axes", () => {
  it("places the jobs in time, draws straight segments, and writes times in UTC and figures as the console does", async () => {
    const { default: DriftPage } = await import("../../src/pages/cdc/Drift");
    renderAt("/cdc/tables/users", "/cdc/tables/:table", <DriftPage />);
    const chart = await screen.findByTestId("chart");
    // a day, then 3 minutes: the x values are the jobs' times (epoch ms), not their places in the list
    expect(chart.getAttribute("data-x")).toBe([Date.parse("2026-12-01T06:42:16Z"), Date.parse("2026-12-02T06:42:16Z"), Date.parse("2026-12-02T06:45:12Z")].join("|"));
    const { data, options } = charted.props!;
    expect(data.datasets.map((d) => d.tension)).toEqual([0, 0]);
    const x = options.scales!.x as { type: string; ticks: { stepSize: number; callback: (v: number) => string } };
    expect(x.type).toBe("linear");
    expect(x.ticks.stepSize).toBe(6 * 3600_000); // a day's span: ticks on 6-hour multiples of UTC
    expect(x.ticks.callback(Date.parse("2026-12-02T06:00:00Z"))).toBe("2026-12-02 06:00:00 UTC");
    const y = options.scales!.y as { ticks: { callback: (v: number) => string } };
    const y1 = options.scales!.y1 as { ticks: { callback: (v: number) => string } };
    expect(y.ticks.callback(0.6)).toBe("0.6 %");
    expect(y1.ticks.callback(1200)).toBe("1,200");
    const cb = options.plugins!.tooltip!.callbacks!;
    const item = (datasetIndex: number, dataIndex: number) => ({ datasetIndex, dataIndex, parsed: data.datasets[datasetIndex].data[dataIndex] }) as unknown as TooltipItem<"line">;
    const call = <F,>(f: F, ...args: unknown[]) => (f as (...a: unknown[]) => unknown).apply({}, args);
    expect(call(cb.title, [item(0, 1), item(1, 1)])).toBe("2026-12-02 06:42:16 UTC");
    expect(call(cb.afterTitle, [item(0, 1), item(1, 1)])).toBe("CHECKSUM job");
    expect(call(cb.label, item(0, 1))).toBe("drift 0.601 %");
    expect(call(cb.label, item(1, 1))).toBe("12 mismatches");
  });

  it("spans two hours around a single job, with a step that gives a few ticks", async () => {
    const { driftChart, timeStep } = await import("../../src/pages/cdc/Drift");
    const x = driftChart([jobs[0]] as never).options.scales!.x as { min: number; max: number; ticks: { stepSize: number } };
    expect([x.min, x.max]).toEqual([Date.parse("2026-12-02T05:45:12Z"), Date.parse("2026-12-02T07:45:12Z")]);
    expect(x.ticks.stepSize).toBe(30 * 60_000);
    expect(timeStep(3 * 60_000)).toBe(60_000);
    expect(timeStep(30 * 24 * 3600_000)).toBe(7 * 24 * 3600_000);
  });
});

describe("drift of more jobs than the table under the chart lists", () => {
  it("says the table holds the 20 most recent of the jobs the chart draws, and links to every job of the table", async () => {
    const { default: DriftPage } = await import("../../src/pages/cdc/Drift");
    renderAt("/cdc/tables/orders", "/cdc/tables/:table", <DriftPage />);
    expect((await screen.findByTestId("chart")).getAttribute("data-drift")!.split("|")).toHaveLength(25);
    expect(screen.getByRole("img").getAttribute("aria-label")).toBe("Drift of orders over 25 completed jobs: from 0.5 % to 0.5 %; the table below lists the 20 most recent");
    const table = screen.getByRole("table", { name: "completed jobs" });
    expect(table.querySelectorAll("tbody tr")).toHaveLength(20);
    expect(table.querySelector("caption")!.textContent).toBe("The 20 most recent of the 25 completed jobs the chart draws; every job of orders");
    expect(screen.getByRole("link", { name: "every job of orders" }).getAttribute("href")).toBe("/cdc/jobs?table=orders&status=COMPLETED");
  });
});
