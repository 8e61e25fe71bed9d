import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { cdc } from "../../services/api";
import { PRIORITIES, STRATEGIES, type JobDetail, type Priority, type ValidationStrategy } from "../../services/types";
import { countScope, counted, fmtDate, pct } from "../../services/format";
import { Badge, BusyButton, ChoicesFailed, ErrorBox, StaleNotice, FieldError, Loading, Progress, useLoad, usePoll, useRetryWait, useTitle, waitLabel } from "../../components/ui";
import { Retrying } from "./JobDetail";

// What each strategy does, without figures the API does not report: the TIMESTAMP_RANGE window and the
// SAMPLE size are settings of the service (their defaults are the contract's, said under the choices)
const STRATEGY_HELP: Record<ValidationStrategy, string> = {
  ROW_COUNT: "compares the row counts only (no row-level mismatches)",
  CHECKSUM: "compares every row's checksum: finds every missing and differing row",
  TIMESTAMP_RANGE: "compares the rows modified recently, on either side",
  SAMPLE: "deep comparison of a random sample of rows",
};
// the defaults the contract gives the request's fields (validation_strategy: CHECKSUM, priority: NORMAL)
const DEFAULT_STRATEGY: ValidationStrategy = "CHECKSUM";
const DEFAULT_PRIORITY: Priority = "NORMAL";
// the queue's order (jobs.py): higher priority first, oldest first within a priority
const PRIORITY_HELP: Record<Priority, string> = {
  LOW: "after every queued NORMAL and HIGH job",
  NORMAL: "in the order of the queue",
  HIGH: "before every queued NORMAL and LOW job",
};

const oneOf = <T extends string>(values: readonly T[], v: string | null): T | undefined => values.find((x) => x === v);

export function TriggerPage() {
  useTitle("Trigger a reconciliation");
  const [params, setParams] = useSearchParams();
  const tables = useLoad(() => cdc.tables(), []);
  const [chosen, setChosen] = useState<string[]>(() => (params.get("tables") ?? "").split(",").filter(Boolean));
  // a job's "Run again" link presets its table, strategy and priority (?tables=users&strategy=SAMPLE&priority=HIGH)
  const [strategy, setStrategy] = useState<ValidationStrategy>(() => oneOf(STRATEGIES, params.get("strategy")) ?? DEFAULT_STRATEGY);
  const [priority, setPriority] = useState<Priority>(() => oneOf(PRIORITIES, params.get("priority")) ?? DEFAULT_PRIORITY);
  // what a link (an old one, a typo) preset that the catalog or the contract does not have: said, and not sent.
  // A table not in the catalog has no checkbox, so it could be neither seen nor unticked.
  const [linked] = useState(() => ({ strategy: params.get("strategy"), priority: params.get("priority") }));
  const unknownTables = tables.data ? chosen.filter((t) => !tables.data!.includes(t)) : [];
  const sent = tables.data ? chosen.filter((t) => tables.data!.includes(t)) : chosen;
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<string | null>(null);
  const watching = (params.get("jobs") ?? "").split(",").filter(Boolean);
  // a trigger refused for the key's rate limit (429): Start waits out the API's Retry-After, the choices kept
  const wait = useRetryWait(error);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy || wait > 0) return;
    setBusy(true);
    setError(null);
    try {
      const r = await cdc.trigger({ tables: sent, validation_strategy: strategy, priority });
      // the API's words and its estimate of when the queued jobs are done (the contract's estimated_completion)
      setMessage(r.estimated_completion ? `${r.message.replace(/\.$/, "")}. Estimated completion ${fmtDate(r.estimated_completion)}.` : r.message);
      setParams({ jobs: r.job_ids.join(",") });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  const toggle = (t: string) => setChosen((c) => (c.includes(t) ? c.filter((x) => x !== t) : [...c, t]));
  return (
    <section>
      <h1>Trigger a reconciliation</h1>
      <form className="card form" onSubmit={submit} aria-label="trigger">
        <fieldset>
          <legend>Tables <span className="muted small">(none ticked = every table of the catalog)</span></legend>
          {tables.loading && <Loading what="Loading the catalog" />}
          <ChoicesFailed what="The catalog's tables" error={tables.error} retry={tables.reload} />
          <div className="checks">
            {(tables.data ?? []).map((t) => (
              <label key={t}>
                <input type="checkbox" name="tables" value={t} checked={chosen.includes(t)} onChange={() => toggle(t)} /> {t}
              </label>
            ))}
          </div>
          {unknownTables.length > 0 && (
            <p className="warn-box" role="status" data-unknown-tables>
              The link named {unknownTables.length === 1 ? "a table" : "tables"} the catalog does not have: {unknownTables.map((t, i) => <span key={t}>{i > 0 && ", "}<code>{t}</code></span>)}. {unknownTables.length === 1 ? "It is" : "They are"} not sent{sent.length === 0 ? " (with none ticked, every table of the catalog is)" : ""}.
            </p>
          )}
          <FieldError error={error} field={["tables", "tables[0]"]} />
        </fieldset>
        <fieldset>
          <legend>Strategy</legend>
          {STRATEGIES.map((s) => (
            <label key={s} className="radio">
              <input type="radio" name="validation_strategy" value={s} checked={strategy === s} onChange={() => setStrategy(s)} /> <strong>{s}</strong>{s === DEFAULT_STRATEGY && " (default)"} <span className="muted">— {STRATEGY_HELP[s]}</span>
            </label>
          ))}
          <p className="muted small" data-testid="strategy-scope">
            The contract&apos;s TIMESTAMP_RANGE validates the records modified in the last hour, and its SAMPLE compares 1000 records.
            Both are settings of the service, which the API does not report: a deployment may use others.
          </p>
          {linked.strategy && !oneOf(STRATEGIES, linked.strategy) && (
            <p className="warn-box" role="status" data-unknown-strategy>The link named a strategy there is not: <code>{linked.strategy}</code>. {DEFAULT_STRATEGY}, the default, is chosen instead.</p>
          )}
          <FieldError error={error} field="validation_strategy" />
        </fieldset>
        <label htmlFor="priority">Priority</label>
        <select id="priority" value={priority} onChange={(e) => setPriority(e.target.value as Priority)}>
          {PRIORITIES.map((p) => <option key={p} value={p}>{p}{p === DEFAULT_PRIORITY ? " (default)" : ""} — {PRIORITY_HELP[p]}</option>)}
        </select>
        {linked.priority && !oneOf(PRIORITIES, linked.priority) && (
          <p className="warn-box" role="status" data-unknown-priority>The link named a priority there is not: <code>{linked.priority}</code>. {DEFAULT_PRIORITY}, the default, is chosen instead.</p>
        )}
        <FieldError error={error} field="priority" />
        <div className="actions">
          <BusyButton type="submit" className="primary" busy={busy || wait > 0}>{busy ? "Queuing…" : waitLabel("Start", wait)}</BusyButton>
        </div>
        <ErrorBox error={error} />
      </form>
      {watching.length > 0 && (
        <>
          <h2>Progress</h2>
          {message && <p role="status">{message}</p>}
          <div className="cards">{watching.map((id) => <JobProgress key={id} jobId={id} />)}</div>
        </>
      )}
    </section>
  );
}

