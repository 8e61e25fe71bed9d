import { useState } from "react";
import { files } from "../services/api";
import type { FileMeta } from "../services/types";
import { counted, num } from "../services/format";
import { LIST_PAGE_SIZE } from "../services/lookup";

export interface PickableFiles {
  uploads: FileMeta[];
  outputs: FileMeta[];
  /** How many files each group has in all (more than listed when the list was cut at FILE_PAGES_CAP pages). */
  uploadsTotal: number;
  outputsTotal: number;
  /** The file name prefix they were read for ("" for every file). */
  filename: string;
}

/**
 * The most pages of each group read for a picker: 10 pages of 100, the newest 1,000 uploads and 1,000 run
 * outputs. Every page is read up to there (the 101st file is offered like the first); past it the list says
 * how many it leaves out and a file is found by its name (the API's `filename` prefix), not by loading
 * thousands of options into every picker of the form.
 */
export const FILE_PAGES_CAP = 10;
/** Pages read at once. */
const PARALLEL_PAGES = 4;

type FileQuery = { origin: "UPLOAD" | "ARTIFACT"; status?: "READY"; filename?: string };

/** Every file of one group, newest first, up to FILE_PAGES_CAP pages; and the group's count. */
async function readGroup(q: FileQuery): Promise<{ items: FileMeta[]; total: number }> {
  const first = await files.list({ ...q, page: 1, pageSize: LIST_PAGE_SIZE });
  const last = Math.min(first.totalPages, FILE_PAGES_CAP);
  const pages = [first];
  for (let p = 2; p <= last; p += PARALLEL_PAGES) {
    const batch = Array.from({ length: Math.min(PARALLEL_PAGES, last - p + 1) }, (_, i) => files.list({ ...q, page: p + i, pageSize: LIST_PAGE_SIZE }));
    pages.push(...(await Promise.all(batch)));
  }
  // a file uploaded while the pages were read moves the others on by one: each is listed once
  const seen = new Set<number>();
  const items = pages.flatMap((pg) => pg.items).filter((f) => (seen.has(f.id) ? false : (seen.add(f.id), true)));
  return { items, total: Math.max(first.totalItems, items.length) };
}

/**
 * Files a step or a reconciliation can take: the uploads, and apart from them the outputs of earlier
 * runs. Read as two lists: every run adds three or four outputs, and one list of the newest files soon
 * held no upload at all. `filename`: only the files whose name starts with it.
 */
export async function pickableFiles(filename = ""): Promise<PickableFiles> {
  const name = filename.trim() || undefined;
  const [uploads, outputs] = await Promise.all([
    readGroup({ origin: "UPLOAD", filename: name }),
    readGroup({ origin: "ARTIFACT", status: "READY", filename: name }),
  ]);
  return { uploads: uploads.items, outputs: outputs.items, uploadsTotal: uploads.total, outputsTotal: outputs.total, filename: name ?? "" };
}

/** Some files of the list are not offered (more than FILE_PAGES_CAP pages of them). */
export const filesCut = (list: PickableFiles | undefined) => !!list && (list.uploadsTotal > list.uploads.length || list.outputsTotal > list.outputs.length);

const label = (f: FileMeta) => `${f.filename} (#${f.id}${f.rowCount !== null && f.rowCount !== undefined ? `, ${counted(f.rowCount, "row")}` : ""}${f.status !== "READY" ? `, ${f.status}` : ""})`;

/** A group's label: its count, and when it is cut, which of them it offers. */
function groupLabel(what: string, shown: number, total: number): string {
  return total > shown ? `${what} (the newest ${num(shown)} of ${num(total)}: find older ones by name)` : what;
}

/** The <option>s of a file picker: uploads, then run outputs; a chosen file in neither list stays shown. */
export function FileOptions({ list, selected }: { list: PickableFiles | undefined; selected: number }) {
  const known = !list || !selected || [...list.uploads, ...list.outputs].some((f) => f.id === selected);
  const left = (shown: number, total: number, what: string) =>
    total > shown && <option disabled value={`more-${what}`}>… {num(total - shown)} older {what} not listed: type the start of a name in “Find files by name”</option>;
  return (
    <>
      {!known && <option value={selected}>file #{selected}</option>}
      {list && list.uploads.length > 0 && (
        <optgroup label={groupLabel("Uploaded files", list.uploads.length, list.uploadsTotal)}>
          {list.uploads.map((f) => <option key={f.id} value={f.id} disabled={f.status !== "READY"}>{label(f)}</option>)}
          {left(list.uploads.length, list.uploadsTotal, "uploads")}
        </optgroup>
      )}
      {list && list.outputs.length > 0 && (
        <optgroup label={groupLabel("Outputs of earlier runs", list.outputs.length, list.outputsTotal)}>
          {list.outputs.map((f) => <option key={f.id} value={f.id}>{label(f)}</option>)}
          {left(list.outputs.length, list.outputsTotal, "outputs")}
        </optgroup>
      )}
      {list && list.filename && list.uploads.length + list.outputs.length === 0 && <option disabled value="none">no file name starts with “{list.filename}”</option>}
    </>
  );
}

/**
 * The files a form's pickers offer narrowed to the names starting with what is typed (the API's `filename`
 * prefix), applied on Enter or when the field is left. Shown once the lists are cut, or while narrowed.
 */
export function FileFinder({ list, onFind }: { list: PickableFiles | undefined; onFind: (prefix: string) => void }) {
  const [text, setText] = useState(list?.filename ?? "");
  if (!list || (!filesCut(list) && !list.filename)) return null;
  const apply = () => text.trim() !== list.filename && onFind(text.trim());
  return (
    <div className="filter file-finder">
      <label htmlFor="file-finder">Find files by name</label>
      <input id="file-finder" type="search" autoComplete="off" placeholder="start of a file name" value={text} onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => { if (e.key === "Enter") { e.preventDefault(); apply(); } }} onBlur={apply} aria-describedby="file-finder-note" />
      <span id="file-finder-note" className="muted small">
        {list.filename ? `The file pickers offer the files whose name starts with “${list.filename}”.` : `The file pickers offer the newest ${num(list.uploads.length)} uploads and ${num(list.outputs.length)} run outputs of ${num(list.uploadsTotal)} and ${num(list.outputsTotal)}.`}
      </span>
    </div>
  );
}
