import { createContext, useCallback, useContext, useEffect, useLayoutEffect, useMemo, useRef, useState, type ComponentProps, type ReactNode, type RefObject } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { ApiError, onNewKey } from "../services/api";
import { ago, badgeTone, boundText, fmtDate, num, parseUtcBound, words } from "../services/format";

/** Sets the document title: "<page> · recon". */
export function useTitle(title: string) {
  useEffect(() => {
    document.title = `${title} · recon`;
  }, [title]);
}

/**
 * The box a table scrolls in when it is wider than the window (a phone). While it is wider and holds nothing
 * Tab reaches (a history, a row's data), the box itself takes the focus, named after its table, so the arrow
 * keys can scroll it; a box that fits, or whose links already take the focus, adds no stop to Tab.
 */
export function TableScroll({ children }: { children: ReactNode }) {
  const box = useRef<HTMLDivElement>(null);
  const [stop, setStop] = useState<string | null>(null);
  useEffect(() => {
    const el = box.current;
    if (!el) return;
    const check = () => {
      const wider = el.scrollWidth > el.clientWidth + 1;
      const reachable = el.querySelector("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])") !== null;
      const table = el.querySelector("table")?.getAttribute("aria-label");
      setStop(wider && !reachable ? `${table ?? "table"} (scrolls sideways)` : null);
    };
    check();
    if (typeof ResizeObserver === "undefined") return;
    const seen = new ResizeObserver(check);
    seen.observe(el);
    if (el.firstElementChild) seen.observe(el.firstElementChild);
    return () => seen.disconnect();
  }, []);
  return (
    <div className="table-scroll" ref={box} {...(stop ? { tabIndex: 0, role: "region", "aria-label": stop } : {})}>
      {children}
    </div>
  );
}

/** A status badge for any enum value of either contract. */
export function Badge({ value, title }: { value: string | null | undefined; title?: string }) {
  if (!value) return <span className="badge tone-muted">—</span>;
  return (
    <span className={`badge tone-${badgeTone(value)}`} data-status={value} title={title}>
      {words(value)}
    </span>
  );
}

/**
 * A button whose request is running: it says so (`aria-disabled`, greyed) and ignores presses until the
 * request ends. Not `disabled`: Chromium drops the focus of a disabled button to the top of the page, and a
 * keyboard user who pressed it lost their place. A press while busy (a click, Enter or Space on it, or Enter
 * in a field of its form, which clicks the form's submit button) is cancelled, so neither its `onClick` nor
 * its form's submit runs a second time. `type` is "button" unless told.
 */
export function BusyButton({ busy, onClick, type = "button", ...rest }: ComponentProps<"button"> & { busy: boolean }) {
  return (
    <button
      {...rest}
      type={type}
      aria-disabled={busy || rest["aria-disabled"] || undefined}
      aria-busy={busy || undefined}
      onClick={(e) => {
        if (busy) e.preventDefault();
        else onClick?.(e);
      }}
    />
  );
}

/**
 * The focus of a control that an action removed (a run's Cancel once the run is canceled, a form closed
 * by its Save, ticked rows' form once the change is applied) falls to the top of the page: when `after`
 * changes to a truthy value and nothing holds the focus, it goes to `to` (a heading or status with
 * `tabIndex={-1}`, or what a function finds once the page shows the change) instead. With `always`, it
 * goes there even when a control still holds the focus (a control that now belongs to another part).
 * A layout effect: the focus moves as the change is put on the page, before anything typed next.
 */
