// Keyboard: the first stop of the tab order skips the menu's eleven links to the page.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen } from "@testing-library/react";
import { pageOf, renderApp } from "./render";

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, { ruleSets: { list: async () => pageOf([]) } }),
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
