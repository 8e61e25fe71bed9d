import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderApp, renderAt } from "./render";

const saved = (name: string) => ({
  id: 77, name, description: null, version: 1, latestVersion: 1, sourceKey: null, targetKey: null, createdAt: "2026-12-02T07:00:00Z", updatedAt: "2026-12-02T07:00:00Z",
  passes: [{ name: "by id", cardinality: "ONE_TO_ONE", conditions: [{ source: "order_id", target: "order_ref", operator: "EQUALS" }] }],
});
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    runs: { get: () => undefined, steps: () => undefined },
    legacy: { list: async () => pageOf([]), create: () => undefined, start: () => undefined },
    files: { list: async () => pageOf([]) },
    ruleSets: { list: async () => pageOf([]), create: async (b: { name: string }) => saved(b.name), get: async () => saved("Exact") },
  }),
);

afterEach(cleanup);

describe("a path id that is no number", () => {
  it("is not found, without asking the API (which answered \"got 'NaN'\")", async () => {
    const api = await import("../../src/services/api");
    await renderApp("/runs/abc");
    expect((await screen.findByRole("alert")).textContent).toBe("There is no run “abc”: run ids are whole numbers from 1.");
    expect(document.title).toBe("Not found · recon");
    expect(api.runs.get).not.toHaveBeenCalled();
    api.auth.clear();
  });
});

describe("new reconciliation", () => {
  it("says what is missing at each field before asking the API", async () => {
    const api = await import("../../src/services/api");
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    fireEvent.click(await screen.findByRole("button", { name: "New reconciliation" }));
    fireEvent.click(screen.getByRole("button", { name: "Create and start" }));
    const at = (f: string) => document.querySelector(`.field-error[data-field="${f}"]`)?.textContent;
    expect(at("name")).toBe("a name is required");
    expect(at("sourceFileId")).toBe("choose the source file");
    expect(at("targetFileId")).toBe("choose the target file");
    expect(at("ruleSetId")).toBe("choose a rule set");
    expect(api.legacy.create).not.toHaveBeenCalled();
  });
});

describe("creating a rule set", () => {
  it("moves to the new rule set's address and still says it was saved", async () => {
    const api = await import("../../src/services/api");
    await renderApp("/rule-sets/new");
    await screen.findByRole("button", { name: "Create rule set" });
    fireEvent.change(document.querySelector("input[name=name]")!, { target: { value: "Exact" } });
    fireEvent.change(document.querySelector('input[name="passes[0].name"]')!, { target: { value: "by id" } });
    fireEvent.change(document.querySelector('input[name="passes[0].conditions[0].source"]')!, { target: { value: "order_id" } });
    fireEvent.change(document.querySelector('input[name="passes[0].conditions[0].target"]')!, { target: { value: "order_ref" } });
    fireEvent.click(screen.getByRole("button", { name: "Create rule set" }));
    await waitFor(() => expect(window.location.pathname).toBe("/rule-sets/77"));
    await screen.findByRole("heading", { name: "Edit rule set (v1; saving creates v2)" });
    expect(screen.getByRole("status").textContent).toBe("Saved Exact as version 1");
    api.auth.clear();
  });
});
