import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";

const rec = { id: 12001, name: "Month-end / Orders vs bank", status: "COMPLETED", totalSourceRecords: 100000, matchedRecords: 99996, exceptionCount: 4, matchRate: 100.0, createdAt: "2026-12-02T06:42:10Z" };
vi.mock("../../src/services/api", async (orig) => {
  const real = await orig<typeof import("../../src/services/api")>();
  return { ...real, legacy: { ...real.legacy, list: vi.fn(async () => ({ items: [rec], page: 1, pageSize: 20, totalItems: 1, totalPages: 1 })) } };
});
afterEach(cleanup);

describe("reconciliations list", () => {
  it("shows the match rate from the counts: 99,996 of 100,000 is not 100 %", async () => {
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    render(
      <MemoryRouter initialEntries={["/reconciliations"]}>
        <Routes><Route path="/reconciliations" element={<LegacyPage />} /></Routes>
      </MemoryRouter>,
    );
    const row = (await screen.findByRole("table", { name: "reconciliations" })).querySelector("tbody tr")!;
    expect([...row.querySelectorAll("td")].map((c) => c.textContent)[5]).toBe("99.996 %");
  });
});
