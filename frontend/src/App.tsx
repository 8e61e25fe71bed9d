import type React from "react";
import { lazy, Suspense, useEffect, useRef, useState, type FormEvent } from "react";
import { BrowserRouter, Navigate, NavLink, Route, Routes, useLocation, useNavigate, useParams } from "react-router-dom";
import { auth, setUnauthorizedHandler } from "./services/api";
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

function Login() {
  useTitle("Sign in");
  const [key, setKey] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const nav = useNavigate();
  const loc = useLocation();
  const from = (loc.state as { from?: string } | null)?.from ?? "/";
  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!key.trim()) {
      setError("Enter the API key (make up prints where it is: .local/api-key)");
      return;
    }
    setBusy(true);
    setError(null);
    try {
      // any authenticated read proves the key
      const res = await fetch("/api/v1/reconciliation/jobs?page_size=1", { headers: { Authorization: `Bearer ${key.trim()}` } });
      if (res.status === 401) setError("This key is not valid: the API answered 401 Unauthorized");
      else if (!res.ok && res.status >= 500) setError(`The API answered ${res.status}: is the stack healthy?`);
      else {
        auth.set(key);
        nav(from, { replace: true });
      }
    } catch {
      setError("The API cannot be reached: check that the stack is running");
    } finally {
      setBusy(false);
    }
  }
  return (
    <main className="login">
      <form onSubmit={submit} className="card" aria-labelledby="login-title">
        <h1 id="login-title">recon console</h1>
        <p className="muted">Enter an API key. It is kept for this browser session only.</p>
        <label htmlFor="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autoComplete="off" autoFocus value={key} onChange={(e) => setKey(e.target.value)} aria-invalid={!!error} aria-describedby={error ? "api-key-error" : undefined} />
        {error && (
          <div className="field-error" id="api-key-error" role="alert">
            {error}
          </div>
        )}
        <BusyButton type="submit" className="primary" busy={busy}>
          {busy ? "Checking…" : "Sign in"}
        </BusyButton>
      </form>
    </main>
  );
}

function RequireKey({ children }: { children: React.ReactElement }) {
  const loc = useLocation();
  if (!auth.get()) return <Navigate to="/login" replace state={{ from: loc.pathname + loc.search }} />;
  return children;
}

function Shell() {
  const nav = useNavigate();
  const loc = useLocation();
  useEffect(() => {
    setUnauthorizedHandler(() => {
      auth.clear();
      nav("/login", { replace: true, state: { from: loc.pathname + loc.search } });
    });
  }, [nav, loc]);
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
      <main className="content" id="main" tabIndex={-1} ref={main}>
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
