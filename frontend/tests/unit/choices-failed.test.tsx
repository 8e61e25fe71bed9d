// A form whose choices could not be read (the API down or restarting while the page opened) says so where
// the choice is, with reading them again a press away: an empty list read as "there is none" (the trigger
// form's "none ticked = every table of the catalog" with no table to tick, a step with no rule set to choose).
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, within } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

let down = true;
const unreachable = async (real: typeof import("../../src/services/api")) => {
  throw new real.ApiError(502, "SERVICE_UNAVAILABLE", "The API cannot be reached ([Errno 111] Connection refused)");
};

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    cdc: { tables: async () => (down ? unreachable(real) : ["users", "orders"]) },
    ruleSets: { list: async () => (down ? unreachable(real) : pageOf([{ id: 50, name: "Orders vs payouts", version: 2 }, { id: 51, name: "Orders vs payouts", version: 1 }])) },
    files: { list: async () => pageOf([]) },
    dataSources: { list: async () => pageOf([]) },
    streams: { list: async () => pageOf([]) },
  })),
);

afterEach(() => {
  cleanup();
  down = true;
});

describe("choices that could not be read", () => {
  it("the trigger form says the catalog could not be read, and reads it again on request", async () => {
    const { TriggerPage } = await import("../../src/pages/cdc/Trigger");
    renderAt("/cdc/trigger", "/cdc/trigger", <TriggerPage />);
    const tables = screen.getByRole("group", { name: /Tables/ });
    const alert = await within(tables).findByRole("alert");
    expect(alert.textContent).toContain("The catalog's tables could not be read: The API cannot be reached ([Errno 111] Connection refused).");
    down = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Read them again" }));
    expect(await screen.findByRole("checkbox", { name: "orders" })).toBeTruthy();
    expect(within(tables).queryByRole("alert")).toBeNull();
  });

  it("the stream editor says its steps' choices could not be read, and reads them again on request", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/new", "/streams/new", <StreamEditorPage />);
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("The files and rule sets the steps choose from could not be read: The API cannot be reached");
    down = false;
    fireEvent.click(within(alert).getByRole("button", { name: "Read them again" }));
    // rule sets of one name told apart by their ids, as files and data sources are
    expect(await screen.findByRole("option", { name: "Orders vs payouts (#50, v2)" })).toBeTruthy();
    expect(screen.getByRole("option", { name: "Orders vs payouts (#51, v1)" })).toBeTruthy();
    expect(screen.queryByRole("alert")).toBeNull();
  });
});