export function useFocusFallback(to: RefObject<HTMLElement | null> | (() => HTMLElement | null | undefined), after: unknown, always = false) {
  useLayoutEffect(() => {
    if (after && (always || !document.activeElement || document.activeElement === document.body)) (typeof to === "function" ? to() : to.current)?.focus();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [after]);
}

/**
 * A part of a form removed, moved or added by a button (a rule set's pass or condition, a stream's step):
 * the parts are drawn by their place, so the button pressed goes, or now belongs to another part, and the
 * focus fell to the top of the page or stayed on a button that does something else. `handOn(...selectors)`
 * moves the focus, once the page shows the change, to the first of them found in `root` and not disabled
 * (the next part's first control, the previous one's, the Add button when none is left).
 */
export function useHandOn(root: RefObject<HTMLElement | null>) {
  const [target, setTarget] = useState<string[] | null>(null);
  const find = () => {
    for (const sel of target ?? []) {
      const el = root.current?.querySelector<HTMLElement>(sel);
      if (el && !(el as HTMLButtonElement).disabled) return el;
    }
    return null;
  };
  useFocusFallback(find, target, true);
  return useCallback((...selectors: string[]) => setTarget(selectors), []);
}

/**
 * A form whose save was refused with problems at its fields (the form's own checks or the API's 400): the
 * focus goes to the first field marked invalid, where the problem is said, not left on Save under a message
 * that names no place ("Some fields need attention"), which in a long form is screens away from the field.
 * A refusal without a field (a 409) leaves the focus on Save, with the message right under it.
 */
export const FIRST_INVALID = '[aria-invalid="true"]';

/**
 * A form opened by a button ("New data source"): when it closes (saved or canceled), the focus goes back to
 * that button, not to the top of the page. Returns the ref for the button.
 */
export function useOpener(open: boolean) {
  const opener = useRef<HTMLButtonElement>(null);
  const wasOpen = useRef(false);
  useLayoutEffect(() => {
    if (!open && wasOpen.current) opener.current?.focus();
    wasOpen.current = open;
  }, [open]);
  return opener;
}

export function Progress({ value, label }: { value: number; label?: string }) {
  const v = Math.max(0, Math.min(100, value));
  return (
    <div className="progress" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(v)} aria-label={label}>
      <div className="progress-bar" style={{ width: `${v}%` }} />
      <span className="progress-text">{Math.round(v)}%</span>
    </div>
  );
}

/**
 * An error in the API's words. With `retry` (a list's read), when the API could not answer at all (down,
 * restarting: no answer, or a 5xx), a button reads it again: the page recovers where it is, with its
 * filters, once the API is back; after a 503 with Retry-After (a dependency down) it also reads again by
 * itself once that wait is over, counting it down. A refusal (a 4xx) gets none: reading again would be
 * refused again.
 */
