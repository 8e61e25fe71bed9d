import { describe, expect, it } from "vitest";
import { ApiError, toApiError, toQuery, withoutField } from "../../src/services/api";

describe("API errors in words, at their fields", () => {
  it("reads the streams envelope's errors", () => {
    const e = toApiError(400, {
      success: false, message: "Step 2: rule set 56 not found", data: null, errorCode: "VALIDATION_ERROR",
      errors: [
        { field: "steps[1].ruleSetId", code: "RULE_SET_NOT_FOUND", message: "rule set 56 not found" },
        { field: "steps[0].name", code: "REQUIRED", message: "a name is required" },
      ],
    });
    expect(e.status).toBe(400);
    expect(e.code).toBe("VALIDATION_ERROR");
    expect(e.message).toBe("Step 2: rule set 56 not found");
    expect(e.at("steps[1].ruleSetId")).toBe("rule set 56 not found");
    expect(e.at("steps[0].name")).toBe("a name is required");
  });
  it("keeps every problem of one field", () => {
    const e = toApiError(400, {
      success: false, message: "Step 1: ...", data: null, errorCode: "VALIDATION_ERROR",
      errors: [
        { field: "steps[0].ruleSetId", code: "RULE_FIELD_MISSING", message: "reads column 'order_id', absent from the source input" },
        { field: "steps[0].ruleSetId", code: "RULE_FIELD_MISSING", message: "reads column 'order_ref', absent from the target input" },
      ],
    });
    expect(e.at("steps[0].ruleSetId")).toBe("reads column 'order_id', absent from the source input\nreads column 'order_ref', absent from the target input");
  });
  it("reads the CDC dialect's details", () => {
    const e = toApiError(400, {
      error: "VALIDATION_ERROR", message: "Invalid request body 'validation_strategy': must be one of ...",
      details: [{ field: "validation_strategy", problem: "must be one of ROW_COUNT, CHECKSUM, TIMESTAMP_RANGE or SAMPLE" }],
    });
    expect(e.code).toBe("VALIDATION_ERROR");
    expect(e.at("validation_strategy")).toMatch(/must be one of/);
  });
  it("puts an unknown table at the tables field, with the valid ones", () => {
    const e = toApiError(400, { error: "INVALID_TABLE", message: "Table 'x' does not exist", valid_tables: ["orders", "users"] });
    expect(e.at("tables")).toBe("Table 'x' does not exist. Valid tables: orders, users");
  });
  it("keeps the retry delay of a rate limit", () => {
    expect(toApiError(429, { error: "RATE_LIMIT_EXCEEDED", message: "Try again in 60 seconds.", retry_after: 60 }).retryAfter).toBe(60);
  });
  it("says something useful for a body it does not know", () => {
    expect(toApiError(502, "<html>bad gateway</html>", "Bad Gateway").message).toBe("The API answered 502 Bad Gateway");
    expect(toApiError(0, null).message).toBe("The API cannot be reached");
  });
});

describe("query strings", () => {
  it("leaves out empty filters", () => {
    expect(toQuery({ table: "users", status: "", page: 2, job_id: undefined, x: null })).toBe("table=users&page=2");
  });
});

describe("a changed field drops its old complaint", () => {
  const e = new ApiError(400, "VALIDATION_ERROR", "Some fields need attention", {
    "steps[0].sourceInput": "choose an input",
    "steps[0].name": "a name is required",
    "steps[1].name": "a name is required",
  });
  it("clears the field and its parent path, and only those", () => {
    const left = withoutField(e, "steps[0].sourceInput.id") as ApiError;
    expect(Object.keys(left.fields)).toEqual(["steps[0].name", "steps[1].name"]);
    expect(withoutField(left, "steps[10].name")).toBe(left);
  });
  it("clears the whole validation error once every field is fixed", () => {
    let x: unknown = e;
    for (const f of ["steps[0].sourceInput", "steps[0].name", "steps[1].name"]) x = withoutField(x, f);
    expect(x).toBeNull();
  });
});
