import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { useLocation } from "react-router-dom";
import { renderAt } from "./render";

const file = (id: number, over: Record<string, unknown> = {}) => ({
  id, filename: `settlement_${id}.csv`, format: "CSV", origin: "UPLOAD", status: "READY", sizeBytes: 6753, rowCount: 161, columns: [],
  checksum: `sha256:${"0".repeat(64)}`, errorMessage: null, downloadUrl: `/api/v1/files/${id}/download`, createdAt: "2026-12-02T15:57:26Z", ...over,
});
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    files: {
      list: async (q: { filename?: string }) => q.filename === "zzz" ? ({ items: [], page: 1, pageSize: 20, totalItems: 0, totalPages: 0 }) : ({
        items: [file(1080), file(1077, { status: "INVALID", errorMessage: "the stored bytes of this file are gone (the object storage was reset or the object deleted)" })],
        page: 1, pageSize: 20, totalItems: 2, totalPages: 1,
      }),
    },
  }),
);

afterEach(cleanup);

describe("files list", () => {
  it("says on the row why an INVALID file cannot be used, not only in a tooltip", async () => {
    const { FilesPage } = await import("../../src/pages/streams/Files");
    renderAt("/files", "/files", <FilesPage />);
    await screen.findByRole("table", { name: "files" });
    const invalid = document.querySelector('tr[data-file="settlement_1077.csv"]')!;
    expect(invalid.querySelector("[data-file-error]")!.textContent).toBe("the stored bytes of this file are gone (the object storage was reset or the object deleted)");
    expect(document.querySelector('tr[data-file="settlement_1080.csv"] [data-file-error]')).toBeNull();
  });
});

function Where() {
  const l = useLocation();
  return <output data-testid="url">{l.pathname + l.search}</output>;
}

describe("files list filtered to nothing", () => {
  it("says what to do next: clear the filters (in the empty state and in the filter bar)", async () => {
    const { FilesPage } = await import("../../src/pages/streams/Files");
    renderAt("/files?filename=zzz&status=READY", "/files", <><FilesPage /><Where /></>);
    const empty = await screen.findByText(/No file matches these filters/);
    const buttons = screen.getAllByRole("button", { name: "Clear filters" });
    expect(buttons).toHaveLength(2);
    expect(empty.contains(buttons[1]) || empty.contains(buttons[0])).toBe(true);
    fireEvent.click(buttons[1]);
    await waitFor(() => expect(screen.getByTestId("url").textContent).toBe("/files"));
    await screen.findByRole("table", { name: "files" });
  });
});
