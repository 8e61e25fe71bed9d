import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";

const page = <T,>(items: T[]) => ({ items, page: 1, pageSize: 20, totalItems: items.length, totalPages: items.length ? 1 : 0 });
vi.mock("../../src/services/api", async (orig) => {
  const real = await orig<typeof import("../../src/services/api")>();
  return {
    ...real,
    runs: { ...real.runs, get: vi.fn(), steps: vi.fn() },
    legacy: { ...real.legacy, list: vi.fn(async () => page([])), create: vi.fn(), start: vi.fn() },
    files: { ...real.files, list: vi.fn(async () => page([])) },
    ruleSets: { ...real.ruleSets, list: vi.fn(async () => page([])) },
  };
});

afterEach(cleanup);

describe("a path id that is no number", () => {
  it("is not found, without asking the API (which answered \"got 'NaN'\")", async () => {
    const api = await import("../../src/services/api");
    api.auth.set("k");
    window.history.pushState({}, "", "/runs/abc");
    const { App } = await import("../../src/App");
    render(<App />);
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
    render(
      <MemoryRouter initialEntries={["/reconciliations"]}>
        <Routes><Route path="/reconciliations" element={<LegacyPage />} /></Routes>
      </MemoryRouter>,
    );
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
