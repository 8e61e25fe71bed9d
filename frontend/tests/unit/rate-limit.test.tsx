// A request refused for the key's rate limit (429 with Retry-After: run creation, CDC triggers, uploads): the
// page counts the API's wait down where the refusal is said, the button that sent the request waits it out
// (busy, its words saying how long) and is ready again when it ends; what the operator chose or typed stays.
// Real time, with a wait of 2 s: the countdown is seen to move and to end.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import type { StreamDefinition } from "../../src/services/types";
import { pageOf, renderAt } from "./render";

const stream = {
  id: 9003, name: "Settlement", description: null, status: "ACTIVE", domain: "FINANCE", version: 1, createdAt: "2026-12-02T06:42:37Z", updatedAt: "2026-12-02T06:42:37Z",
  triggerType: "MANUAL", triggerConfig: {}, nextRunAt: null, recentOccurrences: [],
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs bank", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 1003 }, ruleSetId: 52, config: { continueOnFailure: false, maxRetries: 0 } }],
} as unknown as StreamDefinition;

// each faked call answers the next of its answers: a 429 first, then what the API accepts
const answers: Record<string, (() => unknown)[]> = {};
const next = (name: string) => answers[name].shift()!();
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    cdc: { tables: async () => ["users", "orders"], trigger: async () => next("trigger"), job: () => new Promise(() => {}) },
    streams: { get: async () => stream, runs: async () => pageOf([]), run: async () => next("run") },
    ruleSets: { get: async () => ({ id: 52, name: "Exact" }) },
    files: { get: async (id: number) => ({ id, filename: `file${id}.csv` }), list: async () => pageOf([]) },
    uploadFile: async () => next("upload"),
  }),
);
afterEach(cleanup);

/** The API's 429 as the client reads it: the CDC dialect (retry_after in the body too) or the streams one (only the header). */
async function refused(dialect: "cdc" | "streams", seconds: number) {
  const { toApiError } = await import("../../src/services/api");
  const body = dialect === "cdc"
    ? { error: "RATE_LIMIT_EXCEEDED", message: `Rate limit exceeded. Try again in ${seconds} seconds.`, retry_after: seconds }
    : { success: false, message: `Rate limit exceeded. Try again in ${seconds} seconds.`, data: null, errorCode: "RATE_LIMITED", errors: [] };
  return toApiError(429, body, "Too Many Requests", String(seconds));
}

const ariaDisabled = (b: HTMLElement) => b.getAttribute("aria-disabled") === "true";

describe("the Retry-After of a 429", () => {
  it("is read from the header in both dialects (seconds or an HTTP date), and gives the moment the API takes requests again", async () => {
    const { toApiError, retryAfterSeconds } = await import("../../src/services/api");
    const before = Date.now();
    const e = toApiError(429, { success: false, message: "Rate limit exceeded. Try again in 7 seconds.", data: null, errorCode: "RATE_LIMITED", errors: [] }, "", "7");
    expect(e.code).toBe("RATE_LIMITED");
    expect(e.retryAfter).toBe(7);
    expect(e.retryAt! - before).toBeGreaterThanOrEqual(7000);
    expect(e.retryAt! - Date.now()).toBeLessThanOrEqual(7000);
    // no header (a proxy dropped it): the CDC body's retry_after
    expect(toApiError(429, { error: "RATE_LIMIT_EXCEEDED", message: "m", retry_after: 12 }).retryAfter).toBe(12);
    expect(retryAfterSeconds(new Date(Date.now() + 30_000).toUTCString())).toBeGreaterThanOrEqual(29);
    expect(retryAfterSeconds("soon")).toBeUndefined();
    // a 503's Retry-After is kept, but only a rate limit is counted down
    expect(toApiError(503, { error: "SERVICE_UNAVAILABLE", message: "m", retry_after: 5 }, "", "5").retryAt).toBeUndefined();
  });
});

