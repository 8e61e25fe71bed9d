// The editors' parts (a rule set's passes and conditions, a stream's steps) added, removed or moved from the
// keyboard: the focus goes where the person works next, never to the top of the page, and never stays on a
// button that now belongs to another part.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import type { RuleSet } from "../../src/services/types";
import { pageOf, renderAt } from "./render";

const cond = (source: string) => ({ source, target: source, operator: "EQUALS" });
const ruleSet = {
  id: 50, name: "Four passes", description: null, version: 1, latestVersion: 1, sourceKey: "order_id", targetKey: "txn_id",
  passes: [
    { name: "Exact", cardinality: "ONE_TO_ONE", conditions: [cond("ref"), cond("amount")] },
    { name: "Tolerance", cardinality: "ONE_TO_ONE", conditions: [cond("ref")] },
    { name: "Fuzzy", cardinality: "ONE_TO_ONE", conditions: [cond("name")] },
  ],
  createdAt: "2026-02-21T06:00:00Z", updatedAt: "2026-02-21T06:00:00Z",
} as unknown as RuleSet;
const step = (stepOrder: number, name: string) => ({ id: stepOrder, stepOrder, name, sourceInput: { type: "FILE", id: 1 }, targetInput: { type: "FILE", id: 2 }, ruleSetId: 50, config: { continueOnFailure: false, maxRetries: 0 } });
const stream = {
  id: 9001, name: "Settlement", description: null, domain: null, status: "ACTIVE", triggerType: "MANUAL", triggerConfig: null, version: 1, recentOccurrences: [], nextRunAt: null,
  createdAt: "", updatedAt: "", steps: [step(1, "Marketplace"), step(2, "Gateway"), step(3, "Bank")],
};

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    ruleSets: { get: async () => ruleSet, list: async () => pageOf([ruleSet]) },
    files: { list: async () => pageOf([]) },
    dataSources: { list: async () => pageOf([]) },
    streams: {
      get: async () => stream,
      list: async () => pageOf([stream]),
      update: async () => {
        const { ApiError } = await vi.importActual<typeof import("../../src/services/api")>("../../src/services/api");
        throw new ApiError(400, "VALIDATION_ERROR", "Stream definition is invalid", { "steps[2].ruleSetId": "rule set 50 has no column 'iban' in step 3's target" });
      },
    },
  }),
);

afterEach(cleanup);

/** A press from the keyboard: the button has the focus, then is clicked (Enter or Space). */
function press(name: string) {
  const b = screen.getByRole("button", { name });
  b.focus();
  fireEvent.click(b);
}
const focused = () => document.activeElement as HTMLInputElement;
const names = (prefix: string) => [...document.querySelectorAll<HTMLInputElement>(`input[name^="${prefix}"][name$="].name"]`)].map((i) => i.value);

describe("the rule-set editor", () => {
  async function open() {
    const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
    renderAt("/rule-sets/50", "/rule-sets/:id", <RuleSetEditorPage />);
    await screen.findByDisplayValue("Fuzzy");
  }

  it("hands the focus of a removed pass to the next pass's first field, or the previous one's when it was the last", async () => {
    await open();
    press("Remove pass 1");
    await waitFor(() => expect(focused().name).toBe("passes[0].name"));
    expect(focused().value).toBe("Tolerance"); // the pass that took its place, not the button of another pass
    expect(names("passes[")).toEqual(["Tolerance", "Fuzzy"]);
    press("Remove pass 2");
    await waitFor(() => expect(focused().name).toBe("passes[0].name"));
    expect(focused().value).toBe("Tolerance");
    expect(names("passes[")).toEqual(["Tolerance"]);
  });

  it("keeps the focus with a pass moved, on its Move button at its new place (the other one at the end)", async () => {
    await open();
    press("Move pass 3 up");
    await waitFor(() => expect(focused().getAttribute("aria-label")).toBe("Move pass 2 up"));
    expect(names("passes[")).toEqual(["Exact", "Fuzzy", "Tolerance"]);
    fireEvent.click(focused()); // pressed again: the same pass goes up once more
    await waitFor(() => expect(focused().getAttribute("aria-label")).toBe("Move pass 1 down")); // at the top, Move up is disabled
    expect(names("passes[")).toEqual(["Fuzzy", "Exact", "Tolerance"]);
  });

  it("hands the focus of a removed condition to the next one, the previous one, then Add condition; an added one takes it", async () => {
    await open();
    press("remove condition 1 of pass 1");
    await waitFor(() => expect(focused().name).toBe("passes[0].conditions[0].source"));
    expect(focused().value).toBe("amount");
    press("remove condition 1 of pass 1");
    await waitFor(() => expect(focused()).toBe(screen.getByRole("button", { name: "Add condition to pass 1" })));
    fireEvent.click(focused());
    await waitFor(() => expect(focused().name).toBe("passes[0].conditions[0].source"));
    press("Add pass");
    await waitFor(() => expect(focused().name).toBe("passes[3].name"));
  });
});

describe("the stream editor", () => {
  it("hands the focus of a removed step to the next step's name, or the previous one's; an added step takes it", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    await screen.findByDisplayValue("Bank");
    press("Remove step 1");
    await waitFor(() => expect(focused().name).toBe("steps[0].name"));
    expect(focused().value).toBe("Gateway");
    press("Remove step 2");
    await waitFor(() => expect(focused().name).toBe("steps[0].name"));
    expect(names("steps[")).toEqual(["Gateway"]);
    press("Add step");
    await waitFor(() => expect(focused().name).toBe("steps[1].name"));
  });
});

describe("a save refused at a field", () => {
  it("the rule-set editor's own check: the focus goes to the first field it names, not left on Save", async () => {
    const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
    renderAt("/rule-sets/50", "/rule-sets/:id", <RuleSetEditorPage />);
    const second = (await screen.findByDisplayValue("Tolerance")) as HTMLInputElement;
    fireEvent.change(second, { target: { value: "" } });
    press("Save new version");
    await waitFor(() => expect(focused()).toBe(second));
    expect(second.getAttribute("aria-invalid")).toBe("true");
    expect(screen.getByText("a name is required")).toBeTruthy();
  });

  it("the API's 400 in the stream editor: the focus goes to the field it names", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    await screen.findByDisplayValue("Bank");
    press("Save");
    await waitFor(() => expect(focused().getAttribute("name")).toBe("steps[2].ruleSetId"));
    expect(focused().getAttribute("aria-invalid")).toBe("true");
  });
});
