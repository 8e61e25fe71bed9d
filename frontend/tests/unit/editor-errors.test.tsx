// The API's refusal of a save in the rule-set and stream editors: each problem at its field, marked
// aria-invalid even where the field is not a plain input (a condition, a pass, the EVENT trigger's fields),
// the focus on the first of them; the API's message at the top of the form; the heading and breadcrumb
// naming the object as saved, not the name being typed.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import type { RuleSet } from "../../src/services/types";
import { pageOf, renderAt } from "./render";

const ruleSet = {
  id: 53, name: "Bank rules", description: null, version: 2, latestVersion: 2, sourceKey: "order_id", targetKey: "txn_id",
  passes: [{ name: "Fuzzy", cardinality: "ONE_TO_ONE", conditions: [{ source: "customer", target: "payer", operator: "SIMILARITY", algorithm: "JARO_WINKLER", threshold: 0.8 }] }],
  createdAt: "2026-02-21T06:00:00Z", updatedAt: "2026-02-21T06:00:00Z",
} as unknown as RuleSet;
const stream = {
  id: 9005, name: "Settlement", description: null, domain: null, status: "ACTIVE", triggerType: "EVENT", version: 1, recentOccurrences: [], nextRunAt: null,
  triggerConfig: { event: "FILE_UPLOADED", filenamePattern: "", bind: { stepOrder: 5, input: "TARGET" } }, createdAt: "", updatedAt: "",
  steps: [{ id: 1, stepOrder: 1, name: "One", sourceInput: { type: "FILE", id: 1 }, targetInput: { type: "FILE", id: 2 }, ruleSetId: 53, config: { continueOnFailure: false, maxRetries: 0 } }],
};

let conflict = false;
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    ruleSets: {
      get: async () => ruleSet,
      list: async () => pageOf([ruleSet]),
      update: async () => { throw new real.ApiError(400, "VALIDATION_ERROR", "Rule set is invalid", { "passes[0].conditions[0]": "SIMILARITY on customer/payer: the columns hold amounts" }); },
    },
    files: { list: async () => pageOf([]) },
    dataSources: { list: async () => pageOf([]) },
    streams: {
      get: async () => stream,
      list: async () => pageOf([stream]),
      update: async () => {
        if (conflict) throw real.toApiError(409, { success: false, message: "Stream 9005 is at version 2; the body was read at version 1: read it again and reapply the change", data: null, errorCode: "CONFLICT", errors: [] });
        throw new real.ApiError(400, "VALIDATION_ERROR", "Stream definition is invalid", {
          "triggerConfig.filenamePattern": "must not be empty",
          "triggerConfig.bind.stepOrder": "step 5 does not exist",
        });
      },
    },
  })),
);

afterEach(() => {
  cleanup();
  conflict = false;
});

function save(name: string) {
  const b = screen.getByRole("button", { name });
  b.focus();
  fireEvent.click(b);
}

describe("a save the API refuses at a field that is not a plain input", () => {
  it("a rule set's condition: its operator is marked, has the focus, and the message is under it", async () => {
    const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
    renderAt("/rule-sets/53", "/rule-sets/:id", <RuleSetEditorPage />);
    await screen.findByDisplayValue("Fuzzy");
    save("Save new version");
    const op = screen.getByLabelText("Operator of condition 1 in pass 1");
    await waitFor(() => expect(op.getAttribute("aria-invalid")).toBe("true"));
    await waitFor(() => expect(document.activeElement).toBe(op));
    expect(op.closest("td")!.textContent).toContain("the columns hold amounts");
  });

  it("the EVENT trigger's pattern and step: both marked, the focus on the pattern, each message under its field", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9005/edit", "/streams/:id/edit", <StreamEditorPage />);
    const pattern = await screen.findByLabelText("File name pattern");
    save("Save");
    await waitFor(() => expect(pattern.getAttribute("aria-invalid")).toBe("true"));
    const step = screen.getByLabelText(/Binds to step/);
    expect(step.getAttribute("aria-invalid")).toBe("true");
    await waitFor(() => expect(document.activeElement).toBe(pattern));
    expect(pattern.closest("label")!.textContent).toContain("must not be empty");
    expect(step.closest("label")!.textContent).toContain("step 5 does not exist");
  });
});

describe("the editors' heading, breadcrumb and title", () => {
  it("name the stream as saved, not the name being typed nor one a refused save did not keep", async () => {
    conflict = true;
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9005/edit", "/streams/:id/edit", <StreamEditorPage />);
    const name = await screen.findByDisplayValue("Settlement");
    const crumbs = screen.getByRole("navigation", { name: "breadcrumb" });
    expect(crumbs.textContent).toBe("Streams / Settlement / Edit");
    fireEvent.change(name, { target: { value: "NOT SAVED NAME" } });
    expect(crumbs.textContent).toBe("Streams / Settlement / Edit");
    expect(document.title).toBe("Edit stream Settlement · recon");
    save("Save");
    // the API's message where the focus stays: right under the Save pressed
    const box = await screen.findByText(/is at version 2; the body was read at version 1/);
    const save_ = screen.getByRole("button", { name: "Save" });
    expect(document.activeElement).toBe(save_);
    expect(save_.closest(".actions")!.nextElementSibling).toBe(box.closest(".error-box"));
    expect(crumbs.textContent).toBe("Streams / Settlement / Edit");
    expect(document.title).toBe("Edit stream Settlement · recon");
  });

  it("name the rule set as saved", async () => {
    const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
    renderAt("/rule-sets/53", "/rule-sets/:id", <RuleSetEditorPage />);
    const name = await screen.findByDisplayValue("Bank rules");
    fireEvent.change(name, { target: { value: "NOT SAVED RS" } });
    expect(screen.getByRole("navigation", { name: "breadcrumb" }).textContent).toBe("Rule sets / Bank rules v2");
    expect(document.title).toBe("Rule set Bank rules · recon");
  });
});