describe("a CDC trigger refused for the rate limit", () => {
  it("counts the wait down, keeps Start waiting until it ends, and keeps the choices for the next press", async () => {
    answers.trigger = [async () => { throw await refused("cdc", 2); }, () => ({ job_ids: ["00000000-0000-4000-8000-0000000000b1"], status: "RUNNING", message: "Reconciliation jobs queued for 1 table" })];
    const api = await import("../../src/services/api");
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt("/cdc/trigger", "/cdc/trigger", <TriggerPage />);
    fireEvent.click(await screen.findByRole("checkbox", { name: "orders" }));
    fireEvent.click(screen.getByRole("radio", { name: /^SAMPLE\b/ }));
    fireEvent.click(screen.getByRole("button", { name: "Start" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toMatch(/too many of these requests/);
    expect(alert.textContent).not.toMatch(/Try again in 2 seconds/); // the API's words are true only as they arrive
    expect(within(alert).getByRole("timer").textContent).toBe("2 s");
    const start = screen.getByRole("button", { name: "Start (in 2 s)" });
    expect(ariaDisabled(start)).toBe(true);
    fireEvent.click(start); // pressed during the wait: nothing is sent
    expect(api.cdc.trigger).toHaveBeenCalledTimes(1);
    // the countdown moves, then ends: Start is ready, and the page says so once
    await screen.findByRole("button", { name: "Start (in 1 s)" });
    const ready = await screen.findByRole("button", { name: "Start" });
    expect(ariaDisabled(ready)).toBe(false);
    expect(screen.getByRole("status").textContent).toMatch(/The wait is over: you may try again/);
    // what was chosen is still chosen, and sent as it was
    expect((screen.getByRole("checkbox", { name: "orders" }) as HTMLInputElement).checked).toBe(true);
    expect((screen.getByRole("radio", { name: /^SAMPLE\b/ }) as HTMLInputElement).checked).toBe(true);
    fireEvent.click(ready);
    await waitFor(() => expect(api.cdc.trigger).toHaveBeenCalledTimes(2));
    expect(api.cdc.trigger).toHaveBeenLastCalledWith({ tables: ["orders"], validation_strategy: "SAMPLE", priority: "NORMAL" });
  });
});

describe("a run refused for the rate limit", () => {
  it("Run now waits out the streams dialect's Retry-After header, the reason typed kept", async () => {
    answers.run = [async () => { throw await refused("streams", 2); }, () => ({ runId: 9300 })];
    const api = await import("../../src/services/api");
    const { StreamDetailPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9003", "/streams/:id", <StreamDetailPage />);
    const reason = await screen.findByLabelText("Reason for the run");
    fireEvent.change(reason, { target: { value: "month-end close" } });
    fireEvent.submit(reason.closest("form")!);
    await screen.findByRole("timer");
    const run = screen.getByRole("button", { name: /^Run now \(in [12] s\)$/ });
    expect(ariaDisabled(run)).toBe(true);
    fireEvent.submit(reason.closest("form")!); // Enter in the reason during the wait: nothing is sent
    expect(api.streams.run).toHaveBeenCalledTimes(1);
    expect((reason as HTMLInputElement).value).toBe("month-end close");
    const ready = await screen.findByRole("button", { name: "Run now" });
    expect(ariaDisabled(ready)).toBe(false);
    fireEvent.click(ready);
    await waitFor(() => expect(api.streams.run).toHaveBeenCalledTimes(2));
    expect(api.streams.run).toHaveBeenLastCalledWith(9003, "month-end close");
  });
});

describe("uploads refused for the rate limit", () => {
  it("keep the refused file and the ones not sent after it, each sent again once the wait is over", async () => {
    const meta = (id: number, filename: string) => ({ id, filename, status: "READY", rowCount: 3 });
    answers.upload = [() => meta(1101, "a.csv"), async () => { throw await refused("streams", 2); }, () => meta(1102, "b.csv"), () => meta(1103, "c.csv")];
    const api = await import("../../src/services/api");
    const { FilesPage } = await import("../../src/pages/streams/Files");
    renderAt("/files", "/files", <FilesPage />);
    const chosen = ["a.csv", "b.csv", "c.csv"].map((n) => new File(["id\n1\n"], n, { type: "text/csv" }));
    fireEvent.change(screen.getByLabelText(/Upload files/), { target: { files: chosen } });
    const row = (n: string) => document.querySelector<HTMLElement>(`li[data-upload="${n}"]`)!;
    await waitFor(() => expect(row("b.csv").dataset.phase).toBe("failed"));
    // c.csv is not sent into the same limit
    expect(api.uploadFile).toHaveBeenCalledTimes(2);
    expect(row("c.csv").dataset.phase).toBe("not sent");
    expect(row("a.csv").dataset.phase).toBe("ready");
    expect(within(row("a.csv")).queryByRole("button")).toBeNull();
    const againB = within(row("b.csv")).getByRole("button", { name: /^Upload again: b\.csv \(in [12] s\)$/ });
    expect(ariaDisabled(againB)).toBe(true);
    fireEvent.click(againB);
    expect(api.uploadFile).toHaveBeenCalledTimes(2);
    fireEvent.click(await within(row("b.csv")).findByRole("button", { name: "Upload again: b.csv" }));
    await waitFor(() => expect(row("b.csv").dataset.phase).toBe("ready"));
    // the button pressed is gone: the focus is on the upload's line, not dropped to the top of the page
    expect(document.activeElement).toBe(row("b.csv"));
    expect((api.uploadFile as unknown as { mock: { calls: unknown[][] } }).mock.calls[2][0]).toBe(chosen[1]);
    fireEvent.click(within(row("c.csv")).getByRole("button", { name: "Upload again: c.csv" }));
    await waitFor(() => expect(row("c.csv").dataset.phase).toBe("ready"));
    expect((api.uploadFile as unknown as { mock: { calls: unknown[][] } }).mock.calls[3][0]).toBe(chosen[2]);
  });
});
