import { useEffect, useRef, useState, type FormEvent } from "react";
import { ApiError, atVersion, cdc, dataSources, withoutField } from "../../services/api";
import { forgetName } from "../../services/lookup";
import { DATA_SOURCE_TYPES, type DataSource, type DataSourceInput, type DataSourceTest, type DataSourceType } from "../../services/types";
import { fmtDate, num } from "../../services/format";
import { Badge, BusyButton, ChoicesFailed, ErrorBox, FieldError, FIRST_INVALID, Loading, NoRows, Pager, Rereading, TableScroll, useFocusFallback, useHandOn, useLoad, useOpener, useTitle, useUrlState } from "../../components/ui";

/** Tables a step can snapshot as an input: PostgreSQL tables or queries, and tables of the CDC catalog. */
export function DataSourcesPage() {
  useTitle("Data sources");
  const { page, set } = useUrlState([] as const);
  const { data, error, loading, reload, outdated } = useLoad(() => dataSources.list({ page, pageSize: 20 }), [page]);
  // a deleted data source's row goes with the Delete pressed: the focus goes to the heading
  const heading = useRef<HTMLHeadingElement>(null);
  const [deleted, setDeleted] = useState(false);
  useFocusFallback(heading, deleted && data);
  return (
    <section>
      <h1 ref={heading} tabIndex={-1}>Data sources</h1>
      <p className="muted">A step can take a consistent snapshot of one of these as its source or target input.</p>
      <NewDataSource onCreated={reload} />
      <ErrorBox error={error} retry={reload} />
      {loading && !data && <Loading what="Loading data sources" />}
      <Rereading outdated={outdated} loading={loading}>
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>No data source yet. Add a PostgreSQL table or a table of the CDC catalog above.</NoRows>}
      {data && data.items.length > 0 && (
        <TableScroll><table className="grid" aria-label="data sources">
          <thead><tr><th>Id</th><th>Name</th><th>Type</th><th>Configuration</th><th>Created</th><th /></tr></thead>
          <tbody>{data.items.map((d) => <Row key={d.id} d={d} onChanged={reload} onDeleted={() => { setDeleted(true); reload(); }} />)}</tbody>
        </table></TableScroll>
      )}
      {data && <Pager page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })} />}
      </Rereading>
    </section>
  );
}

function Row({ d, onChanged, onDeleted }: { d: DataSource; onChanged: () => void; onDeleted: () => void }) {
  // the last test, of the stored data source it was made for: an edited data source's last test may no
  // longer hold, so it is not shown once the stored one changed (derived, not reset in an effect: an effect
  // could run after a press that came just as the row appeared, and wipe that test's busy state)
  type Test = { busy?: boolean; result?: DataSourceTest; error?: unknown };
  const [tested, setTested] = useState<Test & { of?: string | null }>({ of: d.updatedAt });
  const test: Test = tested.of === d.updatedAt ? tested : {};
  const setTest = (t: Test) => setTested({ ...t, of: d.updatedAt });
  const [delError, setDelError] = useState<unknown>(null);
  const [editing, setEditing] = useState(false);
  const editButton = useRef<HTMLButtonElement>(null);
  return (
    <>
      <tr data-datasource={d.name}>
        <td>{d.id}</td>
        <td><span className="long" title={d.name}>{d.name}</span></td>
        <td><Badge value={d.type} /></td>
        <td><code className="small">{JSON.stringify(d.config)}</code></td>
        <td>{fmtDate(d.createdAt)}{d.updatedAt && d.updatedAt !== d.createdAt && <div className="muted small">changed {fmtDate(d.updatedAt)}</div>}</td>
        <td>
          <BusyButton
            busy={!!test.busy}
            onClick={async () => {
              setTest({ busy: true });
              try {
                setTest({ result: await dataSources.test(d.id) });
              } catch (e) {
                setTest({ error: e });
              }
            }}
          >
            {test.busy ? "Testing…" : "Test"}
          </BusyButton>
          {test.result && (
            <div className={test.result.ok ? "ok small" : "field-error"} role="status" data-test-ok={test.result.ok ? "yes" : "no"}>
              {test.result.ok
                ? `reachable${test.result.rowEstimate !== null && test.result.rowEstimate !== undefined ? `, about ${num(test.result.rowEstimate)} rows` : ""}; columns: ${(test.result.columns ?? []).map((c) => c.name).join(", ")}`
                : test.result.errorMessage}
            </div>
          )}
          {test.error ? <ErrorBox error={test.error} /> : null}{" "}
          <button ref={editButton} type="button" aria-expanded={editing} aria-label={`Edit ${d.name}`} onClick={() => setEditing((x) => !x)}>
            Edit
          </button>{" "}
          <button
            type="button"
            className="danger"
            onClick={async () => {
              if (!confirm(`Delete the data source ${d.name}?`)) return;
              setDelError(null);
              try {
                await dataSources.remove(d.id);
                forgetName("dataSource", d.id);
                onDeleted();
              } catch (e) {
                setDelError(e); // in use by a stream: the API says which
              }
            }}
          >
            Delete
          </button>
          <ErrorBox error={delError} />
        </td>
      </tr>
      {editing && (
        <tr className="edit-row" data-editing={d.name}>
          <td colSpan={6}>
            <DataSourceForm
              initial={d}
              onSaved={() => {
                // the form goes with the Save pressed: the focus goes back to this row's Edit, as on Cancel
                setEditing(false);
                editButton.current?.focus();
                onChanged();
              }}
              onCancel={() => {
                setEditing(false);
                editButton.current?.focus();
              }}
            />
          </td>
        </tr>
      )}
    </>
  );
}

