import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen, waitFor } from "@testing-library/react";
import { useLocation } from "react-router-dom";
import { mismatch, mismatchesPage } from "./cdc-api";
import { renderAt } from "./render";

// 60 mismatches of one job, newest first as the API lists them; a job's sample holds its oldest
const all = Array.from({ length: 60 }, (_, i) =>
  mismatch(`00000000-0000-4000-8000-${String(i).padStart(12, "0")}`, `user-${i}`, {
    job_id: "00000000-0000-4000-8000-0000000000aa", mismatch_type: "MISSING_IN_POSTGRES", cassandra_checksum: null, postgres_checksum: null,
    cassandra_data: { user_id: `user-${i}` }, postgres_data: null, differing_columns: null,
  }),
);
vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, { mismatches: async (q: { page?: number; page_size?: number }) => mismatchesPage(all, { page: q.page, page_size: q.page_size ?? 50 }) }),
);
afterEach(cleanup);

function Where() {
  const l = useLocation();
  return <output data-testid="url">{l.search}</output>;
}

describe("a link to one mismatch", () => {
  it("goes to the page that holds it when it is not on the first", async () => {
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    const oldest = all[57];
    renderAt(`/cdc/mismatches?job_id=${oldest.job_id}&selected=${oldest.mismatch_id}`, "/cdc/mismatches", <><MismatchBrowser /><Where /></>);
    const panel = await screen.findByRole("article", { name: "mismatch detail" });
    expect(panel.textContent).toContain("user-57");
    expect(screen.getByTestId("url").textContent).toContain("page=3"); // 58th of 60, 25 a page
    expect(screen.getByText(/page 3 of 3/)).toBeTruthy();
  });

  it("says so when the mismatch is not in the list at all", async () => {
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?selected=00000000-0000-4000-8000-0000000000ff", "/cdc/mismatches", <MismatchBrowser />);
    await waitFor(() => expect(screen.getByRole("status").textContent).toContain("The mismatch this link names is not among these"));
  });
});
