import { Link, useParams } from "react-router-dom";
import { Chart as ChartJS, LineElement, PointElement, LinearScale, Tooltip, Legend, Filler, type ChartData, type ChartOptions } from "chart.js";
import { Line } from "react-chartjs-2";
import { cdc } from "../../services/api";
import type { Job } from "../../services/types";
import { counted, fmtDate, num, pct } from "../../services/format";
import { Crumbs, Empty, ErrorBox, Loading, Select, TableScroll, useLoad, useTitle, useUrlState } from "../../components/ui";
import { STRATEGIES } from "../../services/types";

ChartJS.register(LineElement, PointElement, LinearScale, Tooltip, Legend, Filler);

// the table under the chart: the most recent jobs (the chart draws up to 300)
const TABLE_ROWS = 20;

const MINUTE = 60_000, HOUR = 60 * MINUTE, DAY = 24 * HOUR;
// steps of the time axis: its ticks fall on whole minutes, hours or UTC days (a multiple of the step in epoch ms)
const STEPS = [MINUTE, 5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY, 91 * DAY, 364 * DAY];

/** The step of a time axis spanning `range` ms: the smallest of STEPS giving at most `ticks` ticks. */
export function timeStep(range: number, ticks = 7): number {
  return STEPS.find((s) => range / s <= ticks) ?? Math.ceil(range / ticks / DAY) * DAY;
}

const at = (ms: number | string) => fmtDate(new Date(Number(ms)).toISOString());

/**
 * The chart of `jobs` (completed, oldest first): drift % and mismatches at the time each job completed, on
 * an x axis proportional to time (epoch ms on a linear scale, written as the console writes times: UTC),
 * straight segments between jobs (a smoothed line overshoots, showing drifts no job measured), and the
 * figures written as the rest of the console writes them ("0.601 %"), not in the browser's locale.
 */
export function driftChart(jobs: Job[]): { data: ChartData<"line", { x: number; y: number }[]>; options: ChartOptions<"line"> } {
  const xs = jobs.map((j) => new Date(j.completed_at ?? j.started_at).getTime());
  // one job (or several at one instant) spans no time: an hour either side of it (chart.js would widen the axis by 5 % of the epoch)
  const first = xs[0] ?? 0, last = xs[xs.length - 1] ?? 0;
  const span = last > first ? {} : { min: first - HOUR, max: first + HOUR };
  const range = last > first ? last - first : 2 * HOUR;
  return {
    data: {
      datasets: [
        { label: "drift %", data: jobs.map((j, i) => ({ x: xs[i], y: j.drift_percentage ?? 0 })), borderColor: "#c2410c", backgroundColor: "rgba(194,65,12,0.12)", fill: true, tension: 0, yAxisID: "y" },
        { label: "mismatches", data: jobs.map((j, i) => ({ x: xs[i], y: j.mismatch_count ?? 0 })), borderColor: "#2563eb", borderDash: [4, 4], tension: 0, yAxisID: "y1" },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      interaction: { mode: "index", intersect: false },
      plugins: {
        tooltip: {
          callbacks: {
            title: (items) => (items.length ? at(items[0].parsed.x ?? 0) : ""),
            afterTitle: (items) => (items.length ? `${jobs[items[0].dataIndex].validation_strategy} job` : ""),
            label: (item) => (item.datasetIndex === 0 ? `drift ${pct(item.parsed.y)}` : counted(item.parsed.y ?? 0, "mismatch", "mismatches")),
          },
        },
      },
      scales: {
        y: { beginAtZero: true, title: { display: true, text: "drift %" }, ticks: { callback: (v) => pct(Number(v)) } },
        y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "mismatches" }, ticks: { precision: 0, callback: (v) => num(Number(v)) } },
        x: { type: "linear", ...span, title: { display: true, text: "completed" }, ticks: { stepSize: timeStep(range), maxTicksLimit: 8, callback: (v) => at(v) } },
      },
    },
  };
}