type Credential = "" | "env" | "secretArn";

/** The form's fields from a stored data source (the credential as its reference: a variable name or a secret's ARN). */
export function formFromDataSource(d?: Pick<DataSource, "name" | "type" | "config">) {
  const c = (d?.config ?? {}) as { connection?: { env?: string; secretArn?: string }; schema?: string; table?: string; query?: string };
  const credential: Credential = c.connection?.secretArn !== undefined ? "secretArn" : c.connection?.env !== undefined ? "env" : "";
  return {
    name: d?.name ?? "",
    type: (d?.type ?? "CDC_TABLE") as DataSourceType,
    table: c.table ?? "",
    // a new POSTGRES table reads `public` unless told otherwise; a stored one keeps what it has (none: the server's default)
    schema: d ? (c.schema ?? "") : "public",
    query: c.query ?? "",
    credential,
    ref: credential === "secretArn" ? (c.connection?.secretArn ?? "") : credential === "env" ? (c.connection?.env ?? "") : "",
  };
}

/** The request body from the form's fields: only what the chosen type and shape use. */
export function dataSourceBody(f: ReturnType<typeof formFromDataSource>): DataSourceInput {
  if (f.type === "CDC_TABLE") return { name: f.name, type: f.type, config: { table: f.table } };
  const connection = f.credential && f.ref.trim() ? { connection: { [f.credential]: f.ref.trim() } } : f.credential ? { connection: { [f.credential]: "" } } : {};
  if (f.query.trim()) return { name: f.name, type: f.type, config: { ...connection, query: f.query } };
  return { name: f.name, type: f.type, config: { ...connection, ...(f.schema.trim() ? { schema: f.schema.trim() } : {}), table: f.table.trim() } };
}

function NewDataSource({ onCreated }: { onCreated: () => void }) {
  const [open, setOpen] = useState(false);
  const opener = useOpener(open); // back where the person was, after Create or Cancel
  if (!open) return <button ref={opener} type="button" onClick={() => setOpen(true)}>New data source</button>;
  return (
    <DataSourceForm
      onSaved={() => {
        setOpen(false);
        onCreated();
      }}
      onCancel={() => setOpen(false)}
    />
  );
}

/**
 * Create (no `initial`) or edit a data source: the same fields, prefilled when editing. Each problem the
 * API names is shown under its field; the credential is a reference (a variable's name, a secret's ARN),
 * never the connection string or password itself.
 */
