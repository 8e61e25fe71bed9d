// Keyboard: the first stop of the tab order skips the menu's eleven links to the page.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderApp } from "./render";

const ruleSet = {
  id: 50, name: "Orders vs payouts", description: null, version: 1, latestVersion: 1, passCount: 1, sourceKey: null, targetKey: null,
  passes: [{ name: "Exact", cardinality: "ONE_TO_ONE", conditions: [{ source: "ref", target: "ref", operator: "EQUALS" }] }],
  createdAt: "2026-12-02T06:00:00Z", updatedAt: "2026-12-02T06:00:00Z",
};
let listed: unknown[] = [];
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    ruleSets: { list: async () => pageOf(listed), get: async () => ruleSet },
    files: { list: async () => pageOf([]) },
  }),
);
afterEach(cleanup);

describe("the skip link", () => {
  it("comes first in the tab order and moves the focus past the menu to the page, leaving the address as it is", async () => {
    const api = await import("../../src/services/api");
    await renderApp("/rule-sets?page=1");
    await screen.findByRole("heading", { name: "Rule sets" });
    const focusable = document.querySelectorAll<HTMLElement>("a[href], button:not([disabled]), input, select, textarea, [tabindex]:not([tabindex='-1'])");
    const skip = screen.getByRole("link", { name: "Skip to the page" });
    expect(focusable[0]).toBe(skip);
    fireEvent.click(skip);
    const main = screen.getByRole("main");
    expect(document.activeElement).toBe(main);
    expect(main.contains(screen.getByRole("heading", { name: "Rule sets" }))).toBe(true);
    expect(window.location.pathname + window.location.search + window.location.hash).toBe("/rule-sets?page=1");
    api.auth.clear();
  });
});

describe("a link followed inside the page", () => {
  it("gives the focus to the new page, not to the top of the document", async () => {
    const api = await import("../../src/services/api");
    listed = [ruleSet];
    await renderApp("/rule-sets");
    const link = await screen.findByRole("link", { name: "Orders vs payouts" });
    link.focus();
    fireEvent.click(link);
    await screen.findByRole("heading", { name: /Edit rule set/ });
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("main")));
    listed = [];
    api.auth.clear();
  });
});
