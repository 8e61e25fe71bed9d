// Rule-set editor helpers (pure: unit-tested).
import type { Condition, Operator, Pass, RuleSet, RuleSetInput } from "./types";

export function emptyCondition(op: Operator): Condition {
  switch (op) {
    case "AMOUNT_TOLERANCE":
      return { source: "", target: "", operator: op, absolute: 0.01 };
    case "DATE_WINDOW":
      return { source: "", target: "", operator: op, daysBefore: 0, daysAfter: 0 };
    case "SIMILARITY":
      return { source: "", target: "", operator: op, algorithm: "JARO_WINKLER", threshold: 0.9 };
    default:
      return { source: "", target: "", operator: "EQUALS" };
  }
}

export function emptyPass(): Pass {
  return { name: "", cardinality: "ONE_TO_ONE", conditions: [emptyCondition("EQUALS")] };
}

export function toRuleSetInput(r: RuleSet): RuleSetInput {
  return { name: r.name, description: r.description ?? "", sourceKey: r.sourceKey ?? "", targetKey: r.targetKey ?? "", passes: r.passes as Pass[] };
}

/**
 * Problems the form can see before asking the API (same field paths as the API's errors). The API
 * remains the judge: it checks everything again and its errors are shown at the same fields.
 */
export function ruleSetProblems(rs: RuleSetInput): Record<string, string> {
  const out: Record<string, string> = {};
  if (!rs.name.trim()) out.name = "a name is required";
  if (rs.passes.length === 0) out.passes = "at least one pass is required";
  rs.passes.forEach((p, i) => {
    if (!p.name.trim()) out[`passes[${i}].name`] = "a name is required";
    if (p.conditions.length === 0) out[`passes[${i}].conditions`] = "a pass needs at least one condition";
    p.conditions.forEach((c, k) => {
      const base = `passes[${i}].conditions[${k}]`;
      if (!c.source.trim()) out[`${base}.source`] = "a source column is required";
      if (!c.target.trim()) out[`${base}.target`] = "a target column is required";
    });
  });
  return out;
}

/**
 * A rule set as a picker offers it: its name, id and latest version ("Orders vs Marketplace (#52, v1)"), so that
 * rule sets of one name (a copy, a variant) are told apart, as the file and data-source pickers' "#id" does.
 */
export function ruleSetOption(r: Pick<RuleSet, "id" | "name" | "version">): string {
  return `${r.name} (#${r.id}, v${r.version})`;
}