function DataSourceForm({ initial, onSaved, onCancel }: { initial?: DataSource; onSaved: () => void; onCancel: () => void }) {
  const [f, setF] = useState(() => formFromDataSource(initial));
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const tables = useLoad(() => (f.type === "CDC_TABLE" ? cdc.tables() : Promise.resolve([] as string[])), [f.type]);
  const first = useRef<HTMLInputElement>(null);
  useEffect(() => first.current?.focus(), []);
  const form = useRef<HTMLFormElement>(null);
  const handOn = useHandOn(form);
  const set = (patch: Partial<typeof f>) => setF((x) => ({ ...x, ...patch }));
  const id = initial ? `ds-${initial.id}` : "ds-new";
  const inv = (...names: string[]) => (error instanceof ApiError && names.some((n) => n in error.fields) ? true : undefined);
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    setBusy(true);
    try {
      const body = dataSourceBody(f);
      if (initial) {
        await dataSources.update(initial.id, atVersion(body, initial.version));
        forgetName("dataSource", initial.id);
      } else await dataSources.create(body);
      onSaved();
    } catch (err) {
      setError(err);
      handOn(FIRST_INVALID);
    } finally {
      setBusy(false);
    }
  }
  const refField = f.credential ? `config.connection.${f.credential}` : "config.connection";
  // the stored table may have left the catalog since: keep it in the list, so the form shows what is stored
  const tableOptions = [...(tables.data ?? [])];
  if (f.type === "CDC_TABLE" && f.table && !tableOptions.includes(f.table)) tableOptions.unshift(f.table);
  return (
    <form
      ref={form}
      className="card form"
      onSubmit={submit}
      noValidate
      aria-label={initial ? `edit data source ${initial.name}` : "new data source"}
      onChangeCapture={(e) => setError((x: unknown) => withoutField(x, (e.target as unknown as HTMLInputElement).name))}
    >
      {initial && <h2>Edit data source #{initial.id}</h2>}
      <div className="row">
        <label>Name<input ref={first} name="name" value={f.name} onChange={(e) => set({ name: e.target.value })} aria-invalid={inv("name")} /><FieldError error={error} field="name" /></label>
        <label>Type
          <select name="type" value={f.type} onChange={(e) => set({ type: e.target.value as DataSourceType })} aria-invalid={inv("type")}>{DATA_SOURCE_TYPES.map((t) => <option key={t}>{t}</option>)}</select>
          <FieldError error={error} field="type" />
        </label>
      </div>
      {f.type === "CDC_TABLE" ? (
        <label>Catalog table
          <select name="config.table" value={f.table} onChange={(e) => set({ table: e.target.value })} aria-invalid={inv("config.table", "config")}>
            <option value="">choose…</option>
            {tableOptions.map((t) => <option key={t}>{t}</option>)}
          </select>
          <FieldError error={error} field={["config.table", "config"]} />
          <ChoicesFailed what="The catalog's tables" error={tables.error} retry={tables.reload} />
        </label>
      ) : (
        <>
          <div className="row">
            <label htmlFor={`${id}-credential`}>Credentials
              <select id={`${id}-credential`} name="config.connection" value={f.credential} onChange={(e) => set({ credential: e.target.value as Credential })} aria-invalid={inv("config.connection")}>
                <option value="">the service's CDC target database</option>
                <option value="env">an environment variable holding the URL</option>
                <option value="secretArn">a Secrets Manager secret</option>
              </select>
              {!f.credential && <FieldError error={error} field="config.connection" />}
            </label>
            {f.credential && (
              <label>{f.credential === "env" ? "Connection variable" : "Secret ARN"} <span className="muted small">(a reference: never the connection string or password)</span>
                <input
                  name={refField}
                  value={f.ref}
                  onChange={(e) => set({ ref: e.target.value })}
                  placeholder={f.credential === "env" ? "OMS_DATABASE_URL" : "arn:aws:secretsmanager:eu-west-1:123456789012:secret:oms"}
                  autoComplete="off"
                  spellCheck={false}
                  aria-invalid={inv(refField, "config.connection")}
                />
                <FieldError error={error} field={[refField, "config.connection"]} />
              </label>
            )}
          </div>
          <div className="row">
            <label>Schema<input name="config.schema" value={f.schema} onChange={(e) => set({ schema: e.target.value })} aria-invalid={inv("config.schema")} /><FieldError error={error} field="config.schema" /></label>
            <label>Table<input name="config.table" value={f.table} onChange={(e) => set({ table: e.target.value })} aria-invalid={inv("config.table", "config")} /><FieldError error={error} field={["config.table", "config"]} /></label>
          </div>
          <label>or a read-only query<textarea name="config.query" rows={2} value={f.query} onChange={(e) => set({ query: e.target.value })} placeholder="SELECT order_id, amount FROM oms.orders WHERE ..." aria-invalid={inv("config.query")} /><FieldError error={error} field="config.query" /></label>
        </>
      )}
      <div className="actions">
        <BusyButton type="submit" className="primary" busy={busy}>{busy ? "Saving…" : initial ? "Save" : "Create"}</BusyButton>
        <button type="button" onClick={onCancel}>Cancel</button>
      </div>
      <ErrorBox error={error} />
    </form>
  );
}
