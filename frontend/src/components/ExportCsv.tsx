// A list's "Download CSV": every row its filters select, not only the page shown.
import { useEffect, useRef, useState } from "react";
import { saveBlob } from "../services/api";
import { csvBlob, csvName } from "../services/export";
import { BusyButton, ErrorBox } from "./ui";

/** Above this many rows the download is not offered (the browser holds them all): narrow the filters. */
export const EXPORT_LIMIT = 20_000;

/**
 * Every row the filters select (not only this page), read 100 at a time with `readPage`, saved as the CSV
 * `toCsv` writes, named with the list's `noun` and its filters. The filters changed or the page left while
 * the pages are read: the download stops (its request aborted, nothing saved; `onStopped` says so), instead
 * of saving the old filters' rows as the new ones' after the page shows the new filters.
 */
export function ExportCsv<T>({ noun, filters, total, hidden, onStopped, readPage, toCsv }: {
  noun: string;
  filters: Record<string, unknown>;
  total: number;
  hidden: boolean;
  onStopped: (message: string | null) => void;
  readPage: (page: number, signal: AbortSignal) => Promise<{ items: T[]; totalPages: number }>;
  toCsv: (items: T[]) => string;
}) {
  const [state, setState] = useState<{ read?: number; error?: unknown }>({});
  const busy = state.read !== undefined;
  const running = useRef<AbortController | null>(null);
  const key = JSON.stringify(filters);
  useEffect(
    () => () => {
      setState({});
      if (!running.current) return;
      running.current.abort();
      running.current = null;
      onStopped(`The CSV download was stopped: the filters changed while it read the ${noun}. Download again for these filters.`);
    },
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [key],
  );
  async function go() {
    const ctl = new AbortController();
    running.current = ctl;
    onStopped(null);
    setState({ read: 0 });
    try {
      const items: T[] = [];
      for (let p = 1; ; p++) {
        const r = await readPage(p, ctl.signal);
        if (ctl.signal.aborted) return;
        items.push(...r.items);
        setState({ read: items.length });
        if (p >= r.totalPages || r.items.length === 0) break;
      }
      saveBlob(csvBlob(toCsv(items)), csvName(noun, filters));
      setState({});
    } catch (e) {
      if (!ctl.signal.aborted) setState({ error: e });
    } finally {
      if (running.current === ctl) running.current = null;
    }
  }
  // the count of the rows shown is not said as the list's while it is read for other filters or another page
  if (hidden && !busy) return null;
  if (total > EXPORT_LIMIT) return <span className="muted small">{`${total.toLocaleString("en-US")} ${noun}: narrow the filters to ${EXPORT_LIMIT.toLocaleString("en-US")} or fewer to download them`}</span>;
  return (
    <span className="download">
      <BusyButton onClick={go} busy={busy}>{busy ? `Reading ${state.read!.toLocaleString("en-US")} of ${total.toLocaleString("en-US")}…` : `Download CSV (${total.toLocaleString("en-US")})`}</BusyButton>
      {state.error ? <ErrorBox error={state.error} /> : null}
    </span>
  );
}
