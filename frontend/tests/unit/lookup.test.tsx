// More than 100 rule sets and streams (the API's largest page): every choice list offers all of them,
// and a name beside an id is found whatever page of the list it is on.
import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, screen, waitFor } from "@testing-library/react";
import { pageOf, renderAt } from "./render";

const ruleSetsAll = Array.from({ length: 150 }, (_, i) => ({ id: i + 1, name: `Rule set ${i + 1}`, version: 1 }));
// stream 9002 is archived
const streamsAll = Array.from({ length: 150 }, (_, i) => ({ id: 9001 + i, name: `Stream ${9001 + i}`, status: i === 1 ? "ARCHIVED" : "ACTIVE" }));
const last = streamsAll[149];
// a stream whose step uses the last rule set and that runs after the last stream
const stream = {
  id: 9001, name: "Stream 9001", description: null, domain: null, status: "ACTIVE", version: 1, createdAt: "2026-12-02T06:42:37Z", updatedAt: "2026-12-02T06:42:37Z",
  triggerType: "EVENT", triggerConfig: { event: "STREAM_RUN_COMPLETED", streamId: last.id }, nextRunAt: null, recentOccurrences: [],
  steps: [{ id: 1, stepOrder: 1, name: "Orders vs bank", sourceInput: { type: "FILE", id: 1001 }, targetInput: { type: "FILE", id: 1002 }, ruleSetId: 150, config: { continueOnFailure: false, maxRetries: 0 } }],
};
const listed = <T,>(items: T[]) =>
  vi.fn(async (q: { page?: number; pageSize?: number }) => {
    if ((q.pageSize ?? 20) > 100) throw new Error(`pageSize ${q.pageSize} is over the API's 100`);
    return pageOf(items, q);
  });

vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => {
    const byId = <T extends { id: number }>(items: T[]) => async (id: number) => {
      const x = items.find((y) => y.id === id);
      if (!x) throw new real.ApiError(404, "NOT_FOUND", `no ${id}`);
      return x;
    };
    return {
      ruleSets: { list: listed(ruleSetsAll), get: byId(ruleSetsAll) },
      streams: { list: listed(streamsAll), get: async (id: number) => (id === stream.id ? stream : byId(streamsAll)(id)), runs: async () => pageOf([]) },
      dataSources: { list: listed([]) },
      files: { list: listed([]), get: async (id: number) => ({ id, filename: `file${id}.csv` }) },
      exceptions: { list: async () => pageOf([]) },
      runs: {
        get: async () => ({ id: 7, streamId: 9001, streamVersion: 1, status: "COMPLETED", triggerType: "MANUAL", triggerMetadata: {}, metrics: null, createdAt: "", updatedAt: "", startedAt: null, completedAt: null, errorMessage: null }),
        steps: async () => [{ id: 1, runId: 7, stepOrder: 1, name: "Orders vs bank", status: "SKIPPED", attemptNo: 1, progress: 0, reconciliationId: null, ruleSetId: 150, ruleSetVersion: 2, sourceRows: null, targetRows: null, exceptionCount: 0, errorMessage: null, startedAt: null, completedAt: null }],
      },
      legacy: { list: async () => pageOf([]) },
    };
  }),
);

afterEach(cleanup);

const optionTexts = (select: HTMLSelectElement) => [...select.options].map((o) => o.textContent);

