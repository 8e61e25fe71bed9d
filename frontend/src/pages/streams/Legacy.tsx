import { useLayoutEffect, useRef, useState, type FormEvent } from "react";
import { Link, useParams } from "react-router-dom";
import { ApiError, files, legacy } from "../../services/api";
import { allRuleSets, namesOf } from "../../services/lookup";
import { ruleSetOption } from "../../services/rulesets";
import { FileFinder, FileOptions, pickableFiles } from "../../components/FileOptions";
import { EXCEPTION_REASONS, EXCEPTION_SIDES, EXCEPTION_STATUSES, LEGACY_STATUSES, type LegacyReconciliation, type LegacyStatus } from "../../services/types";
import { fmtDate, num, shareOf } from "../../services/format";
import { Badge, BusyButton, ChoicesFailed, Crumbs, ErrorBox, FieldError, FIRST_INVALID, Kv, LoadFailed, Loading, NoRows, Pager, Progress, Rereading, Select, StaleNotice, TableScroll, useFocusFallback, useHandOn, useLoad, useOpener, usePoll, useRetryWait, useTitle, useUrlState, waitLabel } from "../../components/ui";

/** Matched source rows as a share of the source, from the counts (the API's matchRate is rounded to 2 decimals). */
function rateOf(r: Pick<LegacyReconciliation, "matchedRecords" | "totalSourceRecords" | "matchRate">): string {
  return shareOf(r.matchedRecords, r.totalSourceRecords) ?? (r.matchRate === null || r.matchRate === undefined ? "—" : `${r.matchRate} %`);
}

