// Stream editor helpers (pure: unit-tested).
import type { StepConfig, StepDefinitionInput, StreamDefinition, StreamInput } from "./types";

/** A step as the editor holds it: every config field present. */
export type EditorStep = StepDefinitionInput & { config: Required<StepConfig> };
export type EditorStream = Omit<StreamInput, "steps"> & { steps: EditorStep[] };

export function emptyStep(order: number): EditorStep {
  return {
    stepOrder: order,
    name: "",
    sourceInput: order > 1 ? { type: "STEP_OUTPUT_UNMATCHED_SOURCE", id: order - 1 } : { type: "FILE", id: 0 },
    targetInput: { type: "FILE", id: 0 },
    ruleSetId: 0,
    config: { continueOnFailure: false, maxRetries: 0 },
  };
}

/** Orders 1..n after a removal; STEP_OUTPUT inputs that pointed at a removed or later step are cleared. */
export function renumber(steps: EditorStep[]): EditorStep[] {
  const map = new Map(steps.map((s, i) => [s.stepOrder, i + 1]));
  return steps.map((s, i) => {
    const fix = (inp: EditorStep["sourceInput"]) => {
      if (!inp.type.startsWith("STEP_OUTPUT")) return inp;
      const to = map.get(inp.id);
      return { ...inp, id: to !== undefined && to < i + 1 ? to : 0 };
    };
    return { ...s, stepOrder: i + 1, sourceInput: fix(s.sourceInput), targetInput: fix(s.targetInput) };
  });
}

export function toStreamInput(d: StreamDefinition): EditorStream {
  return {
    name: d.name,
    description: d.description ?? "",
    domain: d.domain ?? "",
    triggerType: d.triggerType,
    triggerConfig: d.triggerConfig ?? {},
    steps: d.steps.map((s) => ({
      stepOrder: s.stepOrder,
      name: s.name,
      sourceInput: { type: s.sourceInput.type, id: s.sourceInput.id },
      targetInput: { type: s.targetInput.type, id: s.targetInput.id },
      ruleSetId: s.ruleSetId,
      config: { continueOnFailure: !!s.config?.continueOnFailure, maxRetries: s.config?.maxRetries ?? 0 },
    })),
  };
}

/** The request body: empty optional texts left out, no trigger config for a manual stream. */
export function toRequest(s: EditorStream): StreamInput {
  return {
    name: s.name.trim(),
    ...(s.description ? { description: s.description } : {}),
    ...(s.domain ? { domain: s.domain } : {}),
    triggerType: s.triggerType,
    ...(s.triggerType !== "MANUAL" ? { triggerConfig: s.triggerConfig } : {}),
    steps: s.steps,
  };
}

/** What the form can tell before asking the API, at the API's field paths. */
export function localStepProblems(s: EditorStream): Record<string, string> {
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
