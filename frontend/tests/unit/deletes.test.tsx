import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

let sources = [
  { id: 300, name: "OMS orders", type: "POSTGRES", config: { schema: "oms", table: "orders" }, createdAt: "2026-12-02T06:41:09Z" },
  { id: 301, name: "Scratch", type: "CDC_TABLE", config: { table: "users" }, createdAt: "2026-12-02T06:41:09Z" },
];
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    dataSources: {
      list: async () => pageOf(sources),
      remove: async (id: number) => {
        if (id === 300) throw new real.ApiError(409, "CONFLICT", "Data source 300 is in use by stream 9001");
        sources = sources.filter((s) => s.id !== id);
        return null;
      },
    },
  })),
);
afterEach(cleanup);

describe("deleting a data source", () => {
  it("asks, deletes an unused one, and says which stream uses one that cannot go", async () => {
    const api = await import("../../src/services/api");
    const ask = vi.spyOn(window, "confirm").mockReturnValue(true);
    const { DataSourcesPage } = await import("../../src/pages/streams/DataSources");
    renderAt("/data-sources", "/data-sources", <DataSourcesPage />);
    const row = (name: string) => document.querySelector(`tr[data-datasource="${name}"]`) as HTMLElement;
    await screen.findByText("Scratch");
    fireEvent.click(row("OMS orders").querySelector("button.danger")!);
    expect(ask).toHaveBeenCalledWith("Delete the data source OMS orders?");
    expect((await screen.findByRole("alert")).textContent).toContain("Data source 300 is in use by stream 9001");
    fireEvent.click(row("Scratch").querySelector("button.danger")!);
    await waitFor(() => expect(row("Scratch")).toBeNull());
    expect(api.dataSources.remove).toHaveBeenCalledWith(301);
    ask.mockRestore();
  });
});