export default function DriftPage() {
  const { table = "" } = useParams();
  useTitle(`Drift of ${table}`);
  const { values: f, set } = useUrlState(["strategy"] as const);
  const { data: all, error, loading } = useLoad(async () => {
    // the last 300 completed jobs, oldest first
    const pages: Job[] = [];
    for (let page = 1; page <= 3; page++) {
      const r = await cdc.jobs({ table, status: "COMPLETED", page, page_size: 100 });
      pages.push(...r.jobs);
      if (page >= r.pagination.total_pages) break;
    }
    return pages.filter((j) => j.drift_percentage !== null).reverse();
  }, [table]);
  // a SAMPLE's drift and mismatches cover its sample, a CHECKSUM's the whole table: drawn on one line
  // they make a trend out of the strategy change, so the jobs can be narrowed to one strategy
  const used = STRATEGIES.filter((st) => all?.some((j) => j.validation_strategy === st));
  const data = all && f.strategy ? all.filter((j) => j.validation_strategy === f.strategy) : all;
  return (
    <section>
      <Crumbs items={[["Overview", "/"], [table, null]]} />
      <h1>Drift of {table} over time</h1>
      {all && all.length > 0 && (
        <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
          <Select id="strategy" label="Strategy" value={f.strategy} options={used} allLabel="every strategy" onChange={(v) => set({ strategy: v })} />
        </form>
      )}
      {!f.strategy && used.length > 1 && (
        <p className="card warn-box" role="note">
          These jobs used {used.length} strategies ({used.join(", ")}). Their drift and mismatch counts cover different rows
          {used.includes("SAMPLE") ? " (a SAMPLE compares a random sample of rows, not the table)" : ""}, so a change of strategy shows as a change of drift. Choose one strategy to compare like with like.
        </p>
      )}
      <ErrorBox error={error} />
      {loading && !data && <Loading what="Loading completed jobs" />}
      {data && data.length === 0 && f.strategy && <Empty>No completed {f.strategy} job of {table}.</Empty>}
      {data && data.length === 0 && !f.strategy && <Empty>No completed job of {table} yet. <Link to={`/cdc/trigger?tables=${encodeURIComponent(table)}`}>Reconcile it now.</Link></Empty>}
      {data && data.length > 0 && (
        <div className="card chart">
          <Line
            role="img"
            aria-label={`Drift of ${table} over ${data.length} completed job${data.length === 1 ? "" : "s"}${f.strategy ? ` (${f.strategy})` : ""}: from ${pct(data[0].drift_percentage)} to ${pct(data[data.length - 1].drift_percentage)}; the table below lists ${data.length > TABLE_ROWS ? `the ${TABLE_ROWS} most recent` : "them"}`}
            {...driftChart(data)}
          />
        </div>
      )}
      {data && data.length > 0 && (
        <TableScroll><table className="grid" aria-label="completed jobs">
          {data.length > TABLE_ROWS && <caption className="muted small">The {TABLE_ROWS} most recent of the {data.length} completed jobs the chart draws; <Link to={`/cdc/jobs?${new URLSearchParams({ table, status: "COMPLETED" })}`}>every job of {table}</Link></caption>}
          <thead><tr><th>Completed</th><th>Strategy</th><th className="r">Drift</th><th className="r">Mismatches</th></tr></thead>
          <tbody>
            {[...data].reverse().slice(0, TABLE_ROWS).map((j) => (
              <tr key={j.job_id}>
                <td><Link to={`/cdc/jobs/${j.job_id}`}>{fmtDate(j.completed_at)}</Link></td>
                <td>{j.validation_strategy}</td>
                <td className="r">{pct(j.drift_percentage)}</td>
                <td className="r">{j.mismatch_count}</td>
              </tr>
            ))}
          </tbody>
        </table></TableScroll>
      )}
    </section>
  );
}
