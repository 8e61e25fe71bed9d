/// <reference types="node" />
import { readFileSync } from "node:fs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { mismatch, mismatchesPage } from "./cdc-api";
import { renderAt } from "./render";

const A = mismatch("00000000-0000-4000-8000-00000000000a", "user-13");
const B = mismatch("00000000-0000-4000-8000-00000000000b", "user-301");
let pending = [A, B];
// a list read held until the test lets it go (a slow API)
let slow: Promise<void> | null = null;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./cdc-api")).withFakeCdc(orig, {
    mismatches: async (q: { page?: number; page_size?: number }) => {
      const answer = mismatchesPage(pending, q);
      if (slow) await slow;
      return answer;
    },
    resolve: async (id: string, body: { resolution_status: string; resolution_notes: string | null }) => {
      pending = pending.filter((m) => m.mismatch_id !== id); // it leaves the PENDING list
      return { mismatch_id: id, resolution_status: body.resolution_status, resolution_notes: body.resolution_notes, resolved_at: "2026-12-02T07:00:00Z", resolved_by: "ops@company.com" };
    },
  }),
);

afterEach(() => {
  cleanup();
  slow = null;
});

describe("resolving a mismatch in a list of pending ones", () => {
  it("keeps it open with its new status and says it was done, though it left the list", async () => {
    const api = await import("../../src/services/api");
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt(`/cdc/mismatches?resolution_status=PENDING&selected=${A.mismatch_id}`, "/cdc/mismatches", <MismatchBrowser />);
    const notes = (await screen.findByLabelText("Notes")) as HTMLTextAreaElement;
    fireEvent.change(notes, { target: { value: "replayed the CDC event" } });
    fireEvent.click(screen.getByRole("button", { name: "Mark resolved" }));
    await waitFor(() => expect(document.querySelectorAll("table[aria-label=mismatches] tbody tr")).toHaveLength(1)); // read again: A is gone
    const panel = screen.getByRole("article", { name: "mismatch detail" });
    expect(panel.textContent).toContain("user-13");
    expect(panel.querySelector('.badge[data-status="MANUAL_RESOLVED"]')).toBeTruthy();
    expect(screen.getByRole("status").textContent).toBe("Marked manual resolved by ops@company.com");
    expect(panel.textContent).toContain("“replayed the CDC event”");
    expect(api.cdc.resolve).toHaveBeenCalledWith(A.mismatch_id, { resolution_status: "MANUAL_RESOLVED", resolution_notes: "replayed the CDC event" });

    // the next one opens with its own empty notes, not the last one's text or message
    fireEvent.click(screen.getByRole("button", { name: "user-301" }));
    expect(((await screen.findByLabelText("Notes")) as HTMLTextAreaElement).value).toBe("");
    expect(screen.queryByRole("status")).toBeNull();
  });

  it("marks the ticked mismatches at once with one note, one request each", async () => {
    pending = [A, B];
    const api = await import("../../src/services/api");
    vi.mocked(api.cdc.resolve).mockClear();
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?resolution_status=PENDING", "/cdc/mismatches", <MismatchBrowser />);
    fireEvent.click(await screen.findByLabelText("select every mismatch of this page"));
    const form = screen.getByRole("form", { name: "resolve the selected mismatches" });
    expect(form.textContent).toContain("2 selected");
    fireEvent.change(screen.getByLabelText("Note for all of them"), { target: { value: "rows deleted on purpose (GDPR request 4411)" } });
    fireEvent.click(screen.getByRole("button", { name: "Ignore 2 (expected)" }));
    expect((await screen.findByText(/Marked 2 of 2 ignored/)).textContent).toBe("Marked 2 of 2 ignored."); // two requests, then the list again
    expect(api.cdc.resolve).toHaveBeenCalledTimes(2);
    expect(api.cdc.resolve).toHaveBeenCalledWith(B.mismatch_id, { resolution_status: "IGNORED", resolution_notes: "rows deleted on purpose (GDPR request 4411)" });
    await waitFor(() => expect(screen.queryByRole("table", { name: "mismatches" })).toBeNull()); // none pending any more
  });
  it("keeps a tick when the list is read again (one of the rows resolved meanwhile), and drops the tick of a row that left", async () => {
    pending = [A, B];
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt(`/cdc/mismatches?resolution_status=PENDING&selected=${A.mismatch_id}`, "/cdc/mismatches", <MismatchBrowser />);
    fireEvent.click(await screen.findByLabelText("select mismatch user-301"));
    fireEvent.click(screen.getByLabelText("select mismatch user-13"));
    expect(screen.getByRole("form", { name: "resolve the selected mismatches" }).textContent).toContain("2 selected");
    // A resolved from its comparison: the list is read again and shows B only
    fireEvent.change(await screen.findByLabelText("Notes"), { target: { value: "replayed" } });
    fireEvent.click(screen.getByRole("button", { name: "Mark resolved" }));
    await waitFor(() => expect(document.querySelectorAll("table[aria-label=mismatches] tbody tr")).toHaveLength(1));
    expect((screen.getByLabelText("select mismatch user-301") as HTMLInputElement).checked).toBe(true);
    expect(screen.getByRole("form", { name: "resolve the selected mismatches" }).textContent).toContain("1 selected");
  });
});

