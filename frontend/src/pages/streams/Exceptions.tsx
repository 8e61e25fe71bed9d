import { useEffect, useLayoutEffect, useRef, useState, type FormEvent } from "react";
import { Link, useLocation, useNavigate, useParams } from "react-router-dom";
import { exceptions, runs } from "../../services/api";
import { allStreams, namesOf } from "../../services/lookup";
import { exceptionsCsv } from "../../services/export";
import { ExportCsv } from "../../components/ExportCsv";
import { EXCEPTION_REASONS, EXCEPTION_SIDES, EXCEPTION_STATUSES, type Artifact, type ClosestCandidate, type ExceptionPatch, type ExceptionStatus, type ReconException } from "../../services/types";

const candidate = (x: ReconException) => (x.closestCandidate ?? null) as ClosestCandidate | null;
import { fmtDate, num, show } from "../../services/format";
import { Badge, BusyButton, Crumbs, ErrorBox, FieldError, invalidFilter, keepTicks, Kv, LoadFailed, Loading, NoRows, Pager, Rereading, RunLink, Select, StaleNotice, TableScroll, useFocusFallback, useLoad, useTitle, useUrlState } from "../../components/ui";
import { DownloadButton } from "./Files";
import { byArtifactOrder } from "./Runs";

const KEYS = ["status", "reason", "side", "streamId", "runId", "reconciliationId", "assignee", "olderThanDays"] as const;

/**
 * Where an exception page was opened from: the list's filters and page, and that page's exceptions in order;
 * `next`: reached with "Next exception" (its heading then takes the focus).
 */
type FromList = { list: string; ids: number[]; next?: boolean };

