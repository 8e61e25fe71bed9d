import { describe, expect, it } from "vitest";
import { emptyCondition, emptyPass, ruleSetProblems } from "../../src/services/rulesets";
import { emptyStep, localStepProblems, renumber, toRequest, type EditorStream } from "../../src/services/streams";

describe("rule-set editor", () => {
  it("starts conditions with the parameters their operator needs", () => {
    expect(emptyCondition("AMOUNT_TOLERANCE")).toMatchObject({ operator: "AMOUNT_TOLERANCE", absolute: 0.01 });
    expect(emptyCondition("DATE_WINDOW")).toMatchObject({ daysBefore: 0, daysAfter: 0 });
    expect(emptyCondition("SIMILARITY")).toMatchObject({ algorithm: "JARO_WINKLER", threshold: 0.9 });
  });
  it("names missing fields with the API's paths", () => {
    const p = ruleSetProblems({ name: " ", passes: [{ ...emptyPass(), name: "p" }, { name: "", cardinality: "ONE_TO_ONE", conditions: [] }] });
    expect(p).toEqual({
      name: "a name is required",
      "passes[0].conditions[0].source": "a source column is required",
      "passes[0].conditions[0].target": "a target column is required",
      "passes[1].name": "a name is required",
      "passes[1].conditions": "a pass needs at least one condition",
    });
  });
});

describe("step editor", () => {
  const stream = (steps = [emptyStep(1), emptyStep(2), emptyStep(3)]): EditorStream => ({ name: "s", triggerType: "MANUAL", steps });
  it("chains a new step to the previous step's unmatched source rows", () => {
    expect(emptyStep(3).sourceInput).toEqual({ type: "STEP_OUTPUT_UNMATCHED_SOURCE", id: 2 });
    expect(emptyStep(1).sourceInput).toEqual({ type: "FILE", id: 0 });
  });
  it("renumbers after a removal and clears inputs that pointed at the removed step", () => {
    const [a, , c] = stream().steps;
    const out = renumber([a, c]);
    expect(out.map((s) => s.stepOrder)).toEqual([1, 2]);
    expect(out[1].sourceInput).toEqual({ type: "STEP_OUTPUT_UNMATCHED_SOURCE", id: 0 });
  });
  it("keeps inputs that still point at an earlier step", () => {
    const steps = stream().steps;
    steps[2] = { ...steps[2], sourceInput: { type: "STEP_OUTPUT_UNMATCHED_TARGET", id: 1 } };
    const out = renumber([steps[0], steps[2]]);
    expect(out[1].sourceInput).toEqual({ type: "STEP_OUTPUT_UNMATCHED_TARGET", id: 1 });
  });
  it("flags forward references and missing pickers at the steps' fields", () => {
    const s = stream([{ ...emptyStep(1), name: "one", ruleSetId: 5, sourceInput: { type: "FILE", id: 9 }, targetInput: { type: "STEP_OUTPUT_UNMATCHED_TARGET", id: 1 } }]);
    expect(localStepProblems(s)).toEqual({ "steps[0].targetInput": "step 1 can only take the output of an earlier step" });
    const t = stream([emptyStep(1)]);
    expect(Object.keys(localStepProblems(t)).sort()).toEqual(["steps[0].name", "steps[0].ruleSetId", "steps[0].sourceInput", "steps[0].targetInput"]);
  });
  it("sends no trigger config for a manual stream and no empty texts", () => {
    const body = toRequest({ name: " n ", description: "", domain: "", triggerType: "MANUAL", triggerConfig: { cron: "x" }, steps: [] });
    expect(body).toEqual({ name: "n", triggerType: "MANUAL", steps: [] });
    const sched = toRequest({ name: "n", triggerType: "SCHEDULED", triggerConfig: { cron: "0 30 2 * * *", timezone: "UTC" }, steps: [] });
    expect(sched.triggerConfig).toEqual({ cron: "0 30 2 * * *", timezone: "UTC" });
  });
});