describe("lists read whole, names read by id", () => {
  it("readAll reads every page, 100 at a time, and lists an item that moved between pages once", async () => {
    const { readAll } = await import("../../src/services/lookup");
    const items = Array.from({ length: 250 }, (_, i) => ({ id: i + 1 }));
    const read = vi.fn(async (q: { page: number; pageSize: number }) => {
      const p = pageOf(items, q);
      // item 101 was created meanwhile at the top: page 2 starts with the last item of page 1 again
      return q.page === 2 ? { ...p, items: [items[99], ...p.items.slice(0, 99)] } : p;
    });
    const got = await readAll(read);
    expect(read.mock.calls.map(([q]) => q)).toEqual([{ page: 1, pageSize: 100 }, { page: 2, pageSize: 100 }, { page: 3, pageSize: 100 }]);
    expect(got.map((x) => x.id)).toEqual(items.map((x) => x.id).filter((id) => id !== 200));
  });

  it("namesOf reads each unknown id once, keeps it, and asks again for one that could not be read", async () => {
    const api = await import("../../src/services/api");
    const { namesOf, forgetName } = await import("../../src/services/lookup");
    forgetName();
    const get = vi.mocked(api.ruleSets.get);
    get.mockClear();
    const [a, b] = await Promise.all([namesOf("ruleSet", [120, 120, 7, 999]), namesOf("ruleSet", [120])]);
    expect(a).toEqual({ 120: "Rule set 120", 7: "Rule set 7", 999: null });
    expect(b).toEqual({ 120: "Rule set 120" });
    expect(get.mock.calls.map(([id]) => id).sort()).toEqual([120, 7, 999].sort());
    await namesOf("ruleSet", [120, 999]);
    expect(get.mock.calls.map(([id]) => id).filter((id) => id === 120)).toHaveLength(1);
    expect(get.mock.calls.map(([id]) => id).filter((id) => id === 999)).toHaveLength(2);
    // a save here forgets the name read before
    forgetName("ruleSet", 120);
    await namesOf("ruleSet", [120]);
    expect(get.mock.calls.map(([id]) => id).filter((id) => id === 120)).toHaveLength(2);
  });

  it("a stream's page names the rule set of its step and the stream it runs after, beyond the first 100", async () => {
    const { StreamDetailPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001", "/streams/:id", <StreamDetailPage />);
    const steps = await screen.findByRole("table", { name: "steps" });
    await waitFor(() => expect(steps.querySelector('a[href="/rule-sets/150"]')!.textContent).toBe("Rule set 150"));
    await waitFor(() => expect(screen.getByTestId("trigger").textContent).toBe("when a run of Stream 9150 (stream #9150) completes"));
  });

  it("a run's step names its rule set, beyond the first 100", async () => {
    const { RunPage } = await import("../../src/pages/streams/Runs");
    renderAt("/runs/7", "/runs/:id", <RunPage />);
    await waitFor(() => expect(document.querySelector('a[href="/rule-sets/150?version=2"]')?.textContent).toBe("Rule set 150 v2"));
  });

  it("the stream editor offers every rule set and every other stream to follow", async () => {
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    const rs = (await screen.findByDisplayValue("Rule set 150 (#150, v1)")) as HTMLSelectElement;
    expect(rs.name).toBe("steps[0].ruleSetId");
    expect(rs.options).toHaveLength(151); // "choose…" and the 150
    const after = (await screen.findByDisplayValue("Stream 9150 (#9150)")) as HTMLSelectElement;
    expect(after.name).toBe("triggerConfig.streamId");
    // every stream but the one edited (a stream cannot follow itself) and the archived one (it never runs again)
    expect(optionTexts(after)).toEqual(["choose a stream…", ...streamsAll.slice(2).map((x) => `${x.name} (#${x.id})`)]);
    fireEvent.change(after, { target: { value: "9120" } });
    expect(after.selectedOptions[0].textContent).toBe("Stream 9120 (#9120)");
  });

  it("a stream that follows an archived one still shows it, as archived", async () => {
    const api = await import("../../src/services/api");
    vi.mocked(api.streams.get).mockImplementationOnce(async () => ({ ...stream, triggerConfig: { event: "STREAM_RUN_COMPLETED", streamId: 9002 } }) as never);
    const { StreamEditorPage } = await import("../../src/pages/streams/Streams");
    renderAt("/streams/9001/edit", "/streams/:id/edit", <StreamEditorPage />);
    const after = (await screen.findByDisplayValue("Stream 9002 (#9002) (archived)")) as HTMLSelectElement;
    expect(after.name).toBe("triggerConfig.streamId");
  });

  it("the exceptions' stream filter offers every stream by name", async () => {
    const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions?streamId=9150", "/exceptions", <ExceptionsPage />);
    const filter = (await screen.findByLabelText("Stream")) as HTMLSelectElement;
    await waitFor(() => expect(filter.options).toHaveLength(151)); // "any" and the 150
    expect(filter.value).toBe("9150");
    expect(filter.selectedOptions[0].textContent).toBe("Stream 9150 (#9150)");
  });

  it("a new reconciliation offers every rule set", async () => {
    const { LegacyPage } = await import("../../src/pages/streams/Legacy");
    renderAt("/reconciliations", "/reconciliations", <LegacyPage />);
    fireEvent.click(await screen.findByRole("button", { name: "New reconciliation" }));
    const rs = (await screen.findByLabelText("Rule set")) as HTMLSelectElement;
    await waitFor(() => expect(rs.options).toHaveLength(151));
    expect(rs.options[150].textContent).toBe("Rule set 150 (#150, v1)");
  });
});
