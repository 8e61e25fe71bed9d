import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { useLocation } from "react-router-dom";
import { renderAt } from "./render";

// 1,018 exceptions on 41 pages: a page past the end has no rows, the list does
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    exceptions: {
      list: async (q: { page?: number }) => ({ items: [], page: q.page ?? 1, pageSize: 25, totalItems: (q.page ?? 1) > 41 ? 1018 : 0, totalPages: 41 }),
    },
    // 55 jobs on 3 pages of 20
    cdc: {
      jobs: async (q: { page?: number }) => ({ jobs: [], pagination: { page: q.page ?? 1, page_size: 20, total_pages: 3, total_items: 55 } }),
      tables: async () => ["users"],
      // 66 mismatches on 3 pages
      mismatches: async (q: { page?: number }) => ({ mismatches: [], pagination: { page: q.page ?? 1, page_size: 25, total_pages: 3, total_items: 66 } }),
    },
  }),
);

afterEach(cleanup);

function Where() {
  const l = useLocation();
  return <output data-testid="url">{l.pathname + l.search}</output>;
}

describe("a page past the end of a list", () => {
  it("says the page is past the end and offers the last page, instead of calling the list empty", async () => {
    const api = await import("../../src/services/api");
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN&page=999", "/exceptions", <><ExceptionsPage /><Where /></>);
    const note = await screen.findByText(/Page 999 is past the end/);
    expect(note.textContent).toContain("there are 1,018 items on 41 pages");
    expect(screen.queryByText(/No exception/)).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Go to page 41" }));
    expect(screen.getByTestId("url").textContent).toBe("/exceptions?status=OPEN&page=41");
    await waitFor(() => expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ page: 41, status: "OPEN" })));
  });

  it("Previous goes to the last page, not to the page before the one past the end", async () => {
    const api = await import("../../src/services/api");
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN&page=999", "/exceptions", <><ExceptionsPage /><Where /></>);
    await screen.findByText(/Page 999 is past the end/);
    fireEvent.click(screen.getByRole("button", { name: "← Previous" }));
    expect(screen.getByTestId("url").textContent).toBe("/exceptions?status=OPEN&page=41");
    await waitFor(() => expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ page: 41 })));
    cleanup();
    const { JobList } = await import("../../src/pages/cdc/Jobs");
    renderAt("/cdc/jobs?page=99", "/cdc/jobs", <><JobList /><Where /></>);
    await screen.findByText(/Page 99 is past the end/);
    fireEvent.click(screen.getByRole("button", { name: "← Previous" }));
    expect(screen.getByTestId("url").textContent).toBe("/cdc/jobs?page=3");
    cleanup();
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?page=9", "/cdc/mismatches", <><MismatchBrowser /><Where /></>);
    await screen.findByText(/Page 9 is past the end/);
    expect(screen.getByRole("navigation", { name: "pagination" }).textContent).toContain("page 9 of 3");
    fireEvent.click(screen.getByRole("button", { name: "← Previous" }));
    expect(screen.getByTestId("url").textContent).toBe("/cdc/mismatches?page=3");
  });

  it("an empty list still says what to do", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?status=OPEN", "/exceptions", <ExceptionsPage />);
    await screen.findByText("No exception matches these filters.");
    expect(screen.queryByText(/past the end/)).toBeNull();
  });
});
