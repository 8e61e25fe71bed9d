import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const file = (id: number, filename: string, origin: string, status = "READY") => ({ id, filename, origin, status, rowCount: 10, format: "CSV", columns: [] });
// the newest 100 files are all run outputs: the uploads are older than every one of them
let outputs = Array.from({ length: 100 }, (_, i) => file(2000 - i, `stream_9${i}_step_1_matched.csv`, "ARTIFACT"));
const uploads = [file(1003, "bank_settlement.csv", "UPLOAD"), file(1002, "gateway_settlement.csv", "UPLOAD", "INVALID"), file(1001, "marketplace_settlement.csv", "UPLOAD")];
const stream = {
  id: 9001, name: "Settlement", description: null, domain: null, status: "ACTIVE", triggerType: "MANUAL", triggerConfig: null, version: 1, recentOccurrences: [], nextRunAt: null,
  createdAt: "", updatedAt: "",
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs marketplace", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 777 }, ruleSetId: 50, config: { continueOnFailure: false, maxRetries: 1 } }],
};

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    files: {
      list: async (q: { origin?: string; filename?: string; page?: number; pageSize?: number }) => {
        const all = q.origin === "UPLOAD" ? uploads : q.origin === "ARTIFACT" ? outputs : [...outputs, ...uploads];
        return pageOf(all.filter((f) => !q.filename || f.filename.startsWith(q.filename)), q);
      },
    },
    ruleSets: { list: async () => pageOf([{ id: 50, name: "Orders vs marketplace payouts", version: 1 }]) },
    dataSources: { list: async () => pageOf([]) },
    streams: { get: async () => stream },
  }),
);

afterEach(() => {
  cleanup();
  outputs = Array.from({ length: 100 }, (_, i) => file(2000 - i, `stream_9${i}_step_1_matched.csv`, "ARTIFACT"));
});
const groupsOf = (select: HTMLSelectElement) => [...select.querySelectorAll("optgroup")].map((g) => [g.label, g.querySelectorAll("option:not([disabled])").length]);

describe("file pickers", () => {
  it("offer the uploads however many run outputs came after them, apart from those outputs", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    const source = (await screen.findByDisplayValue(/marketplace_settlement\.csv/)) as HTMLSelectElement;
    expect(source.name).toBe("steps[0].sourceInput.id");
    const groups = [...source.querySelectorAll("optgroup")].map((g) => [g.label, g.querySelectorAll("option").length]);
    expect(groups).toEqual([["Uploaded files", 3], ["Outputs of earlier runs", 100]]);
    const invalid = [...source.querySelectorAll("option")].find((o) => o.value === "1002")!;
    expect(invalid.disabled).toBe(true);
    expect(invalid.textContent).toContain("INVALID");
    // a file the step uses that neither list holds stays chosen, by its number
    const target = document.querySelector('select[name="steps[0].targetInput.id"]') as HTMLSelectElement;
    expect(target.value).toBe("777");
    expect(target.selectedOptions[0].textContent).toBe("file #777");
    // each picker says, to a screen reader, which side of which step it chooses and what it lists
    expect(screen.getByLabelText("Source of step 1: which file")).toBe(source);
    expect(screen.getByLabelText("Target of step 1: which file")).toBe(target);
    expect(screen.getByRole("button", { name: "Remove step 1" })).toBeTruthy();
  });

  it("offer every page of run outputs, the 101st and the 171st too (the API pages 100 at most)", async () => {
    outputs = Array.from({ length: 171 }, (_, i) => file(3000 - i, `out_${i}.csv`, "ARTIFACT"));
    const api = await import("../../src/services/api");
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    const source = (await screen.findByDisplayValue(/marketplace_settlement\.csv/)) as HTMLSelectElement;
    await waitFor(() => expect(groupsOf(source)).toEqual([["Uploaded files", 2], ["Outputs of earlier runs", 171]]));
    expect([...source.options].some((o) => o.value === String(3000 - 170))).toBe(true);
    expect(api.files.list).toHaveBeenCalledWith(expect.objectContaining({ origin: "ARTIFACT", page: 2, pageSize: 100 }));
    // nothing is cut: no note, no finder
    expect(screen.queryByLabelText("Find files by name")).toBeNull();
  });

  it("past 1,000 files of a group, say in the list that it is cut, and find the others by the start of their name", async () => {
    outputs = Array.from({ length: 1234 }, (_, i) => file(10000 - i, `${i === 1233 ? "oldest" : "out"}_${i}.csv`, "ARTIFACT"));
    const api = await import("../../src/services/api");
    vi.mocked(api.files.list).mockClear();
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    const source = (await screen.findByDisplayValue(/marketplace_settlement\.csv/)) as HTMLSelectElement;
    const finder = await screen.findByLabelText("Find files by name");
    const outs = [...source.querySelectorAll("optgroup")][1];
    expect(outs.label).toBe("Outputs of earlier runs (the newest 1,000 of 1,234: find older ones by name)");
    expect(within(outs as unknown as HTMLElement).getAllByRole("option").filter((o) => !(o as HTMLOptionElement).disabled)).toHaveLength(1000);
    const note = [...outs.querySelectorAll("option")].at(-1)!;
    expect(note.disabled).toBe(true);
    expect(note.textContent).toContain("234 older outputs not listed");
    // 10 pages read of the outputs, not 13
    expect(vi.mocked(api.files.list).mock.calls.filter(([q]) => q.origin === "ARTIFACT")).toHaveLength(10);
    fireEvent.change(finder, { target: { value: "oldest" } });
    fireEvent.keyDown(finder, { key: "Enter" });
    await waitFor(() => expect(groupsOf(source)).toEqual([["Outputs of earlier runs", 1]]));
    expect(api.files.list).toHaveBeenCalledWith(expect.objectContaining({ origin: "ARTIFACT", filename: "oldest" }));
    expect(source.querySelector('option[value="8767"]')!.textContent).toContain("oldest_1233.csv");
    // the file the step had chosen stays chosen, by its number
    expect(source.value).toBe("1001");
  });
});
