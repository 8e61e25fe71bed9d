import { useState, type FormEvent } from "react";
import { cdc, dataSources, withoutField } from "../../services/api";
import { DATA_SOURCE_TYPES, type DataSource, type DataSourceTest, type DataSourceType } from "../../services/types";
import { fmtDate, num } from "../../services/format";
import { Badge, ErrorBox, FieldError, Loading, NoRows, Pager, useLoad, useTitle, useUrlState } from "../../components/ui";

/** Tables a step can snapshot as an input: PostgreSQL tables or queries, and tables of the CDC catalog. */
export function DataSourcesPage() {
  useTitle("Data sources");
  const { page, set } = useUrlState([] as const);
  const { data, error, loading, reload } = useLoad(() => dataSources.list({ page, pageSize: 20 }), [page]);
  return (
    <section>
      <h1>Data sources</h1>
      <p className="muted">A step can take a consistent snapshot of one of these as its source or target input.</p>
      <NewDataSource onCreated={reload} />
      <ErrorBox error={error} />
      {loading && !data && <Loading what="Loading data sources" />}
      {data && data.items.length === 0 && <NoRows page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })}>No data source yet. Add a PostgreSQL table or a table of the CDC catalog above.</NoRows>}
      {data && data.items.length > 0 && (
        <table className="grid" aria-label="data sources">
          <thead><tr><th>Id</th><th>Name</th><th>Type</th><th>Configuration</th><th>Created</th><th /></tr></thead>
          <tbody>{data.items.map((d) => <Row key={d.id} d={d} onDeleted={reload} />)}</tbody>
        </table>
      )}
      {data && <Pager page={data.page} totalPages={data.totalPages} totalItems={data.totalItems} onPage={(p) => set({ page: p })} />}
    </section>
  );
}

function Row({ d, onDeleted }: { d: DataSource; onDeleted: () => void }) {
  const [test, setTest] = useState<{ busy?: boolean; result?: DataSourceTest; error?: unknown }>({});
  const [delError, setDelError] = useState<unknown>(null);
  return (
    <tr data-datasource={d.name}>
      <td>{d.id}</td>
      <td>{d.name}</td>
      <td><Badge value={d.type} /></td>
      <td><code className="small">{JSON.stringify(d.config)}</code></td>
      <td>{fmtDate(d.createdAt)}</td>
      <td>
        <button
          type="button"
          disabled={test.busy}
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
        </button>
        {test.result && (
          <div className={test.result.ok ? "ok small" : "field-error"} role="status" data-test-ok={test.result.ok ? "yes" : "no"}>
            {test.result.ok
              ? `reachable${test.result.rowEstimate !== null && test.result.rowEstimate !== undefined ? `, about ${num(test.result.rowEstimate)} rows` : ""}; columns: ${(test.result.columns ?? []).map((c) => c.name).join(", ")}`
              : test.result.errorMessage}
          </div>
        )}
        {test.error ? <ErrorBox error={test.error} /> : null}{" "}
        <button
          type="button"
          className="danger"
          onClick={async () => {
            if (!confirm(`Delete the data source ${d.name}?`)) return;
            setDelError(null);
            try {
              await dataSources.remove(d.id);
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
  );
}

function NewDataSource({ onCreated }: { onCreated: () => void }) {
  const [open, setOpen] = useState(false);
  const [name, setName] = useState("");
  const [type, setType] = useState<DataSourceType>("CDC_TABLE");
  const [table, setTable] = useState("");
  const [schema, setSchema] = useState("public");
  const [query, setQuery] = useState("");
  const [env, setEnv] = useState("");
  const [error, setError] = useState<unknown>(null);
  const tables = useLoad(() => (open ? cdc.tables() : Promise.resolve([])), [open]);
  if (!open) return <button type="button" onClick={() => setOpen(true)}>New data source</button>;
  async function submit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    const connection = env.trim() ? { connection: { env: env.trim() } } : {};
    const config = type === "CDC_TABLE" ? { table } : query.trim() ? { ...connection, query } : { ...connection, schema, table };
    try {
      await dataSources.create({ name, type, config });
      setOpen(false);
      onCreated();
    } catch (err) {
      setError(err);
    }
  }
  return (
    <form className="card form" onSubmit={submit} noValidate aria-label="new data source" onChangeCapture={(e) => setError((x: unknown) => withoutField(x, (e.target as unknown as HTMLInputElement).name))}>
      <div className="row">
        <label>Name<input name="name" value={name} onChange={(e) => setName(e.target.value)} /><FieldError error={error} field="name" /></label>
        <label>Type
          <select name="type" value={type} onChange={(e) => setType(e.target.value as DataSourceType)}>{DATA_SOURCE_TYPES.map((t) => <option key={t}>{t}</option>)}</select>
        </label>
      </div>
      {type === "CDC_TABLE" ? (
        <label>Catalog table
          <select name="config.table" value={table} onChange={(e) => setTable(e.target.value)}>
            <option value="">choose…</option>
            {(tables.data ?? []).map((t) => <option key={t}>{t}</option>)}
          </select>
          <FieldError error={error} field={["config.table", "config"]} />
        </label>
      ) : (
        <>
          <div className="row">
            <label>Connection variable <span className="muted small">(empty: the service's CDC target database)</span><input name="config.connection.env" value={env} onChange={(e) => setEnv(e.target.value)} placeholder="OMS_DATABASE_URL" /><FieldError error={error} field={["config.connection", "config.connection.env"]} /></label>
            <label>Schema<input name="config.schema" value={schema} onChange={(e) => setSchema(e.target.value)} /><FieldError error={error} field="config.schema" /></label>
            <label>Table<input name="config.table" value={table} onChange={(e) => setTable(e.target.value)} /><FieldError error={error} field={["config.table", "config"]} /></label>
          </div>
          <label>or a read-only query<textarea name="config.query" rows={2} value={query} onChange={(e) => setQuery(e.target.value)} placeholder="SELECT order_id, amount FROM oms.orders WHERE ..." /><FieldError error={error} field="config.query" /></label>
        </>
      )}
      <div className="actions"><button type="submit" className="primary">Create</button><button type="button" onClick={() => setOpen(false)}>Cancel</button></div>
      <ErrorBox error={error} />
    </form>
  );
}
