import { Link, useParams } from "react-router-dom";
import { Chart as ChartJS, LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend, Filler } from "chart.js";
import { Line } from "react-chartjs-2";
import { cdc } from "../../services/api";
import type { Job } from "../../services/types";
import { fmtDate, pct } from "../../services/format";
import { Crumbs, Empty, ErrorBox, Loading, useLoad, useTitle } from "../../components/ui";

ChartJS.register(LineElement, PointElement, LinearScale, CategoryScale, Tooltip, Legend, Filler);

export default function DriftPage() {
  const { table = "" } = useParams();
  useTitle(`Drift of ${table}`);
  const { data, error, loading } = useLoad(async () => {
    // the last 300 completed jobs, oldest first
    const pages: Job[] = [];
    for (let page = 1; page <= 3; page++) {
      const r = await cdc.jobs({ table, status: "COMPLETED", page, page_size: 100 });
      pages.push(...r.jobs);
      if (page >= r.pagination.total_pages) break;
    }
    return pages.filter((j) => j.drift_percentage !== null).reverse();
  }, [table]);
  return (
    <section>
      <Crumbs items={[["Overview", "/"], [table, null]]} />
      <h1>Drift of {table} over time</h1>
      <ErrorBox error={error} />
      {loading && !data && <Loading what="Loading completed jobs" />}
      {data && data.length === 0 && <Empty>No completed job of {table} yet. <Link to={`/cdc/trigger?tables=${encodeURIComponent(table)}`}>Reconcile it now.</Link></Empty>}
      {data && data.length > 0 && (
        <div className="card chart" aria-label={`drift chart of ${table}`}>
          <Line
            data={{
              labels: data.map((j) => fmtDate(j.completed_at)),
              datasets: [
                { label: "drift %", data: data.map((j) => j.drift_percentage ?? 0), borderColor: "#c2410c", backgroundColor: "rgba(194,65,12,0.12)", fill: true, tension: 0.2, yAxisID: "y" },
                { label: "mismatches", data: data.map((j) => j.mismatch_count ?? 0), borderColor: "#2563eb", borderDash: [4, 4], yAxisID: "y1" },
              ],
            }}
            options={{
              responsive: true,
              maintainAspectRatio: false,
              animation: false,
              interaction: { mode: "index", intersect: false },
              scales: {
                y: { beginAtZero: true, title: { display: true, text: "drift %" } },
                y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false }, title: { display: true, text: "mismatches" } },
                x: { ticks: { maxTicksLimit: 8 } },
              },
            }}
          />
        </div>
      )}
      {data && data.length > 0 && (
        <table className="grid" aria-label="completed jobs">
          <thead><tr><th>Completed</th><th>Strategy</th><th className="r">Drift</th><th className="r">Mismatches</th></tr></thead>
          <tbody>
            {[...data].reverse().slice(0, 20).map((j) => (
              <tr key={j.job_id}>
                <td><Link to={`/cdc/jobs/${j.job_id}`}>{fmtDate(j.completed_at)}</Link></td>
                <td>{j.validation_strategy}</td>
                <td className="r">{pct(j.drift_percentage)}</td>
                <td className="r">{j.mismatch_count}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
