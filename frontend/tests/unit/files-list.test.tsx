import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen } from "@testing-library/react";
import { renderAt } from "./render";

const file = (id: number, over: Record<string, unknown> = {}) => ({
  id, filename: `settlement_${id}.csv`, format: "CSV", origin: "UPLOAD", status: "READY", sizeBytes: 6753, rowCount: 161, columns: [],
  checksum: `sha256:${"0".repeat(64)}`, errorMessage: null, downloadUrl: `/api/v1/files/${id}/download`, createdAt: "2026-12-02T15:57:26Z", ...over,
});
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    files: {
      list: async () => ({
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
