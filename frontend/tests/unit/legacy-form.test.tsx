// The new reconciliation's form, opened from the keyboard: the focus goes to its first field (it fell to the
// top of the page with the button pressed), and a one-row file is offered as "1 row".
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const file = (id: number, filename: string, rowCount: number) => ({ id, filename, origin: "UPLOAD", status: "READY", rowCount, format: "CSV", columns: [] });
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    legacy: { list: async () => pageOf([]) },
    files: { list: async (q: { origin?: string }) => pageOf(q.origin === "UPLOAD" ? [file(1301, "one_row.csv", 1), file(1300, "orders.csv", 1000)] : []) },
    ruleSets: { list: async () => pageOf([{ id: 50, name: "Orders vs payouts", version: 1 }]) },
  }),
);
afterEach(cleanup);

describe("new reconciliation", () => {
  it("takes the focus to its Name when opened, and back to its button when closed", async () => {
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    const open = await screen.findByRole("button", { name: "New reconciliation" });
    open.focus();
    fireEvent.click(open);
    const form = await screen.findByRole("form", { name: "new reconciliation" });
    await waitFor(() => expect(document.activeElement).toBe(form.querySelector("input[name=name]")));
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    await waitFor(() => expect(document.activeElement).toBe(screen.getByRole("button", { name: "New reconciliation" })));
  });

  it("offers a file of one row as '1 row'", async () => {
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    fireEvent.click(await screen.findByRole("button", { name: "New reconciliation" }));
    const source = (await screen.findByRole("form", { name: "new reconciliation" })).querySelector("select[name=sourceFileId]")!;
    await waitFor(() => expect([...source.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["choose…", "one_row.csv (#1301, 1 row)", "orders.csv (#1300, 1,000 rows)"]));
  });

  it("offers a rule set with its id, as the files are", async () => {
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    fireEvent.click(await screen.findByRole("button", { name: "New reconciliation" }));
    const rs = (await screen.findByRole("form", { name: "new reconciliation" })).querySelector("select[name=ruleSetId]")!;
    await waitFor(() => expect([...rs.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["choose…", "Orders vs payouts (#50, v1)"]));
  });
});
