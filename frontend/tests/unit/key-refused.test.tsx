// The session's key stops working (rotated or revoked: the API answers 401) while an operator edits a form:
// a key is asked for over the page, which keeps the edits, and the save goes through once a valid key is
// entered. The console went to the sign-in page instead, and came back to an empty form.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { pageOf, renderApp } from "./render";

const saved = (name: string) => ({
  id: 77, name, description: null, version: 1, latestVersion: 1, sourceKey: null, targetKey: null, createdAt: "2026-12-02T07:00:00Z", updatedAt: "2026-12-02T07:00:00Z",
  passes: [{ name: "by id", cardinality: "ONE_TO_ONE", conditions: [{ source: "order_id", target: "order_ref", operator: "EQUALS" }] }],
});
/** The key the fake API takes; any other is refused as the real client reports it (keyRefused, then a 401). */
let valid = "k"; // the key renderApp signs in with
const refuse = async () => {
  const real = await vi.importActual<typeof import("../../src/services/api")>("../../src/services/api");
  real.keyRefused();
  throw real.toApiError(401, { success: false, message: "Invalid or missing API key", data: null, errorCode: "UNAUTHORIZED", errors: [] });
};
const key = () => sessionStorage.getItem("recon.apiKey");
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, {
    files: { list: async () => pageOf([]) },
    ruleSets: {
      list: async () => (key() === valid ? pageOf([saved("Exact")]) : refuse()),
      create: async (b: { name: string }) => (key() === valid ? saved(b.name) : refuse()),
      get: async () => saved("Exact"),
    },
  }),
);
/** The key check of the sign-in (one read with the key typed): only `valid` is taken. */
const checks: string[] = [];
beforeEach(() => {
  valid = "k";
  checks.length = 0;
  vi.stubGlobal("fetch", async (_url: string, init?: RequestInit) => {
    const k = String((init?.headers as Record<string, string>)?.Authorization ?? "").replace("Bearer ", "");
    checks.push(k);
    return new Response("{}", { status: k === valid ? 200 : 401 });
  });
});
afterEach(async () => {
  cleanup();
  vi.unstubAllGlobals();
  (await import("../../src/services/api")).auth.clear();
});

const input = (name: string) => document.querySelector<HTMLInputElement>(`input[name="${name}"]`)!;

describe("a key refused while a form is being edited", () => {
  it("asks for a key over the form, keeps the edits, and saves them with the new key", async () => {
    const api = await import("../../src/services/api");
    await renderApp("/rule-sets/new");
    await screen.findByRole("button", { name: "Create rule set" });
    fireEvent.change(input("name"), { target: { value: "Orders vs payouts (month end)" } });
    fireEvent.change(input("passes[0].name"), { target: { value: "by id" } });
    fireEvent.change(input("passes[0].conditions[0].source"), { target: { value: "order_id" } });
    fireEvent.change(input("passes[0].conditions[0].target"), { target: { value: "order_ref" } });
    valid = "new-key"; // the key is rotated meanwhile
    const save = screen.getByRole("button", { name: "Create rule set" });
    save.focus();
    fireEvent.click(save);
    const dialog = await screen.findByRole("dialog", { name: "Sign in again" });
    // the page is where it was, with what was typed
    expect(window.location.pathname).toBe("/rule-sets/new");
    expect(input("name").value).toBe("Orders vs payouts (month end)");
    expect(input("passes[0].conditions[0].target").value).toBe("order_ref");
    expect(screen.getAllByRole("alert").map((a) => a.textContent).join(" ")).toMatch(/refused the key.*try again/);
    const field = within(dialog).getByLabelText("API key");
    expect(document.activeElement).toBe(field);
    // a wrong key is said and not taken
    fireEvent.change(field, { target: { value: "k" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Use this key" }));
    expect((await within(dialog).findByRole("alert")).textContent).toMatch(/not valid.*401/);
    expect(key()).toBe("k");
    fireEvent.change(field, { target: { value: "new-key" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Use this key" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).toBeNull());
    expect(checks).toEqual(["k", "new-key"]);
    expect(key()).toBe("new-key");
    expect(document.activeElement).toBe(screen.getByRole("button", { name: "Create rule set" })); // back on Save
    fireEvent.click(screen.getByRole("button", { name: "Create rule set" }));
    await waitFor(() => expect(window.location.pathname).toBe("/rule-sets/77"));
    expect(api.ruleSets.create).toHaveBeenCalledTimes(2);
    expect(api.ruleSets.create).toHaveBeenLastCalledWith(expect.objectContaining({ name: "Orders vs payouts (month end)" }));
  });

  it("a list refused meanwhile reads itself again once the new key is entered", async () => {
    valid = "new-key";
    await renderApp("/rule-sets");
    const dialog = await screen.findByRole("dialog", { name: "Sign in again" });
    expect(window.location.pathname).toBe("/rule-sets");
    fireEvent.change(within(dialog).getByLabelText("API key"), { target: { value: "new-key" } });
    fireEvent.click(within(dialog).getByRole("button", { name: "Use this key" }));
    expect(await screen.findByRole("link", { name: "Exact" })).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });
});

describe("a wrong key at the sign-in", () => {
  it("is said, and the focus is back in the key's field to type it again", async () => {
    const { App } = await import("../../src/App");
    window.history.pushState({}, "", "/login");
    render(<App />);
    const field = await screen.findByLabelText("API key");
    fireEvent.change(field, { target: { value: "wrong" } });
    const signIn = screen.getByRole("button", { name: "Sign in" });
    signIn.focus();
    fireEvent.click(signIn);
    await screen.findByRole("alert");
    expect(checks).toEqual(["wrong"]);
    expect(field.getAttribute("aria-invalid")).toBe("true");
    expect(document.activeElement).toBe(field);
  });
});

describe("signing in from a deep link", () => {
  it("returns to the page asked for with its query and its #fragment (a run's #step-2)", async () => {
    const { App } = await import("../../src/App");
    window.history.pushState({}, "", "/rule-sets?page=1#step-2");
    render(<App />);
    const field = await screen.findByLabelText("API key");
    expect(window.location.pathname).toBe("/login");
    fireEvent.change(field, { target: { value: "k" } });
    fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(window.location.pathname + window.location.search + window.location.hash).toBe("/rule-sets?page=1#step-2"));
  });
});
