import type React from "react";
import { lazy, Suspense, useEffect, useLayoutEffect, useRef, useState, type FormEvent } from "react";
import { BrowserRouter, Navigate, NavLink, Route, Routes, useLocation, useNavigate, useParams } from "react-router-dom";
import { auth, checkKey, setUnauthorizedHandler } from "./services/api";
import { BusyButton, Loading, useFocusFallback, useHandOn, useTitle } from "./components/ui";
import { CdcOverview } from "./pages/cdc/Overview";
import { JobList } from "./pages/cdc/Jobs";
import { JobDetailPage } from "./pages/cdc/JobDetail";
import { MismatchBrowser } from "./pages/cdc/Mismatches";
import { TriggerPage } from "./pages/cdc/Trigger";
import { FilesPage, FileDetailPage } from "./pages/streams/Files";
import { RuleSetsPage, RuleSetEditorPage } from "./pages/streams/RuleSets";
import { StreamsPage, StreamDetailPage, StreamEditorPage } from "./pages/streams/Streams";
import { RunPage } from "./pages/streams/Runs";
import { ExceptionsPage, ExceptionDetailPage } from "./pages/streams/Exceptions";
import { LegacyPage, LegacyDetailPage } from "./pages/streams/Legacy";
import { DataSourcesPage } from "./pages/streams/DataSources";

// the drift chart pulls in Chart.js: loaded on the page that draws it only
const DriftPage = lazy(() => import("./pages/cdc/Drift"));

/**
 * A key typed and checked with one authenticated read; `onKey` gets it once the API takes it. The sign-in
 * page's form, and the one asked over a page when the session's key stopped working.
 */
function KeyForm({ id, title, intro, submitLabel, empty, onKey, focusRef }: {
  id: string; title: React.ReactNode; intro: React.ReactNode; submitLabel: string; empty: string; onKey: (key: string) => void; focusRef?: React.RefObject<HTMLInputElement | null>;
}) {
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  // a key refused (or none typed): the focus goes back to the field, to type it again (Sign in pressed kept it)
  const own = useRef<HTMLInputElement>(null);
  const field = focusRef ?? own;
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!key.trim()) {
      setError(empty);
      field.current?.focus();
      return;
    }
    setBusy(true);
    setError(null);
    const refused = await checkKey(key);
    setBusy(false);
    if (refused) {
      setError(refused);
      field.current?.focus();
    } else {
      auth.set(key);
      onKey(key);
    }
  }
  return (
    <form onSubmit={submit} className="card" aria-labelledby={`${id}-title`}>
      {title}
      {intro}
      <label htmlFor={id}>API key</label>
      <input id={id} name={id} type="password" autoComplete="off" autoFocus={!focusRef} ref={field} value={key} onChange={(e) => setKey(e.target.value)} aria-invalid={!!error} aria-describedby={error ? `${id}-error` : undefined} />
      {error && (
        <div className="field-error" id={`${id}-error`} role="alert">
          {error}
        </div>
      )}
      <BusyButton type="submit" className="primary" busy={busy}>
        {busy ? "Checking…" : submitLabel}
      </BusyButton>
    </form>
  );
}

function Login() {
  useTitle("Sign in");
  const nav = useNavigate();
  const loc = useLocation();
  const from = (loc.state as { from?: string } | null)?.from ?? "/";
  return (
    <main className="login">
      <KeyForm id="api-key" title={<h1 id="api-key-title">recon console</h1>} intro={<p className="muted">Enter an API key. It is kept for this browser session only.</p>}
        submitLabel="Sign in" empty="Enter the API key (make up prints where it is: .local/api-key)" onKey={() => nav(from, { replace: true })} />
    </main>
  );
}

/**
 * The API refused the key of this session (401: rotated or revoked) while a page was open: a key is asked
 * for over the page, which stays as it is (a form keeps its edits, to be saved again with the new key; a
 * list or detail page refused meanwhile reads itself again). It takes the focus, and gives it back, once a
 * key is taken, to where it was (the Save pressed). Sign out (the menu's) leaves for the sign-in page.
 */
