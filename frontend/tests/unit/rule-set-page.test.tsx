import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen } from "@testing-library/react";
import type { RuleSet } from "../../src/services/types";
import { pageOf, renderAt } from "./render";

const v = (version: number, absolute: number): RuleSet =>
  ({
    id: 50, name: "Orders vs marketplace payouts", description: null, version, latestVersion: 3, sourceKey: "order_id", targetKey: "txn_id",
    passes: [{ name: "Reference and amount", cardinality: "ONE_TO_ONE", conditions: [{ source: "amount", target: "gross", operator: "AMOUNT_TOLERANCE", absolute }] }],
    createdAt: "2026-02-21T06:00:00Z", updatedAt: "2026-02-21T06:00:00Z",
  }) as unknown as RuleSet;

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    ruleSets: {
      get: async (_id: number, version?: number) => {
        if (version === 99) throw new real.ApiError(404, "NOT_FOUND", "Rule set 50 version 99 not found");
        return version === 1 ? v(1, 0.01) : v(3, 0.05);
      },
      remove: async () => {
        throw new real.ApiError(409, "CONFLICT", "Rule set 50 is in use by stream 9001, stream 9002");
      },
    },
    files: { list: async () => pageOf([]) },
  })),
);

afterEach(cleanup);

async function open(url: string) {
  const { RuleSetEditorPage } = await import("../../src/pages/streams/RuleSets");
  renderAt(url, "/rule-sets/:id", <RuleSetEditorPage />);
}

describe("rule set versions", () => {
  it("opens the version a step run used, says it is not the latest, and what saving does", async () => {
    const api = await import("../../src/services/api");
    await open("/rule-sets/50?version=1");
    await screen.findByRole("heading", { name: "Edit rule set (v1; saving creates v4)" });
    expect(api.ruleSets.get).toHaveBeenLastCalledWith(50, 1);
    expect((screen.getByRole("spinbutton", { name: "± absolute" }) as HTMLInputElement).value).toBe("0.01");
    const note = screen.getByRole("status");
    expect(note.textContent).toContain("This is version 1, not the latest: version 3");
    expect(note.querySelector("a")!.getAttribute("href")).toBe("/rule-sets/50");
  });

  it("names each condition's fields in words, not by their API paths", async () => {
    await open("/rule-sets/50");
    await screen.findByRole("heading", { name: "Edit rule set (v3; saving creates v4)" });
    expect((screen.getByLabelText("Source column of condition 1 in pass 1") as HTMLInputElement).value).toBe("amount");
    expect((screen.getByLabelText("Target column of condition 1 in pass 1") as HTMLInputElement).value).toBe("gross");
    expect((screen.getByLabelText("Operator of condition 1 in pass 1") as HTMLSelectElement).value).toBe("AMOUNT_TOLERANCE");
    expect(screen.getByRole("checkbox", { name: "trim (normalize of condition 1 in pass 1)" })).toBeTruthy();
    expect(screen.queryByLabelText(/conditions\[/)).toBeNull();
  });

  it("the latest version has no such notice", async () => {
    await open("/rule-sets/50");
    await screen.findByRole("heading", { name: "Edit rule set (v3; saving creates v4)" });
    expect(screen.queryByRole("status")).toBeNull();
    expect((screen.getByRole("spinbutton", { name: "± absolute" }) as HTMLInputElement).value).toBe("0.05");
  });

  it("can be deleted, after a question; one in use says by which streams", async () => {
    const api = await import("../../src/services/api");
    const ask = vi.spyOn(window, "confirm").mockReturnValue(true);
    await open("/rule-sets/50");
    await screen.findByRole("heading", { name: "Edit rule set (v3; saving creates v4)" });
    fireEvent.click(screen.getByRole("button", { name: "Delete rule set" }));
    expect(ask).toHaveBeenCalledWith("Delete the rule set Orders vs marketplace payouts?");
    expect((await screen.findByRole("alert")).textContent).toContain("Rule set 50 is in use by stream 9001, stream 9002");
    expect(api.ruleSets.remove).toHaveBeenCalledWith(50);
    ask.mockRestore();
  });
});

describe("a rule set version that is not there", () => {
  it("keeps a heading naming what was asked for, the API's words, the latest version and the way back to the rule sets", async () => {
    await open("/rule-sets/50?version=99");
    expect(await screen.findByRole("heading", { level: 1, name: "Rule set #50 version 99" })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toContain("Rule set 50 version 99 not found");
    expect((await screen.findByRole("link", { name: "Open version 3, the latest" })).getAttribute("href")).toBe("/rule-sets/50");
    expect(screen.getByText(/Orders vs marketplace payouts has versions 1 to 3/)).toBeTruthy();
    expect(screen.getByRole("link", { name: "← It is not there: back to rule sets" }).getAttribute("href")).toBe("/rule-sets");
    expect(screen.queryByRole("form", { name: "rule set" })).toBeNull(); // not the latest's rules under version 99's name
  });

  it.each(["abc", "0", "1.5", "-2", ""])("?version=%s is said to be no version, naming it, not opened as the latest", async (raw) => {
    const api = await import("../../src/services/api");
    vi.mocked(api.ruleSets.get).mockClear();
    await open(`/rule-sets/50?version=${raw}`);
    expect(await screen.findByRole("heading", { level: 1, name: `Rule set #50 version “${raw}”` })).toBeTruthy();
    expect(screen.getByRole("alert").textContent).toContain(`“${raw}” is not a version`);
    expect((await screen.findByRole("link", { name: "Open version 3, the latest" })).getAttribute("href")).toBe("/rule-sets/50");
    expect(screen.queryByRole("form", { name: "rule set" })).toBeNull();
    expect(screen.queryByRole("heading", { name: /Edit rule set/ })).toBeNull();
    expect(vi.mocked(api.ruleSets.get).mock.calls.every(([, version]) => version === undefined)).toBe(true); // only the latest is read, to name it
  });
});
