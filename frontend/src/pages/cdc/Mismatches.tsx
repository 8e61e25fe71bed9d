import { useEffect, useLayoutEffect, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { Link } from "react-router-dom";
import { cdc } from "../../services/api";
import { MISMATCH_TYPES, RESOLUTION_STATUSES, type Mismatch } from "../../services/types";
import { differingFields, fmtDate, show } from "../../services/format";
import { mismatchesCsv } from "../../services/export";
import { ExportCsv } from "../../components/ExportCsv";
import { Badge, BusyButton, DateFilter, Empty, ErrorBox, FieldError, invalidFilter, keepTicks, Loading, NoRows, Pager, Rereading, Select, TableScroll, useFocusFallback, useLoad, useTitle, useUrlState } from "../../components/ui";

const PAGE_SIZE = 25;
const SEARCH_PAGES = 20; // up to 2,000 mismatches are searched for a linked one

const KEYS = ["table", "mismatch_type", "resolution_status", "job_id", "from_date", "to_date", "selected"] as const;

export function MismatchBrowser() {
  useTitle("CDC mismatches");
  const { values: f, page, set } = useUrlState(KEYS);
  const tables = useLoad(() => cdc.tables(), []);
  const filters = {
    table: f.table || undefined,
    mismatch_type: (f.mismatch_type || undefined) as never,
    resolution_status: (f.resolution_status || undefined) as never,
    job_id: f.job_id || undefined,
    from_date: f.from_date || undefined,
    to_date: f.to_date || undefined,
  };
  const { data, error, loading, reload, outdated } = useLoad(
    () => cdc.mismatches({ ...filters, page, page_size: PAGE_SIZE }),
    [f.table, f.mismatch_type, f.resolution_status, f.job_id, f.from_date, f.to_date, page],
  );
  // a link to one mismatch (a job's sample: its oldest, while this list shows the newest first) may
  // name one that is not on the page asked for: look for it and go to its page
  const [missing, setMissing] = useState<string | null>(null);
  useEffect(() => {
    const want = f.selected;
    if (!data || !want || data.mismatches.some((m) => m.mismatch_id === want) || kept?.mismatch_id === want) return;
    let stop = false;
    (async () => {
      for (let p = 1; p <= SEARCH_PAGES; p++) {
        const r = await cdc.mismatches({ ...filters, page: p, page_size: 100 });
        const i = r.mismatches.findIndex((m) => m.mismatch_id === want);
        if (i >= 0) {
          const target = Math.floor(((p - 1) * 100 + i) / PAGE_SIZE) + 1;
          if (!stop && target !== page) set({ page: target, selected: want });
          return;
        }
        if (p >= r.pagination.total_pages) break;
      }
      if (!stop) setMissing(want);
    })().catch(() => !stop && setMissing(want));
    return () => {
      stop = true;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [data, f.selected]);
  // a mismatch just resolved or ignored may leave the filtered list (resolution PENDING): it stays
  // open with its new status, so the person sees the change was made
  const [kept, setKept] = useState<Mismatch | null>(null);
  // the rows ticked for one resolution to all of them (this page's rows only)
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [bulkResult, setBulkResult] = useState<BulkResult | null>(null);
  // a CSV download stopped because the filters changed while it read its pages (it would have saved the old filters' rows)
  const [exportStopped, setExportStopped] = useState<string | null>(null);
  // the ticked rows' form goes with the change applied (and the button pressed): the focus goes to its outcome
  const bulkDone = useRef<HTMLDivElement>(null);
  useFocusFallback(bulkDone, bulkResult);
  // a new read of the list keeps the ticks of the rows it still shows (e.g. after one of them was
  // resolved from its comparison); a change applied to them clears them (below)
  useEffect(() => setPicked((p) => keepTicks(p, (data?.mismatches ?? []).map((m) => m.mismatch_id))), [data]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  useEffect(() => setBulkResult(null), [f.table, f.mismatch_type, f.resolution_status, f.job_id, f.from_date, f.to_date, page]);
  const selected = data?.mismatches.find((m) => m.mismatch_id === f.selected) ?? (kept && kept.mismatch_id === f.selected ? kept : null);
  const filtered = KEYS.some((k) => k !== "selected" && f[k]);
  // selecting a row keeps the page and filters (a `page` change would be dropped otherwise). The
  // comparison opens beside the list, after every row in the tab order: a row chosen here moves the
  // focus to it, and closing it returns the focus to that row's key
  const chosen = useRef<string | null>(null);
  const select = (id: string | null) => {
    const was = f.selected;
    chosen.current = id;
    set({ selected: id, page });
    if (id === null && was) document.querySelector<HTMLButtonElement>(`tr[data-mismatch="${was}"] button[aria-pressed]`)?.focus();
  };
  return (
    <section>
      <div className="page-head"><h1>Mismatches</h1></div>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <Select id="table" label="Table" value={f.table} options={tables.data ?? []} error={error} fields={["table", "tables"]} onChange={(v) => set({ table: v, selected: null })} />
        <Select id="mismatch_type" label="Type" value={f.mismatch_type} options={MISMATCH_TYPES} error={error} onChange={(v) => set({ mismatch_type: v, selected: null })} />
        <Select id="resolution_status" label="Resolution" value={f.resolution_status} options={RESOLUTION_STATUSES} error={error} onChange={(v) => set({ resolution_status: v, selected: null })} />
        <label className="filter" htmlFor="job_id">
          <span>Job id</span>
          <input id="job_id" placeholder="uuid" size={38} defaultValue={f.job_id} key={f.job_id} onBlur={(e) => e.target.value !== f.job_id && set({ job_id: e.target.value.trim(), selected: null })} onKeyDown={(e) => e.key === "Enter" && set({ job_id: (e.target as HTMLInputElement).value.trim(), selected: null })} {...invalidFilter(error, "job_id")} />
          <FieldError error={error} field="job_id" id="job_id-error" />
        </label>
        <DateFilter id="from_date" label="Detected from (UTC)" value={f.from_date} error={error} onChange={(v) => set({ from_date: v, selected: null })} />
        <DateFilter id="to_date" label="to (UTC)" value={f.to_date} error={error} onChange={(v) => set({ to_date: v, selected: null })} />
        {filtered && <button type="button" className="link" onClick={() => set({ table: "", mismatch_type: "", resolution_status: "", job_id: "", from_date: "", to_date: "", selected: null })}>Clear filters</button>}
        {/* mounted while another page is read (a download running goes on: same filters), not shown meanwhile */}
        {data && data.pagination.total_items > 0 && (
          <ExportCsv
            noun="mismatches"
            filters={filters}
            total={data.pagination.total_items}
            hidden={outdated}
            onStopped={setExportStopped}
            readPage={(p, signal) => cdc.mismatches({ ...filters, page: p, page_size: 100 }, signal).then((r) => ({ items: r.mismatches, totalPages: r.pagination.total_pages }))}
            toCsv={mismatchesCsv}
          />
        )}
      </form>
      {exportStopped && <p className="muted small" role="status" data-export-stopped>{exportStopped}</p>}
      <ErrorBox error={error} retry={reload} />
      {bulkResult && (
        <div role="status" className={bulkResult.failed.length ? "error-box" : "card ok-box"} data-bulk-result ref={bulkDone} tabIndex={-1}>
          {`Marked ${bulkResult.ok} of ${bulkResult.ok + bulkResult.failed.length} ${bulkResult.status.replace(/_/g, " ").toLowerCase()}${bulkResult.failed.length ? "; these were not changed:" : "."}`}
          {bulkResult.failed.length > 0 && <ul>{bulkResult.failed.map(([id, msg]) => <li key={id}><code>{id}</code>: {msg}</li>)}</ul>}
        </div>
      )}
      {loading && !data && <Loading what="Loading mismatches" />}
      {data && data.mismatches.length === 0 && (
        <Rereading outdated={outdated} loading={loading}><NoRows page={data.pagination.page} totalPages={data.pagination.total_pages} totalItems={data.pagination.total_items} onPage={(p) => set({ page: p, selected: null })}>{filtered ? "No mismatch matches these filters. Clear or widen them." : <>No mismatch recorded. <Link to="/cdc/trigger">Run a CHECKSUM or SAMPLE job</Link> to look for some.</>}</NoRows>
          {/* a page past the end has the pager too (every list's): its Previous goes to the last page */}
          <Pager page={data.pagination.page} totalPages={data.pagination.total_pages} totalItems={data.pagination.total_items} onPage={(p) => set({ page: p, selected: null })} /></Rereading>
      )}
      {data && data.mismatches.length > 0 && (
        <div className="split">
          <Rereading outdated={outdated} loading={loading}>
            {picked.size > 0 && <BulkResolve ids={data.mismatches.filter((m) => picked.has(m.mismatch_id)).map((m) => m.mismatch_id)} onDone={(r) => { setBulkResult(r); setPicked(new Set()); reload(); }} />}
            <TableScroll><table className="grid mismatch-list" aria-label="mismatches">
              <thead>
                <tr>
                  <th><input type="checkbox" aria-label="select every mismatch of this page" checked={data.mismatches.every((m) => picked.has(m.mismatch_id))} onChange={(e) => setPicked(e.target.checked ? new Set(data.mismatches.map((m) => m.mismatch_id)) : new Set())} /></th>
                  <th>Table</th><th>Key</th><th>Type</th><th>Detected</th><th>Resolution</th>
                </tr>
              </thead>
              <tbody>
                {data.mismatches.map((m) => (
                  <tr key={m.mismatch_id} className={m.mismatch_id === f.selected ? "selected" : ""} data-mismatch={m.mismatch_id}>
                    <td><input type="checkbox" aria-label={`select mismatch ${m.primary_key_value}`} checked={picked.has(m.mismatch_id)} onChange={(e) => setPicked((p) => { const q = new Set(p); if (e.target.checked) q.add(m.mismatch_id); else q.delete(m.mismatch_id); return q; })} /></td>
                    <td>{m.table_name}</td>
                    <td><button type="button" className="link" onClick={() => select(m.mismatch_id)} aria-pressed={m.mismatch_id === f.selected}><code className="long" title={m.primary_key_value}>{m.primary_key_value}</code></button></td>
                    <td><Badge value={m.mismatch_type} /></td>
                    <td className="when">{fmtDate(m.detected_at)}</td>
                    <td><Badge value={m.resolution_status} /></td>
                  </tr>
                ))}
              </tbody>
            </table></TableScroll>
            <Pager page={data.pagination.page} totalPages={data.pagination.total_pages} totalItems={data.pagination.total_items} onPage={(p) => set({ page: p, selected: null })} />
          </Rereading>
          <div>{!selected && missing && missing === f.selected && <p className="muted" role="status">The mismatch this link names is not among these (filters or resolution changed since).</p>}{selected ? <MismatchPanel key={selected.mismatch_id} m={selected} focus={chosen.current === selected.mismatch_id} onDone={(changed) => { setKept(changed); reload(); }} onClose={() => select(null)} /> : <Empty>Select a mismatch to compare its Cassandra and PostgreSQL rows.</Empty>}</div>
        </div>
      )}
    </section>
  );
}

type BulkResult = { status: string; ok: number; failed: [string, string][] };

/** One resolution (resolved or ignored, with one note) for every ticked mismatch: one request each, failures listed. */
function BulkResolve({ ids, onDone }: { ids: string[]; onDone: (r: BulkResult) => void }) {
  const [notes, setNotes] = useState("");
  const [progress, setProgress] = useState<number | null>(null);
  async function apply(status: "MANUAL_RESOLVED" | "IGNORED", e?: FormEvent) {
    e?.preventDefault();
    const failed: [string, string][] = [];
    let ok = 0;
    for (let i = 0; i < ids.length; i++) {
      setProgress(i);
      try {
        await cdc.resolve(ids[i], { resolution_status: status, resolution_notes: notes.trim() || null });
        ok++;
      } catch (err) {
        failed.push([ids[i], err instanceof Error ? err.message : String(err)]);
      }
    }
    setProgress(null);
    onDone({ status, ok, failed });
  }
  const busy = progress !== null;
  return (
    <form className="card form bulk" onSubmit={(e) => apply("MANUAL_RESOLVED", e)} aria-label="resolve the selected mismatches">
      <div className="row">
        <strong className="bulk-count">{ids.length} selected</strong>
        <label>Note for all of them<input name="bulk-notes" maxLength={1000} value={notes} onChange={(e) => setNotes(e.target.value)} placeholder="What was done, or why the difference is expected" /></label>
      </div>
      <div className="actions">
        <BusyButton type="submit" className="primary" busy={busy}>{busy ? `Saving ${progress! + 1} of ${ids.length}…` : `Mark ${ids.length} resolved`}</BusyButton>
        <BusyButton busy={busy} onClick={() => apply("IGNORED")}>Ignore {ids.length} (expected)</BusyButton>
      </div>
    </form>
  );
}

export function RowCompare({ m }: { m: Pick<Mismatch, "cassandra_data" | "postgres_data"> & { differing_columns?: string[] | null } }) {
  const c = (m.cassandra_data ?? null) as Record<string, unknown> | null;
  const p = (m.postgres_data ?? null) as Record<string, unknown> | null;
  const diff = differingFields(c, p, m.differing_columns);
  const cols = Array.from(new Set([...Object.keys(c ?? {}), ...Object.keys(p ?? {})]));
  return (
    <TableScroll><table className="grid compare" aria-label="row comparison">
      <thead><tr><th>Column</th><th>Cassandra</th><th>PostgreSQL</th></tr></thead>
      <tbody>
        {cols.map((k) => (
          <tr key={k} className={diff.has(k) ? "diff" : ""} data-column={k} data-differs={diff.has(k) ? "yes" : "no"}>
            <th scope="row">{k}{diff.has(k) && <span className="sr-only"> (differs)</span>}</th>
            <td>{c ? <code>{show(c[k])}</code> : <em className="muted">row missing</em>}</td>
            <td>{p ? <code>{show(p[k])}</code> : <em className="muted">row missing</em>}</td>
          </tr>
        ))}
      </tbody>
    </table></TableScroll>
  );
}

function MismatchPanel({ m: given, focus, onDone, onClose }: { m: Mismatch; focus: boolean; onDone: (changed: Mismatch) => void; onClose: () => void }) {
  // resolved or ignored here: shown with its new status at once, not after the list is read again (a slow
  // API left the form, and its Mark resolved, a second or two under "Marked manual resolved")
  const [changed, setChanged] = useState<Mismatch | null>(null);
  const m = changed ?? given;
  const heading = useRef<HTMLHeadingElement>(null);
  useLayoutEffect(() => {
    if (focus) heading.current?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const [notes, setNotes] = useState(m.resolution_notes ?? "");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState<string | null>(null);
  const final = m.resolution_status === "MANUAL_RESOLVED" || m.resolution_status === "AUTO_RESOLVED";
  // resolved or ignored from the keyboard, the button pressed is gone (a resolved mismatch has no form) or
  // disabled (Ignore, once ignored), and the focus with it: it goes back to the comparison's heading, not to
  // the top of the page
  useFocusFallback(heading, done);
  async function resolve(status: "MANUAL_RESOLVED" | "IGNORED", e?: FormEvent) {
    e?.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const r = await cdc.resolve(m.mismatch_id, { resolution_status: status, resolution_notes: notes.trim() || null });
      const now = { ...m, resolution_status: r.resolution_status, resolution_notes: r.resolution_notes, resolved_at: r.resolved_at, resolved_by: r.resolved_by };
      setDone(`Marked ${r.resolution_status.replace(/_/g, " ").toLowerCase()} by ${r.resolved_by ?? "you"}`);
      setChanged(now);
      onDone(now);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }
  // Escape closes the comparison (the focus back on the row that opened it), as its ✕ does; not from a note
  // being typed, which it would throw away
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key !== "Escape" || e.defaultPrevented) return;
    if (e.target instanceof HTMLTextAreaElement && notes !== (m.resolution_notes ?? "")) return;
    e.preventDefault();
    onClose();
  };
  return (
    <article className="card panel" aria-label="mismatch detail" onKeyDown={onKeyDown}>
      <header>
        <h2 ref={heading} tabIndex={-1}><code>{m.primary_key_value}</code></h2>
        <button type="button" className="link" onClick={onClose} aria-label={`close ${m.primary_key_value}`}>✕</button>
      </header>
      <p>
        <Badge value={m.mismatch_type} /> <Badge value={m.resolution_status} /> in <strong>{m.table_name}</strong>, detected {fmtDate(m.detected_at)} by{" "}
        <Link to={`/cdc/jobs/${m.job_id}`}>job {m.job_id.slice(0, 8)}</Link>
      </p>
      {m.mismatch_type === "DATA_MISMATCH" && (
        <p className="muted small">checksums: Cassandra <code>{m.cassandra_checksum ?? "—"}</code> · PostgreSQL <code>{m.postgres_checksum ?? "—"}</code></p>
      )}
      <RowCompare m={m} />
      {m.resolved_at && (
        <p className="muted">
          {m.resolution_status.replace(/_/g, " ").toLowerCase()} {fmtDate(m.resolved_at)}
          {m.resolved_by ? ` by ${m.resolved_by}` : ""}
          {m.resolution_notes ? `: “${m.resolution_notes}”` : ""}
        </p>
      )}
      {!final && (
        <form onSubmit={(e) => resolve("MANUAL_RESOLVED", e)} className="resolve">
          <label htmlFor="resolution_notes">Notes</label>
          <textarea id="resolution_notes" maxLength={1000} rows={3} value={notes} onChange={(e) => setNotes(e.target.value)} placeholder="What was done, or why the difference is expected" aria-describedby="notes-help" />
          <div id="notes-help" className="muted small">{notes.length}/1000</div>
          <FieldError error={error} field="resolution_notes" />
          <div className="actions">
            <BusyButton type="submit" className="primary" busy={busy}>Mark resolved</BusyButton>
            <BusyButton busy={busy} disabled={m.resolution_status === "IGNORED"} onClick={() => resolve("IGNORED")}>Ignore (expected)</BusyButton>
          </div>
        </form>
      )}
      {done && <p className="ok" role="status">{done}</p>}
      <ErrorBox error={error} />
    </article>
  );
}
