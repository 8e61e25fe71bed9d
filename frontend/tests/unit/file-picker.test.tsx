import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const file = (id: number, filename: string, origin: string, status = "READY") => ({ id, filename, origin, status, rowCount: 10, format: "CSV", columns: [] });
// the newest 100 files are all run outputs: the uploads are older than every one of them
const outputs = Array.from({ length: 100 }, (_, i) => file(2000 - i, `stream_9${i}_step_1_matched.csv`, "ARTIFACT"));
const uploads = [file(1003, "bank_settlement.csv", "UPLOAD"), file(1002, "gateway_settlement.csv", "UPLOAD", "INVALID"), file(1001, "marketplace_settlement.csv", "UPLOAD")];
const stream = {
  id: 9001, name: "Settlement", description: null, domain: null, status: "ACTIVE", triggerType: "MANUAL", triggerConfig: null, version: 1, recentOccurrences: [], nextRunAt: null,
  createdAt: "", updatedAt: "",
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs marketplace", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 777 }, ruleSetId: 50, config: { continueOnFailure: false, maxRetries: 1 } }],
};

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    files: {
      list: async (q: { origin?: string }) => pageOf(q.origin === "UPLOAD" ? uploads : q.origin === "ARTIFACT" ? outputs : [...outputs, ...uploads].slice(0, 100)),
    },
    ruleSets: { list: async () => pageOf([{ id: 50, name: "Orders vs marketplace payouts", version: 1 }]) },
    dataSources: { list: async () => pageOf([]) },
    streams: { get: async () => stream },
  }),
);

afterEach(cleanup);

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
});
