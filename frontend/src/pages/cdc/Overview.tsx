import { Link } from "react-router-dom";
import { cdc } from "../../services/api";
import type { Job } from "../../services/types";
import { ago, countScope, fmtDate, num, pct } from "../../services/format";
import { Badge, Empty, ErrorBox, Loading, usePoll, useLoad, useTitle } from "../../components/ui";

export function CdcOverview() {
  useTitle("CDC overview");
  const { data, error, loading, reload } = useLoad(async () => {
    const tables = await cdc.tables();
    const latest = await Promise.all(
      tables.map(async (t) => {
        const page = await cdc.jobs({ table: t, page_size: 1 });
        return [t, (page.jobs[0] as Job | undefined) ?? null] as const;
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
      <ErrorBox error={error} />
      {loading && !data && <Loading what="Loading the catalog" />}
      {data && data.length === 0 && <Empty>The catalog has no tables: add them to config/catalog.yml and restart the stack.</Empty>}
      {data && data.length > 0 && (
        <div className="cards">
          {data.map(([table, job]) => (
            <article className="card table-card" key={table} data-table={table}>
              <header>
                <h2>{table}</h2>
                {job ? <Badge value={job.status} /> : <Badge value={null} />}
              </header>
              {job ? (
                <>
                  <div className="big">{job.drift_percentage === null ? "—" : pct(job.drift_percentage)}</div>
                  <div className="muted">drift{countScope(job.validation_strategy) ? ` of the rows ${countScope(job.validation_strategy)}` : ""} · {num(job.mismatch_count)} {job.validation_strategy === "ROW_COUNT" ? "rows counted apart" : "mismatches"}</div>
                  <dl className="kv small">
                    <div><dt>strategy</dt><dd><Badge value={job.validation_strategy} /></dd></div>
                    <div><dt>type</dt><dd>{job.job_type.replace(/_/g, " ").toLowerCase()}</dd></div>
                    <div><dt>when</dt><dd title={fmtDate(job.started_at)}>{ago(job.completed_at ?? job.started_at)}</dd></div>
                    <div><dt>rows C* / PG{countScope(job.validation_strategy) ? ` ${countScope(job.validation_strategy)}` : ""}</dt><dd>{num(job.cassandra_row_count)} / {num(job.postgres_row_count)}</dd></div>
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
