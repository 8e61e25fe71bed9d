import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";

const file = (id: number, over: Record<string, unknown> = {}) => ({
  id, filename: `settlement_${id}.csv`, format: "CSV", origin: "UPLOAD", status: "READY", sizeBytes: 6753, rowCount: 161, columns: [],
  checksum: `sha256:${"0".repeat(64)}`, errorMessage: null, downloadUrl: `/api/v1/files/${id}/download`, createdAt: "2026-12-02T15:57:26Z", ...over,
});
vi.mock("../../src/services/api", async (orig) => {
  const real = await orig<typeof import("../../src/services/api")>();
  return {
    ...real,
    files: {
      ...real.files,
      list: vi.fn(async () => ({
        items: [file(1080), file(1077, { status: "INVALID", errorMessage: "the stored bytes of this file are gone (the object storage was reset or the object deleted)" })],
        page: 1, pageSize: 20, totalItems: 2, totalPages: 1,
      })),
    },
  };
});

afterEach(cleanup);

describe("files list", () => {
  it("says on the row why an INVALID file cannot be used, not only in a tooltip", async () => {
    const { FilesPage } = await import("../../src/pages/streams/Files");
    render(
      <MemoryRouter initialEntries={["/files"]}>
        <Routes><Route path="/files" element={<FilesPage />} /></Routes>
      </MemoryRouter>,
    );
    await screen.findByRole("table", { name: "files" });
    const invalid = document.querySelector('tr[data-file="settlement_1077.csv"]')!;
    expect(invalid.querySelector("[data-file-error]")!.textContent).toBe("the stored bytes of this file are gone (the object storage was reset or the object deleted)");
    expect(document.querySelector('tr[data-file="settlement_1080.csv"] [data-file-error]')).toBeNull();
  });
});
