import { files } from "../services/api";
import type { FileMeta } from "../services/types";
import { counted } from "../services/format";

export interface PickableFiles {
  uploads: FileMeta[];
  outputs: FileMeta[];
}

/**
 * Files a step or a reconciliation can take: the uploads, and apart from them the outputs of earlier
 * runs. Read as two lists: every run adds three or four outputs, and one list of the newest 100 files
 * soon held no upload at all.
 */
export async function pickableFiles(): Promise<PickableFiles> {
  const [uploads, outputs] = await Promise.all([
    files.list({ page: 1, pageSize: 100, origin: "UPLOAD" }),
    files.list({ page: 1, pageSize: 100, origin: "ARTIFACT", status: "READY" }),
  ]);
  return { uploads: uploads.items, outputs: outputs.items };
}

const label = (f: FileMeta) => `${f.filename} (#${f.id}${f.rowCount !== null && f.rowCount !== undefined ? `, ${counted(f.rowCount, "row")}` : ""}${f.status !== "READY" ? `, ${f.status}` : ""})`;

/** The <option>s of a file picker: uploads, then run outputs; a chosen file in neither list stays shown. */
export function FileOptions({ list, selected }: { list: PickableFiles | undefined; selected: number }) {
  const known = !list || !selected || [...list.uploads, ...list.outputs].some((f) => f.id === selected);
  return (
    <>
      {!known && <option value={selected}>file #{selected}</option>}
      {list && list.uploads.length > 0 && (
        <optgroup label="Uploaded files">
          {list.uploads.map((f) => <option key={f.id} value={f.id} disabled={f.status !== "READY"}>{label(f)}</option>)}
        </optgroup>
      )}
      {list && list.outputs.length > 0 && (
        <optgroup label="Outputs of earlier runs">
          {list.outputs.map((f) => <option key={f.id} value={f.id}>{label(f)}</option>)}
        </optgroup>
      )}
    </>
  );
}
