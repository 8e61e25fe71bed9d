// The jobs list's page size: offered in order, and a size from a hand-made link shown as asked and
// marked with the API's problem when the API refuses it.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { job, jobsPage } from "./cdc-api";
import { renderAt } from "./render";

vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    jobs: async (q: { page_size?: number }) => {
      if ((q.page_size ?? 20) > 100) {
        const { ApiError } = (await orig()) as typeof import("../../src/services/api");
        throw new ApiError(400, "VALIDATION_ERROR", `Invalid query parameter 'page_size': must be <= 100 (got ${q.page_size})`, { page_size: `must be <= 100 (got ${q.page_size})` });
      }
      return jobsPage([job("00000000-0000-4000-8000-000000000002", "CHECKSUM", "2026-12-02T06:42:16Z", 0.6, 12, 1997)]);
    },
  }),
);
afterEach(cleanup);

describe("the jobs' page size", () => {
  it("lists 10, 20, 50, 100 in order with 20 chosen, and sends the size chosen", async () => {
    const api = await import("../../src/services/api");
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs", "/cdc/jobs", <JobList />);
    await screen.findByRole("table", { name: "jobs" });
    const size = screen.getByLabelText("Per page") as HTMLSelectElement;
    expect([...size.options].map((o) => o.value)).toEqual(["10", "20", "50", "100"]);
    expect(size.value).toBe("20");
    fireEvent.change(size, { target: { value: "50" } });
    await waitFor(() => expect(api.cdc.jobs).toHaveBeenLastCalledWith(expect.objectContaining({ page_size: 50 })));
    expect((screen.getByLabelText("Per page") as HTMLSelectElement).value).toBe("50");
  });

  it("shows a size the API refuses as asked, marked, with the API's problem under it", async () => {
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs?page_size=500", "/cdc/jobs", <JobList />);
    const problem = await screen.findByText("must be <= 100 (got 500)");
    const size = screen.getByLabelText("Per page") as HTMLSelectElement;
    expect(size.value).toBe("500");
    expect(size.getAttribute("aria-invalid")).toBe("true");
    expect(size.getAttribute("aria-describedby")).toBe(problem.id);
  });
});