export function LegacyPage() {
  useTitle("Reconciliations");
  const { values: f, page, set } = useUrlState(["status"] as const);
  const status = (f.status || undefined) as LegacyStatus | undefined;
  const { data, error, loading, reload, outdated } = useLoad(() => legacy.list({ page, pageSize: 20, status }), [page, status]);
  usePoll(reload, 2000, !!data?.items.some((r) => r.status === "IN_PROGRESS"));
  return (
    <section>
      <h1>Reconciliations</h1>
      <p className="muted">One source, one target, one rule set. Every step of every stream run is listed here too.</p>
      <NewReconciliation onCreated={reload} />
      {/* the list holds every step run of every stream: the failed or running ones without paging through all */}
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <Select id="status" label="Status" value={f.status} options={LEGACY_STATUSES} error={error} onChange={(v) => set({ status: v })} />
      </form>
      <ErrorBox error={error} retry={reload} />
      {loading && !data && <Loading what="Loading reconciliations" />}
      <Rereading outdated={outdated} loading={loading}>
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>{status ? <>No reconciliation is {status.replace(/_/g, " ").toLowerCase()}. <button type="button" className="link" onClick={() => set({ status: "" })}>Show every status</button></> : "No reconciliation yet. Create one above, or run a stream."}</NoRows>}
      {data && data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="reconciliations">
          <thead><tr><th>Id</th><th>Name</th><th>Status</th><th className="r">Matched</th><th className="r">Exceptions</th><th className="r">Match rate</th><th>Created</th></tr></thead>
          <tbody>
            {data.items.map((r) => (
              <tr key={r.id}>
                <td>{r.id}</td>
                <td><Link className="long" title={r.name} to={`/reconciliations/${r.id}`}>{r.name}</Link></td>
                <td><Badge value={r.status} /></td>
                <td className="r">{num(r.matchedRecords)}</td>
                <td className="r">{num(r.exceptionCount)}</td>
                <td className="r">{rateOf(r)}</td>
                <td>{fmtDate(r.createdAt)}</td>
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

function NewReconciliation({ onCreated }: { onCreated: () => void }) {
  const [open, setOpen] = useState(false);
  const [v, setV] = useState({ name: "", sourceFileId: 0, targetFileId: 0, ruleSetId: 0 });
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  // refused for the key's rate limit on run creation (429): the form kept, its button waits out Retry-After
  const wait = useRetryWait(error);
  // the files offered: every page up to a cap; past it, found by the start of their name
  const [fileName, setFileName] = useState("");
  const pick = useLoad(async () => (open ? Promise.all([pickableFiles(fileName), allRuleSets()]) : null), [open, fileName]);
  const opener = useOpener(open);
  const form = useRef<HTMLFormElement>(null);
  const handOn = useHandOn(form);
  // the button pressed goes with the form it opens: the focus goes to the form's first field (it fell to
  // the top of the page, and the next Tab went through the menu), as the new data source's form does
  useLayoutEffect(() => {
    if (open) form.current?.querySelector<HTMLInputElement>("input[name=name]")?.focus();
  }, [open]);
  const inv = (field: string) => (error instanceof ApiError && error.fields[field] ? true : undefined);
  if (!open) return <button ref={opener} type="button" onClick={() => setOpen(true)}>New reconciliation</button>;
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (busy || wait > 0) return;
    // what the form can tell before asking the API (which would answer "must be >= 1 (got 0)")
    const local: Record<string, string> = {};
    if (!v.name.trim()) local.name = "a name is required";
    if (!v.sourceFileId) local.sourceFileId = "choose the source file";
    if (!v.targetFileId) local.targetFileId = "choose the target file";
    if (!v.ruleSetId) local.ruleSetId = "choose a rule set";
    if (Object.keys(local).length) {
      setError(new ApiError(400, "VALIDATION_ERROR", "Some fields need attention", local));
      handOn(FIRST_INVALID);
      return;
    }
    setError(null);
    setBusy(true);
    try {
      const r = await legacy.create(v);
      await legacy.start(r.id);
      setOpen(false);
      onCreated();
    } catch (err) {
      setError(err);
      handOn(FIRST_INVALID);
    } finally {
      setBusy(false);
    }
  }
  return (
    <form ref={form} className="card form" onSubmit={submit} aria-label="new reconciliation">
      <ChoicesFailed what="The files and rule sets to choose from" error={pick.error} retry={pick.reload} />
      <FileFinder list={pick.data?.[0]} onFind={setFileName} />
      <div className="row">
        <label>Name<input name="name" value={v.name} onChange={(e) => setV({ ...v, name: e.target.value })} aria-invalid={inv("name")} /><FieldError error={error} field="name" /></label>
        {(["sourceFileId", "targetFileId"] as const).map((k) => (
          <label key={k}>{k === "sourceFileId" ? "Source file" : "Target file"}
            <select name={k} value={v[k] || ""} onChange={(e) => setV({ ...v, [k]: Number(e.target.value) })} aria-invalid={inv(k)}>
              <option value="">choose…</option>
              <FileOptions list={pick.data?.[0]} selected={v[k]} />
            </select>
            <FieldError error={error} field={k} />
          </label>
        ))}
        <label>Rule set
          <select name="ruleSetId" value={v.ruleSetId || ""} onChange={(e) => setV({ ...v, ruleSetId: Number(e.target.value) })} aria-invalid={inv("ruleSetId")}>
            <option value="">choose…</option>
            {(pick.data?.[1] ?? []).map((r) => <option key={r.id} value={r.id}>{ruleSetOption(r)}</option>)}
          </select>
          <FieldError error={error} field="ruleSetId" />
        </label>
      </div>
      <div className="actions"><BusyButton type="submit" className="primary" busy={busy || wait > 0}>{busy ? "Starting…" : waitLabel("Create and start", wait)}</BusyButton><button type="button" onClick={() => setOpen(false)}>Cancel</button></div>
      <ErrorBox error={error} />
    </form>
  );
}

export function LegacyDetailPage() {
  const id = Number(useParams().id);
  const { values: f, page, set } = useUrlState(["side", "reason", "status"] as const);
  const { data: r, error, reload } = useLoad<LegacyReconciliation>(() => legacy.get(id), [id], id);
  const status = useLoad(() => legacy.status(id), [id], id);
  // the inputs and the rule set by name (an input that cannot be read keeps its number)
  const names = useLoad(async () => {
    const fileName = (f: number | null | undefined) => (f ? files.get(f).then((x) => x.filename, () => null) : Promise.resolve(null));
    const [source, target, ruleSet] = await Promise.all([fileName(r?.sourceFileId), fileName(r?.targetFileId), r?.ruleSetId ? namesOf("ruleSet", [r.ruleSetId]).then((n) => n[r.ruleSetId!]) : null]);
    return { source, target, ruleSet };
  }, [r?.sourceFileId, r?.targetFileId, r?.ruleSetId]);
  const fileLink = (f: number | null | undefined) => {
    if (!f) return "—";
    const n = f === r?.sourceFileId ? names.data?.source : names.data?.target;
    return <Link to={`/files/${f}`}>{n ? `${n} (#${f})` : `#${f}`}</Link>;
  };
  const exc = useLoad(() => legacy.exceptions(id, { page, pageSize: 20, side: (f.side || undefined) as never, reason: (f.reason || undefined) as never, status: (f.status || undefined) as never }), [id, page, f.side, f.reason, f.status], id);
  const [actionError, setActionError] = useState<unknown>(null);
  const running = r?.status === "IN_PROGRESS" || r?.status === "PENDING";
  // Start and Cancel go once pressed (a started one has no Start, a canceled one no Cancel): the focus goes to the heading
  const [busy, setBusy] = useState(false);
  const [acted, setActed] = useState(0);
  const heading = useRef<HTMLHeadingElement>(null);
  useFocusFallback(heading, acted && `${acted} ${r?.status}`);
  usePoll(async () => { await Promise.all([reload(), status.reload()]); }, 1500, r?.status === "IN_PROGRESS");
  useTitle(r ? `Reconciliation ${r.name}` : `Reconciliation ${id}`);
  if (error && !r) return <LoadFailed what={`Reconciliation #${id}`} error={error} back={["Reconciliations", "/reconciliations"]} retry={reload} />;
  if (!r) return <Loading what="Loading the reconciliation" />;
  const act = async (fn: () => Promise<unknown>) => {
    setActionError(null);
    setBusy(true);
    try { await fn(); await reload(); status.reload(); setActed((n) => n + 1); } catch (e) { setActionError(e); } finally { setBusy(false); }
  };
  return (
    <section>
      <Crumbs items={[["Reconciliations", "/reconciliations"], [r.name, null]]} />
      <div className="page-head">
        <h1 ref={heading} tabIndex={-1}>{r.name} <Badge value={r.status} /></h1>
        <div className="actions">
          {r.status === "PENDING" && <BusyButton className="primary" busy={busy} onClick={() => act(() => legacy.start(id))}>Start</BusyButton>}
          {running && <BusyButton className="danger" busy={busy} onClick={() => confirm(`Cancel ${r.name}? This cannot be undone.`) && act(() => legacy.cancel(id))}>Cancel</BusyButton>}
        </div>
      </div>
      <StaleNotice error={error} />
      <ErrorBox error={actionError} />
      {r.status === "IN_PROGRESS" && <Progress value={status.data?.progress ?? 0} label="reconciliation progress" />}
      {r.errorMessage && <div className="error-box">{r.errorMessage}</div>}
      <Kv items={[["source file", fileLink(r.sourceFileId)], ["target file", fileLink(r.targetFileId)], ["rule set", r.ruleSetId ? <Link to={`/rule-sets/${r.ruleSetId}`}>{names.data?.ruleSet ?? `#${r.ruleSetId}`}</Link> : "—"], ["source rows", num(r.totalSourceRecords)], ["target rows", num(r.totalTargetRecords)], ["matched", num(r.matchedRecords)], ["unmatched source", num(r.unmatchedSourceRecords)], ["unmatched target", num(r.unmatchedTargetRecords)], ["exceptions", r.exceptionCount ? <Link to={`/exceptions?reconciliationId=${id}`}>{num(r.exceptionCount)}</Link> : num(r.exceptionCount)], ["match rate", rateOf(r)], ["run", <Link to={`/runs/${r.runId}`}>#{r.runId} step {r.stepOrder}</Link>], ["started", fmtDate(r.startedAt)], ["completed", fmtDate(r.completedAt)]]} />
      <h2>Exceptions</h2>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="exception filters">
        <Select id="side" label="Side" value={f.side} options={EXCEPTION_SIDES} error={exc.error} onChange={(v) => set({ side: v })} />
        <Select id="reason" label="Reason" value={f.reason} options={EXCEPTION_REASONS} error={exc.error} onChange={(v) => set({ reason: v })} />
        <Select id="status" label="Status" value={f.status} options={EXCEPTION_STATUSES} error={exc.error} onChange={(v) => set({ status: v })} />
      </form>
      <ErrorBox error={exc.error} retry={exc.reload} />
      <Rereading outdated={exc.outdated} loading={exc.loading}>
      {exc.data && exc.data.items.length === 0 && <NoRows page={exc.data.page} totalPages={exc.data.totalPages} totalItems={exc.data.totalItems} onPage={(p) => set({ page: p })}>No exception{f.side || f.reason || f.status ? " matches these filters" : ""}.</NoRows>}
      {exc.data && exc.data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="exceptions">
          <thead><tr><th>Id</th><th>Side</th><th>Row</th><th>Reason</th><th>Status</th></tr></thead>
          <tbody>{exc.data.items.map((x) => <tr key={x.id}><td><Link to={`/exceptions/${x.id}`}>{x.id}</Link></td><td><Badge value={x.side} /></td><td><code className="long" title={x.rowKey ?? undefined}>{x.rowKey}</code></td><td><Badge value={x.reason} /></td><td><Badge value={x.status} /></td></tr>)}</tbody>
        </table></TableScroll>
      )}
      {exc.data && <Pager page={exc.data.page} totalPages={exc.data.totalPages} totalItems={exc.data.totalItems} onPage={(p) => set({ page: p })} />}
      </Rereading>
    </section>
  );
}
