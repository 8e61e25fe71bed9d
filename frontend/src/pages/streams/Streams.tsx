import { useEffect, useMemo, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, atVersion, files, streams, withoutField } from "../../services/api";
import { INPUT_TYPES, RUN_STATUSES, STREAM_STATUSES, TRIGGER_TYPES, type InputType, type RunStatus, type StreamInput, type StreamRun, type StreamStatus, type StreamValidation, type TriggerType } from "../../services/types";
import { counted, cronWords, fmtDate, fmtInZone, num } from "../../services/format";
import { Ago, Badge, BusyButton, ChoicesFailed, Crumbs, ErrorBox, FieldError, FIRST_INVALID, Kv, LoadFailed, Loading, NoRows, Pager, Rereading, RunLink, Select, StaleNotice, TableScroll, useFocusFallback, useHandOn, useLoad, usePoll, useRetryWait, useTitle, useUrlState, waitLabel, When } from "../../components/ui";
import { FileFinder, FileOptions, pickableFiles } from "../../components/FileOptions";
import { allDataSources, allRuleSets, allStreams, forgetName, namesOf } from "../../services/lookup";
import { ruleSetOption } from "../../services/rulesets";
import { emptyStep, localStepProblems, renumber, toRequest, toStreamInput, type EditorStep, type EditorStream } from "../../services/streams";

const ACTIVE_RUN = new Set<string>(["PENDING", "RUNNING"]);

export function StreamsPage() {
  useTitle("Streams");
  const { values: f, page, set } = useUrlState(["status", "domain"] as const);
  const { data, error, loading, outdated, reload } = useLoad(() => streams.list({ page, pageSize: 20, status: (f.status || undefined) as StreamStatus | undefined, domain: f.domain || undefined }), [page, f.status, f.domain]);
  const filtered = !!(f.status || f.domain);
  // the domains streams have, offered at the filter: the API matches a domain exactly (ECOMMERCE, not ecommerce)
  const known = useLoad(() => allStreams(), []);
  const domains = [...new Set((known.data ?? []).flatMap((x) => (x.domain ? [x.domain] : [])))].sort();
  const meant = f.domain && !domains.includes(f.domain) ? domains.find((d) => d.toLowerCase() === f.domain.trim().toLowerCase()) : undefined;
  // each listed stream's latest run (one request each, as the CDC overview reads each table's latest job)
  const ids = (data?.items ?? []).map((x) => x.id);
  // undefined: that stream's runs could not be read (not "never run"); null: it has none
  const last = useLoad(
    async () =>
      Object.fromEntries(
        await Promise.all(ids.map(async (i) => [i, await streams.runs(i, { page: 1, pageSize: 1 }).then((r) => r.items[0] ?? null, () => undefined)] as const)),
      ) as Record<number, StreamRun | null | undefined>,
    [ids.join(",")],
  );
  // a run started here or elsewhere moves on: read the latest runs again until none is PENDING or RUNNING
  usePoll(last.reload, 3000, Object.values(last.data ?? {}).some((r) => !!r && ACTIVE_RUN.has(r.status)));
  return (
    <section>
      <div className="page-head">
        <h1>Streams</h1>
        <Link className="button primary" to="/streams/new">New stream</Link>
      </div>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <Select id="status" label="Status" value={f.status} options={STREAM_STATUSES} error={error} onChange={(v) => set({ status: v })} />
        <label className="filter" htmlFor="domain">
          <span>Domain</span>
          <input id="domain" list="domains" autoComplete="off" defaultValue={f.domain} key={f.domain} onKeyDown={(e) => e.key === "Enter" && set({ domain: (e.target as HTMLInputElement).value })} onBlur={(e) => e.target.value !== f.domain && set({ domain: e.target.value })} />
          <datalist id="domains">{domains.map((d) => <option key={d} value={d} />)}</datalist>
        </label>
      </form>
      <ErrorBox error={error} retry={reload} />
      {meant && data && !outdated && data.items.length === 0 && (
        <p className="card warn-box" role="status">A domain is matched exactly: no stream has “{f.domain}”. <button type="button" className="link" onClick={() => set({ domain: meant })}>Show the {meant} streams</button></p>
      )}
      {loading && !data && <Loading what="Loading streams" />}
      <Rereading outdated={outdated} loading={loading}>
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>{filtered ? "No stream matches these filters." : <>No stream yet. Upload <Link to="/files">files</Link>, define a <Link to="/rule-sets">rule set</Link>, then <Link to="/streams/new">create a stream</Link>.</>}</NoRows>}
      {data && data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="streams">
          <thead><tr><th>Id</th><th>Name</th><th>Status</th><th>Domain</th><th>Trigger</th><th>Steps</th><th>Latest run</th><th>Updated</th></tr></thead>
          <tbody>
            {data.items.map((s) => (
              <tr key={s.id} data-stream={s.name}>
                <td>{s.id}</td>
                <td><Link className="long" title={s.name} to={`/streams/${s.id}`}>{s.name}</Link></td>
                <td><Badge value={s.status} /></td>
                <td>{s.domain ?? "—"}</td>
                <td>{s.triggerType ? <Badge value={s.triggerType} /> : "—"}</td>
                <td>{s.stepCount ?? "—"}</td>
                <td data-latest-run>{last.data?.[s.id] ? <LatestRun r={last.data[s.id]!} /> : last.data && last.data[s.id] === null ? <span className="muted">never run</span> : last.data ? <span className="muted" title="its runs could not be read">—</span> : ""}</td>
                <td>{fmtDate(s.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table></TableScroll>
      )}
      {data && <Pager page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })} />}
      </Rereading>
    </section>
  );
}

