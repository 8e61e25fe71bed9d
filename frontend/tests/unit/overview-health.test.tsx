// The CDC overview says what the service's health check finds down (GET /health): Cassandra unreachable was
// seen only as jobs that ran long, until a job's retry note said why.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter } from "react-router-dom";
import { job, jobsPage } from "./cdc-api";

const done = job("00000000-0000-4000-8000-000000000010", "CHECKSUM", "2026-12-02T16:00:06Z", 0.6010016694490818, 18, 2995);
let health: unknown = null;
vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    jobs: async () => jobsPage([done]),
    health: async () => health,
  }),
);
afterEach(cleanup);

async function open() {
  const { CdcOverview } = await import("../../src/pages/cdc/Overview");
  render(<MemoryRouter><CdcOverview /></MemoryRouter>);
  await screen.findByRole("link", { name: "Job of users" });
}

describe("the service's health on the CDC overview", () => {
  it("names a dependency down and the check's reason", async () => {
    health = {
      status: "DOWN",
      checks: {
        postgres: { status: "UP", detail: "schema version 12", latency_ms: 1.8 },
        sqs: { status: "UP", detail: "recon-jobs reachable", latency_ms: 12.9 },
        cassandra: { status: "DOWN", error: "NoHostAvailable: Unable to connect to any servers", latency_ms: 2001 },
      },
    };
    await open();
    const said = await screen.findByText(/health check finds Cassandra down/);
    const box = said.closest("[data-health]")!;
    expect(box.getAttribute("data-health")).toBe("DOWN");
    expect(box.textContent).toContain("Cassandra: NoHostAvailable: Unable to connect to any servers");
    expect(box.textContent).not.toContain("PostgreSQL");
  });

  it("says in one quiet line that everything is up", async () => {
    health = { status: "UP", checks: { postgres: { status: "UP", detail: "schema version 12" }, cassandra: { status: "UP", detail: "release 4.1.0" } } };
    await open();
    const line = await screen.findByText(/Service up/);
    expect(line.textContent).toBe("Service up: PostgreSQL (schema version 12) · Cassandra (release 4.1.0)");
    expect(line.classList.contains("error-box")).toBe(false);
  });

  it("says nothing when the API itself answers no check (the page's own error says it)", async () => {
    health = { error: "SERVICE_UNAVAILABLE", message: "The API cannot be reached" };
    await open();
    expect(document.querySelector("[data-health]")).toBeNull();
  });
});
