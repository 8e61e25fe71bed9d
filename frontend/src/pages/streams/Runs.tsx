import { useEffect, useRef, useState } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { runs, streams } from "../../services/api";
import { namesOf } from "../../services/lookup";
import type { Artifact, StepRun } from "../../services/types";
import { dur, fmtDate, num, show, words } from "../../services/format";
import { Badge, BusyButton, Crumbs, ErrorBox, Kv, LoadFailed, Loading, Progress, StaleNotice, TableScroll, useFocusFallback, useLoad, usePoll, useRetryWait, useTitle, waitLabel } from "../../components/ui";
import { DownloadButton } from "./Files";

const ACTIVE_RUN = new Set(["PENDING", "RUNNING"]);
const STEP_WORKING = new Set(["PENDING", "IN_PROGRESS", "RETRY_WAIT"]);

export function RunPage() {
  const id = Number(useParams().id);
  const { data, error, reload } = useLoad(async () => {
    const [run, steps] = await Promise.all([runs.get(id), runs.steps(id, true)]);
    return { run, steps };
  }, [id], id);
  const stream = useLoad(() => (data ? streams.get(data.run.streamId) : Promise.resolve(null)), [data?.run.streamId]);
  // the rule sets the steps used, by name (each read by its id once, whatever how many rule sets there are)
  const ruleSetIds = [...new Set((data?.steps ?? []).flatMap((s) => (s.ruleSetId ? [s.ruleSetId] : [])))].sort((a, b) => a - b);
  const ruleSetNames = useLoad(() => namesOf("ruleSet", ruleSetIds), [ruleSetIds.join(",")]);
  const [actionError, setActionError] = useState<unknown>(null);
  const [canceling, setCanceling] = useState(false);
  const [rerunning, setRerunning] = useState(false);
  // run again refused for the key's rate limit (429): the button waits out the API's Retry-After
  const wait = useRetryWait(actionError);
  const nav = useNavigate();
  const active = !!data && ACTIVE_RUN.has(data.run.status);
  // Cancel pressed here: once the run has stopped (canceled, or finished before the cancel reached it: the
  // API's 409), its Cancel button is gone, and the focus goes to the heading that says the run's new status
  const [canceled, setCanceled] = useState(false);
  const heading = useRef<HTMLHeadingElement>(null);
  useFocusFallback(heading, canceled && !active);
  // a link to one step (`/runs/9204#step-2`, from an exception): that step is scrolled to, marked and focused
  const { hash } = useLocation();
  const target = /^#step-\d+$/.test(hash) ? hash.slice(1) : null;
  const loaded = !!data;
  useEffect(() => {
    if (!loaded || !target) return;
    const el = document.getElementById(target);
    el?.scrollIntoView?.({ block: "start" });
    el?.focus({ preventScroll: true });
  }, [loaded, target]);
  useTitle(data ? `Run #${id} ${words(data.run.status)}` : `Run #${id}`);
  usePoll(reload, 1000, active);
  if (error && !data) return <LoadFailed what={`Run #${id}`} error={error} back={["Streams", "/streams"]} retry={reload} />;
  if (!data) return <Loading what="Loading the run" />;
  const { run } = data;
  // latest attempt per step, earlier attempts kept for the timeline
  const byStep = new Map<number, StepRun[]>();
  for (const s of data.steps) byStep.set(s.stepOrder, [...(byStep.get(s.stepOrder) ?? []), s]);
  const orders = [...byStep.keys()].sort((a, b) => a - b);
  // the stream as it is now: its steps are the run's only when the run used that version (an edited
  // stream renames, adds or drops steps; the step run names its own step)
  const defs = new Map((stream.data && stream.data.version === run.streamVersion ? stream.data.steps : []).map((s) => [s.stepOrder, s]));
  const m = run.metrics;
  return (
    <section>
      <Crumbs items={[["Streams", "/streams"], [stream.data?.name ?? `stream ${run.streamId}`, `/streams/${run.streamId}`], [`run #${id}`, null]]} />
      <div className="page-head">
        <h1 ref={heading} tabIndex={-1}>Run #{id} <Badge value={run.status} /></h1>
        <div className="actions">
          {active && (
            <BusyButton
              className="danger"
              busy={canceling}
              onClick={async () => {
                if (!confirm(`Cancel run #${id}? Steps still to run are skipped; this cannot be undone.`)) return;
                setCanceling(true);
                setActionError(null);
                setCanceled(true);
                try {
                  await runs.cancel(id);
                  await reload();
                } catch (e) {
                  setActionError(e);
                  // a run that finished meanwhile ("Stream run 9478 is already COMPLETED"): its status is read
                  await reload();
                } finally {
                  setCanceling(false);
                }
              }}
            >
              {canceling ? "Canceling…" : "Cancel run"}
            </BusyButton>
          )}
          {/* a finished run (failed, canceled, or to be repeated after a fix) is run again from here: a new
              run of the stream as it is now, its reason naming this run */}
          {!active && stream.data?.status === "ACTIVE" && (
            <BusyButton
              busy={rerunning || wait > 0}
              aria-describedby={stream.data.version !== run.streamVersion ? "rerun-version" : undefined}
              onClick={async () => {
                setRerunning(true);
                setActionError(null);
                try {
                  const r = await streams.run(run.streamId, `Run again from run #${id}`);
                  nav(`/runs/${r.runId}`);
                } catch (e) {
                  setActionError(e);
                } finally {
                  setRerunning(false);
                }
              }}
            >
              {rerunning ? "Starting…" : waitLabel("Run again", wait)}
            </BusyButton>
          )}
        </div>
      </div>
      {!active && stream.data?.status === "ACTIVE" && stream.data.version !== run.streamVersion && (
        <p className="muted small" id="rerun-version">This run used version {run.streamVersion} of the stream; run again, it runs version {stream.data.version}, the stream as it is now.</p>
      )}
      <StaleNotice error={error} />
      <ErrorBox error={actionError} />
      {run.errorMessage && <div className="error-box" role="alert">{run.errorMessage}</div>}
      {/* a finished run's bar would read as unfinished work (2 of 3 steps when one was skipped) */}
      {active && <Progress value={m && m.totalSteps ? (100 * (m.completedSteps + m.failedSteps)) / m.totalSteps : 0} label="run progress" />}
      <Kv items={[["steps", m ? `${m.completedSteps} completed, ${m.failedSteps} failed of ${m.totalSteps}` : "—"], ["matched records", num(m?.matchedRecords)], ["exceptions", m?.exceptionCount ? <Link to={`/exceptions?runId=${id}`}>{num(m.exceptionCount)}</Link> : num(m?.exceptionCount)], ["started", fmtDate(run.startedAt)], ["completed", fmtDate(run.completedAt)], ["duration", run.startedAt ? dur(((run.completedAt ? new Date(run.completedAt) : new Date()).getTime() - new Date(run.startedAt).getTime()) / 1000) : "—"], ["trigger", run.triggerType ? <><Badge value={run.triggerType} /> <span className="small">{Object.entries(run.triggerMetadata ?? {}).map(([k, v]) => `${inWords(k)}: ${show(v)}`).join(" · ")}</span></> : "—"]]} />
      <h2>Steps</h2>
      <ol className="timeline" aria-label="step runs">
        {orders.map((o) => {
          const attempts = byStep.get(o)!.sort((a, b) => a.attemptNo - b.attemptNo);
          const latest = attempts[attempts.length - 1];
          return (
            <li key={o} id={`step-${o}`} tabIndex={-1} className={`step status-${latest.status}${target === `step-${o}` ? " targeted" : ""}`} data-step={o} data-status={latest.status} aria-current={target === `step-${o}` ? "location" : undefined}>
              <header>
                <strong>Step {o}{stepName(latest, defs.get(o)) ? `: ${stepName(latest, defs.get(o))}` : ""}</strong> <Badge value={latest.status} />
                {latest.attemptNo > 1 && <span className="muted small"> attempt {latest.attemptNo}{defs.get(o) ? ` of ${defs.get(o)!.config.maxRetries + 1}` : ""}</span>}
              </header>
              {/* a failed or canceled step's bar would read as work still to come ("0%"): it says where it stopped instead */}
              {latest.startedAt && (latest.status === "COMPLETED" || STEP_WORKING.has(latest.status)) && <Progress value={latest.status === "COMPLETED" ? 100 : latest.progress} label={`step ${o} progress`} />}
              <div className="muted small">
                {stepTimes(latest)}
                {latest.startedAt && (latest.status === "FAILED" || latest.status === "CANCELED") && ` · stopped at ${Math.round(latest.progress)} %`}
                {latest.status === "RETRY_WAIT" && ` · attempt ${latest.attemptNo} failed; waiting before attempt ${latest.attemptNo + 1}`}
                {latest.reconciliationId ? <> · <Link to={`/reconciliations/${latest.reconciliationId}`}>reconciliation {latest.reconciliationId}</Link></> : null}
              </div>
              {latest.errorMessage && <div className="field-error">{latest.errorMessage}</div>}
              <StepCounts s={latest} ruleSets={ruleSetNames.data} />
              {attempts.length > 1 && (
                <details>
                  <summary>{attempts.length} attempts</summary>
                  <ul>{attempts.map((a) => <li key={a.id}>attempt {a.attemptNo}: <Badge value={a.status} /> {fmtDate(a.startedAt)} {a.errorMessage ? `— ${a.errorMessage}` : ""}</li>)}</ul>
                </details>
              )}
              {latest.status === "COMPLETED" && <Artifacts stepRunId={latest.id} runStatus={run.status} />}
            </li>
          );
        })}
        {orders.length === 0 && <li className="muted">The run has not planned its steps yet.</li>}
      </ol>
    </section>
  );
}

