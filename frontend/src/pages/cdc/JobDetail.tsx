import { Link, useParams } from "react-router-dom";
import { cdc } from "../../services/api";
import { MISMATCH_TYPES } from "../../services/types";
import { ago, countScope, dur, fmtDate, num, pct, retryNote, show, words } from "../../services/format";
import { Badge, Crumbs, Kv, LoadFailed, Loading, Progress, StaleNotice, TableScroll, useLoad, usePoll, useTitle } from "../../components/ui";

/**
 * A RUNNING job's `validation_errors`: the fault it waits out ("retrying since …: segment 1: Cassandra
 * unreachable: …"), shown as a warning, not a failure: the job goes on when the fault clears, or fails at
 * its deadline. The note goes once the job makes progress.
 */
export function Retrying({ notes }: { notes: unknown[] | null | undefined }) {
  if (!notes || notes.length === 0) return null;
  return (
    <div className="warn-box retrying" role="status" data-retrying>
      <strong>Waiting for a fault to clear: the job has not failed.</strong>
      <ul>
        {notes.map((v, i) => {
          const r = retryNote(v);
          return <li key={i}>{r ? <>Retrying since {fmtDate(r.since)} ({ago(r.since)}): {r.cause}</> : show(v)}</li>;
        })}
      </ul>
      <span className="small">It goes on once the fault clears, or fails at its deadline naming it.</span>
    </div>
  );
}

export function JobDetailPage() {
  const { jobId = "" } = useParams();
  const { data: job, error, reload } = useLoad(() => cdc.job(jobId), [jobId], jobId);
  useTitle(job ? `Job ${job.table_name} ${words(job.status)}` : "Job");
  usePoll(reload, 2000, job?.status === "RUNNING");
  if (error && !job) return <LoadFailed what={`Job ${jobId}`} error={error} back={["Jobs", "/cdc/jobs"]} retry={reload} />;
  if (!job) return <Loading what="Loading the job" />;
  const p = job.progress;
  const progress = p && p.segments_total ? (100 * p.segments_done) / p.segments_total : 0;
  const scope = countScope(job.validation_strategy);
  const within = scope ? ` ${scope}` : "";
  return (
    <section>
      <Crumbs items={[["Jobs", "/cdc/jobs"], [`${job.table_name} · ${job.job_id.slice(0, 8)}`, null]]} />
      <StaleNotice error={error} />
      <div className="page-head">
        <h1>
          {job.table_name} <Badge value={job.status} />
        </h1>
        <div className="actions">
          <Link className="button" to={`/cdc/tables/${encodeURIComponent(job.table_name)}`}>Drift over time</Link>
          {/* the trigger form with this job's table, strategy and priority chosen: a look before it starts */}
          <Link className="button" to={`/cdc/trigger?${new URLSearchParams({ tables: job.table_name, strategy: job.validation_strategy, ...(job.priority ? { priority: job.priority } : {}) })}`}>Run again…</Link>
        </div>
      </div>
      {job.status === "RUNNING" && (
        <div className="card">
          <p>{p?.segments_total ? `Segment ${p.segments_done} of ${p.segments_total}` : "Queued: planning the segments…"}</p>
          <Progress value={progress} label="job progress" />
          <Retrying notes={job.validation_errors} />
        </div>
      )}
      <Kv
        items={[
          ["job id", <code>{job.job_id}</code>],
          ["strategy", <Badge value={job.validation_strategy} />],
          ["type", <Badge value={job.job_type} />],
          ["priority", job.priority ? <Badge value={job.priority} /> : "—"],
          ["started", fmtDate(job.started_at)],
          ["completed", fmtDate(job.completed_at)],
          ["duration", dur(job.duration_seconds)],
          [`Cassandra rows${within}`, num(job.cassandra_row_count)],
          [`PostgreSQL rows${within}`, num(job.postgres_row_count)],
          [job.validation_strategy === "ROW_COUNT" ? "row count difference" : "mismatches", num(job.mismatch_count)],
          [scope ? `drift of the rows${within}` : "drift", <span data-testid="drift">{pct(job.drift_percentage)}</span>],
          ["alert fired", job.alert_fired ? "yes" : "no"],
          ["converged in grace period", num(job.transient_count)],
          ["earlier mismatches auto-resolved", num(job.auto_resolved_count)],
        ]}
      />
      {/* a running job's notes are the faults it waits out (above), not errors */}
      {job.status !== "RUNNING" && job.validation_errors && job.validation_errors.length > 0 && (
        <div className="error-box">
          <strong>Validation errors</strong>
          <ul>{job.validation_errors.map((v, i) => <li key={i}>{typeof v === "string" ? v : JSON.stringify(v)}</li>)}</ul>
        </div>
      )}
      <h2>Mismatch summary</h2>
      <TableScroll><table className="grid narrow" aria-label="mismatch summary">
        <tbody>
          {MISMATCH_TYPES.map((t) => (
            <tr key={t} data-type={t}>
              <td><Badge value={t} /></td>
              <td className="r">{num(job.mismatches_summary?.[t] ?? 0)}</td>
              <td>{(job.mismatches_summary?.[t] ?? 0) > 0 && <Link to={`/cdc/mismatches?job_id=${job.job_id}&mismatch_type=${t}`} aria-label={`browse the ${num(job.mismatches_summary?.[t] ?? 0)} of type ${t.replace(/_/g, " ").toLowerCase()}`}>browse</Link>}</td>
            </tr>
          ))}
        </tbody>
      </table></TableScroll>
      <h2>Sample mismatches</h2>
      {job.sample_mismatches.length === 0 ? (
        <p className="muted">{job.status === "RUNNING" ? "None recorded yet." : "This job found no mismatch."}</p>
      ) : (
        <TableScroll><table className="grid" aria-label="sample mismatches">
          <thead><tr><th>Key</th><th>Type</th><th>Detected</th><th>Resolution</th></tr></thead>
          <tbody>
            {job.sample_mismatches.map((m) => (
              <tr key={m.mismatch_id}>
                <td><Link to={`/cdc/mismatches?job_id=${job.job_id}&selected=${m.mismatch_id}`}><code className="long" title={m.primary_key_value}>{m.primary_key_value}</code></Link></td>
                <td><Badge value={m.mismatch_type} /></td>
                <td>{fmtDate(m.detected_at)}</td>
                <td><Badge value={m.resolution_status} /></td>
              </tr>
            ))}
          </tbody>
        </table></TableScroll>
      )}
      <p><Link to={`/cdc/mismatches?job_id=${job.job_id}`}>All mismatches of this job →</Link></p>
    </section>
  );
}
