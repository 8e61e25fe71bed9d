import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { job, jobsPage } from "./cdc-api";

const users = job("00000000-0000-4000-8000-000000000002", "CHECKSUM", "2026-12-02T06:42:16Z", 0.6009013520280421, 18, 2995);
vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    tables: async () => ["users", "orders", "products"],
    jobs: async (q: { table?: string }) => jobsPage(q.table === "users" ? [users] : []),
  }),
);
afterEach(cleanup);

describe("the CDC overview's links", () => {
  it("name their table, so that a list of the page's links (a screen reader's) tells the cards apart", async () => {
    const { CdcOverview } = await import("../../src/pages/cdc/Overview");
    render(<MemoryRouter><CdcOverview /></MemoryRouter>);
    expect((await screen.findByRole("link", { name: "Job of users" })).getAttribute("href")).toBe(`/cdc/jobs/${users.job_id}`);
    expect(screen.getByRole("link", { name: "Drift over time of users" }).getAttribute("href")).toBe("/cdc/tables/users");
    expect(screen.getByRole("link", { name: "Pending mismatches of users" }).getAttribute("href")).toBe("/cdc/mismatches?table=users&resolution_status=PENDING");
    expect(screen.getByRole("link", { name: "Reconcile orders now" }).getAttribute("href")).toBe("/cdc/trigger?tables=orders");
    expect(screen.getByRole("link", { name: "Reconcile products now" })).toBeTruthy();
    const names = screen.getAllByRole("link").map((a) => a.getAttribute("aria-label") ?? a.textContent);
    expect(new Set(names).size).toBe(names.length); // no two links read the same
  });
});