export function ExceptionsPage() {
  useTitle("Exceptions");
  const { search } = useLocation();
  const { values: f, page, set } = useUrlState(KEYS);
  // an id or a number of days as typed: a whole number as a number, anything else (an old or hand-made
  // link's "abc") sent as it is, so that the API's complaint names it (Number("abc") went as 'NaN')
  const n = (v: string) => (!v ? undefined : /^\s*-?\d+\s*$/.test(v) ? Number(v) : (v as unknown as number));
  const query = {
    status: (f.status || undefined) as ExceptionStatus | undefined, reason: (f.reason || undefined) as never, side: (f.side || undefined) as never,
    streamId: n(f.streamId), runId: n(f.runId), reconciliationId: n(f.reconciliationId), assignee: f.assignee || undefined, olderThanDays: n(f.olderThanDays),
  };
  const { data, error, loading, reload, outdated } = useLoad(() => exceptions.list({ ...query, page, pageSize: 25 }), [page, ...KEYS.map((k) => f[k])]);
  // the rows ticked for a change to all of them at once (this page's rows only)
  const [picked, setPicked] = useState<Set<number>>(new Set());
  const [bulkResult, setBulkResult] = useState<BulkResult | null>(null);
  // a CSV download stopped because the filters changed while it read its pages (it would have saved the old filters' rows)
  const [exportStopped, setExportStopped] = useState<string | null>(null);
  // the ticked rows' form goes with the change applied (and the button pressed): the focus goes to its outcome
  const bulkDone = useRef<HTMLDivElement>(null);
  useFocusFallback(bulkDone, bulkResult);
  // a new read of the list keeps the ticks of the rows it still shows (the same page read again must not
  // drop what was ticked meanwhile); a change applied to them clears them (below)
  useEffect(() => setPicked((p) => keepTicks(p, (data?.items ?? []).map((x) => x.id))), [data]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => setBulkResult(null), [page, ...KEYS.map((k) => f[k])]);
  const filtered = KEYS.some((k) => f[k]);
  const text = (k: (typeof KEYS)[number], label: string, type = "text") => (
    <label className="filter" htmlFor={k}>
      <span>{label}</span>
      <input id={k} type={type} size={8} defaultValue={f[k]} key={f[k]} onKeyDown={(e) => e.key === "Enter" && set({ [k]: (e.target as HTMLInputElement).value })} onBlur={(e) => e.target.value !== f[k] && set({ [k]: e.target.value })} {...invalidFilter(error, k)} />
      <FieldError error={error} field={k} id={`${k}-error`} />
    </label>
  );
  const items = data?.items ?? [];
  const all = items.length > 0 && items.every((x) => picked.has(x.id));
  const toggle = (id: number, on: boolean) => setPicked((p) => { const q = new Set(p); if (on) q.add(id); else q.delete(id); return q; });
  return (
    <section>
      <h1>Exceptions</h1>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <Select id="status" label="Status" value={f.status} options={EXCEPTION_STATUSES} error={error} onChange={(v) => set({ status: v })} />
        <Select id="reason" label="Reason" value={f.reason} options={EXCEPTION_REASONS} error={error} onChange={(v) => set({ reason: v })} />
        <Select id="side" label="Side" value={f.side} options={EXCEPTION_SIDES} error={error} onChange={(v) => set({ side: v })} />
        <StreamFilter value={f.streamId} error={error} onChange={(v) => set({ streamId: v })} />
        {text("runId", "Run id", "number")}
        {text("reconciliationId", "Reconciliation id", "number")}
        {text("assignee", "Assignee")}
        {text("olderThanDays", "Older than (days)", "number")}
        {filtered && <button type="button" className="link" onClick={() => set(Object.fromEntries(KEYS.map((k) => [k, ""])))}>Clear filters</button>}
        {/* the count of the rows shown, for the filters they were read for: while the list is read for new filters, none */}
        {data && outdated && loading && <span className="muted small">Counting the exceptions of these filters…</span>}
        {/* mounted while another page is read (a download running goes on: same filters), not shown meanwhile */}
        {data && data.totalItems > 0 && <ExportCsv noun="exceptions" filters={query} total={data.totalItems} hidden={outdated} onStopped={setExportStopped} readPage={(p, signal) => exceptions.list({ ...query, page: p, pageSize: 100 }, signal)} toCsv={exceptionsCsv} />}
      </form>
      {exportStopped && <p className="muted small" role="status" data-export-stopped>{exportStopped}</p>}
      <ErrorBox error={error} retry={reload} />
      {data && !outdated && <StepContext items={items} narrowed={!!f.reconciliationId || data.totalPages <= 1} />}
      {loading && !data && <Loading what="Loading exceptions" />}
      <Rereading outdated={outdated} loading={loading}>
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>{filtered ? "No exception matches these filters." : "No exception: every row of every run found its match, or nothing has run yet."}</NoRows>}
      {picked.size > 0 && <BulkChange ids={items.filter((x) => picked.has(x.id)).map((x) => x.id)} onDone={(r) => { setBulkResult(r); setPicked(new Set()); reload(); }} />}
      {bulkResult && (
        <div role="status" className={bulkResult.failed.length ? "error-box" : "card ok-box"} data-bulk-result ref={bulkDone} tabIndex={-1}>
          Changed {bulkResult.ok} of {bulkResult.ok + bulkResult.failed.length} exception{bulkResult.ok + bulkResult.failed.length === 1 ? "" : "s"}{bulkResult.failed.length ? "; these were not changed:" : "."}
          {bulkResult.failed.length > 0 && <ul>{bulkResult.failed.map(([id, m]) => <li key={id}><Link to={`/exceptions/${id}`}>#{id}</Link>: {m}</li>)}</ul>}
        </div>
      )}
      {data && data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="exceptions">
          <thead>
            <tr>
              <th><input type="checkbox" aria-label="select every exception of this page" checked={all} onChange={(e) => setPicked(e.target.checked ? new Set(items.map((x) => x.id)) : new Set())} /></th>
              <th>Id</th><th>Side</th><th>Row</th><th>Reason</th><th>Closest candidate</th><th>Status</th><th>Assignee</th><th>Run</th><th>Updated</th>
            </tr>
          </thead>
          <tbody>
            {data.items.map((x) => (
              <tr key={x.id} data-exception={x.id} className={picked.has(x.id) ? "selected" : ""}>
                <td><input type="checkbox" aria-label={`select exception ${x.id}`} checked={picked.has(x.id)} onChange={(e) => toggle(x.id, e.target.checked)} /></td>
                <td><Link to={`/exceptions/${x.id}`} state={{ list: search, ids: data.items.map((y) => y.id) } satisfies FromList}>{x.id}</Link></td>
                <td><Badge value={x.side} /></td>
                <td><code className="long" title={x.rowKey ?? undefined}>{x.rowKey}</code></td>
                <td><Badge value={x.reason} /></td>
                <td className="small">{candidate(x) ? <><code className="long" title={candidate(x)!.rowKey}>{candidate(x)!.rowKey}</code>: {candidate(x)!.detail}</> : "—"}</td>
                <td><Badge value={x.status} /></td>
                <td className="text">{x.assignee ?? "—"}</td>
                <td><RunLink id={x.runId} step={x.stepOrder} /> <span className="muted small">step {x.stepOrder}</span></td>
                <td>{fmtDate(x.updatedAt)}</td>
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

/**
 * The stream filter as a choice of the streams by name (a person at month end knows "Settlement", not 9013);
 * every stream is offered (all pages of the list); a stream id from a link that is not among them (a
 * stream deleted since) is kept as its own choice.
 */
function StreamFilter({ value, error, onChange }: { value: string; error: unknown; onChange: (v: string) => void }) {
  const list = useLoad(allStreams, []);
  const items = list.data ?? [];
  return (
    <label className="filter" htmlFor="streamId">
      <span>Stream</span>
      <select id="streamId" name="streamId" className="long-names" value={value} onChange={(e) => onChange(e.target.value)} {...invalidFilter(error, "streamId")}>
        <option value="">any</option>
        {value && !items.some((x) => String(x.id) === value) && <option value={value}>stream #{value}</option>}
        {items.map((x) => <option key={x.id} value={String(x.id)}>{x.name} (#{x.id})</option>)}
      </select>
      <FieldError error={error} field="streamId" id="streamId-error" />
    </label>
  );
}

type BulkResult = { ok: number; failed: [number, string][] };

/**
 * One change (status, assignee, note: what is left empty is kept) to every ticked exception, one
 * PATCH each as a script would do; each change is in that exception's history. Failures are listed.
 */
function BulkChange({ ids, onDone }: { ids: number[]; onDone: (r: BulkResult) => void }) {
  const [status, setStatus] = useState<"" | ExceptionStatus>("");
  const [assignee, setAssignee] = useState("");
  const [note, setNote] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  const body: ExceptionPatch = { ...(status ? { status } : {}), ...(assignee.trim() ? { assignee: assignee.trim() } : {}), ...(note.trim() ? { note: note.trim() } : {}) };
  const empty = Object.keys(body).length === 0;
  async function apply(e: FormEvent) {
    e.preventDefault();
    if (empty) return;
    const failed: [number, string][] = [];
    let ok = 0;
    for (let i = 0; i < ids.length; i++) {
      setProgress(i);
      try {
        await exceptions.patch(ids[i], body);
        ok++;
      } catch (err) {
        failed.push([ids[i], err instanceof Error ? err.message : String(err)]);
      }
    }
    setProgress(null);
    onDone({ ok, failed });
  }
  const busy = progress !== null;
  return (
    <form className="card form bulk" onSubmit={apply} aria-label="change the selected exceptions">
      <div className="row">
        <strong className="bulk-count">{ids.length} selected</strong>
        <label>Status
          <select name="bulk-status" value={status} onChange={(e) => setStatus(e.target.value as ExceptionStatus | "")}>
            <option value="">keep</option>
            {EXCEPTION_STATUSES.map((st) => <option key={st} value={st}>{st}</option>)}
          </select>
        </label>
        <label>Assignee<input name="bulk-assignee" value={assignee} onChange={(e) => setAssignee(e.target.value)} placeholder="keep" /></label>
        <label>Note<input name="bulk-note" value={note} onChange={(e) => setNote(e.target.value)} placeholder="keep" /></label>
      </div>
      <div className="actions">
        <BusyButton type="submit" className="primary" busy={busy} disabled={empty}>{busy ? `Saving ${progress! + 1} of ${ids.length}…` : `Apply to ${ids.length} exception${ids.length === 1 ? "" : "s"}`}</BusyButton>
      </div>
    </form>
  );
}

export function ExceptionDetailPage() {
  const id = Number(useParams().id);
  const { data: x, error, reload, setData } = useLoad(() => exceptions.get(id), [id], id);
  const [historyPage, setHistoryPage] = useState(1);
  useEffect(() => setHistoryPage(1), [id]);
  const history = useLoad(() => exceptions.history(id, { page: historyPage, pageSize: 20 }), [id, historyPage], id);
  // the stream by its name (an id alone says nothing to the person working the exception); "#id" until read or if unreadable
  const streamId = x?.streamId;
  const stream = useLoad(() => (streamId ? namesOf("stream", [streamId]) : Promise.resolve(null)), [streamId]);
  useTitle(x ? `Exception ${x.rowKey ?? x.id}` : `Exception ${id}`);
  // opened from the queue: back to it with its filters, and on to the next exception of that page
  const from = (useLocation().state ?? null) as FromList | null;
  const nav = useNavigate();
  const next = from ? from.ids[from.ids.indexOf(id) + 1] : undefined;
  // "Next exception" pressed from the keyboard: the page is read again for the next one and the button goes
  // with the old one; the focus goes to the new exception's heading (its key, reason and status), not to the
  // top of the page, so that working through the queue needs no Tab through the menu each time
  const heading = useRef<HTMLHeadingElement>(null);
  const shown = x?.id;
  useLayoutEffect(() => {
    if (shown !== undefined && from?.next) heading.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [shown]);
  if (error && !x) return <LoadFailed what={`Exception #${id}`} error={error} back={["Exceptions", "/exceptions"]} retry={reload} />;
  if (!x) return <Loading what="Loading the exception" />;
  const entries = history.data?.items ?? [];
  const cc = candidate(x);
  return (
    <section>
      <Crumbs items={[["Exceptions", `/exceptions${from?.list ?? ""}`], [x.rowKey ?? `#${x.id}`, null]]} />
      {from && (
        <nav className="actions" aria-label="queue">
          <Link to={`/exceptions${from.list}`}>← Back to the list</Link>
          {next !== undefined ? (
            <button type="button" onClick={() => nav(`/exceptions/${next}`, { state: { ...from, next: true } satisfies FromList })}>Next exception of the list ({from.ids.indexOf(id) + 2} of {from.ids.length}) →</button>
          ) : (
            <span className="muted small">last exception of that page</span>
          )}
        </nav>
      )}
      <h1 ref={heading} tabIndex={-1}><code>{x.rowKey}</code> <Badge value={x.reason} /> <Badge value={x.status} /></h1>
      <StaleNotice error={error} />
      <Kv items={[["side", <Badge value={x.side} />], ["reconciliation", <Link to={`/reconciliations/${x.reconciliationId}`}>{x.reconciliationId}</Link>], ["run", <Link to={`/runs/${x.runId}#step-${x.stepOrder}`}>#{x.runId} step {x.stepOrder}</Link>], ["stream", <Link to={`/streams/${x.streamId}`}>{stream.data?.[x.streamId] ? `${stream.data[x.streamId]} (#${x.streamId})` : `#${x.streamId}`}</Link>], ["resolved", x.resolvedAt ? `${fmtDate(x.resolvedAt)} by ${x.resolvedBy ?? "—"}` : "—"], ["assignee", x.assignee], ["note", x.note], ["created", fmtDate(x.createdAt)], ["updated", fmtDate(x.updatedAt)]]} />
      {cc ? (
        <div className="card">
          <h2>Why it did not match</h2>
          <p>
            Closest candidate <code>{cc.rowKey}</code> in pass “{cc.pass}” failed on <strong>{cc.failedCondition}</strong>: {cc.detail}
          </p>
        </div>
      ) : (
        <p className="muted">{x.reason === "NO_CANDIDATE" ? "No row of the other side shares this row's equality keys in any pass." : "No closest candidate recorded."}</p>
      )}
      <h2>Row</h2>
      <TableScroll><table className="grid narrow" aria-label="row data">
        <tbody>{Object.entries(x.rowData ?? {}).map(([k, v]) => <tr key={k}><th scope="row">{k}</th><td><code>{show(v)}</code></td></tr>)}</tbody>
      </table></TableScroll>
      <StepFiles x={x} />
      <ExceptionForm key={x.id} x={x} onSaved={(n) => { setData(n); if (historyPage === 1) history.reload(); else setHistoryPage(1); reload(); }} />
      <h2>History <span className="muted small">(newest first)</span></h2>
      <ErrorBox error={history.error} />
      {entries.length === 0 ? <p className="muted">No change yet.</p> : (
        <TableScroll><table className="grid" aria-label="history">
          <thead><tr><th>When</th><th>Who</th><th>Change</th></tr></thead>
          <tbody>
            {entries.map((h, i) => (
              <tr key={h.id ?? i}>
                <td className="nowrap">{fmtDate(h.changedAt)}</td>
                <td className="text">{h.changedBy}</td>
                <td className="small text">{Object.entries(h.changes ?? {}).map(([k, v]) => `${k}: ${describeChange(v)}`).join(" · ")}</td>
              </tr>
            ))}
          </tbody>
        </table></TableScroll>
      )}
      {history.data && history.data.totalPages > 1 && (
        <Pager page={history.data.page} totalPages={history.data.totalPages} totalItems={history.data.totalItems} onPage={setHistoryPage} />
      )}
    </section>
  );
}

function ExceptionForm({ x, onSaved }: { x: ReconException; onSaved: (x: ReconException) => void }) {
  const [status, setStatus] = useState<ExceptionStatus>(x.status);
  const [assignee, setAssignee] = useState(x.assignee ?? "");
  const [note, setNote] = useState(x.note ?? "");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState(false);
  const [nothing, setNothing] = useState(false);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone(false);
    setNothing(false);
    // only what the person changed here: a field left as it was read is not sent, so an assignee or a
    // note someone else set since this page was read is not put back to what this page showed
    const body: ExceptionPatch = {
      ...(status !== x.status ? { status } : {}),
      ...((assignee.trim() || null) !== (x.assignee ?? null) ? { assignee: assignee.trim() || null } : {}),
      ...((note.trim() || null) !== (x.note ?? null) ? { note: note.trim() || null } : {}),
    };
    if (Object.keys(body).length === 0) {
      setBusy(false);
      setNothing(true);
      return;
    }
    try {
      onSaved(await exceptions.patch(x.id, body));
      setDone(true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form className="card form" onSubmit={submit} aria-label="work the exception">
      <h2>Work it</h2>
      <div className="row">
        <label>Status
          <select name="status" value={status} onChange={(e) => setStatus(e.target.value as ExceptionStatus)}>{EXCEPTION_STATUSES.map((s) => <option key={s}>{s}</option>)}</select>
          <FieldError error={error} field="status" />
        </label>
        <label>Assignee<input name="assignee" value={assignee} onChange={(e) => setAssignee(e.target.value)} placeholder="name@company.com" /><FieldError error={error} field="assignee" /></label>
      </div>
      <label>Note<textarea name="note" rows={3} value={note} onChange={(e) => setNote(e.target.value)} /><FieldError error={error} field="note" /></label>
      <div className="actions"><BusyButton type="submit" className="primary" busy={busy}>{busy ? "Saving…" : "Save"}</BusyButton></div>
      {done && <p className="ok" role="status">Saved.</p>}
      {nothing && <p className="muted" role="status">Nothing to save: status, assignee and note are as they were.</p>}
      <ErrorBox error={error} />
    </form>
  );
}

function describeChange(v: unknown): string {
  if (v && typeof v === "object" && ("from" in v || "to" in v)) {
    const c = v as { from?: unknown; to?: unknown };
    return `${show(c.from)} → ${show(c.to)}`;
  }
  return show(v);
}

/**
 * The list narrowed to one step's exceptions (the run page's "N exceptions" link filters by its
 * reconciliation): say which run and step they are, with the way back to that step and its files.
 */
function StepContext({ items, narrowed }: { items: ReconException[]; narrowed: boolean }) {
  // only when the list is that step's: filtered to its reconciliation, or all of the list on this page; the
  // whole queue's (or a stream's) first page often comes from one step, and is not "the exceptions of" that step
  if (!narrowed || items.length === 0) return null;
  const { runId, stepOrder } = items[0];
  if (!items.every((x) => x.runId === runId && x.stepOrder === stepOrder)) return null;
  return (
    <p className="context" data-step-context>
      Exceptions of <Link to={`/runs/${runId}#step-${stepOrder}`}>run #{runId}, step {stepOrder}</Link> (its counts and output files are there).
    </p>
  );
}

/** The unmatched rows of a side are written to that side's UNMATCHED artifact: the file that holds this row. */
const HOLDS: Record<string, string> = { SOURCE: "UNMATCHED_SOURCE", TARGET: "UNMATCHED_TARGET" };

/** The files the exception's step wrote, the one that holds this row first and marked. */
function StepFiles({ x }: { x: ReconException }) {
  const { data, error } = useLoad<Artifact[]>(() => runs.artifacts(x.stepRunId), [x.stepRunId]);
  const holds = HOLDS[x.side];
  // the file holding the row first, then the others as the run page lists them
  const sorted = [...(data ?? [])].sort((a, b) => Number(b.artifactType === holds) - Number(a.artifactType === holds) || byArtifactOrder(a, b));
  return (
    <section aria-labelledby="step-files">
      <h2 id="step-files">Files of <Link to={`/runs/${x.runId}#step-${x.stepOrder}`}>run #{x.runId} step {x.stepOrder}</Link></h2>
      <ErrorBox error={error} />
      {!data && !error && <Loading what="Loading the step's files" />}
      {data && data.length === 0 && <p className="muted">The step wrote no file (yet): its outputs are registered when it completes.</p>}
      {data && data.length > 0 && (
        <TableScroll><table className="grid" aria-label="files of the step">
          <thead><tr><th>Artifact</th><th>File</th><th className="r">Rows</th><th /></tr></thead>
          <tbody>
            {sorted.map((a) => (
              <tr key={a.id} data-artifact={a.artifactType} data-holds-row={a.artifactType === holds ? "yes" : undefined}>
                <td><Badge value={a.artifactType} />{a.artifactType === holds && <strong className="small"> holds this row</strong>}</td>
                <td><Link className="long" title={a.filename} to={`/files/${a.fileId}`}>{a.filename}</Link></td>
                <td className="r">{num(a.rowCount)}</td>
                <td><DownloadButton url={a.downloadUrl} filename={a.filename} checksum={a.checksum} /></td>
              </tr>
            ))}
          </tbody>
        </table></TableScroll>
      )}
    </section>
  );
}