function JobProgress({ jobId }: { jobId: string }) {
  const { data: job, error, reload } = useLoad<JobDetail>(() => cdc.job(jobId), [jobId]);
  usePoll(reload, 1500, !job || job.status === "RUNNING");
  if (error && !job) return <ErrorBox error={error} />;
  if (!job) return <div className="card"><Loading /></div>;
  const p = job.progress;
  const running = job.status === "RUNNING";
  const v = p?.segments_total ? (100 * p.segments_done) / p.segments_total : 2;
  // every segment compared is not the end: the job still records what it found ("100%" and "running" read as stuck)
  const finishing = running && !!p?.segments_total && p.segments_done >= p.segments_total;
  return (
    <article className="card job-progress" data-job={jobId} data-status={job.status}>
      <header>
        <h3>{job.table_name}</h3>
        <Badge value={job.status} />
      </header>
      <StaleNotice error={error} />
      {/* a bar only while the job works: a failed job's full bar read as done */}
      {running && <Progress value={v} label={`${job.table_name} progress`} />}
      {running && <Retrying notes={job.validation_errors} />}
      {finishing && <p className="muted small" data-finishing>All {p!.segments_total} segments compared: recording the results…</p>}
      {job.status === "FAILED" && <p className="field-error" data-failed>The job failed{job.completed_at ? ` ${fmtDate(job.completed_at)}` : ""}: open it for the counts it reached.</p>}
      {job.status === "COMPLETED" && (
        <p>
          drift{countScope(job.validation_strategy) ? ` of the rows ${countScope(job.validation_strategy)}` : ""} <strong data-testid="job-drift">{pct(job.drift_percentage)}</strong> · {job.mismatch_count == null ? "— mismatches" : counted(job.mismatch_count, "mismatch", "mismatches")}
        </p>
      )}
      <Link to={`/cdc/jobs/${jobId}`}>Open the job</Link>
    </article>
  );
}
