import { useRef, useState, type MouseEvent } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, downloadBytes, files, saveBlob, uploadFile, DIRECT_UPLOAD_LIMIT } from "../../services/api";
import { FILE_ORIGINS, FILE_STATUSES, type FileMeta, type FileOrigin, type FileStatus } from "../../services/types";
import { bytes, fmtDate, num, counted } from "../../services/format";
import { Badge, BusyButton, Crumbs, ErrorBox, Kv, LoadFailed, Loading, NoRows, Pager, Progress, Rereading, Select, StaleNotice, TableScroll, useLoad, usePoll, useRetryWait, useTitle, useUrlState, waitLabel } from "../../components/ui";

interface Upload {
  name: string;
  size: number;
  fraction: number;
  phase: string;
  error?: unknown;
  file?: FileMeta;
  /** The file chosen, kept while its upload can be tried again (refused for the rate limit, or not sent after such a refusal). */
  source?: File;
}

export function FilesPage() {
  useTitle("Files");
  const { values: f, page, set } = useUrlState(["origin", "status", "filename"] as const);
  const { data, error, loading, reload, outdated } = useLoad(
    () => files.list({ page, pageSize: 20, origin: (f.origin || undefined) as FileOrigin | undefined, status: (f.status || undefined) as FileStatus | undefined, filename: f.filename || undefined }),
    [page, f.origin, f.status, f.filename],
  );
  const [uploads, setUploads] = useState<Upload[]>([]);
  const input = useRef<HTMLInputElement>(null);
  usePoll(reload, 2000, !!data?.items.some((x) => x.status === "PROCESSING"));

  async function upload(list: FileList | null) {
    if (!list || list.length === 0) return;
    const chosen = Array.from(list);
    const base = uploads.length;
    setUploads((u) => [...u, ...chosen.map((c) => ({ name: c.name, size: c.size, fraction: 0, phase: "waiting" }))]);
    // one after the other: the progress of each is meaningful, and the rate limit is respected
    for (let i = 0; i < chosen.length; i++) {
      const e = await send(base + i, chosen[i]);
      if (limited(e)) {
        // the key's upload limit is reached: the rest would be refused too; they wait, each to be sent again
        const rest = new Set(chosen.slice(i + 1).map((_, j) => base + i + 1 + j));
        setUploads((u) => u.map((x, j) => (rest.has(j) ? { ...x, phase: "not sent", error: e, source: chosen[j - base] } : x)));
        break;
      }
    }
    if (input.current) input.current.value = "";
    reload();
  }
  /** Uploads `file` as the upload at `at` of the list; the error when it failed. */
  async function send(at: number, file: File): Promise<unknown> {
    const patch = (p: Partial<Upload>) => setUploads((u) => u.map((x, j) => (j === at ? { ...x, ...p } : x)));
    patch({ fraction: 0, phase: "waiting", error: undefined, source: undefined });
    try {
      const meta = await uploadFile(file, (fraction, phase) => patch({ fraction, phase }));
      patch({ fraction: 1, phase: meta.status.toLowerCase(), file: meta });
      return null;
    } catch (e) {
      patch({ error: e, phase: "failed", source: limited(e) ? file : undefined });
      return e;
    }
  }
  async function again(at: number, file: File) {
    if (!limited(await send(at, file))) reload();
  }
  const filtered = !!(f.origin || f.status || f.filename);
  return (
    <section>
      <h1>Files</h1>
      <div className="card upload" aria-label="upload">
        <label htmlFor="upload-input"><strong>Upload files</strong> <span className="muted small">CSV (with a header row), Parquet or JSONL. Above {bytes(DIRECT_UPLOAD_LIMIT)} the upload goes straight to storage.</span></label>
        <input id="upload-input" ref={input} type="file" multiple accept=".csv,.parquet,.jsonl,.json,text/csv" onChange={(e) => upload(e.target.files)} />
        {uploads.length > 0 && (
          <ul className="uploads">
            {uploads.map((u, i) => (
              <li key={i} data-upload={u.name} data-phase={u.phase} tabIndex={-1}>
                <div>
                  <span className="name">{u.name}</span> <span className="muted small">{bytes(u.size)}</span> · <span className="phase">{u.phase}</span>
                  {u.file && <> · <Link to={`/files/${u.file.id}`}>file {u.file.id}</Link>{u.file.rowCount !== null && u.file.rowCount !== undefined ? `, ${counted(u.file.rowCount, "row")}` : ""}</>}
                </div>
                <Progress value={u.fraction * 100} label={`upload of ${u.name}`} />
                {u.file?.status === "INVALID" && <div className="field-error">{u.file.errorMessage}</div>}
                {u.error ? <ErrorBox error={u.error} /> : null}
                {/* pressed, the button goes with the refusal: the focus goes to the upload's line, which says how it goes */}
                {u.source && <UploadAgain error={u.error} onClick={(e) => { e.currentTarget.closest("li")?.focus(); again(i, u.source!); }} name={u.name} />}
              </li>
            ))}
          </ul>
        )}
      </div>
      <form className="filters" onSubmit={(e) => e.preventDefault()} aria-label="filters">
        <Select id="origin" label="Origin" value={f.origin} options={FILE_ORIGINS} error={error} onChange={(v) => set({ origin: v })} />
        <Select id="status" label="Status" value={f.status} options={FILE_STATUSES} error={error} onChange={(v) => set({ status: v })} />
        <label className="filter" htmlFor="filename">
          <span>Name starts with</span>
          <input id="filename" defaultValue={f.filename} key={f.filename} onKeyDown={(e) => e.key === "Enter" && set({ filename: (e.target as HTMLInputElement).value })} onBlur={(e) => e.target.value !== f.filename && set({ filename: e.target.value })} />
        </label>
        {filtered && <button type="button" className="link" onClick={() => set({ origin: "", status: "", filename: "" })}>Clear filters</button>}
      </form>
      <ErrorBox error={error} retry={reload} />
      {loading && !data && <Loading what="Loading files" />}
      <Rereading outdated={outdated} loading={loading}>
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>{filtered ? <>No file matches these filters. <button type="button" className="link" onClick={() => set({ origin: "", status: "", filename: "" })}>Clear filters</button> or widen them.</> : "No file yet. Upload the two sides of a reconciliation above."}</NoRows>}
      {data && data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="files">
          <thead><tr><th>Id</th><th>Name</th><th>Status</th><th>Origin</th><th>Format</th><th className="r">Rows</th><th className="r">Size</th><th>Created</th></tr></thead>
          <tbody>
            {data.items.map((x) => (
              <tr key={x.id} data-file={x.filename}>
                <td>{x.id}</td>
                <td><Link className="long" title={x.filename} to={`/files/${x.id}`}>{x.filename}</Link></td>
                <td>
                  <Badge value={x.status} title={x.errorMessage ?? undefined} />
                  {/* why a file cannot be used, on the row itself (a tooltip is out of reach of a keyboard or a screen reader) */}
                  {x.status === "INVALID" && x.errorMessage && <div className="small field-error text" data-file-error>{x.errorMessage}</div>}
                </td>
                <td><Badge value={x.origin} /></td>
                <td>{x.format ?? "—"}</td>
                <td className="r">{num(x.rowCount)}</td>
                <td className="r">{bytes(x.sizeBytes)}</td>
                <td>{fmtDate(x.createdAt)}</td>
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

/** A refusal for the key's rate limit (429): the upload can be sent again once its wait is over. */
const limited = (e: unknown) => e instanceof ApiError && e.status === 429;

/** Sends a file refused for the rate limit again: waiting out the API's Retry-After first (counted down). */
function UploadAgain({ error, name, onClick }: { error: unknown; name: string; onClick: (e: MouseEvent<HTMLButtonElement>) => void }) {
  const wait = useRetryWait(error);
  return <BusyButton busy={wait > 0} onClick={onClick}>{waitLabel(<>Upload again<span className="sr-only">: {name}</span></>, wait)}</BusyButton>;
}

/** Download with the key, check the bytes' sha256 against the recorded checksum, then save. */
export function DownloadButton({ url, filename, checksum, label = "Download" }: { url: string; filename: string; checksum?: string | null; label?: string }) {
  const [state, setState] = useState<{ busy?: boolean; sha?: string; error?: unknown }>({});
  async function go() {
    setState({ busy: true });
    try {
      const r = await downloadBytes(url);
      setState({ sha: r.sha256 });
      saveBlob(r.blob, r.filename ?? filename);
    } catch (e) {
      setState({ error: e });
    }
  }
  const ok = state.sha && checksum ? state.sha === checksum : null;
  return (
    <span className="download">
      {/* named with its file: a step's artifacts are a column of "Download" buttons otherwise, alike to a screen reader */}
      <BusyButton onClick={go} busy={!!state.busy} data-download={filename}>{state.busy ? "Downloading…" : label} <span className="sr-only">{filename}</span></BusyButton>
      {state.sha && (
        <span className={ok === false ? "field-error" : "ok small"} data-sha={state.sha} data-verified={ok === null ? "unknown" : ok ? "yes" : "no"}>
          {ok === null ? `sha256 ${state.sha.slice(7, 19)}…` : ok ? "checksum verified ✓" : `checksum differs: got ${state.sha}`}
        </span>
      )}
      {state.error ? <ErrorBox error={state.error} /> : null}
    </span>
  );
}

export function FileDetailPage() {
  const id = Number(useParams().id);
  const nav = useNavigate();
  const { data: file, error, reload } = useLoad(() => files.get(id), [id], id);
  useTitle(file ? file.filename : `File ${id}`);
  usePoll(reload, 2000, file?.status === "PROCESSING");
  const [delError, setDelError] = useState<unknown>(null);
  if (error && !file) return <LoadFailed what={`File #${id}`} error={error} back={["Files", "/files"]} retry={reload} />;
  if (!file) return <Loading what="Loading the file" />;
  return (
    <section>
      <Crumbs items={[["Files", "/files"], [file.filename, null]]} />
      <div className="page-head">
        <h1>{file.filename} <Badge value={file.status} /></h1>
        <div className="actions">
          {file.status === "READY" && <DownloadButton url={file.downloadUrl} filename={file.filename} checksum={file.checksum ?? null} />}
          <button
            type="button"
            className="danger"
            onClick={async () => {
              if (!confirm(`Delete ${file.filename}?`)) return;
              try {
                await files.remove(file.id);
                nav("/files");
              } catch (e) {
                setDelError(e);
              }
            }}
          >
            Delete
          </button>
        </div>
      </div>
      <StaleNotice error={error} />
      <ErrorBox error={delError} />
      {file.status === "INVALID" && <div className="error-box" role="alert"><strong>This file cannot be used:</strong> {file.errorMessage}</div>}
      {file.status === "PROCESSING" && <Loading what="Detecting the schema and counting the rows" />}
      <Kv items={[["id", file.id], ["origin", <Badge value={file.origin} />], ["format", file.format], ["rows", num(file.rowCount)], ["size", bytes(file.sizeBytes)], ["checksum", <code className="wrap">{file.checksum ?? "—"}</code>], ["created", fmtDate(file.createdAt)]]} />
      <h2>Schema</h2>
      {file.columns && file.columns.length > 0 ? (
        <TableScroll><table className="grid narrow" aria-label="schema">
          <thead><tr><th>#</th><th>Column</th><th>Type</th></tr></thead>
          <tbody>{file.columns.map((c, i) => <tr key={c.name}><td>{i + 1}</td><td><code>{c.name}</code></td><td>{c.type}</td></tr>)}</tbody>
        </table></TableScroll>
      ) : (
        <p className="muted">No schema yet.</p>
      )}
    </section>
  );
}