export function StreamDetailPage() {
  const id = Number(useParams().id);
  const nav = useNavigate();
  const { values: f, page, set } = useUrlState(["status"] as const);
  const { data: s, error, reload } = useLoad(() => streams.get(id), [id], id);
  const runs = useLoad(() => streams.runs(id, { page, pageSize: 10, status: (f.status || undefined) as RunStatus | undefined }), [id, page, f.status], id);
  const [actionError, setActionError] = useState<unknown>(null);
  const [validation, setValidation] = useState<StreamValidation | null>(null);
  const [busy, setBusy] = useState(false);
  const [reason, setReason] = useState("");
  // a run refused for the key's rate limit (429): Run now waits out the API's Retry-After, the reason kept
  const wait = useRetryWait(actionError);
  useTitle(s ? `Stream ${s.name}` : `Stream ${id}`);
  // the runs, and the stream itself (its events and occurrences, its next run), are read again while something
  // can still change: a run pending or running, an event QUEUED behind a run (it starts its own run when that
  // one ends), an ACTIVE schedule (it starts a run at each occurrence)
  const moving =
    !!runs.data?.items.some((r) => r.status === "PENDING" || r.status === "RUNNING") ||
    !!s?.recentOccurrences?.some((o) => o.status === "QUEUED");
  const scheduled = s?.triggerType === "SCHEDULED" && s.status === "ACTIVE";
  // an idle schedule is read again two seconds after its next run is due, and at least every 15 s (a daily
  // schedule's page does not ask every 2 s); computed once per reading, so that other renders keep the timer
  const every = useMemo(
    () => (moving ? 2000 : Math.min(15000, s?.nextRunAt ? Math.max(1000, Date.parse(s.nextRunAt) - Date.now() + 2000) : 15000)),
    [moving, s?.nextRunAt],
  );
  usePoll(runs.reload, every, moving || scheduled);
  usePoll(reload, every, moving || scheduled);
  // the steps' rule sets by name, each read by its id (a list's first page does not hold every rule set)
  const ruleSetIds = [...new Set((s?.steps ?? []).map((st) => st.ruleSetId))];
  const rsNames = useLoad(() => namesOf("ruleSet", ruleSetIds), [ruleSetIds.join(",")]);
  // the steps' inputs by name (one request per file or data source: a stream has few); an input that
  // cannot be read keeps its number
  const inputIds = (type: InputType) => [...new Set((s?.steps ?? []).flatMap((st) => [st.sourceInput, st.targetInput]).filter((i) => i.type === type).map((i) => i.id))];
  const named = async (ids: number[], name: (id: number) => Promise<string>) =>
    Object.fromEntries(await Promise.all(ids.map(async (i) => [i, await name(i).catch(() => null)] as const)));
  const fileIds = inputIds("FILE");
  const dsIds = inputIds("DATA_SOURCE_SNAPSHOT");
  const fileNames = useLoad(() => named(fileIds, async (i) => (await files.get(i)).filename), [fileIds.join(",")]);
  const dsNames = useLoad(() => namesOf("dataSource", dsIds), [dsIds.join(",")]);
  // the stream a STREAM_RUN_COMPLETED trigger follows, by name
  const after = s?.triggerType === "EVENT" ? Number((s.triggerConfig as { streamId?: number } | null)?.streamId) || 0 : 0;
  const afterName = useLoad(() => (after ? namesOf("stream", [after]) : Promise.resolve({} as Record<number, string | null>)), [after]);

  // an archived stream has neither Pause nor Archive: the focus of the button pressed goes to the heading
  const heading = useRef<HTMLHeadingElement>(null);
  const [acted, setActed] = useState(0);
  useFocusFallback(heading, acted && `${acted} ${s?.status}`);
  async function act(fn: () => Promise<unknown>, after?: (r: unknown) => void) {
    setBusy(true);
    setActionError(null);
    try {
      const r = await fn();
      after?.(r);
      await reload();
      setActed((n) => n + 1);
    } catch (e) {
      setActionError(e);
    } finally {
      setBusy(false);
    }
  }
  if (error && !s) return <LoadFailed what={`Stream #${id}`} error={error} back={["Streams", "/streams"]} retry={reload} />;
  if (!s) return <Loading what="Loading the stream" />;
  // a schedule's times in its own zone (UTC alongside); null for UTC
  const tz = s.triggerType === "SCHEDULED" ? String((s.triggerConfig as { timezone?: string } | null)?.timezone ?? "UTC") : "UTC";
  const zone = tz === "UTC" || tz === "Etc/UTC" ? null : tz;
  return (
    <section>
      <Crumbs items={[["Streams", "/streams"], [s.name, null]]} />
      <div className="page-head">
        <h1 ref={heading} tabIndex={-1}>{s.name} <Badge value={s.status} /></h1>
        <div className="actions">
          {/* why it runs, kept in the run's triggerMetadata (an audit trail: "month-end close, re-run after the bank fix");
              a form, so that Enter in the reason runs the stream as Run now does */}
          <form className="run-now" aria-label="run now" onSubmit={(e) => { e.preventDefault(); if (!busy && wait <= 0) act(() => streams.run(id, reason.trim() || undefined), (r) => nav(`/runs/${(r as { runId: number }).runId}`)); }}>
            <label className="sr-only" htmlFor="run-reason">Reason for the run</label>
            <input id="run-reason" name="run-reason" placeholder="Reason (optional)" maxLength={500} value={reason} onChange={(e) => setReason(e.target.value)} disabled={s.status !== "ACTIVE"} />
            <BusyButton type="submit" className="primary" busy={busy || wait > 0} disabled={s.status !== "ACTIVE"} title={s.status !== "ACTIVE" ? "Only an ACTIVE stream runs" : undefined}>{waitLabel("Run now", wait)}</BusyButton>
          </form>
          <BusyButton busy={busy} onClick={() => act(() => streams.validate(id), (r) => setValidation(r as StreamValidation))}>Validate</BusyButton>
          {s.status !== "ARCHIVED" && <Link className="button" to={`/streams/${id}/edit`}>Edit</Link>}
          {/* one button, Pause or Resume: pressed, it stays where it is with its new name and keeps the focus */}
          {(s.status === "ACTIVE" || s.status === "PAUSED") && (
            <BusyButton busy={busy} onClick={() => act(() => (s.status === "ACTIVE" ? streams.pause(id) : streams.resume(id)))}>{s.status === "ACTIVE" ? "Pause" : "Resume"}</BusyButton>
          )}
          {s.status !== "ARCHIVED" && (
            <BusyButton className="danger" busy={busy} onClick={() => confirm(`Archive ${s.name}? It will no longer run.`) && act(() => streams.archive(id))}>Archive</BusyButton>
          )}
        </div>
      </div>
      <StaleNotice error={error} />
      <ErrorBox error={actionError} />
      {validation && <ValidationView v={validation} />}
      <Kv items={[["id", s.id], ["domain", s.domain], ["description", s.description], ["trigger", <><Badge value={s.triggerType} /> <span data-testid="trigger">{triggerText(s.triggerType, s.triggerConfig, afterName.data?.[after])}</span></>], ["next run", s.nextRunAt ? <span data-testid="next-run">{zone ? <>{fmtInZone(s.nextRunAt, zone)} ({fmtDate(s.nextRunAt)}, <Ago iso={s.nextRunAt} />)</> : <>{fmtDate(s.nextRunAt)} (<Ago iso={s.nextRunAt} />)</>}</span> : "—"], ["created", fmtDate(s.createdAt)], ["updated", fmtDate(s.updatedAt)]]} />
      {(s.triggerType === "SCHEDULED" || s.triggerType === "EVENT") && (
        <>
          <h2>{s.triggerType === "SCHEDULED" ? "Schedule" : "Triggering events"}</h2>
          {(s.recentOccurrences ?? []).length === 0 ? (
            <p className="muted">{s.triggerType === "SCHEDULED" ? `No occurrence yet${s.nextRunAt ? `: the first is ${fmtInZone(s.nextRunAt, zone)}` : ""}.` : "No event has triggered this stream yet."}</p>
          ) : (
            <TableScroll><table className="grid" aria-label={s.triggerType === "SCHEDULED" ? "recent occurrences" : "recent events"}>
              <thead><tr><th>{s.triggerType === "SCHEDULED" ? `Occurrence${zone ? ` (${zone})` : ""}` : "Received"}</th><th>Outcome</th><th>Run</th><th>Detail</th></tr></thead>
              <tbody>
                {(s.recentOccurrences ?? []).map((o, i) => (
                  <tr key={`${o.occurrenceAt}-${i}`}>
                    <td>{fmtInZone(o.occurrenceAt, zone)}{zone ? ` (${fmtDate(o.occurrenceAt)})` : ""}{o.late ? " (late)" : ""}</td>
                    <td><Badge value={o.status} /></td>
                    <td>{o.runId ? <RunLink id={o.runId} /> : "—"}</td>
                    <td className="small">{o.detail ?? ""}</td>
                  </tr>
                ))}
              </tbody>
            </table></TableScroll>
          )}
        </>
      )}
      <h2>Steps</h2>
      <TableScroll><table className="grid" aria-label="steps">
        <thead><tr><th>#</th><th>Name</th><th>Source</th><th>Target</th><th>Rule set</th><th>Retries</th><th>On failure</th></tr></thead>
        <tbody>
          {s.steps.map((st) => (
            <tr key={st.stepOrder}>
              <td>{st.stepOrder}</td>
              <td><span className="long" title={st.name}>{st.name}</span></td>
              <td><InputLabel type={st.sourceInput.type} id={st.sourceInput.id} files={fileNames.data} sources={dsNames.data} /></td>
              <td><InputLabel type={st.targetInput.type} id={st.targetInput.id} files={fileNames.data} sources={dsNames.data} /></td>
              <td><Link className="long" title={rsNames.data?.[st.ruleSetId] ?? undefined} to={`/rule-sets/${st.ruleSetId}`}>{rsNames.data?.[st.ruleSetId] ?? `#${st.ruleSetId}`}</Link></td>
              <td>{st.config?.maxRetries ?? 0}</td>
              <td>{st.config?.continueOnFailure ? "continue" : "stop the run"}</td>
            </tr>
          ))}
        </tbody>
      </table></TableScroll>
      <h2>Runs</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="run filters">
        <Select id="status" label="Status" value={f.status} options={RUN_STATUSES} error={runs.error} onChange={(v) => set({ status: v })} />
      </form>
      <ErrorBox error={runs.error} retry={runs.reload} />
      <Rereading outdated={runs.outdated} loading={runs.loading}>
      {runs.data && runs.data.items.length === 0 && <NoRows page={runs.data.page} totalPages={runs.data.totalPages} totalItems={runs.data.totalItems} onPage={(p) => set({ page: p })}>{f.status ? "No run with this status." : s.status === "ACTIVE" ? "No run yet: press Run now." : "No run yet. Resume the stream to run it."}</NoRows>}
      {runs.data && runs.data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="runs">
          <thead><tr><th>Run</th><th>Status</th><th>Trigger</th><th>Steps done</th><th className="r">Matched</th><th className="r">Exceptions</th><th>Started</th><th>Completed</th></tr></thead>
          <tbody>
            {runs.data.items.map((r) => (
              <tr key={r.id} data-run={r.id}>
                <td><RunLink id={r.id} status={r.status} /></td>
                <td><Badge value={r.status} /></td>
                <td>{r.triggerType ? <Badge value={r.triggerType} /> : "—"}</td>
                <td>{r.metrics ? `${r.metrics.completedSteps} / ${r.metrics.totalSteps}` : "—"}</td>
                <td className="r">{num(r.metrics?.matchedRecords)}</td>
                <td className="r">{r.metrics?.exceptionCount ? <Link to={`/exceptions?runId=${r.id}`}>{num(r.metrics.exceptionCount)}</Link> : num(r.metrics?.exceptionCount)}</td>
                <td>{fmtDate(r.startedAt)}</td>
                <td>{fmtDate(r.completedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table></TableScroll>
      )}
      {runs.data && <Pager page={runs.data.page} totalPages={runs.data.totalPages} totalItems={runs.data.totalItems} onPage={(p) => set({ page: p })} />}
      </Rereading>
    </section>
  );
}

function LatestRun({ r }: { r: StreamRun }) {
  const when = r.completedAt ?? r.startedAt ?? r.createdAt;
  return (
    <>
      <RunLink id={r.id} status={r.status} /> <Badge value={r.status} />{" "}
      <span className="muted small"><When iso={when} />{r.metrics?.exceptionCount ? ` · ${counted(r.metrics.exceptionCount, "exception")}` : ""}</span>
    </>
  );
}

type Names = Record<number, string | null> | null | undefined;

/** A stream's trigger in words: the schedule in its zone (with its cron), or the event and what it binds. */
export function triggerText(type: TriggerType, config: unknown, afterStream?: string | null): string {
  const c = (config ?? {}) as Record<string, unknown>;
  if (type === "SCHEDULED") {
    const cron = String(c.cron ?? "?"), zone = String(c.timezone ?? "UTC");
    const said = cronWords(cron);
    return said ? `${said}, ${zone} time (cron ${cron})` : `cron ${cron} in ${zone}`;
  }
  if (type === "EVENT") {
    if (c.event === "STREAM_RUN_COMPLETED") return `when a run of ${afterStream ? `${afterStream} (stream #${String(c.streamId)})` : `stream #${String(c.streamId ?? "?")}`} completes`;
    const bind = (c.bind ?? {}) as { stepOrder?: number; input?: string };
    return `when a file named ${String(c.filenamePattern ?? "*")} is uploaded and READY: it becomes step ${bind.stepOrder ?? 1}'s ${String(bind.input ?? "TARGET").toLowerCase()}`;
  }
  return "started by hand";
}

function InputLabel({ type, id, files: fn, sources }: { type: InputType; id: number; files?: Names; sources?: Names }) {
  if (type === "FILE") return <Link className="long" to={`/files/${id}`} title={fn?.[id] ? `${fn[id]} (file #${id})` : `file #${id}`}>{fn?.[id] ? `${fn[id]} (#${id})` : `file #${id}`}</Link>;
  if (type === "DATA_SOURCE_SNAPSHOT") {
    const name = sources?.[id];
    return <span>snapshot of {name ? <><Link to="/data-sources">{name}</Link> (data source #{id})</> : <>data source #{id}</>}</span>;
  }
  return <span>unmatched {type.endsWith("SOURCE") ? "source" : "target"} rows of step {id}</span>;
}

function ValidationView({ v }: { v: StreamValidation }) {
  return (
    <div className={v.valid ? "card ok-box" : "error-box"} role="status" aria-label="validation">
      <strong>{v.valid ? "The stream is valid" : "The stream is not valid"}</strong>
      {[...v.errors.map((e) => ["error", e] as const), ...v.warnings.map((w) => ["warning", w] as const)].length > 0 && (
        <ul>
          {v.errors.map((e, i) => <li key={`e${i}`} className="field-error">{e.field && <code>{e.field}</code>} {e.message} <span className="muted">({e.code})</span></li>)}
          {v.warnings.map((w, i) => <li key={`w${i}`} className="warning">⚠ {w.field && <code>{w.field}</code>} {w.message} <span className="muted">({w.code})</span></li>)}
        </ul>
      )}
    </div>
  );
}

export function StreamEditorPage() {
  const { id } = useParams();
  const editing = id !== undefined;
  const nav = useNavigate();
  const [s, setS] = useState<EditorStream>({ name: "", description: "", domain: "", triggerType: "MANUAL", triggerConfig: {}, steps: [emptyStep(1)] });
  const [error, setError] = useState<unknown>(null);
  const [warnings, setWarnings] = useState<StreamValidation | null>(null);
  const [busy, setBusy] = useState(false);
  const [loadError, setLoadError] = useState<unknown>(null);
  // the stream whose definition the form holds: until it is read, the form of an existing stream is not
  // shown (an empty form read as a stream without steps, and saving it would have replaced the stream)
  const [loadedId, setLoadedId] = useState<string | undefined>(undefined);
  const [version, setVersion] = useState<number | null>(null);
  // the name as saved (read, or saved here): the title and breadcrumb name the stream as it is, not the name being typed
  const [savedName, setSavedName] = useState("");
  useTitle(editing ? `Edit stream ${savedName || id}` : "New stream");
  const pickers = useLoad(async () => {
    const [r, d, st] = await Promise.all([
      allRuleSets(),
      allDataSources().catch(() => []),
      allStreams().catch(() => []),
    ]);
    return { ruleSets: r, dataSources: d, streams: st };
  }, []);
  // the files the steps choose from (every page up to a cap; past it, found by the start of their name)
  const [fileName, setFileName] = useState("");
  const fileList = useLoad(() => pickableFiles(fileName), [fileName]);
  useEffect(() => {
    if (!editing) return;
    streams.get(Number(id)).then((d) => { setS(toStreamInput(d)); setSavedName(d.name); setVersion(d.version); setLoadedId(id); }, setLoadError);
  }, [editing, id]);

  // a step added takes the focus (its name); one removed hands it on to the next step's name, or the previous one's
  const form = useRef<HTMLFormElement>(null);
  const handOn = useHandOn(form);
  const addStep = () => {
    const at = s.steps.length;
    setS((x) => ({ ...x, steps: [...x.steps, emptyStep(x.steps.length + 1)] }));
    handOn(`[name="steps[${at}].name"]`);
  };
  const removeStep = (i: number) => {
    const next = i < s.steps.length - 1 ? i : i - 1;
    setS((x) => ({ ...x, steps: renumber(x.steps.filter((_, j) => j !== i)) }));
    handOn(`[name="steps[${next}].name"]`, "[data-add-step]");
  };
  const patchStep = (i: number, p: Partial<EditorStep>) => setS((x) => ({ ...x, steps: x.steps.map((st, j) => (j === i ? { ...st, ...p } : st)) }));
  async function save(e: FormEvent) {
    e.preventDefault();
    const local = localStepProblems(s);
    if (Object.keys(local).length) {
      setError(new ApiError(400, "VALIDATION_ERROR", "Some fields need attention", local));
      handOn(FIRST_INVALID);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body: StreamInput = toRequest(s);
      const saved = editing ? await streams.update(Number(id), atVersion(body, version)) : await streams.create(body);
      if ("version" in saved) setVersion(saved.version);
      setSavedName(saved.name);
      forgetName("stream", saved.id);
      const v = await streams.validate(saved.id).catch(() => null);
      if (v && (v.warnings.length || v.errors.length)) {
        setWarnings(v);
        if (!editing) {
          setLoadedId(String(saved.id)); // the form already holds what was saved
          nav(`/streams/${saved.id}/edit`, { replace: true });
        }
      } else nav(`/streams/${saved.id}`);
    } catch (err) {
      setError(err);
      handOn(FIRST_INVALID);
    } finally {
      setBusy(false);
    }
  }
  if (loadError) return <LoadFailed what={`Stream #${id}`} error={loadError} back={["Streams", "/streams"]} />;
  if (editing && loadedId !== id) return <Loading what="Loading the stream" />;
  const fe = (field: string | string[]) => <FieldError error={error} field={field} />;
  const inv = (...fields: string[]) => (error instanceof ApiError && fields.some((f) => error.fields[f]) ? true : undefined);
  const warnAt = (prefix: string) => warnings?.warnings.filter((w) => w.field?.startsWith(prefix)) ?? [];
  const tc = (s.triggerConfig ?? {}) as Record<string, unknown>;
  return (
    <section>
      <Crumbs items={[["Streams", "/streams"], [editing ? savedName || String(id) : "New", editing ? `/streams/${id}` : null], ...(editing ? [["Edit", null] as [string, null]] : [])]} />
      <h1>{editing ? "Edit stream" : "New stream"}</h1>
      {warnings && <ValidationView v={warnings} />}
      {warnings && editing && <p><Link to={`/streams/${id}`}>Saved. Open the stream →</Link></p>}
      <form ref={form} className="form stream" onSubmit={save} noValidate aria-label="stream" onChangeCapture={(e) => setError((x: unknown) => withoutField(x, (e.target as unknown as HTMLInputElement).name))}>
        <div className="row">
          <label>Name<input name="name" value={s.name} onChange={(e) => setS({ ...s, name: e.target.value })} aria-invalid={inv("name")} />{fe("name")}</label>
          <label>Domain<input name="domain" aria-invalid={inv("domain")} value={s.domain ?? ""} onChange={(e) => setS({ ...s, domain: e.target.value })} placeholder="e.g. ECOMMERCE" />{fe("domain")}</label>
        </div>
        <label>Description<input name="description" aria-invalid={inv("description")} value={s.description ?? ""} onChange={(e) => setS({ ...s, description: e.target.value })} />{fe("description")}</label>
        <ChoicesFailed what="The files and rule sets the steps choose from" error={pickers.error ?? fileList.error} retry={() => { if (pickers.error) pickers.reload(); if (fileList.error) fileList.reload(); }} />
        <FileFinder list={fileList.data} onFind={setFileName} />
        <fieldset>
          <legend>Trigger</legend>
          <div className="row">
            <label>Type
              <select name="triggerType" aria-invalid={inv("triggerType")} value={s.triggerType} onChange={(e) => setS({ ...s, triggerType: e.target.value as TriggerType, triggerConfig: e.target.value === "SCHEDULED" ? { cron: "0 30 2 * * *", timezone: "UTC" } : e.target.value === "EVENT" ? { event: "FILE_UPLOADED", filenamePattern: "*.csv", bind: { stepOrder: 1, input: "TARGET" } } : {} })}>
                {TRIGGER_TYPES.map((t) => <option key={t}>{t}</option>)}
              </select>
              {fe("triggerType")}
            </label>
            {s.triggerType === "SCHEDULED" && (
              <>
                <label>Cron <span className="muted small">(6 fields, seconds first)</span><input name="triggerConfig.cron" aria-invalid={inv("triggerConfig.cron", "triggerConfig")} value={String(tc.cron ?? "")} onChange={(e) => setS({ ...s, triggerConfig: { ...tc, cron: e.target.value } as never })} />{fe(["triggerConfig.cron", "triggerConfig"])}</label>
                <label>Time zone<input name="triggerConfig.timezone" aria-invalid={inv("triggerConfig.timezone")} value={String(tc.timezone ?? "")} onChange={(e) => setS({ ...s, triggerConfig: { ...tc, timezone: e.target.value } as never })} placeholder="UTC" />{fe("triggerConfig.timezone")}</label>
              </>
            )}
            {s.triggerType === "EVENT" && (
              <>
                <label>Event
                  <select name="triggerConfig.event" aria-invalid={inv("triggerConfig.event")} value={String(tc.event ?? "FILE_UPLOADED")} onChange={(e) => setS({ ...s, triggerConfig: e.target.value === "FILE_UPLOADED" ? { event: "FILE_UPLOADED", filenamePattern: "*.csv", bind: { stepOrder: 1, input: "TARGET" } } : ({ event: "STREAM_RUN_COMPLETED", streamId: 0 } as never) })}>
                    <option>FILE_UPLOADED</option><option>STREAM_RUN_COMPLETED</option>
                  </select>
                  {fe("triggerConfig.event")}
                </label>
                {tc.event === "STREAM_RUN_COMPLETED" ? (
                  <label>After a run of
                    <select name="triggerConfig.streamId" className="long-names" value={tc.streamId ? String(tc.streamId) : ""} aria-invalid={inv("triggerConfig.streamId")} onChange={(e) => setS({ ...s, triggerConfig: { ...tc, streamId: Number(e.target.value) } as never })}>
                      <option value="">choose a stream…</option>
                      {!!tc.streamId && !(pickers.data?.streams ?? []).some((x) => x.id === tc.streamId) && <option value={String(tc.streamId)}>stream #{String(tc.streamId)}</option>}
                      {/* not itself; not an archived stream (it never runs again: the API refuses it), unless already chosen */}
                      {(pickers.data?.streams ?? []).filter((x) => (!editing || x.id !== Number(id)) && (x.status !== "ARCHIVED" || x.id === tc.streamId)).map((x) => <option key={x.id} value={String(x.id)}>{x.name} (#{x.id}){x.status === "ARCHIVED" ? " (archived)" : ""}</option>)}
                    </select>
                    {fe("triggerConfig.streamId")}
                  </label>
                ) : (
                  <>
                    <label>File name pattern<input name="triggerConfig.filenamePattern" aria-invalid={inv("triggerConfig.filenamePattern", "triggerConfig")} value={String(tc.filenamePattern ?? "")} onChange={(e) => setS({ ...s, triggerConfig: { ...tc, filenamePattern: e.target.value } as never })} />{fe(["triggerConfig.filenamePattern", "triggerConfig"])}</label>
                    <label>Binds to step<input type="number" min={1} name="triggerConfig.bind.stepOrder" aria-invalid={inv("triggerConfig.bind.stepOrder", "triggerConfig.bind")} value={String((tc.bind as { stepOrder?: number })?.stepOrder ?? 1)} onChange={(e) => setS({ ...s, triggerConfig: { ...tc, bind: { ...(tc.bind as object), stepOrder: Number(e.target.value) } } as never })} />{fe(["triggerConfig.bind.stepOrder", "triggerConfig.bind"])}</label>
                    <label>as
                      <select name="triggerConfig.bind.input" aria-invalid={inv("triggerConfig.bind.input")} value={String((tc.bind as { input?: string })?.input ?? "TARGET")} onChange={(e) => setS({ ...s, triggerConfig: { ...tc, bind: { ...(tc.bind as object), input: e.target.value } } as never })}>
                        <option>SOURCE</option><option>TARGET</option>
                      </select>
                      {fe("triggerConfig.bind.input")}
                    </label>
                  </>
                )}
              </>
            )}
          </div>
        </fieldset>
        {fe("steps")}
        {s.steps.map((st, i) => (
          <fieldset key={i} className="step" data-step={st.stepOrder}>
            <legend>Step {st.stepOrder}</legend>
            {fe(`steps[${i}]`)}
            <div className="row">
              <label>Name<input name={`steps[${i}].name`} value={st.name} onChange={(e) => patchStep(i, { name: e.target.value })} aria-invalid={inv(`steps[${i}].name`)} />{fe(`steps[${i}].name`)}</label>
              <label>Rule set
                <select name={`steps[${i}].ruleSetId`} value={st.ruleSetId || ""} onChange={(e) => patchStep(i, { ruleSetId: Number(e.target.value) })} aria-invalid={inv(`steps[${i}].ruleSetId`)}>
                  <option value="">choose…</option>
                  {(pickers.data?.ruleSets ?? []).map((r) => <option key={r.id} value={r.id}>{ruleSetOption(r)}</option>)}
                </select>
                {fe(`steps[${i}].ruleSetId`)}
              </label>
            </div>
            <div className="row">
              {(["sourceInput", "targetInput"] as const).map((side) => (
                <div key={side} className="input-picker">
                  <label>{side === "sourceInput" ? "Source" : "Target"}
                    <select name={`steps[${i}].${side}.type`} aria-invalid={inv(`steps[${i}].${side}.type`)} value={st[side].type} onChange={(e) => patchStep(i, { [side]: { type: e.target.value as InputType, id: 0 } })}>
                      {INPUT_TYPES.filter((t) => i > 0 || !t.startsWith("STEP_OUTPUT")).map((t) => <option key={t} value={t}>{t.replace(/_/g, " ").toLowerCase()}</option>)}
                    </select>
                  </label>
                  <label className="sr-only" htmlFor={`steps-${i}-${side}-id`}>{side === "sourceInput" ? "Source" : "Target"} of step {st.stepOrder}: which {st[side].type === "FILE" ? "file" : st[side].type === "DATA_SOURCE_SNAPSHOT" ? "data source" : "earlier step"}</label>
                  <select id={`steps-${i}-${side}-id`} name={`steps[${i}].${side}.id`} value={st[side].id || ""} onChange={(e) => patchStep(i, { [side]: { ...st[side], id: Number(e.target.value) } })} aria-invalid={inv(`steps[${i}].${side}`, `steps[${i}].${side}.id`)}>
                    <option value="">choose…</option>
                    {st[side].type === "FILE" && <FileOptions list={fileList.data} selected={st[side].id} />}
                    {st[side].type === "DATA_SOURCE_SNAPSHOT" && (pickers.data?.dataSources ?? []).map((d) => <option key={d.id} value={d.id}>{d.name} (#{d.id})</option>)}
                    {st[side].type.startsWith("STEP_OUTPUT") && s.steps.slice(0, i).map((p) => <option key={p.stepOrder} value={p.stepOrder}>step {p.stepOrder}{p.name ? `: ${p.name}` : ""}</option>)}
                  </select>
                  {fe([`steps[${i}].${side}`, `steps[${i}].${side}.id`, `steps[${i}].${side}.type`])}
                  {warnAt(`steps[${i}].${side}`).map((w, k) => <div key={k} className="warning">⚠ {w.message}</div>)}
                </div>
              ))}
            </div>
            <div className="row">
              <label>Retries<input type="number" min={0} max={10} name={`steps[${i}].config.maxRetries`} aria-invalid={inv(`steps[${i}].config.maxRetries`)} value={st.config.maxRetries} onChange={(e) => patchStep(i, { config: { ...st.config, maxRetries: Number(e.target.value) } })} />{fe(`steps[${i}].config.maxRetries`)}</label>
              <label className="inline"><input type="checkbox" name={`steps[${i}].config.continueOnFailure`} checked={st.config.continueOnFailure} onChange={(e) => patchStep(i, { config: { ...st.config, continueOnFailure: e.target.checked } })} /> continue the run if this step fails</label>
            </div>
            {warnAt(`steps[${i}]`).filter((w) => !w.field?.includes("Input")).map((w, k) => <div key={k} className="warning">⚠ {w.message}</div>)}
            <div className="actions">
              <button type="button" className="danger" aria-label={`Remove step ${st.stepOrder}`} disabled={s.steps.length === 1} onClick={() => removeStep(i)}>Remove step</button>
            </div>
          </fieldset>
        ))}
        <div className="actions">
          <button type="button" data-add-step onClick={addStep}>Add step</button>
          <BusyButton type="submit" className="primary" busy={busy}>{busy ? "Saving…" : editing ? "Save" : "Create stream"}</BusyButton>
        </div>
        <ErrorBox error={error} />
      </form>
    </section>
  );
}