// The outputs first, then the snapshots; the API lists them in the order they were registered, which
// varies from step to step (outputs no later step reads are registered after the next step starts).
const ARTIFACT_ORDER = ["MATCHED", "UNMATCHED_SOURCE", "UNMATCHED_TARGET", "SNAPSHOT_SOURCE", "SNAPSHOT_TARGET"];
const artifactRank = (t: string) => (ARTIFACT_ORDER.indexOf(t) + ARTIFACT_ORDER.length + 1) % (ARTIFACT_ORDER.length + 1);
/** A step's files in the order every page lists them: its outputs, then its snapshots. */
export const byArtifactOrder = (x: Pick<Artifact, "artifactType" | "id">, y: Pick<Artifact, "artifactType" | "id">) => artifactRank(x.artifactType) - artifactRank(y.artifactType) || x.id - y.id;

// A completed step's outputs that no later step reads are registered while its run goes on, so the
// list is polled until the run ends, and read once more when it does.
function Artifacts({ stepRunId, runStatus }: { stepRunId: number; runStatus: string }) {
  const { data, error, reload } = useLoad<Artifact[]>(() => runs.artifacts(stepRunId), [stepRunId, runStatus]);
  usePoll(reload, 1000, ACTIVE_RUN.has(runStatus));
  if (error && !data) return <ErrorBox error={error} retry={reload} />;
  if (!data) return <Loading what="Loading artifacts" />;
  if (data.length === 0) return <p className="muted small">No artifact.</p>;
  return (
    <TableScroll><table className="grid artifacts" aria-label={`artifacts of step run ${stepRunId}`}>
      <thead><tr><th>Artifact</th><th>File</th><th className="r">Rows</th><th>Checksum</th><th /></tr></thead>
      <tbody>
        {[...data].sort(byArtifactOrder).map((a) => (
          <tr key={a.id} data-artifact={a.artifactType} data-checksum={a.checksum ?? ""}>
            <td><Badge value={a.artifactType} /></td>
            <td><Link className="long" title={a.filename} to={`/files/${a.fileId}`}>{a.filename}</Link></td>
            <td className="r">{num(a.rowCount)}</td>
            <td><code className="small" title={a.checksum ?? ""}>{a.checksum ? `${a.checksum.slice(0, 19)}…` : "—"}</code></td>
            <td><DownloadButton url={a.downloadUrl} filename={a.filename} checksum={a.checksum} /></td>
          </tr>
        ))}
      </tbody>
    </table></TableScroll>
  );
}