function NewKey({ onDone }: { onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const back = useRef<Element | null>(null);
  // taken as the dialog is put on the page, not after the next paint: a keystroke typed in between went to
  // the page under it
  useLayoutEffect(() => {
    back.current = document.activeElement;
    input.current?.focus();
  }, []);
  return (
    <div className="new-key" role="dialog" aria-labelledby="new-key-title" aria-describedby="new-key-why">
      <KeyForm id="new-key" title={<h2 id="new-key-title">Sign in again</h2>} focusRef={input} submitLabel="Use this key" empty="Enter the API key"
        intro={<p id="new-key-why">The API no longer takes this session's key (401: rotated or revoked). Enter a valid key: this page stays as it is, and what a form holds is kept, to be saved again.</p>}
        onKey={() => {
          onDone();
          const was = back.current;
          if (was instanceof HTMLElement && was.isConnected && was !== document.body) was.focus();
        }} />
    </div>
  );
}

function RequireKey({ children }: { children: React.ReactElement }) {
  const loc = useLocation();
  if (!auth.get()) return <Navigate to="/login" replace state={{ from: loc.pathname + loc.search + loc.hash }} />;
  return children;
}

function Shell() {
  const nav = useNavigate();
  const loc = useLocation();
  // a key that stops working (rotated, revoked: a 401) is asked for where the person is, not on the
  // sign-in page: leaving the page lost what a form held (a stream, rule set or data source being edited)
  const [keyRefused, setKeyRefused] = useState(false);
  useEffect(() => {
    setUnauthorizedHandler(() => setKeyRefused(true));
    return () => setUnauthorizedHandler(() => {});
  }, []);
  // a narrow window (a phone): the menu is a button that opens the navigation, closed again by a link
  // chosen, Escape (the focus back on the button) or the button
  const [menuOpen, setMenuOpen] = useState(false);
  const menuButton = useRef<HTMLButtonElement>(null);
  useEffect(() => setMenuOpen(false), [loc.pathname, loc.search]);
  // a link followed inside the page (a stream of the list, a run of the stream) goes with the page it was on:
  // the focus fell to the top of the document, and a screen reader said nothing of the new page. It goes to
  // the page (as the skip link does), unless the new page took it itself (a step linked to, a heading)
  const main = useRef<HTMLElement>(null);
  const [moves, setMoves] = useState(0);
  const shown = useRef(loc.pathname);
  useEffect(() => {
    if (shown.current === loc.pathname) return;
    shown.current = loc.pathname;
    setMoves((n) => n + 1);
  }, [loc.pathname]);
  useFocusFallback(main, moves);
  // a link chosen in the opened menu (a narrow window) closes it, and the link goes out of sight with the
  // focus: the focus goes to the page, as after any link followed
  const shell = useRef<HTMLDivElement>(null);
  const handOn = useHandOn(shell);
  return (
    <div className="shell" ref={shell}>
      {/* the first stop of the tab order: past the eleven links of the menu, to the page itself */}
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>Skip to the page</a>
      <header
        className="topbar"
        onKeyDown={(e) => {
          if (e.key === "Escape" && menuOpen) {
            setMenuOpen(false);
            menuButton.current?.focus();
          }
        }}
      >
        <span className="brand">recon</span>
        <button type="button" className="menu-button" ref={menuButton} aria-expanded={menuOpen} aria-controls="main-menu" onClick={() => setMenuOpen((o) => !o)}>
          <span aria-hidden="true">☰ </span>Menu
        </button>
        <nav
          aria-label="main"
          id="main-menu"
          className={menuOpen ? "open" : undefined}
          onClick={(e) => {
            if (!menuOpen || !(e.target as HTMLElement).closest("a")) return;
            setMenuOpen(false);
            handOn("main");
          }}
        >
          <span className="group">CDC</span>
          <NavLink to="/" end>Overview</NavLink>
          <NavLink to="/cdc/jobs">Jobs</NavLink>
          <NavLink to="/cdc/mismatches">Mismatches</NavLink>
          <NavLink to="/cdc/trigger">Trigger</NavLink>
          <span className="group">Streams</span>
          <NavLink to="/streams">Streams</NavLink>
          <NavLink to="/files">Files</NavLink>
          <NavLink to="/rule-sets">Rule sets</NavLink>
          <NavLink to="/data-sources">Data sources</NavLink>
          <NavLink to="/exceptions">Exceptions</NavLink>
          <NavLink to="/reconciliations">Reconciliations</NavLink>
        </nav>
        <button
          type="button"
          className="link"
          onClick={() => {
            auth.clear();
            nav("/login");
          }}
        >
          Sign out
        </button>
      </header>
      {keyRefused && <NewKey onDone={() => setKeyRefused(false)} />}
      {/* a control Tab reaches in a table wider than the window (a phone) is scrolled wholly into its box: Chromium
          left the steps' file links half out of sight (x 313..467 in a 360 px window), or scrolled past them */}
      <main className="content" id="main" tabIndex={-1} ref={main} onFocus={(e) => e.target !== e.currentTarget && e.target.closest(".table-scroll") && e.target.scrollIntoView?.({ block: "nearest", inline: "nearest" })}>
        <Suspense fallback={<Loading />}>
          <Routes>
            <Route path="/" element={<CdcOverview />} />
            <Route path="/cdc/jobs" element={<JobList />} />
            <Route path="/cdc/jobs/:jobId" element={<JobDetailPage />} />
            <Route path="/cdc/mismatches" element={<MismatchBrowser />} />
            <Route path="/cdc/trigger" element={<TriggerPage />} />
            <Route path="/cdc/tables/:table" element={<DriftPage />} />
            <Route path="/files" element={<FilesPage />} />
            <Route path="/files/:id" element={<NumericId what="file"><FileDetailPage /></NumericId>} />
            <Route path="/rule-sets" element={<RuleSetsPage />} />
            <Route path="/rule-sets/new" element={<NumericId what="rule set"><RuleSetEditorPage /></NumericId>} />
            <Route path="/rule-sets/:id" element={<NumericId what="rule set"><RuleSetEditorPage /></NumericId>} />
            <Route path="/streams" element={<StreamsPage />} />
            <Route path="/streams/new" element={<NumericId what="stream"><StreamEditorPage /></NumericId>} />
            <Route path="/streams/:id" element={<NumericId what="stream"><StreamDetailPage /></NumericId>} />
            <Route path="/streams/:id/edit" element={<NumericId what="stream"><StreamEditorPage /></NumericId>} />
            <Route path="/runs/:id" element={<NumericId what="run"><RunPage /></NumericId>} />
            <Route path="/data-sources" element={<DataSourcesPage />} />
            <Route path="/exceptions" element={<ExceptionsPage />} />
            <Route path="/exceptions/:id" element={<NumericId what="exception"><ExceptionDetailPage /></NumericId>} />
            <Route path="/reconciliations" element={<LegacyPage />} />
            <Route path="/reconciliations/:id" element={<NumericId what="reconciliation"><LegacyDetailPage /></NumericId>} />
            <Route path="*" element={<NotFound />} />
          </Routes>
        </Suspense>
      </main>
    </div>
  );
}

/**
 * A page whose path names a numbered thing: anything else in its place is not found (not sent to the
 * API). Its `new` route is wrapped too, so that the editor keeps its state (the "Saved" message) when
 * a save moves it from `/rule-sets/new` to `/rule-sets/{id}`.
 */
function NumericId({ what, children }: { what: string; children: React.ReactElement }) {
  const { id } = useParams();
  return id === undefined || /^[1-9]\d*$/.test(id) ? children : <NoSuchId what={what} id={id} />;
}

function NoSuchId({ what, id }: { what: string; id: string }) {
  useTitle("Not found");
  return (
    <section>
      <h1>Not found</h1>
      <div className="error-box" role="alert">There is no {what} “{id}”: {what} ids are whole numbers from 1.</div>
    </section>
  );
}

function NotFound() {
  useTitle("Not found");
  return (
    <section>
      <h1>Page not found</h1>
      <p>
        Nothing lives at <code>{useLocation().pathname}</code>. Use the menu above.
      </p>
    </section>
  );
}

export function App() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/login" element={<Login />} />
        <Route
          path="*"
          element={
            <RequireKey>
              <Shell />
            </RequireKey>
          }
        />
      </Routes>
    </BrowserRouter>
  );
}
