import { Link } from "react-router-dom";
import { cdc } from "../../services/api";
import type { Job } from "../../services/types";
import { countScope, counted, num, pct } from "../../services/format";
import { Badge, Empty, ErrorBox, Loading, usePoll, useLoad, useTitle, When } from "../../components/ui";
import { Retrying } from "./JobDetail";

export function CdcOverview() {
  useTitle("CDC overview");
  const { data, error, loading, reload } = useLoad(async () => {
    const tables = await cdc.tables();
    const latest = await Promise.all(
      tables.map(async (t) => {
        const page = await cdc.jobs({ table: t, page_size: 1 });
        const job = (page.jobs[0] as Job | undefined) ?? null;
        // while a job runs (every hour for every table) or after one failed, its figures are empty: the
        // last completed job's drift stays on the card, said to be that job's
        const done = job && job.status !== "COMPLETED" ? ((await cdc.jobs({ table: t, status: "COMPLETED", page_size: 1 })).jobs[0] as Job | undefined) ?? null : job;
        // a running job waiting out a fault (Cassandra unreachable...) says so in its detail only (the list
        // has no validation_errors): read for a running job, its note shown on the card
        const notes = job?.status === "RUNNING" ? await cdc.job(job.job_id).then((d) => d.validation_errors, () => null) : null;
        return [t, job, done, notes] as const;
      }),
    );
    return latest;
  }, []);
  const anyRunning = !!data?.some(([, j]) => j?.status === "RUNNING");
  usePoll(reload, 3000, anyRunning);
  return (
    <section>
      <div className="page-head">
        <h1>CDC reconciliation</h1>
        <Link className="button primary" to="/cdc/trigger">
          Trigger a reconciliation
        </Link>
      </div>
      <p className="muted">Each catalog table's latest job. Drift is the share of Cassandra rows that differ in PostgreSQL.</p>
      <Health />
      <ErrorBox error={error} retry={reload} />
      {loading && !data && <Loading what="Loading the catalog" />}
      {data && data.length === 0 && <Empty>The catalog has no tables: add them to config/catalog.yml and restart the stack.</Empty>}
      {data && data.length > 0 && (
        <div className="cards">
          {data.map(([table, job, done, notes]) => (
            <article className="card table-card" key={table} data-table={table}>
              <header>
                <h2>{table}</h2>
                {job ? <Badge value={job.status} /> : <Badge value={null} />}
              </header>
              {job ? (
                <>
                  {job !== done && (
                    <p className="small" data-latest-job={job.status}>
                      {job.status === "RUNNING" ? <>A {job.validation_strategy ? `${job.validation_strategy} ` : ""}job is running (started <When iso={job.started_at} />)</> : <>The latest job {job.status.toLowerCase()} <When iso={job.completed_at ?? job.started_at} /></>}
                      {done ? <>; below, the <Link to={`/cdc/jobs/${done.job_id}`} aria-label={`last completed job of ${table}`}>last completed job</Link>.</> : "; no job of this table has completed yet."}
                    </p>
                  )}
                  {job.status === "RUNNING" && <Retrying notes={notes} />}
                  <div className="big" data-drift>{done?.drift_percentage == null ? "—" : pct(done.drift_percentage)}</div>
                  <div className="muted">drift{done && countScope(done.validation_strategy) ? ` of the rows ${countScope(done.validation_strategy)}` : ""} · {done?.mismatch_count == null ? `— ${done?.validation_strategy === "ROW_COUNT" ? "rows counted apart" : "mismatches"}` : done.validation_strategy === "ROW_COUNT" ? counted(done.mismatch_count, "row counted apart", "rows counted apart") : counted(done.mismatch_count, "mismatch", "mismatches")}</div>
                  <dl className="kv small">
                    <div><dt>strategy</dt><dd><Badge value={done?.validation_strategy} /></dd></div>
                    <div><dt>type</dt><dd>{done ? done.job_type.replace(/_/g, " ").toLowerCase() : "—"}</dd></div>
                    <div><dt>when</dt><dd>{done ? <When iso={done.completed_at ?? done.started_at} /> : "—"}</dd></div>
                    <div><dt>rows C* / PG{done && countScope(done.validation_strategy) ? ` ${countScope(done.validation_strategy)}` : ""}</dt><dd>{num(done?.cassandra_row_count)} / {num(done?.postgres_row_count)}</dd></div>
                  </dl>
                  <footer>
                    <Link to={`/cdc/jobs/${job.job_id}`} aria-label={`Job of ${table}`}>Job</Link>
                    <Link to={`/cdc/tables/${encodeURIComponent(table)}`} aria-label={`Drift over time of ${table}`}>Drift over time</Link>
                    <Link to={`/cdc/mismatches?table=${encodeURIComponent(table)}&resolution_status=PENDING`} aria-label={`Pending mismatches of ${table}`}>Pending mismatches</Link>
                  </footer>
                </>
              ) : (
                <>
                  <p className="muted">Never reconciled.</p>
                  <footer>
                    <Link to={`/cdc/trigger?tables=${encodeURIComponent(table)}`}>Reconcile {table} now</Link>
                  </footer>
                </>
              )}
            </article>
          ))}
        </div>
      )}
    </section>
  );
}

const SERVICE: Record<string, string> = { postgres: "PostgreSQL", sqs: "job queue", cassandra: "Cassandra" };

/**
 * What the service's health check says of what it depends on (`GET /health`, read every 15 s): a dependency
 * down (Cassandra unreachable) is said at the top of the overview, with the reason the check gives, before a
 * job reads as late. Nothing is said when the API itself cannot be reached (the
 * page's own error says it).
 */
function Health() {
  const { data, reload } = useLoad(() => cdc.health(), []);
  usePoll(reload, 15000, true);
  const checks = Object.entries(data?.checks ?? {});
  if (!data || checks.length === 0) return null;
  const down = checks.filter(([, c]) => c.status !== "UP");
  const name = (k: string) => SERVICE[k] ?? k;
  return (
    <div className={down.length ? "error-box" : "muted small"} role="status" data-health={down.length ? "DOWN" : "UP"}>
      {down.length ? (
        <>
          <strong>The service's health check finds {down.map(([k]) => name(k)).join(" and ")} down</strong>: a job that needs {down.length === 1 ? "it" : "them"} waits or fails until {down.length === 1 ? "it is" : "they are"} back.
          <ul>{down.map(([k, c]) => <li key={k}>{name(k)}: {c.error ?? c.detail ?? c.status}</li>)}</ul>
        </>
      ) : (
        <>Service up: {checks.map(([k, c]) => `${name(k)}${c.detail ? ` (${c.detail})` : ""}`).join(" · ")}</>
      )}
    </div>
  );
}