/** A step's name as the run knew it: the step run's own, else the definition's (same version only). */
const stepName = (s: StepRun, def?: { name: string }) => s.name ?? def?.name ?? null;

/** A metadata key in words: `requestedBy` → "requested by". */
export const inWords = (key: string) => key.replace(/([a-z0-9])([A-Z])/g, "$1 $2").replace(/_/g, " ").toLowerCase();

/** When a step ran: a step that never started says so instead of "finished in 0 s". */
export function stepTimes(s: Pick<StepRun, "status" | "startedAt" | "completedAt">): string {
  if (!s.startedAt) {
    if (s.status === "SKIPPED") return s.completedAt ? `skipped ${fmtDate(s.completedAt)}` : "skipped";
    if (s.status === "CANCELED") return s.completedAt ? `canceled before it started, ${fmtDate(s.completedAt)}` : "canceled before it started";
    return "not started";
  }
  const started = `started ${fmtDate(s.startedAt)}`;
  if (!s.completedAt) return started;
  const verb = s.status === "COMPLETED" ? "finished" : s.status === "CANCELED" ? "canceled" : s.status === "FAILED" ? "failed" : "ended";
  return `${started} · ${verb} ${fmtDate(s.completedAt)} (${dur((new Date(s.completedAt).getTime() - new Date(s.startedAt).getTime()) / 1000)})`;
}

