// The editors of an existing stream or rule set wait for it: an empty form read as a stream without
// steps (or a rule set without passes), and saving it replaced what was there.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, screen } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const stream = {
  id: 9001, name: "Settlement", description: null, domain: null, status: "ACTIVE", triggerType: "MANUAL", triggerConfig: null, version: 1, recentOccurrences: [], nextRunAt: null,
  createdAt: "", updatedAt: "",
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs marketplace", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 1002 }, ruleSetId: 50, config: { continueOnFailure: false, maxRetries: 1 } }],
};
const ruleSet = {
  id: 50, name: "Orders vs payouts", description: null, version: 2, latestVersion: 2, sourceKey: "order_id", targetKey: "txn_id",
  passes: [{ name: "by id", cardinality: "ONE_TO_ONE", conditions: [{ source: "order_id", target: "order_ref", operator: "EQUALS" }] }], createdAt: "", updatedAt: "",
};
let answer: { stream: (v: unknown) => void; ruleSet: (v: unknown) => void } = { stream: () => {}, ruleSet: () => {} };

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    files: { list: async () => pageOf([]) },
    ruleSets: { list: async () => pageOf([]), get: () => new Promise((r) => { answer.ruleSet = r; }) },
    dataSources: { list: async () => pageOf([]) },
    streams: { list: async () => pageOf([]), get: () => new Promise((r) => { answer.stream = r; }) },
  }),
);
afterEach(cleanup);

describe("an editor of an existing object", () => {
  it("shows 'loading' and no form until the stream is read, then the stream's definition", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    expect(await screen.findByText(/Loading the stream/)).toBeTruthy();
    expect(document.querySelector("form")).toBeNull();
    expect(screen.queryByRole("button", { name: /Save/ })).toBeNull();
    answer.stream(stream);
    expect(((await screen.findByDisplayValue("Settlement")) as HTMLInputElement).name).toBe("name");
    expect(screen.queryByText(/Loading the stream/)).toBeNull();
  });

  it("shows 'loading' and no form until the rule set is read, then its rules", async () => {
    const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
    renderAt("/rule-sets/50", "/rule-sets/:id", <RuleSetEditorPage />);
    expect(await screen.findByText(/Loading the rule set/)).toBeTruthy();
    expect(document.querySelector("form")).toBeNull();
    answer.ruleSet(ruleSet);
    expect(((await screen.findByDisplayValue("Orders vs payouts")) as HTMLInputElement).name).toBe("name");
    expect(screen.getByRole("heading", { level: 1 }).textContent).toBe("Edit rule set (v2; saving creates v3)");
  });
});
