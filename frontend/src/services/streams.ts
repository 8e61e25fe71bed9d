// Stream editor helpers (pure: unit-tested).
import type { StepDefinition, StreamDefinition, StreamInput } from "./types";

export function emptyStep(order: number): StepDefinition {
  return {
    stepOrder: order,
    name: "",
    sourceInput: order > 1 ? { type: "STEP_OUTPUT_UNMATCHED_SOURCE", id: order - 1 } : { type: "FILE", id: 0 },
    targetInput: { type: "FILE", id: 0 },
    ruleSetId: 0,
    config: { continueOnFailure: false, maxRetries: 0 },
  };
}

/** Orders 1..n after a removal; STEP_OUTPUT inputs that pointed past a removed step are cleared. */
export function renumber(steps: StepDefinition[]): StepDefinition[] {
  const map = new Map(steps.map((s, i) => [s.stepOrder, i + 1]));
  return steps.map((s, i) => {
    const fix = (inp: StepDefinition["sourceInput"]) =>
      inp.type.startsWith("STEP_OUTPUT") ? { ...inp, id: map.get(inp.id) !== undefined && map.get(inp.id)! < i + 1 ? map.get(inp.id)! : 0 } : inp;
    return { ...s, stepOrder: i + 1, sourceInput: fix(s.sourceInput), targetInput: fix(s.targetInput) };
  });
}

export function toStreamInput(d: StreamDefinition): StreamInput {
  return {
    name: d.name,
    description: d.description ?? "",
    domain: d.domain ?? "",
    triggerType: d.triggerType,
    triggerConfig: d.triggerConfig ?? {},
    steps: d.steps.map(({ id: _id, ...s }) => ({ ...s, config: s.config ?? { continueOnFailure: false, maxRetries: 0 } })),
  };
}

/** What the form can tell before asking the API, at the API's field paths. */
export function localStepProblems(s: StreamInput): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s.name.trim()) out.name = "a name is required";
  s.steps.forEach((st, i) => {
    if (!st.name.trim()) out[`steps[${i}].name`] = "a name is required";
    if (!st.ruleSetId) out[`steps[${i}].ruleSetId`] = "choose a rule set";
    for (const side of ["sourceInput", "targetInput"] as const) {
      const inp = st[side];
      if (!inp.id) out[`steps[${i}].${side}`] = inp.type.startsWith("STEP_OUTPUT") ? "choose an earlier step" : "choose an input";
      else if (inp.type.startsWith("STEP_OUTPUT") && inp.id >= st.stepOrder)
        out[`steps[${i}].${side}`] = `step ${st.stepOrder} can only take the output of an earlier step`;
    }
  });
  return out;
}