/** What the step's attempt counted: rows in, matched and left over on each side, and its exceptions. */
function StepCounts({ s, ruleSets: names }: { s: StepRun; ruleSets?: Record<number, string | null> }) {
  const rs = s.ruleSetId ? (
    <>
      rule set <Link to={`/rule-sets/${s.ruleSetId}${s.ruleSetVersion ? `?version=${s.ruleSetVersion}` : ""}`}>{names?.[s.ruleSetId] ?? `#${s.ruleSetId}`}{s.ruleSetVersion ? ` v${s.ruleSetVersion}` : ""}</Link>
    </>
  ) : null;
  if (s.sourceRows === null && s.targetRows === null) return rs ? <div className="small">{rs}</div> : null;
  const side = (label: string, rows: number | null, matched: number | null, unmatched: number | null) => (
    <tr data-side={label}>
      <th scope="row">{label}</th>
      <td className="r">{num(rows)}</td>
      <td className="r">{num(matched)}</td>
      <td className="r">{num(unmatched)}</td>
    </tr>
  );
  return (
    <div className="step-counts">
      <TableScroll><table className="grid narrow" aria-label={`counts of step ${s.stepOrder}`}>
        <thead><tr><th /><th className="r">Rows</th><th className="r">Matched</th><th className="r">Unmatched</th></tr></thead>
        <tbody>
          {side("source", s.sourceRows, s.matchedSourceRows, s.unmatchedSourceRows)}
          {side("target", s.targetRows, s.matchedTargetRows, s.unmatchedTargetRows)}
        </tbody>
      </table></TableScroll>
      <div className="small">
        {s.exceptionCount ? <Link to={`/exceptions?reconciliationId=${s.reconciliationId}`} data-step-exceptions={s.exceptionCount}>{num(s.exceptionCount)} exception{s.exceptionCount === 1 ? "" : "s"}</Link> : "no exception"}
        {rs && <> · {rs}</>}
      </div>
    </div>
  );
}