describe("the comparison beside the list, by keyboard", () => {
  /** The list of A and B with A's comparison opened from its row by keyboard: the comparison, its heading focused. */
  async function openedFromItsRow() {
    pending = [A, B];
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?resolution_status=PENDING", "/cdc/mismatches", <MismatchBrowser />);
    const key = await screen.findByRole("button", { name: "user-301" });
    key.focus();
    fireEvent.click(key);
    const panel = await screen.findByRole("article", { name: "mismatch detail" });
    await waitFor(() => expect(document.activeElement).toBe(panel.querySelector("h2")));
    return panel;
  }

  it("takes the focus when a row is chosen (it is after every row in the tab order) and gives it back when closed", async () => {
    await openedFromItsRow();
    expect(document.activeElement!.textContent).toBe("user-301");
    fireEvent.click(await screen.findByRole("button", { name: "close user-301" }));
    await waitFor(() => expect(screen.queryByRole("article", { name: "mismatch detail" })).toBeNull());
    const back = await screen.findByRole("button", { name: "user-301" });
    await waitFor(() => expect(document.activeElement).toBe(back));
  });

  it("closes on Escape, giving the focus back to the row that opened it; not while a note is typed", async () => {
    const panel = await openedFromItsRow();
    // a note typed: Escape in it keeps the comparison (and the note)
    const notes = screen.getByLabelText("Notes");
    fireEvent.change(notes, { target: { value: "expected" } });
    fireEvent.keyDown(notes, { key: "Escape" });
    expect(screen.getByRole("article", { name: "mismatch detail" })).toBeTruthy();
    fireEvent.keyDown(panel.querySelector("h2")!, { key: "Escape" });
    await waitFor(() => expect(screen.queryByRole("article", { name: "mismatch detail" })).toBeNull());
    const back = await screen.findByRole("button", { name: "user-301" });
    await waitFor(() => expect(document.activeElement).toBe(back));
  });

  it("resolved from the keyboard while the list is read again slowly: shown resolved at once, the focus on its heading", async () => {
    pending = [A, B];
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt(`/cdc/mismatches?resolution_status=PENDING&selected=${A.mismatch_id}`, "/cdc/mismatches", <MismatchBrowser />);
    const resolve = await screen.findByRole("button", { name: "Mark resolved" });
    let release: () => void = () => {};
    slow = new Promise((r) => (release = r));
    resolve.focus();
    fireEvent.click(resolve);
    await screen.findByText("Marked manual resolved by ops@company.com");
    // the list is still being read: the mismatch shows its new status already, without the form
    const panel = screen.getByRole("article", { name: "mismatch detail" });
    expect(panel.querySelector('.badge[data-status="MANUAL_RESOLVED"]')).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Mark resolved" })).toBeNull();
    const heading = panel.querySelector("h2");
    await waitFor(() => expect(document.activeElement).toBe(heading));
    release();
    slow = null;
    await waitFor(() => expect(document.querySelectorAll("table[aria-label=mismatches] tbody tr")).toHaveLength(1));
    expect(document.activeElement).toBe(heading);
  });

  it("leaves the focus where it is when a link opens the page on a mismatch", async () => {
    pending = [A, B];
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt(`/cdc/mismatches?selected=${B.mismatch_id}`, "/cdc/mismatches", <MismatchBrowser />);
    const panel = await screen.findByRole("article", { name: "mismatch detail" });
    expect(panel.contains(document.activeElement)).toBe(false);
  });
});

describe("the mismatch list beside the comparison", () => {
  // the layout itself is measured by the browser tests (jsdom lays nothing out): here, that the list carries
  // the rules that make it fit its column of a 1400 px window (a key at most 20 characters a line, a time on
  // two lines, not four), the narrow window's rules still coming after them
  it("is styled to fit its column", async () => {
    pending = [A, B];
    const { MismatchBrowser } = await import("../../src/pages/cdc/Mismatches");
    renderAt("/cdc/mismatches?resolution_status=PENDING", "/cdc/mismatches", <MismatchBrowser />);
    const table = await screen.findByRole("table", { name: "mismatches" });
    expect(table.classList.contains("mismatch-list")).toBe(true);
    expect(table.querySelectorAll("tbody td.when")).toHaveLength(2);
    const css = readFileSync(`${process.cwd()}/src/styles.css`, "utf8");
    expect(css).toMatch(/table\.mismatch-list \.long \{ max-width: 20ch; \}/);
    expect(css).toMatch(/table\.mismatch-list td\.when \{ min-width: 8\.5em; \}/);
    expect(css.indexOf("table.mismatch-list .long")).toBeLessThan(css.indexOf("@media (max-width: 760px)"));
  });
});
