// What a page says when the API refuses what it asked for: a detail page whose object is not there (an
// old link) or whose id is malformed, and a list filter the API refuses.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { renderAt } from "./render";

const T0 = "2026-12-02T06:41:09Z";
const run7 = {
  id: 7, streamId: 3, streamVersion: 1, status: "COMPLETED", currentStepOrder: 1, triggerType: "MANUAL", triggerMetadata: {},
  metrics: { totalSteps: 1, completedSteps: 1, failedSteps: 0, matchedRecords: 12, exceptionCount: 0 },
  createdAt: T0, updatedAt: T0, startedAt: T0, completedAt: T0, errorMessage: null,
};
/** The API down: run 7 cannot be read while it is. */
let down = false;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, ({ toApiError }) => ({
    cdc: {
      tables: async () => ["users"],
      job: async (id: string) => {
        throw toApiError(400, { error: "VALIDATION_ERROR", message: `Invalid path parameter 'job_id': must be a UUID, got '${id}'`, details: [{ field: "job_id", problem: `must be a UUID, got '${id}'` }] });
      },
      mismatches: async () => {
        throw toApiError(400, { error: "VALIDATION_ERROR", message: "Invalid query parameter 'job_id': must be a UUID, got 'nope'", details: [{ field: "job_id", problem: "must be a UUID, got 'nope'" }] });
      },
    },
    runs: {
      get: async (id: number) => {
        if (id === 7 && down) throw toApiError(502, { error: "SERVICE_UNAVAILABLE", message: "The API cannot be reached ([Errno 111] Connection refused)" });
        if (id === 7) return run7;
        throw toApiError(404, { success: false, message: `Stream run ${id} not found`, data: null, errorCode: "NOT_FOUND", errors: [] });
      },
      steps: async () => [],
    },
    streams: {
      get: async (id: number) => {
        throw toApiError(404, { success: false, message: `Stream ${id} not found`, data: null, errorCode: "NOT_FOUND", errors: [] });
      },
    },
    exceptions: {
      list: async () => {
        throw toApiError(400, { success: false, message: "olderThanDays: must be >= 0 (got -1)", data: null, errorCode: "VALIDATION_ERROR", errors: [{ field: "olderThanDays", code: "TOO_SMALL", message: "must be >= 0 (got -1)" }] });
      },
    },
  })),
);
afterEach(cleanup);

describe("a detail page whose object cannot be read", () => {
  it("offers to read it again when the API could not answer, and shows it once the API is back", async () => {
    down = true;
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The API cannot be reached");
    down = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Read again" }));
    expect(await screen.findByRole("heading", { level: 1, name: /^Run #7/ })).toBeTruthy();
    expect(screen.getByText("12")).toBeTruthy(); // its matched records
  });

  it("offers nothing of the kind for a run that is not there (404)", async () => {
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/999999", "/runs/:id", <RunPage />);
    await screen.findByRole("alert");
    expect(screen.queryByRole("button", { name: "Read again" })).toBeNull();
  });

  it("says what was asked for, the API's words and the way back to the list (404)", async () => {
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/999999", "/runs/:id", <RunPage />);
    expect(await screen.findByRole("heading", { level: 1, name: "Run #999999" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toContain("Stream run 999999 not found");
    expect(screen.getByRole("link", { name: "← It is not there: back to streams" }).getAttribute("href")).toBe("/streams");
  });

  it("a malformed id gets the same page, with the API's reason (400)", async () => {
    const { JobDetailPage } = await import("../../src/pages/cdc/JobDetail");
    renderAt("/cdc/jobs/nope", "/cdc/jobs/:jobId", <JobDetailPage />);
    expect(await screen.findByRole("heading", { level: 1, name: "Job nope" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toContain("must be a UUID, got 'nope'");
    expect(screen.getByRole("link", { name: "← Back to jobs" }).getAttribute("href")).toBe("/cdc/jobs");
  });
});

describe("the stream editor of a stream that is not there", () => {
  it("keeps a heading naming the stream asked for, the API's words and the way back to the streams", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/99999/edit", "/streams/:id/edit", <StreamEditorPage />);
    expect(await screen.findByRole("heading", { level: 1, name: "Stream #99999" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toContain("Stream 99999 not found");
    expect(screen.getByRole("link", { name: "← It is not there: back to streams" }).getAttribute("href")).toBe("/streams");
  });
});

describe("a list filter the API refuses", () => {
  it("is marked and its message is under it (exceptions: older than days)", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?olderThanDays=-1", "/exceptions", <ExceptionsPage />);
    const input = (await screen.findByLabelText("Older than (days)")) as HTMLInputElement;
    await screen.findByText("must be >= 0 (got -1)");
    expect(input.getAttribute("aria-invalid")).toBe("true");
    const message = document.getElementById(input.getAttribute("aria-describedby")!)!;
    expect(message.textContent).toBe("must be >= 0 (got -1)");
    expect(within(input.closest("label")!).getByText("must be >= 0 (got -1)")).toBe(message);
    expect(screen.getByLabelText("Run id").getAttribute("aria-invalid")).toBeNull();
  });

  it("is marked and its message is under it (mismatches: job id)", async () => {
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?job_id=nope", "/cdc/mismatches", <MismatchBrowser />);
    await screen.findByText("must be a UUID, got 'nope'", { selector: ".field-error" });
    const input = screen.getByLabelText(/^Job id/) as HTMLInputElement;
    expect(input.getAttribute("aria-invalid")).toBe("true");
    expect(document.getElementById(input.getAttribute("aria-describedby")!)!.textContent).toBe("must be a UUID, got 'nope'");
  });
});

describe("a list filter that is not a number", () => {
  it("is sent as written, so that the API's complaint names it ('abc', not 'NaN')", async () => {
    const api = await import("../../src/services/api");
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?runId=abc&olderThanDays=7", "/exceptions", <ExceptionsPage />);
    await screen.findAllByRole("alert");
    expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ runId: "abc", olderThanDays: 7 }));
  });
});
