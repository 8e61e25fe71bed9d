import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes, useLocation } from "react-router-dom";

// 1,018 exceptions on 41 pages: a page past the end has no rows, the list does
vi.mock("../../src/services/api", async (orig) => {
  const real = await orig<typeof import("../../src/services/api")>();
  return {
    ...real,
    exceptions: {
      ...real.exceptions,
      list: vi.fn(async (q: { page?: number }) => ({ items: [], page: q.page ?? 1, pageSize: 25, totalItems: (q.page ?? 1) > 41 ? 1018 : 0, totalPages: 41 })),
    },
  };
});

afterEach(cleanup);

function Where() {
  const l = useLocation();
  return <output data-testid="url">{l.pathname + l.search}</output>;
}

describe("a page past the end of a list", () => {
  it("says the page is past the end and offers the last page, instead of calling the list empty", async () => {
    const api = await import("../../src/services/api");
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    render(
      <MemoryRouter initialEntries={["/exceptions?status=OPEN&page=999"]}>
        <Routes><Route path="/exceptions" element={<><ExceptionsPage /><Where /></>} /></Routes>
      </MemoryRouter>,
    );
    const note = await screen.findByText(/Page 999 is past the end/);
    expect(note.textContent).toContain("there are 1,018 items on 41 pages");
    expect(screen.queryByText(/No exception/)).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Go to page 41" }));
    expect(screen.getByTestId("url").textContent).toBe("/exceptions?status=OPEN&page=41");
    await waitFor(() => expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ page: 41, status: "OPEN" })));
  });

  it("an empty list still says what to do", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    render(
      <MemoryRouter initialEntries={["/exceptions?status=OPEN"]}>
        <Routes><Route path="/exceptions" element={<ExceptionsPage />} /></Routes>
      </MemoryRouter>,
    );
    await screen.findByText("No exception matches these filters.");
    expect(screen.queryByText(/past the end/)).toBeNull();
  });
});
