import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const T0 = "2026-12-02T06:41:09Z";
type Row = { id: number; name: string; type: string; config: Record<string, unknown>; createdAt: string; updatedAt: string };
const initial = (): Row[] => [
  { id: 300, name: "OMS orders", type: "POSTGRES", config: { connection: { env: "OMS_DATABASE_URL" }, schema: "oms", table: "orders" }, createdAt: T0, updatedAt: T0 },
  { id: 301, name: "Ledger", type: "POSTGRES", config: { connection: { secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ledger" }, query: "SELECT id, amount FROM ledger" }, createdAt: T0, updatedAt: T0 },
  { id: 302, name: "Users", type: "CDC_TABLE", config: { table: "users" }, createdAt: T0, updatedAt: T0 },
];
let sources = initial();
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    cdc: { tables: async () => ["orders", "products", "users"] },
    dataSources: {
      list: async () => pageOf(sources),
      test: async () => ({ ok: true, columns: [{ name: "order_id", type: "text" }], rowEstimate: 10, errorMessage: null }),
      update: async (id: number, body: { name: string; type: string; config: Record<string, unknown> }) => {
        const env = (body.config.connection as { env?: string } | undefined)?.env;
        if (env !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(env))
          throw real.toApiError(400, {
            success: false, message: "config.connection.env: must be an environment variable name", data: null, errorCode: "VALIDATION_ERROR",
            errors: [{ field: "config.connection.env", code: "INVALID_VALUE", message: "must be an environment variable name (letters, digits, _; not starting with a digit)" }],
          });
        sources = sources.map((s) => (s.id === id ? { ...s, ...body, updatedAt: "2026-12-02T07:00:00Z" } : s));
        return sources.find((s) => s.id === id);
      },
    },
  })),
);
beforeEach(() => {
  vi.clearAllMocks();
  sources = initial();
});
afterEach(cleanup);

async function openPage() {
  const api = await import("../../src/services/api");
  const { DataSourcesPage } = await import("../../src/pages/streams/DataSources");
  renderAt("/data-sources", "/data-sources", <DataSourcesPage />);
  await screen.findByText("OMS orders");
  return api;
}
const form = (name: string) => screen.getByRole("form", { name: `edit data source ${name}` });
const field = (f: HTMLElement, name: string) => f.querySelector(`[name="${name}"]`) as HTMLInputElement;

