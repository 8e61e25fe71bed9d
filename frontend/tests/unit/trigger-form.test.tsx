// The trigger form says only what is true: the API does not report the TIMESTAMP_RANGE window nor the
// SAMPLE size (settings of the service), so the strategies' descriptions carry no figure; the contract's
// figures are given as the contract's, with the defaults it gives the request's fields.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { renderAt } from "./render";
import { job } from "./cdc-api";

const SAMPLE_JOB = "00000000-0000-4000-8000-0000000000c1";

vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    tables: async () => ["users", "orders"],
    trigger: async () => ({ job_ids: ["00000000-0000-4000-8000-0000000000b1"], status: "RUNNING", message: "Reconciliation jobs queued for 2 tables", estimated_completion: "2026-12-02T16:20:00Z" }),
    job: async (id: string) => id === SAMPLE_JOB
      ? { ...job(SAMPLE_JOB, "SAMPLE", "2026-12-02T16:17:45Z", 0.5, 5, 1000), table_name: "orders", priority: "HIGH", progress: null, mismatches_summary: {}, sample_mismatches: [] }
      : new Promise(() => {}),
  }),
);
afterEach(cleanup);

describe("the trigger form", () => {
  it("claims no window or sample size of its own, names the contract's, and starts with the contract's defaults", async () => {
    const api = await import("../../src/services/api");
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt("/cdc/trigger", "/cdc/trigger", <TriggerPage />);
    await screen.findByRole("checkbox", { name: "orders" });
    const radio = (s: string) => screen.getByRole("radio", { name: new RegExp(`^${s}\\b`) });
    const label = (s: string) => radio(s).closest("label")!.textContent!;
    for (const s of ["ROW_COUNT", "CHECKSUM", "TIMESTAMP_RANGE", "SAMPLE"]) {
      expect(label(s)).not.toMatch(/\d/);
      expect(label(s)).not.toMatch(/hour/);
    }
    expect(screen.getByTestId("strategy-scope").textContent).toBe(
      "The contract's TIMESTAMP_RANGE validates the records modified in the last hour, and its SAMPLE compares 1000 records. "
      + "Both are settings of the service, which the API does not report: a deployment may use others.");
    // the contract's defaults: validation_strategy CHECKSUM, priority NORMAL, each marked as such
    expect((radio("CHECKSUM") as HTMLInputElement).checked).toBe(true);
    expect(label("CHECKSUM")).toContain("CHECKSUM (default)");
    expect(label("SAMPLE")).not.toContain("default");
    const priority = screen.getByLabelText("Priority") as HTMLSelectElement;
    expect(priority.value).toBe("NORMAL");
    expect([...priority.options].map((o) => o.textContent)).toEqual([
      "LOW — after every queued NORMAL and HIGH job", "NORMAL (default) — in the order of the queue", "HIGH — before every queued NORMAL and LOW job"]);
    fireEvent.click(radio("SAMPLE"));
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(api.cdc.trigger).toHaveBeenCalledWith({ tables: [], validation_strategy: "SAMPLE", priority: "NORMAL" }));
    // the API's words, with the contract's estimated_completion
    expect((await screen.findByRole("status")).textContent).toBe("Reconciliation jobs queued for 2 tables. Estimated completion 2026-12-02 16:20:00 UTC.");
  });
});

describe("a job run again", () => {
  it("opens the trigger form with the job's table, strategy and priority chosen, to be started from there", async () => {
    const api = await import("../../src/services/api");
    const { JobDetailPage } = await import("../../src/pages/cdc/JobDetail");
    renderAt(`/cdc/jobs/${SAMPLE_JOB}`, "/cdc/jobs/:jobId", <JobDetailPage />);
    const again = await screen.findByRole("link", { name: "Run again…" });
    expect(again.getAttribute("href")).toBe("/cdc/trigger?tables=orders&strategy=SAMPLE&priority=HIGH");
    cleanup();
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt(again.getAttribute("href")!, "/cdc/trigger", <TriggerPage />);
    expect(((await screen.findByRole("checkbox", { name: "orders" })) as HTMLInputElement).checked).toBe(true);
    expect((screen.getByRole("checkbox", { name: "users" }) as HTMLInputElement).checked).toBe(false);
    expect((screen.getByRole("radio", { name: /^SAMPLE\b/ }) as HTMLInputElement).checked).toBe(true);
    expect((screen.getByLabelText("Priority") as HTMLSelectElement).value).toBe("HIGH");
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(api.cdc.trigger).toHaveBeenLastCalledWith({ tables: ["orders"], validation_strategy: "SAMPLE", priority: "HIGH" }));
  });

  it("takes no strategy or priority the API does not know from a hand-made link", async () => {
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt("/cdc/trigger?strategy=FULL&priority=URGENT", "/cdc/trigger", <TriggerPage />);
    expect(((await screen.findByRole("radio", { name: /^CHECKSUM\b/ })) as HTMLInputElement).checked).toBe(true);
    expect((screen.getByLabelText("Priority") as HTMLSelectElement).value).toBe("NORMAL");
    // said, not silently replaced by the defaults
    expect(document.querySelector("[data-unknown-strategy]")!.textContent).toBe("The link named a strategy there is not: FULL. CHECKSUM, the default, is chosen instead.");
    expect(document.querySelector("[data-unknown-priority]")!.textContent).toBe("The link named a priority there is not: URGENT. NORMAL, the default, is chosen instead.");
  });

  it("says which tables of a link the catalog does not have, and does not send them", async () => {
    const api = await import("../../src/services/api");
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt("/cdc/trigger?tables=nope,orders,gone&strategy=ROW_COUNT", "/cdc/trigger", <TriggerPage />);
    expect(((await screen.findByRole("checkbox", { name: "orders" })) as HTMLInputElement).checked).toBe(true);
    expect(document.querySelector("[data-unknown-tables]")!.textContent).toBe("The link named tables the catalog does not have: nope, gone. They are not sent.");
    expect(document.querySelector("[data-unknown-strategy]")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(api.cdc.trigger).toHaveBeenLastCalledWith({ tables: ["orders"], validation_strategy: "ROW_COUNT", priority: "NORMAL" }));
    cleanup();
    // unticking the catalog's tables leaves none: every table, not the unknown one
    renderAt("/cdc/trigger?tables=nope,users", "/cdc/trigger", <TriggerPage />);
    fireEvent.click(await screen.findByRole("checkbox", { name: "users" }));
    expect(document.querySelector("[data-unknown-tables]")!.textContent).toBe("The link named a table the catalog does not have: nope. It is not sent (with none ticked, every table of the catalog is).");
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    await waitFor(() => expect(api.cdc.trigger).toHaveBeenLastCalledWith({ tables: [], validation_strategy: "CHECKSUM", priority: "NORMAL" }));
  });
});
