// The mismatches' CSV: every mismatch the filters select (not only the page shown), read 100 at a time, saved
// under a name that says the filters; a filter changed while it reads stops it (nothing saved).
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { mismatch, mismatchesPage } from "./cdc-api";
import { renderAt } from "./render";

const id = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;
// 130 PENDING mismatches of users (two pages of 100 for the download), 2 IGNORED
const rows = [
  ...Array.from({ length: 130 }, (_, i) => mismatch(id(i + 1), `user-${i + 1}`)),
  ...[201, 202].map((n) => mismatch(id(n), `user-${n}`, { resolution_status: "IGNORED" })),
];
// when set, the download's second page is answered only once the test releases it
let hold = false;
let releasePage2: () => void = () => {};
const signals: (AbortSignal | undefined)[] = [];

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    saveBlob: () => undefined,
    cdc: {
      tables: async () => ["users"],
      mismatches: async (q: { resolution_status?: string; page?: number; page_size?: number }, signal?: AbortSignal) => {
        const answer = mismatchesPage(rows.filter((m) => !q.resolution_status || m.resolution_status === q.resolution_status), q);
        if (q.page_size === 100) {
          signals.push(signal);
          if (q.page === 2 && hold) await new Promise<void>((r) => { releasePage2 = r; });
        }
        return answer;
      },
    },
  }),
);
afterEach(() => {
  cleanup();
  hold = false;
  signals.length = 0;
});

async function open(url: string) {
  const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
  return renderAt(url, "/cdc/mismatches", <MismatchBrowser />);
}

describe("the mismatches' CSV download", () => {
  it("saves every mismatch of the filters, page after page, named with the filters", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.saveBlob).mockClear();
    await open("/cdc/mismatches?table=users&resolution_status=PENDING");
    fireEvent.click(await screen.findByRole("button", { name: "Download CSV (130)" }));
    await waitFor(() => expect(api.saveBlob).toHaveBeenCalledTimes(1));
    expect(api.cdc.mismatches).toHaveBeenCalledWith(expect.objectContaining({ table: "users", resolution_status: "PENDING", page: 2, page_size: 100 }), expect.any(AbortSignal));
    const [blob, name] = vi.mocked(api.saveBlob).mock.calls[0];
    expect(name).toMatch(/^mismatches-table-users-resolution_status-PENDING-\d{8}T\d{4}Z\.csv$/);
    expect([...new Uint8Array(await (blob as Blob).arrayBuffer()).slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const lines = (await (blob as Blob).text()).trim().split("\r\n");
    expect(lines).toHaveLength(131); // the header and all 130, not the 25 of the page shown
    expect(lines[0].split(",").slice(0, 5)).toEqual(["mismatch_id", "job_id", "table_name", "primary_key_value", "mismatch_type"]);
    expect(lines[130]).toContain(",user-130,DATA_MISMATCH,email,");
    expect(lines.some((l) => l.includes("IGNORED"))).toBe(false);
  });

  it("stops when a filter changes while it reads: the request aborted, nothing saved, the page says so", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.saveBlob).mockClear();
    hold = true;
    await open("/cdc/mismatches?resolution_status=PENDING");
    fireEvent.click(await screen.findByRole("button", { name: "Download CSV (130)" }));
    await screen.findByRole("button", { name: "Reading 100 of 130…" });
    fireEvent.change(screen.getByLabelText("Resolution"), { target: { value: "IGNORED" } });
    await screen.findByRole("button", { name: "Download CSV (2)" });
    expect(signals[1]?.aborted).toBe(true);
    releasePage2(); // the old filters' last page answers after all
    expect(document.querySelector("[data-export-stopped]")!.textContent).toMatch(/CSV download was stopped: the filters changed while it read the mismatches/);
    // the new filters' download holds their rows only
    fireEvent.click(screen.getByRole("button", { name: "Download CSV (2)" }));
    await waitFor(() => expect(api.saveBlob).toHaveBeenCalledTimes(1));
    const [blob, name] = vi.mocked(api.saveBlob).mock.calls[0];
    expect(name).toMatch(/^mismatches-resolution_status-IGNORED-/);
    expect((await (blob as Blob).text()).trim().split("\r\n")).toHaveLength(3);
  });
});
