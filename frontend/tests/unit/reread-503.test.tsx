// A read the API could not answer because a dependency was down (503 with Retry-After: the database
// restarting): the page counts the API's wait down and reads again by itself when it is over, so an operator
// who left the page open finds it back without pressing anything. A refusal is never re-read; a wait longer
// than the page is willing to count is left to the button. Real time, with a wait of 1 s.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { renderAt } from "./render";

const T0 = "2026-12-02T06:41:09Z";
const run7 = {
  id: 7, streamId: 3, streamVersion: 1, status: "COMPLETED", currentStepOrder: 1, triggerType: "MANUAL", triggerMetadata: {},
  metrics: { totalSteps: 1, completedSteps: 1, failedSteps: 0, matchedRecords: 12, exceptionCount: 0 },
  createdAt: T0, updatedAt: T0, startedAt: T0, completedAt: T0, errorMessage: null,
};
/** How many reads of run 7 still fail with a 503, and the Retry-After each sends. */
let failures = 0;
let retryAfter = "1";
let reads = 0;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, ({ toApiError }) => ({
    runs: {
      get: async () => {
        reads += 1;
        if (failures > 0) {
          failures -= 1;
          throw toApiError(503, { success: false, message: "A dependency (the database or Cassandra) is unavailable; retry later", data: null, errorCode: "SERVICE_UNAVAILABLE", errors: [] }, "Service Unavailable", retryAfter);
        }
        return run7;
      },
      steps: async () => [],
    },
  })),
);
afterEach(cleanup);

describe("a read answered 503 with Retry-After", () => {
  it("counts the wait down and reads again by itself when it is over, once per failure", async () => {
    failures = 2; retryAfter = "1"; reads = 0;
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("is unavailable");
    expect(within(alert).getByRole("timer").textContent).toBe("1 s");
    expect(within(alert).getByRole("button", { name: "Read again now" })).toBeTruthy();
    // the second read fails too: a new wait, then the third read shows the run
    await waitFor(() => expect(screen.queryByRole("alert")).toBeNull(), { timeout: 5000 });
    expect(screen.getByText("12")).toBeTruthy(); // the run's matched records
    expect(reads).toBe(3);
  });

  it("reads again at once when asked, without waiting", async () => {
    failures = 1; retryAfter = "60"; reads = 0;
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    const alert = await screen.findByRole("alert");
    expect(within(alert).getByRole("timer").textContent).toBe("1 min 00 s");
    fireEvent.click(within(alert).getByRole("button", { name: "Read again now" }));
    expect(await screen.findByText("12")).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
    expect(reads).toBe(2);
  });

  it("leaves a wait longer than two minutes to the button, and never re-reads a refusal", async () => {
    const { ErrorBox } = await import("../../src/components/ui");
    const { toApiError } = await import("../../src/services/api");
    const retry = vi.fn();
    const long = toApiError(503, { success: false, message: "down", data: null, errorCode: "SERVICE_UNAVAILABLE", errors: [] }, "", "3600");
    const view = render(<ErrorBox error={long} retry={retry} />);
    expect(screen.queryByRole("timer")).toBeNull();
    expect(screen.getByRole("button", { name: "Read again" })).toBeTruthy();
    const refused = toApiError(429, { success: false, message: "Rate limit exceeded. Try again in 1 seconds.", data: null, errorCode: "RATE_LIMITED", errors: [] }, "", "1");
    view.rerender(<ErrorBox error={refused} retry={retry} />);
    // the rate limit's own countdown runs and ends; nothing is read again by itself
    await waitFor(() => expect(screen.getByRole("status").textContent).toMatch(/The wait is over/), { timeout: 3000 });
    expect(retry).not.toHaveBeenCalled();
    // a 503 without Retry-After: the button only
    view.rerender(<ErrorBox error={toApiError(503, { success: false, message: "down", data: null, errorCode: "SERVICE_UNAVAILABLE", errors: [] })} retry={retry} />);
    expect(screen.queryByRole("timer")).toBeNull();
    expect(retry).not.toHaveBeenCalled();
  });
});
