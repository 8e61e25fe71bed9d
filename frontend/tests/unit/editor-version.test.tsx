// The editors send the version their form was read at: two operators editing the same stream, rule set or
// data source get a 409 for the second save (the API's words shown), instead of one edit silently lost.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const T0 = "2026-12-03T06:00:00Z";
const stream = {
  id: 9001, name: "Settlement", description: null, domain: null, status: "ACTIVE", triggerType: "MANUAL", triggerConfig: null, version: 3, recentOccurrences: [], nextRunAt: null,
  createdAt: T0, updatedAt: T0,
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs marketplace", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 1002 }, ruleSetId: 50, config: { continueOnFailure: false, maxRetries: 1 } }],
};
const ruleSet = (version: number) => ({
  id: 50, name: "Orders vs payouts", description: null, version, latestVersion: 5, sourceKey: "order_id", targetKey: "txn_id",
  passes: [{ name: "by id", cardinality: "ONE_TO_ONE", conditions: [{ source: "order_id", target: "order_ref", operator: "EQUALS" }] }], createdAt: T0, updatedAt: T0,
});
const source = { id: 300, name: "OMS orders", type: "POSTGRES", config: { schema: "oms", table: "orders" }, version: 7, createdAt: T0, updatedAt: T0 };
let conflict = false;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    files: { list: async () => pageOf([]) },
    cdc: { tables: async () => ["orders"] },
    ruleSets: {
      list: async () => pageOf([ruleSet(5)]),
      get: async (_id: number, version?: number) => ruleSet(version ?? 5),
      update: async (_id: number, body: object) => {
        if (conflict)
          throw real.toApiError(409, { success: false, message: "Rule set 50 is at version 6; the body was read at version 5", data: null, errorCode: "CONFLICT", errors: [] });
        return { ...ruleSet(6), ...body, version: 6, latestVersion: 6 };
      },
    },
    dataSources: { list: async () => pageOf([source]), update: async (_id: number, body: object) => ({ ...source, ...body, version: 8 }) },
    streams: {
      list: async () => pageOf([]),
      get: async () => stream,
      update: async (_id: number, body: object) => ({ ...stream, ...body, version: 4 }),
      validate: async () => ({ valid: true, errors: [], warnings: [{ code: "STEP_OUTPUT_UNUSED", message: "unused" }] }),
    },
  })),
);
beforeEach(() => {
  vi.clearAllMocks();
  conflict = false;
});
afterEach(cleanup);

describe("saving an existing object", () => {
  it("a stream: sends the version it was read at, then the version its save answered", async () => {
    const api = await import("../../src/services/api");
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    await screen.findByDisplayValue("Settlement");
    fireEvent.click(screen.getByRole("button", { name: /Save/ }));
    await waitFor(() => expect(api.streams.update).toHaveBeenCalledTimes(1));
    expect(api.streams.update).toHaveBeenLastCalledWith(9001, expect.objectContaining({ name: "Settlement", version: 3 }));
    // the warnings keep the form open: a second save is at the version the first one made
    await screen.findByText(/unused/);
    fireEvent.click(screen.getByRole("button", { name: /Save/ }));
    await waitFor(() => expect(api.streams.update).toHaveBeenCalledTimes(2));
    expect(api.streams.update).toHaveBeenLastCalledWith(9001, expect.objectContaining({ version: 4 }));
  });

  it("a rule set opened at an older version: sends the latest version it knew of, and shows a 409's words", async () => {
    const api = await import("../../src/services/api");
    const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
    renderAt("/rule-sets/50?version=2", "/rule-sets/:id", <RuleSetEditorPage />);
    await screen.findByDisplayValue("Orders vs payouts");
    conflict = true;
    fireEvent.click(screen.getByRole("button", { name: /Save/ }));
    await waitFor(() => expect(api.ruleSets.update).toHaveBeenCalledTimes(1));
    expect(api.ruleSets.update).toHaveBeenLastCalledWith(50, expect.objectContaining({ name: "Orders vs payouts", version: 5 }));
    expect(await screen.findByText(/is at version 6; the body was read at version 5/)).toBeTruthy();
  });

  it("a data source: sends the version of the row it edits", async () => {
    const api = await import("../../src/services/api");
    const { DataSourcesPage } = await import("../../src/pages/streams/DataSources");
    renderAt("/data-sources", "/data-sources", <DataSourcesPage />);
    await screen.findByText("OMS orders");
    fireEvent.click(screen.getByRole("button", { name: "Edit OMS orders" }));
    const form = screen.getByRole("form", { name: "edit data source OMS orders" });
    fireEvent.submit(form);
    await waitFor(() => expect(api.dataSources.update).toHaveBeenCalledTimes(1));
    expect(api.dataSources.update).toHaveBeenLastCalledWith(300, expect.objectContaining({ name: "OMS orders", version: 7 }));
  });
});