describe("editing a data source", () => {
  it("opens the create form prefilled, credential as its reference, and saves with PUT", async () => {
    const api = await openPage();
    fireEvent.click(screen.getByRole("button", { name: "Edit OMS orders" }));
    const f = form("OMS orders");
    expect(field(f, "name").value).toBe("OMS orders");
    expect(field(f, "type").value).toBe("POSTGRES");
    expect(field(f, "config.connection").value).toBe("env");
    expect(field(f, "config.connection.env").value).toBe("OMS_DATABASE_URL");
    expect(field(f, "config.connection.env").type).toBe("text"); // a variable's name, not a secret to hide
    expect(field(f, "config.schema").value).toBe("oms");
    expect(field(f, "config.table").value).toBe("orders");
    expect(document.activeElement).toBe(field(f, "name"));
    fireEvent.change(field(f, "config.table"), { target: { value: "orders_2026" } });
    fireEvent.click(within(f).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: "edit data source OMS orders" })).toBeNull());
    expect(api.dataSources.update).toHaveBeenCalledWith(300, {
      name: "OMS orders", type: "POSTGRES", config: { connection: { env: "OMS_DATABASE_URL" }, schema: "oms", table: "orders_2026" },
    });
    // the list is read again: the row shows the new table and when it changed
    const row = document.querySelector('tr[data-datasource="OMS orders"]') as HTMLElement;
    await waitFor(() => expect(row.textContent).toContain("orders_2026"));
    expect(row.textContent).toContain("changed 2026-12-02 07:00:00 UTC");
  });

  it("drops the last test's outcome of a data source once it was changed, and keeps another row's", async () => {
    await openPage();
    const row = (name: string) => document.querySelector(`tr[data-datasource="${name}"]`) as HTMLElement;
    fireEvent.click(within(row("OMS orders")).getByRole("button", { name: "Test" }));
    fireEvent.click(within(row("Ledger")).getByRole("button", { name: "Test" }));
    await waitFor(() => expect(row("OMS orders").querySelector("[data-test-ok=yes]")).toBeTruthy());
    await waitFor(() => expect(row("Ledger").querySelector("[data-test-ok=yes]")).toBeTruthy());
    fireEvent.click(screen.getByRole("button", { name: "Edit OMS orders" }));
    fireEvent.change(field(form("OMS orders"), "config.table"), { target: { value: "orders_2026" } });
    fireEvent.click(within(form("OMS orders")).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(row("OMS orders").textContent).toContain("orders_2026")); // read again, changed
    expect(row("OMS orders").querySelector("[data-test-ok]")).toBeNull();
    expect(row("Ledger").querySelector("[data-test-ok=yes]")).toBeTruthy();
  });

  it("shows the API's complaint under the field it names, and clears it when that field changes", async () => {
    const api = await openPage();
    fireEvent.click(screen.getByRole("button", { name: "Edit OMS orders" }));
    const f = form("OMS orders");
    fireEvent.change(field(f, "config.connection.env"), { target: { value: "postgresql://oms:secret@db/oms" } });
    fireEvent.click(within(f).getByRole("button", { name: "Save" }));
    const err = await within(f).findByText(/must be an environment variable name/, { selector: ".field-error" });
    expect(err.getAttribute("data-field")).toBe("config.connection.env");
    expect(field(f, "config.connection.env").closest("label")!.contains(err)).toBe(true);
    expect(field(f, "config.connection.env").getAttribute("aria-invalid")).toBe("true");
    expect(field(f, "config.table").getAttribute("aria-invalid")).toBeNull();
    await waitFor(() => expect(document.activeElement).toBe(field(f, "config.connection.env"))); // the focus on the field refused, not on Save
    fireEvent.change(field(f, "config.connection.env"), { target: { value: "OMS_DATABASE_URL" } });
    expect(within(f).queryByText(/must be an environment variable name/, { selector: ".field-error" })).toBeNull();
    expect(api.dataSources.update).toHaveBeenCalledTimes(1);
  });

  it("keeps a Secrets Manager reference and a query as they are; a catalog table is picked from the catalog", async () => {
    const api = await openPage();
    fireEvent.click(screen.getByRole("button", { name: "Edit Ledger" }));
    let f = form("Ledger");
    expect(field(f, "config.connection").value).toBe("secretArn");
    expect(field(f, "config.connection.secretArn").value).toBe("arn:aws:secretsmanager:eu-west-1:123456789012:secret:ledger");
    expect(field(f, "config.query").value).toBe("SELECT id, amount FROM ledger");
    fireEvent.change(field(f, "name"), { target: { value: "Ledger (EU)" } });
    fireEvent.click(within(f).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(api.dataSources.update).toHaveBeenCalledTimes(1));
    expect(api.dataSources.update).toHaveBeenCalledWith(301, {
      name: "Ledger (EU)", type: "POSTGRES",
      config: { connection: { secretArn: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:ledger" }, query: "SELECT id, amount FROM ledger" },
    });
    fireEvent.click(await screen.findByRole("button", { name: "Edit Users" }));
    f = form("Users");
    await waitFor(() => expect([...field(f, "config.table").querySelectorAll("option")].map((o) => o.textContent)).toEqual(["choose…", "orders", "products", "users"]));
    expect(field(f, "config.table").value).toBe("users");
    fireEvent.change(field(f, "config.table"), { target: { value: "orders" } });
    fireEvent.click(within(f).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(api.dataSources.update).toHaveBeenCalledWith(302, { name: "Users", type: "CDC_TABLE", config: { table: "orders" } }));
  });

  it("Cancel closes the form without a request and gives the focus back to its Edit button", async () => {
    const api = await openPage();
    const edit = screen.getByRole("button", { name: "Edit OMS orders" });
    fireEvent.click(edit);
    expect(edit.getAttribute("aria-expanded")).toBe("true");
    fireEvent.click(within(form("OMS orders")).getByRole("button", { name: "Cancel" }));
    expect(screen.queryByRole("form", { name: "edit data source OMS orders" })).toBeNull();
    expect(document.activeElement).toBe(edit);
    expect(api.dataSources.update).not.toHaveBeenCalled();
  });
});

describe("the data source form's fields and body", () => {
  it("sends a stored table without a schema unchanged (no schema added), and a new one reads public by default", async () => {
    const { formFromDataSource, dataSourceBody } = await import("../../src/pages/streams/DataSources");
    const stored = formFromDataSource({ name: "T", type: "POSTGRES", config: { table: "t" } });
    expect(dataSourceBody(stored)).toEqual({ name: "T", type: "POSTGRES", config: { table: "t" } });
    const fresh = { ...formFromDataSource(), type: "POSTGRES" as const, name: "N", table: "t" };
    expect(dataSourceBody(fresh)).toEqual({ name: "N", type: "POSTGRES", config: { schema: "public", table: "t" } });
  });
});