export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  const wait = useRetryWait(error);
  const [rereadAt, rereadIn] = useAutoReread(error, retry);
  if (!error) return null;
  const e = error instanceof ApiError ? error : null;
  const msg = e ? e.message : error instanceof Error ? error.message : String(error);
  const fields = e ? Object.entries(e.fields) : [];
  return (
    <div className="error-box" role="alert" data-retry-wait={e?.retryAt !== undefined ? wait : undefined}>
      <strong>{msg}</strong>
      {e && e.code && !e.code.startsWith("HTTP_") && <span className="muted"> ({e.code})</span>}
      {/* a rate limit's wait counted down (role timer: read when asked for, not every second), then said once over */}
      {e?.retryAt !== undefined && (wait > 0
        ? <span> Try again in <span role="timer" aria-live="off" data-testid="retry-wait">{waitText(wait)}</span>: the button is ready then.</span>
        : <span role="status"> The wait is over: you may try again.</span>)}
      {/* a dependency down for a moment (503 with Retry-After): the read is made again by itself once the wait is over */}
      {rereadAt !== undefined && rereadIn > 0 && (
        <span> Reading it again in <span role="timer" aria-live="off" data-testid="reread-wait">{waitText(rereadIn)}</span>, as the API asked.</span>
      )}
      {retry && (!e || e.status === 0 || e.status >= 500) && <> <button type="button" className="link" onClick={retry}>{rereadAt !== undefined ? "Read again now" : "Read again"}</button></>}
      {fields.length > 1 && (
        <ul>
          {fields.map(([f, m]) => (
            <li key={f}>
              <code>{f}</code>: {m}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** A wait in words: "42 s", "1 min 05 s". */
export function waitText(seconds: number): string {
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, "0")} s`;
}

/**
 * The seconds left before the API takes a request refused for its key's rate limit (a 429 with
 * Retry-After: `error.retryAt`), counted down every second; 0 when there is no such wait or it is over.
 * Every part of the page counting down the same error (its message, the button that sent the request)
 * shows the same second: each wakes when a whole second of the wait has passed.
 */
export function useRetryWait(error: unknown): number {
  return useCountdown(error instanceof ApiError ? error.retryAt : undefined);
}

/** Whole seconds left until `at` (epoch ms), counted down every second; 0 when there is no such moment or it has passed. */
function useCountdown(at: number | undefined): number {
  const left = () => (at === undefined ? 0 : Math.max(0, Math.ceil((at - Date.now()) / 1000)));
  const [ticks, tick] = useState(0);
  const now = left();
  useEffect(() => {
    if (at === undefined || now <= 0) return;
    const t = setTimeout(() => tick((n) => n + 1), ((at - Date.now()) % 1000) + 5);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [at, now, ticks]);
  return now;
}

/** The longest a 503's Retry-After is waited out before reading again by itself (a longer one is left to the button). */
export const AUTO_REREAD_MAX_S = 120;

/**
 * A read the API could not answer because a dependency is down (503 with Retry-After, e.g. the database
 * restarting): the moment (epoch ms) to read it again by itself — the wait the API asked for — and the
 * seconds left until then. Each failed read brings a new error and so a new wait; undefined without `retry`.
 */
function useAutoReread(error: unknown, retry: (() => void) | undefined): [number | undefined, number] {
  const e = error instanceof ApiError ? error : null;
  const wait = e && retry && e.status === 503 && e.retryAfter !== undefined && e.retryAfter <= AUTO_REREAD_MAX_S ? e.retryAfter : undefined;
  // the moment is fixed when the error arrives (in the render that shows it, so the countdown shows with it)
  const at = useMemo(() => (wait === undefined ? undefined : Date.now() + 1000 * wait), [error, wait]);
  const [readFor, setReadFor] = useState<unknown>(null);
  const current = readFor === error ? undefined : at;
  const left = useCountdown(current);
  const retryRef = useRef(retry);
  retryRef.current = retry;
  useEffect(() => {
    if (current !== undefined && left === 0) {
      setReadFor(error); // once per error
      retryRef.current?.();
    }
  }, [current, left, error]);
  return [current, left];
}

/** A button's words while a rate limit's wait runs: "Start (in 42 s)". */
export function waitLabel(label: ReactNode, wait: number): ReactNode {
  return wait > 0 ? <>{label} (in {waitText(wait)})</> : label;
}

/**
 * A failed re-read of something already shown (a poll during a blip, a 503 while the database
 * restarts): the last answer stays on the page under this notice instead of being replaced by it.
 */
export function StaleNotice({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  return (
    <div className="error-box" role="alert" data-stale>
      <strong>Could not read it again:</strong> {msg}. What is shown is the last answer.
    </div>
  );
}

/**
 * What a form offers to choose from (the catalog's tables, the files and rule sets of a step) could not be
 * read: said where the choice is, with reading it again a press away, instead of an empty list that reads
 * as "there is none" (the trigger form's "none ticked = every table" with no table to tick).
 */
export function ChoicesFailed({ what, error, retry }: { what: string; error: unknown; retry: () => void }) {
  if (!error) return null;
  return (
    <div className="field-error" role="alert" data-choices-failed>
      {what} could not be read: {error instanceof Error ? error.message : String(error)}.{" "}
      <button type="button" className="link" onClick={retry}>Read them again</button>
    </div>
  );
}

/** The API's message for one field, shown under that field. */
export function FieldError({ error, field, id }: { error: unknown; field: string | string[]; id?: string }) {
  if (!(error instanceof ApiError)) return null;
  const names = Array.isArray(field) ? field : [field];
  for (const n of names) {
    const m = error.fields[n];
    if (m)
      return (
        <div className="field-error" role="alert" id={id} data-field={n}>
          {m}
        </div>
      );
  }
  return null;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/**
 * A list page without rows. When the list itself has rows, the page asked for is past its end (an old
 * link, or the rows moved on since): say so and offer the last page, instead of claiming the list is empty.
 */
export function NoRows({ page, totalPages, totalItems, onPage, children }: { page: number; totalPages: number; totalItems: number; onPage: (p: number) => void; children: ReactNode }) {
  // an empty answer for other filters or another page says nothing of the list now asked for (Rereading says what is going on)
  if (useContext(Outdated)) return null;
  if (totalItems > 0 && page > 1) {
    const last = Math.max(totalPages, 1);
    return (
      <div className="empty" role="status">
        Page {page} is past the end: there {totalItems === 1 ? "is 1 item" : `are ${totalItems.toLocaleString("en-US")} items`} on {last === 1 ? "1 page" : `${last} pages`}.{" "}
        <button type="button" className="link" onClick={() => onPage(last)}>Go to page {last}</button>
      </div>
    );
  }
  return <Empty>{children}</Empty>;
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <div className="loading" aria-live="polite">
      <span className="spinner" /> {what}…
    </div>
  );
}

/**
 * Previous / Next and the list's count. Under a list read for other filters or another page (Rereading), the
 * count of the rows still shown is not said: it is not the count of the list asked for, and was read as such;
 * Previous and Next, whose pages are the old rows', wait for the new ones.
 */
export function Pager({ page, totalPages, totalItems, onPage }: { page: number; totalPages: number; totalItems: number; onPage: (p: number) => void }) {
  const outdated = useContext(Outdated);
  if (totalItems === 0) return null;
  // on a page past the end (an old link, rows resolved since), the page before it is past the end too: Previous goes to the last page
  const last = Math.max(totalPages, 1);
  return (
    <nav className="pager" aria-label="pagination">
      {/* their page numbers are the old rows' (page 3 while the new filters start at page 1): pressed meanwhile they
          do nothing, and keep the focus (BusyButton) */}
      <BusyButton busy={!!outdated} disabled={page <= 1} onClick={() => onPage(Math.min(page - 1, last))}>
        ← Previous
      </BusyButton>
      <span data-count>
        {outdated ? (outdated === "reading" ? "counting the rows of these filters…" : "the rows of these filters are not counted") : <>page {page} of {last} · {num(totalItems)} {totalItems === 1 ? "item" : "items"}</>}
      </span>
      <BusyButton busy={!!outdated} disabled={page >= totalPages} onClick={() => onPage(page + 1)}>
        Next →
      </BusyButton>
    </nav>
  );
}

/**
 * Filters and page kept in the URL's query string: shareable, and the back button restores them.
 * `set` replaces the given keys (empty → removed) and, unless `page` is among them, goes to page 1.
 */
export function useUrlState<K extends string>(keys: readonly K[]) {
  const [params, setParams] = useSearchParams();
  const values = Object.fromEntries(keys.map((k) => [k, params.get(k) ?? ""])) as Record<K, string>;
  const page = Math.max(1, Number(params.get("page") ?? "1") || 1);
  const set = useCallback(
    (changes: Partial<Record<K | "page", string | number | null>>) => {
      setParams((prev) => {
        const next = new URLSearchParams(prev);
        if (!("page" in changes)) next.delete("page");
        for (const [k, v] of Object.entries(changes)) {
          if (v === null || v === undefined || v === "" || (k === "page" && Number(v) === 1)) next.delete(k);
          else next.set(k, String(v));
        }
        return next;
      });
    },
    [setParams],
  );
  return { values, page, set, params };
}

/**
 * Loads data; `reload()` fetches again. Keeps the last data while reloading (no flicker). With `key`
 * (a detail page's id), data read for another key is not returned: going from run 7 to run 8 shows
 * "loading", not run 7's status and steps under the heading of run 8. `outdated`: the data shown was read
 * for other `deps` (a list's filters or page changed, and the new read has not answered or failed).
 */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[], key?: string | number) {
  // the last answer (data, or the error of the last read), the key it was read for and the deps of its data
  const [last, setLast] = useState<{ data: T | undefined; error: unknown; key: typeof key; sig?: string }>({ data: undefined, error: null, key });
  const [loading, setLoading] = useState(true);
  const keyRef = useRef(key);
  keyRef.current = key;
  const sig = JSON.stringify(deps);
  const sigRef = useRef(sig);
  sigRef.current = sig;
  const seq = useRef(0);
  const setData = useCallback((d: T | undefined) => setLast((l) => ({ data: d, error: l.key === keyRef.current ? l.error : null, key: keyRef.current, sig: sigRef.current })), []);
  const run = useCallback(() => {
    const n = ++seq.current;
    const k = keyRef.current;
    const at = sigRef.current;
    setLoading(true);
    return fn().then(
      (d) => {
        if (n === seq.current) {
          setLast({ data: d, error: null, key: k, sig: at });
          setLoading(false);
        }
      },
      (e) => {
        if (n === seq.current) {
          // a failed re-read keeps the answer already shown (StaleNotice); a failed first read of a key has none
          setLast((l) => ({ data: l.key === k ? l.data : undefined, error: e, key: k, sig: l.key === k ? l.sig : undefined }));
          setLoading(false);
        }
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, deps);
  useEffect(() => {
    run();
  }, [run]);
  // a read the API refused for the key (401) is read again once a new key is entered
  const refused = last.error instanceof ApiError && last.error.status === 401;
  const runRef = useRef(run);
  runRef.current = run;
  useEffect(() => (refused ? onNewKey(() => runRef.current()) : undefined), [refused]);
  const mine = last.key === key;
  const data = mine ? last.data : undefined;
  return { data, error: mine ? last.error : null, loading, reload: run, setData, outdated: data !== undefined && last.sig !== sig };
}

/**
 * A list read for other filters or another page keeps showing the rows it had until the new ones come
 * (the focus stays on the filter or the pager's button): meanwhile they are dimmed and marked busy, with
 * a line saying so, so that a slow API's old rows are not taken for the new filters' (nor acted on as
 * such). When that read failed, they stay dimmed under its error.
 */
export function Rereading({ outdated, loading, children }: { outdated: boolean; loading: boolean; children: ReactNode }) {
  return (
    <div className={outdated ? "rereading" : undefined} aria-busy={(outdated && loading) || undefined} data-outdated={outdated || undefined}>
      {outdated && (loading ? <Loading what="Reading the list for these filters" /> : <div className="loading" role="status">Not read for these filters: the rows below are the last ones read.</div>)}
      <Outdated.Provider value={outdated ? (loading ? "reading" : "failed") : false}>{children}</Outdated.Provider>
    </div>
  );
}

/**
 * Inside Rereading: the rows shown were read for other filters or another page, and the new read runs
 * ("reading") or failed ("failed"). A count or an empty state of those rows is not shown as the list's.
 */
export const Outdated = createContext<false | "reading" | "failed">(false);

/** Calls `fn` every `ms` while `active`; never overlaps calls. */
export function usePoll(fn: () => Promise<unknown> | void, ms: number, active: boolean) {
  const ref = useRef(fn);
  ref.current = fn;
  useEffect(() => {
    if (!active) return;
    let stop = false;
    let t: ReturnType<typeof setTimeout>;
    const tick = async () => {
      try {
        await ref.current();
      } finally {
        if (!stop) t = setTimeout(tick, ms);
      }
    };
    t = setTimeout(tick, ms);
    return () => {
      stop = true;
      clearTimeout(t);
    };
  }, [ms, active]);
}

/**
 * "in 12 s", "40 s ago": the time from now to `iso`, counted on as the page stays open (every second
 * within two minutes of now, every 15 s beyond: a page left open never shows a moment that is past as
 * still to come).
 */
export function Ago({ iso }: { iso: string | null | undefined }) {
  const [, tick] = useState(0);
  const at = iso ? new Date(iso).getTime() : NaN;
  const now = Date.now();
  useEffect(() => {
    if (Number.isNaN(at)) return;
    const near = Math.abs(now - at) < 120_000;
    const t = setTimeout(() => tick((n) => n + 1), near ? 1000 : 15_000);
    return () => clearTimeout(t);
  });
  return <>{ago(iso, now)}</>;
}

/**
 * A moment written as the console writes times, and how long ago (or how soon) it is, both on screen:
 * "2026-12-05 10:07:12 UTC (40 s ago)", the relative part counted on while the page stays open.
 */
export function When({ iso }: { iso: string | null | undefined }) {
  if (!iso) return <>—</>;
  return <span className="when" data-when={iso}>{fmtDate(iso)} (<Ago iso={iso} />)</span>;
}

/**
 * A list filter's choice. A value from the address that is not among the choices (a hand-made link, an old
 * one) is shown as written, not as "any"; when the list's read was refused at this filter (`error`: the
 * list's error, naming `fields`, by default the filter's id), it is marked and the API's message is under it.
 */
export function Select<T extends string>({ id, label, value, options, onChange, allLabel = "any", error, fields }: { id: string; label: string; value: string; options: readonly T[]; onChange: (v: string) => void; allLabel?: string; error?: unknown; fields?: string[] }) {
  const names = fields ?? [id];
  const at = error instanceof ApiError ? names.find((n) => error.fields[n]) : undefined;
  return (
    <label className="filter" htmlFor={id}>
      <span>{label}</span>
      <select id={id} name={id} value={value} onChange={(e) => onChange(e.target.value)} {...(at ? { "aria-invalid": true, "aria-describedby": `${id}-error` } : {})}>
        <option value="">{allLabel}</option>
        {value && !options.includes(value as T) && <option value={value}>{value}</option>}
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
      {at && <FieldError error={error} field={at} id={`${id}-error`} />}
    </label>
  );
}

export function Kv({ items }: { items: [string, ReactNode][] }) {
  return (
    <dl className="kv">
      {items.map(([k, v]) => (
        <div key={k}>
          <dt>{k}</dt>
          <dd>{v ?? "—"}</dd>
        </div>
      ))}
    </dl>
  );
}

/**
 * A run's link, shown as "#9242" where a column or the words around it say it is a run: named for a screen
 * reader with what it is ("Run 9242, completed", "Run 9242, step 2"), not read out as "#9242". With `step`,
 * it opens the run at that step.
 */
export function RunLink({ id, status, step }: { id: number; status?: string | null; step?: number }) {
  const name = [`Run ${id}`, step !== undefined && `step ${step}`, status && words(status)].filter(Boolean).join(", ");
  return <Link to={`/runs/${id}${step !== undefined ? `#step-${step}` : ""}`} aria-label={name}>#{id}</Link>;
}

export function Crumbs({ items }: { items: [string, string | null][] }) {
  return (
    <nav className="crumbs" aria-label="breadcrumb">
      {items.map(([label, to], i) => (
        <span key={i}>
          {to ? <Link to={to}>{label}</Link> : <span>{label}</span>}
          {i < items.length - 1 && " / "}
        </span>
      ))}
    </nav>
  );
}

/**
 * A detail page whose object could not be read (a 404 for an old link, a malformed id): the page still
 * says what was asked for, the API's words, and the way back to the list, instead of a lone error box.
 */
export function LoadFailed({ what, error, back, retry, children }: { what: string; error: unknown; back: [string, string]; retry?: () => void; children?: ReactNode }) {
  return (
    <section>
      <Crumbs items={[[back[0], back[1]], [what, null]]} />
      <h1>{what}</h1>
      <ErrorBox error={error} retry={retry} />
      {children}
      <p><Link to={back[1]}>← {error instanceof ApiError && error.status === 404 ? `It is not there: back to ${back[0].toLowerCase()}` : `Back to ${back[0].toLowerCase()}`}</Link></p>
    </section>
  );
}

/** A list filter the API refused (a 400 naming it, e.g. `olderThanDays`, `job_id`): marked, its message under it. */
export function invalidFilter(error: unknown, field: string): { "aria-invalid"?: true; "aria-describedby"?: string } {
  return error instanceof ApiError && error.fields[field] ? { "aria-invalid": true, "aria-describedby": `${field}-error` } : {};
}

/**
 * A date bound of a list filter, typed in UTC as `2026-12-02` (the whole day) or `2026-12-02 14:30`
 * (the whole minute): the same on every machine, where a browser's date picker writes the date in its
 * locale's order (02/12/2026 or 12/02/2026), wants a time as well, and sends a request for every digit
 * of a year typed. Applied on Enter or when the field is left; what is not such a date is marked at the
 * field and not sent. `error`: the list's error (the API's complaint about this bound is shown here too).
 */
export function DateFilter({ id, label, value, error, onChange }: { id: string; label: string; value: string; error: unknown; onChange: (v: string) => void }) {
  const [bad, setBad] = useState<string | null>(null);
  const apply = (text: string) => {
    const v = text.trim() ? parseUtcBound(text) : "";
    if (v === null) {
      setBad(`"${text.trim()}" is not a date: write it as 2026-12-02 or 2026-12-02 14:30 (UTC)`);
      return;
    }
    setBad(null);
    if (v !== value) onChange(v);
  };
  const shown = bad ? new ApiError(400, "VALIDATION_ERROR", bad, { [id]: bad }) : error;
  return (
    <label className="filter" htmlFor={id}>
      <span>{label}</span>
      <input id={id} name={id} placeholder="YYYY-MM-DD hh:mm" size={16} autoComplete="off" defaultValue={boundText(value)} key={value}
        onKeyDown={(e) => e.key === "Enter" && apply((e.target as HTMLInputElement).value)} onBlur={(e) => apply(e.target.value)} {...invalidFilter(shown, id)} />
      <FieldError error={shown} field={id} id={`${id}-error`} />
    </label>
  );
}

/**
 * The ticks of a list's rows after it was read again: those of the rows it still shows (the same page read
 * again must not drop what was ticked meanwhile, nor a tick given just as the rows appeared); the same set
 * when nothing left, so that React keeps the state as it is.
 */
export function keepTicks<K>(ticked: Set<K>, shown: Iterable<K>): Set<K> {
  const now = new Set(shown);
  return [...ticked].every((id) => now.has(id)) ? ticked : new Set([...ticked].filter((id) => now.has(id)));
}
