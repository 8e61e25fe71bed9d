import { useEffect, useRef, useState, type FormEvent } from "react";
import { Link, useNavigate, useParams, useSearchParams } from "react-router-dom";
import { ApiError, atVersion, ruleSets, withoutField } from "../../services/api";
import { forgetName } from "../../services/lookup";
import { pickableFiles } from "../../components/FileOptions";
import { ALGORITHMS, CARDINALITIES, NORMALIZERS, OPERATORS, type Condition, type Normalizer, type Pass, type RuleSetInput } from "../../services/types";
import { fmtDate } from "../../services/format";
import { BusyButton, Crumbs, ErrorBox, FieldError, FIRST_INVALID, LoadFailed, Loading, NoRows, Pager, Rereading, TableScroll, useHandOn, useLoad, useTitle, useUrlState } from "../../components/ui";
import { emptyCondition, emptyPass, ruleSetProblems, toRuleSetInput } from "../../services/rulesets";

export function RuleSetsPage() {
  useTitle("Rule sets");
  const { page, set } = useUrlState([] as const);
  const { data, error, loading, outdated, reload } = useLoad(() => ruleSets.list({ page, pageSize: 20 }), [page]);
  return (
    <section>
      <div className="page-head">
        <h1>Rule sets</h1>
        <Link className="button primary" to="/rule-sets/new">New rule set</Link>
      </div>
      <ErrorBox error={error} retry={reload} />
      {loading && !data && <Loading what="Loading rule sets" />}
      <Rereading outdated={outdated} loading={loading}>
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>No rule set yet. <Link to="/rule-sets/new">Create one</Link>: it says how a source row and a target row match.</NoRows>}
      {data && data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="rule sets">
          <thead><tr><th>Id</th><th>Name</th><th>Version</th><th>Passes</th><th>Description</th><th>Updated</th></tr></thead>
          <tbody>
            {data.items.map((r) => (
              <tr key={r.id} data-ruleset={r.name}>
                <td>{r.id}</td>
                <td><Link className="long" title={r.name} to={`/rule-sets/${r.id}`}>{r.name}</Link></td>
                <td>v{r.version}</td>
                <td>{r.passCount}</td>
                <td className="small">{r.description ?? ""}</td>
                <td>{fmtDate(r.updatedAt ?? r.createdAt)}</td>
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

const blank: RuleSetInput = { name: "", description: "", sourceKey: "", targetKey: "", passes: [emptyPass()] };

export function RuleSetEditorPage() {
  const { id } = useParams();
  const editing = id !== undefined;
  const nav = useNavigate();
  const [rs, setRs] = useState<RuleSetInput>(blank);
  const [version, setVersion] = useState<number | null>(null);
  const [latest, setLatest] = useState<number | null>(null);
  // `?version=N`: the version a step run used (linked from the run page)
  const [params] = useSearchParams();
  const { asked, unreadable } = versionAsked(params.get("version"));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState<string | null>(null);
  const [loadError, setLoadError] = useState<unknown>(null);
  const [delError, setDelError] = useState<unknown>(null);
  // the name as saved (read, or saved here): the title and breadcrumb name the rule set as it is, not the name being typed
  const [savedName, setSavedName] = useState("");
  useTitle(editing ? `Rule set ${savedName || id}` : "New rule set");
  // column names of READY files, offered as suggestions
  const cols = useLoad(async () => {
    const p = await pickableFiles();
    return Array.from(new Set([...p.uploads, ...p.outputs].flatMap((f) => (f.columns ?? []).map((c) => c.name)))).sort();
  }, []);
  useEffect(() => {
    if (!editing || unreadable !== null) return;
    setLoadError(null);
    ruleSets.get(Number(id), asked).then(
      (r) => {
        setRs(toRuleSetInput(r));
        setSavedName(r.name);
        setVersion(r.version);
        setLatest(r.latestVersion);
      },
      setLoadError,
    );
  }, [editing, id, asked, unreadable]);

  // a pass or condition added takes the focus (its first field is what one fills in next); one removed hands
  // it on to the next one's first control (or the previous one's, or the Add button when none is left); a
  // pass moved keeps it (its Move button, at its new place)
  const form = useRef<HTMLFormElement>(null);
  const handOn = useHandOn(form);
  const addPass = () => {
    const at = rs.passes.length;
    setRs((r) => ({ ...r, passes: [...r.passes, emptyPass()] }));
    handOn(`[name="passes[${at}].name"]`);
  };
  const addCondition = (i: number) => {
    const at = rs.passes[i].conditions.length;
    patchPass(i, { conditions: [...rs.passes[i].conditions, emptyCondition("EQUALS")] });
    handOn(`[name="passes[${i}].conditions[${at}].source"]`);
  };
  const removePass = (i: number) => {
    const next = i < rs.passes.length - 1 ? i : i - 1; // the next pass takes its place
    setRs((r) => ({ ...r, passes: r.passes.filter((_, j) => j !== i) }));
    handOn(`[name="passes[${next}].name"]`, "[data-add-pass]");
  };
  const movePass = (i: number, to: number) => {
    setRs((r) => ({ ...r, passes: move(r.passes, i, to) }));
    const [same, other] = to < i ? ["up", "down"] : ["down", "up"];
    handOn(`[data-pass="${to}"] [data-move="${same}"]`, `[data-pass="${to}"] [data-move="${other}"]`);
  };
  const removeCondition = (i: number, k: number) => {
    const conditions = rs.passes[i].conditions;
    const next = k < conditions.length - 1 ? k : k - 1;
    patchPass(i, { conditions: conditions.filter((_, j) => j !== k) });
    handOn(`[name="passes[${i}].conditions[${next}].source"]`, `[data-pass="${i}"] [data-add-condition]`);
  };

  const patchPass = (i: number, p: Partial<Pass>) => setRs((r) => ({ ...r, passes: r.passes.map((x, j) => (j === i ? { ...x, ...p } : x)) }));
  const patchCond = (i: number, k: number, c: Partial<Condition>) =>
    patchPass(i, { conditions: rs.passes[i].conditions.map((x, j) => (j === k ? { ...x, ...c } : x)) });

  async function save(e: FormEvent) {
    e.preventDefault();
    setSaved(null);
    const local = ruleSetProblems(rs);
    if (Object.keys(local).length) {
      setError(new ApiError(400, "VALIDATION_ERROR", "Some fields need attention", local));
      handOn(FIRST_INVALID);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const body = cleanRuleSet(rs);
      // the latest version the form knew of: a version saved by someone else since is a 409, not lost
      const r = editing ? await ruleSets.update(Number(id), atVersion(body, latest)) : await ruleSets.create(body);
      forgetName("ruleSet", r.id);
      setVersion(r.version);
      setLatest(r.version);
      setSavedName(r.name);
      setSaved(`Saved ${r.name} as version ${r.version}`);
      if (!editing || asked) nav(`/rule-sets/${r.id}`, { replace: true });
    } catch (err) {
      setError(err);
      handOn(FIRST_INVALID);
    } finally {
      setBusy(false);
    }
  }
  // a version that is not there (`?version=99`, `?version=abc`): said, naming it, with the latest a click away;
  // never the latest version shown as if it were the one asked for
  if (editing && (unreadable !== null || (asked && loadError instanceof ApiError && loadError.status === 404)))
    return <VersionNotThere id={Number(id)} version={unreadable !== null ? `“${unreadable}”` : String(asked)} error={unreadable !== null ? new Error(`“${unreadable}” is not a version: a rule set's versions are numbered 1, 2, 3…`) : loadError} />;
  // an old link (a deleted rule set): the page says what was asked for, the API's words and the way back
  if (loadError) return <LoadFailed what={`Rule set #${id}${asked ? ` version ${asked}` : ""}`} error={loadError} back={["Rule sets", "/rule-sets"]} />;
  // an existing rule set's form waits for its rules (an empty form read as a rule set without passes)
  if (editing && version === null) return <Loading what="Loading the rule set" />;
  const fe = (field: string) => <FieldError error={error} field={field} />;
  const inv = (field: string) => (error instanceof ApiError && error.fields[field] ? true : undefined);
  return (
    <section>
      <Crumbs items={[["Rule sets", "/rule-sets"], [editing ? `${savedName || id}${version ? ` v${version}` : ""}` : "New", null]]} />
      <h1>{editing ? `Edit rule set${version ? ` (v${version}; saving creates v${(latest ?? version) + 1})` : ""}` : "New rule set"}</h1>
      {editing && version !== null && latest !== null && version < latest && (
        <div className="card warn-box" role="status">
          This is version {version}, not the latest: version {latest} is what streams use now. <Link to={`/rule-sets/${id}`}>Open version {latest}</Link>. Saving
          this form makes version {version}'s rules the latest again, as version {latest + 1}.
        </div>
      )}
      <datalist id="columns">{(cols.data ?? []).map((c) => <option key={c} value={c} />)}</datalist>
      <form ref={form} className="form ruleset" onSubmit={save} noValidate aria-label="rule set" onChangeCapture={(e) => setError((x: unknown) => withoutField(x, (e.target as unknown as HTMLInputElement).name))}>
        <div className="row">
          <label>Name<input name="name" value={rs.name} onChange={(e) => setRs({ ...rs, name: e.target.value })} aria-invalid={inv("name")} />{fe("name")}</label>
          <label>Description<input name="description" value={rs.description ?? ""} onChange={(e) => setRs({ ...rs, description: e.target.value })} />{fe("description")}</label>
        </div>
        <div className="row">
          <label>Source key column <span className="muted small">(optional: row number otherwise)</span><input name="sourceKey" list="columns" value={rs.sourceKey ?? ""} onChange={(e) => setRs({ ...rs, sourceKey: e.target.value })} aria-invalid={inv("sourceKey")} />{fe("sourceKey")}</label>
          <label>Target key column<input name="targetKey" list="columns" value={rs.targetKey ?? ""} onChange={(e) => setRs({ ...rs, targetKey: e.target.value })} aria-invalid={inv("targetKey")} />{fe("targetKey")}</label>
        </div>
        {fe("passes")}
        {rs.passes.map((p, i) => (
          <fieldset key={i} className="pass" data-pass={i}>
            <legend>Pass {i + 1}</legend>
            <div className="row">
              <label>Name<input name={`passes[${i}].name`} value={p.name} onChange={(e) => patchPass(i, { name: e.target.value })} aria-invalid={inv(`passes[${i}].name`)} />{fe(`passes[${i}].name`)}</label>
              <label>Cardinality
                <select name={`passes[${i}].cardinality`} aria-invalid={inv(`passes[${i}].cardinality`) || inv(`passes[${i}]`)} value={p.cardinality} onChange={(e) => patchPass(i, { cardinality: e.target.value as Pass["cardinality"] })}>
                  {CARDINALITIES.map((c) => <option key={c}>{c}</option>)}
                </select>
                {fe(`passes[${i}].cardinality`)}{fe(`passes[${i}]`)}
              </label>
              {p.cardinality !== "ONE_TO_ONE" && (
                <label>Group by {p.cardinality === "ONE_TO_MANY" ? "target" : "source"} columns <span className="muted small">(comma separated)</span>
                  <input
                    name={`passes[${i}].groupBy`}
                    aria-invalid={inv(`passes[${i}].groupBy`) || inv(`passes[${i}].groupBy.target`) || inv(`passes[${i}].groupBy.source`)}
                    value={(p.cardinality === "ONE_TO_MANY" ? p.groupBy?.target : p.groupBy?.source)?.join(", ") ?? ""}
                    onChange={(e) => {
                      const v = e.target.value.split(",").map((s) => s.trim()).filter(Boolean);
                      patchPass(i, { groupBy: p.cardinality === "ONE_TO_MANY" ? { target: v } : { source: v } });
                    }}
                  />
                  {fe(`passes[${i}].groupBy`)}{fe(`passes[${i}].groupBy.target`)}{fe(`passes[${i}].groupBy.source`)}
                </label>
              )}
            </div>
            {fe(`passes[${i}].conditions`)}
            <TableScroll><table className="conditions">
              <thead><tr><th>Source column</th><th>Target column</th><th>Operator</th><th>Parameters</th><th>Normalize</th><th /></tr></thead>
              <tbody>
                {p.conditions.map((c, k) => {
                  const base = `passes[${i}].conditions[${k}]`;
                  // each field named in words for a screen reader (the header cell is above, the pass around)
                  const of = `of condition ${k + 1} in pass ${i + 1}`;
                  return (
                    <tr key={k} data-condition={`${i}.${k}`}>
                      <td><input aria-label={`Source column ${of}`} name={`${base}.source`} list="columns" value={c.source} onChange={(e) => patchCond(i, k, { source: e.target.value })} aria-invalid={inv(`${base}.source`)} />{fe(`${base}.source`)}</td>
                      <td><input aria-label={`Target column ${of}`} name={`${base}.target`} list="columns" value={c.target} onChange={(e) => patchCond(i, k, { target: e.target.value })} aria-invalid={inv(`${base}.target`)} />{fe(`${base}.target`)}</td>
                      <td>
                        <select aria-label={`Operator ${of}`} name={`${base}.operator`} aria-invalid={inv(`${base}.operator`) || inv(base)} value={c.operator} onChange={(e) => patchCond(i, k, { ...emptyCondition(e.target.value as Condition["operator"]), source: c.source, target: c.target, normalize: c.normalize })}>
                          {OPERATORS.map((o) => <option key={o}>{o}</option>)}
                        </select>
                        {fe(`${base}.operator`)}{fe(base)}
                      </td>
                      <td className="params">
                        {c.operator === "AMOUNT_TOLERANCE" && (
                          <>
                            <label>± absolute<input type="number" step="any" name={`${base}.absolute`} value={c.absolute ?? ""} onChange={(e) => patchCond(i, k, { absolute: e.target.value === "" ? undefined : Number(e.target.value) })} aria-invalid={inv(`${base}.absolute`)} /></label>{fe(`${base}.absolute`)}
                            <label>± percent<input type="number" step="any" name={`${base}.percent`} value={c.percent ?? ""} onChange={(e) => patchCond(i, k, { percent: e.target.value === "" ? undefined : Number(e.target.value) })} aria-invalid={inv(`${base}.percent`)} /></label>{fe(`${base}.percent`)}
                            {p.cardinality !== "ONE_TO_ONE" && <label><input type="checkbox" checked={c.aggregate === "SUM"} onChange={(e) => patchCond(i, k, { aggregate: e.target.checked ? "SUM" : undefined })} /> sum over the group</label>}
                          </>
                        )}
                        {c.operator === "DATE_WINDOW" && (
                          <>
                            <label>days before<input type="number" min={0} name={`${base}.daysBefore`} value={c.daysBefore ?? ""} onChange={(e) => patchCond(i, k, { daysBefore: e.target.value === "" ? undefined : Number(e.target.value) })} aria-invalid={inv(`${base}.daysBefore`)} /></label>{fe(`${base}.daysBefore`)}
                            <label>days after<input type="number" min={0} name={`${base}.daysAfter`} value={c.daysAfter ?? ""} onChange={(e) => patchCond(i, k, { daysAfter: e.target.value === "" ? undefined : Number(e.target.value) })} aria-invalid={inv(`${base}.daysAfter`)} /></label>{fe(`${base}.daysAfter`)}
                          </>
                        )}
                        {c.operator === "SIMILARITY" && (
                          <>
                            <label>algorithm<select name={`${base}.algorithm`} aria-invalid={inv(`${base}.algorithm`)} value={c.algorithm ?? "JARO_WINKLER"} onChange={(e) => patchCond(i, k, { algorithm: e.target.value as Condition["algorithm"] })}>{ALGORITHMS.map((a) => <option key={a}>{a}</option>)}</select></label>{fe(`${base}.algorithm`)}
                            <label>threshold<input type="number" step="0.01" name={`${base}.threshold`} value={c.threshold ?? ""} onChange={(e) => patchCond(i, k, { threshold: e.target.value === "" ? undefined : Number(e.target.value) })} aria-invalid={inv(`${base}.threshold`)} aria-describedby={`${base}.threshold-error`} /></label>
                            <FieldError error={error} field={`${base}.threshold`} id={`${base}.threshold-error`} />
                          </>
                        )}
                        {c.operator === "EQUALS" && <span className="muted small">equal after normalizing</span>}
                      </td>
                      <td className="normalize">
                        {NORMALIZERS.map((n) => (
                          <label key={n} className="chip">
                            <input type="checkbox" aria-label={`${n.toLowerCase().replace(/_/g, " ")} (normalize ${of})`} checked={!!c.normalize?.includes(n)} onChange={(e) => patchCond(i, k, { normalize: toggle(c.normalize ?? [], n, e.target.checked) })} />
                            {n.toLowerCase().replace(/_/g, " ")}
                          </label>
                        ))}
                        {fe(`${base}.normalize`)}
                      </td>
                      <td><button type="button" className="link" aria-label={`remove condition ${k + 1} of pass ${i + 1}`} onClick={() => removeCondition(i, k)}>✕</button></td>
                    </tr>
                  );
                })}
              </tbody>
            </table></TableScroll>
            <div className="actions">
              <button type="button" data-add-condition aria-label={`Add condition to pass ${i + 1}`} onClick={() => addCondition(i)}>Add condition</button>
              <button type="button" data-move="up" aria-label={`Move pass ${i + 1} up`} disabled={i === 0} onClick={() => movePass(i, i - 1)}>Move up</button>
              <button type="button" data-move="down" aria-label={`Move pass ${i + 1} down`} disabled={i === rs.passes.length - 1} onClick={() => movePass(i, i + 1)}>Move down</button>
              <button type="button" className="danger" aria-label={`Remove pass ${i + 1}`} disabled={rs.passes.length === 1} onClick={() => removePass(i)}>Remove pass</button>
            </div>
          </fieldset>
        ))}
        <div className="actions">
          <button type="button" data-add-pass onClick={addPass}>Add pass</button>
          <BusyButton type="submit" className="primary" busy={busy}>{busy ? "Saving…" : editing ? "Save new version" : "Create rule set"}</BusyButton>
        </div>
        {saved && <p className="ok" role="status">{saved}</p>}
        <ErrorBox error={error} />
      </form>
      {editing && (
        <div className="actions">
          <button
            type="button"
            className="danger"
            onClick={async () => {
              if (!confirm(`Delete the rule set ${rs.name}?`)) return;
              setDelError(null);
              try {
                await ruleSets.remove(Number(id));
                forgetName("ruleSet", Number(id));
                nav("/rule-sets");
              } catch (e) {
                setDelError(e); // in use by a stream: the API says which
              }
            }}
          >
            Delete rule set
          </button>
        </div>
      )}
      <ErrorBox error={delError} />
    </section>
  );
}

/**
 * The `version` of a rule set's address: a whole number from 1 (`asked`); absent, the latest; anything else
 * (`abc`, `0`, `1.5`, empty) is `unreadable`, as written.
 */
export function versionAsked(raw: string | null): { asked?: number; unreadable: string | null } {
  if (raw === null) return { unreadable: null };
  return /^\s*0*[1-9]\d{0,8}\s*$/.test(raw) ? { asked: Number(raw), unreadable: null } : { unreadable: raw };
}

/** A rule set's version that cannot be shown: what was asked for, why, and the latest version a click away. */
function VersionNotThere({ id, version, error }: { id: number; version: string; error: unknown }) {
  const latest = useLoad(() => ruleSets.get(id), [id], id);
  const what = `Rule set #${id} version ${version}`;
  useTitle(what);
  // the rule set itself is not there either: its own error
  if (latest.error) return <LoadFailed what={what} error={latest.error} back={["Rule sets", "/rule-sets"]} />;
  return (
    <LoadFailed what={what} error={error} back={["Rule sets", "/rule-sets"]}>
      {latest.data ? (
        <p data-latest-version={latest.data.latestVersion}>
          {latest.data.name} has {latest.data.latestVersion === 1 ? "one version, 1" : `versions 1 to ${latest.data.latestVersion}`}.{" "}
          <Link to={`/rule-sets/${id}`}>Open version {latest.data.latestVersion}, the latest</Link>
        </p>
      ) : (
        <Loading what="Reading the rule set's latest version" />
      )}
    </LoadFailed>
  );
}

function toggle(list: Normalizer[], n: Normalizer, on: boolean): Normalizer[] {
  return on ? [...list.filter((x) => x !== n), n] : list.filter((x) => x !== n);
}
function move<T>(a: T[], from: number, to: number): T[] {
  const b = [...a];
  const [x] = b.splice(from, 1);
  b.splice(to, 0, x);
  return b;
}
function cleanRuleSet(rs: RuleSetInput): RuleSetInput {
  return {
    name: rs.name.trim(),
    ...(rs.description ? { description: rs.description } : {}),
    ...(rs.sourceKey ? { sourceKey: rs.sourceKey.trim() } : {}),
    ...(rs.targetKey ? { targetKey: rs.targetKey.trim() } : {}),
    passes: rs.passes.map((p) => ({
      name: p.name.trim(),
      cardinality: p.cardinality,
      ...(p.cardinality !== "ONE_TO_ONE" && p.groupBy ? { groupBy: p.groupBy } : {}),
      conditions: p.conditions.map((c) => Object.fromEntries(Object.entries(c).filter(([k, v]) => v !== undefined && !(k === "normalize" && Array.isArray(v) && v.length === 0))) as unknown as Condition),
    })),
  };
}
