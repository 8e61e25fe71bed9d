import { afterEach, describe, expect, it, vi } from "vitest";
import { cleanup, fireEvent, render, screen, waitFor } from "@testing-library/react";
import { MemoryRouter, Route, Routes } from "react-router-dom";
import { pageOf, renderAt } from "./render";

const exc = (id: number) => ({
  id, reconciliationId: 12004, streamId: 9002, runId: 9202, stepRunId: 9304, stepOrder: 1, side: "SOURCE", rowKey: `ORD-${id}`,
  rowData: { order_id: `ORD-${id}`, amount: "236.28" }, reason: "NO_CANDIDATE", closestCandidate: null, status: "OPEN", assignee: null, note: null,
  resolvedBy: null, resolvedAt: null, createdAt: "2026-12-02T06:42:43Z", updatedAt: "2026-12-02T06:42:43Z",
});
vi.mock("../../src/services/api", async (orig) =>
  (await import("./fake-api")).withFakeApi(orig, (real) => ({
    saveBlob: () => undefined,
    streams: {
      list: async () => pageOf([{ id: 9002, name: "Settlement" }, { id: 9001, name: "E-commerce settlement (demo)" }]),
      get: async (id: number) => ({ id, name: id === 9002 ? "Settlement" : `Stream ${id}` }),
    },
    exceptions: {
      list: async () => pageOf([exc(1), exc(2), exc(3)]),
      get: async (id: number) => ({ ...exc(id), assignee: id === 1 ? "anna@company.com" : null }),
      history: async () => pageOf([]),
      patch: async (id: number) => {
        if (id === 2) throw new real.ApiError(409, "CONFLICT", "changed by someone else meanwhile");
        return exc(id);
      },
    },
  })),
);

afterEach(cleanup);

async function open(url: string) {
  const { ExceptionsPage } = await import("../../src/pages/streams/Exceptions");
  renderAt(url, "/exceptions", <ExceptionsPage />);
  await screen.findByRole("table", { name: "exceptions" });
}

describe("exceptions queue", () => {
  it("filters by side, and links each exception to its run and step", async () => {
    const api = await import("../../src/services/api");
    await open("/exceptions?side=TARGET&reconciliationId=12004");
    expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ side: "TARGET", reconciliationId: 12004 }));
    expect((screen.getByLabelText("Side") as HTMLSelectElement).value).toBe("TARGET");
    const row = document.querySelector('tr[data-exception="1"]')!;
    expect(row.querySelector('a[href="/runs/9202#step-1"]')!.textContent).toBe("#9202"); // the run, opened at the step
    expect(row.querySelector('a[href="/runs/9202#step-1"]')!.getAttribute("aria-label")).toBe("Run 9202, step 1"); // not read out as "#9202"
    expect(row.textContent).toContain("step 1");
  });

  it("changes the ticked exceptions at once, one PATCH each, and lists those that failed", async () => {
    const api = await import("../../src/services/api");
    await open("/exceptions?status=OPEN");
    expect(screen.queryByRole("form", { name: "change the selected exceptions" })).toBeNull();
    fireEvent.click(screen.getByLabelText("select exception 1"));
    fireEvent.click(screen.getByLabelText("select exception 2"));
    const form = screen.getByRole("form", { name: "change the selected exceptions" });
    expect(form.textContent).toContain("2 selected");
    const apply = screen.getByRole("button", { name: "Apply to 2 exceptions" }) as HTMLButtonElement;
    expect(apply.disabled).toBe(true); // nothing to change yet
    fireEvent.change(form.querySelector("select[name=bulk-status]")!, { target: { value: "IGNORED" } });
    fireEvent.change(form.querySelector("input[name=bulk-note]")!, { target: { value: "test orders, never settled" } });
    const calls = vi.mocked(api.exceptions.list).mock.calls.length;
    fireEvent.click(apply);
    const result = await screen.findByText(/Changed 1 of 2 exceptions/); // two requests, then the list again: slow on a loaded machine
    expect(api.exceptions.patch).toHaveBeenCalledTimes(2);
    expect(api.exceptions.patch).toHaveBeenCalledWith(1, { status: "IGNORED", note: "test orders, never settled" });
    expect(api.exceptions.patch).toHaveBeenCalledWith(2, { status: "IGNORED", note: "test orders, never settled" });
    expect(result.closest("[role=status]")!.textContent).toContain("#2: changed by someone else meanwhile");
    await waitFor(() => expect(vi.mocked(api.exceptions.list).mock.calls.length).toBeGreaterThan(calls)); // the list is read again
    // the change is done: its rows are no longer ticked, though the list read again still shows them
    expect(screen.queryByRole("form", { name: "change the selected exceptions" })).toBeNull();
    expect((screen.getByLabelText("select exception 1") as HTMLInputElement).checked).toBe(false);
  });

  it("ticks every row of the page at once", async () => {
    await open("/exceptions");
    await screen.findAllByText("ORD-1"); // the page's rows are there before they are ticked
    fireEvent.click(screen.getByLabelText("select every exception of this page"));
    expect(await screen.findByRole("button", { name: "Apply to 3 exceptions" })).toBeTruthy();
    fireEvent.click(screen.getByLabelText("select every exception of this page"));
    await waitFor(() => expect(screen.queryByRole("form", { name: "change the selected exceptions" })).toBeNull());
  });

  it("downloads every exception the filters select as CSV, not only the page shown", async () => {
    const api = await import("../../src/services/api");
    await open("/exceptions?status=OPEN&side=SOURCE");
    fireEvent.click(screen.getByRole("button", { name: "Download CSV (3)" }));
    await waitFor(() => expect(api.saveBlob).toHaveBeenCalled());
    expect(api.exceptions.list).toHaveBeenCalledWith(expect.objectContaining({ status: "OPEN", side: "SOURCE", page: 1, pageSize: 100 }), expect.any(AbortSignal));
    const [blob, name] = vi.mocked(api.saveBlob).mock.calls[0];
    // named with the filters its rows were read for
    expect(name).toMatch(/^exceptions-status-OPEN-side-SOURCE-\d{8}T\d{4}Z\.csv$/);
    // UTF-8 after a byte order mark (EF BB BF): Excel reads "ünïcödé" as such, not in the machine's code page
    expect([...new Uint8Array(await (blob as Blob).arrayBuffer()).slice(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    expect((blob as Blob).type).toBe("text/csv;charset=utf-8");
    const lines = (await (blob as Blob).text()).trim().split("\r\n");
    expect(lines).toHaveLength(4);
    expect(lines[0].startsWith("id,status,reason,side,rowKey,row.order_id,row.amount,")).toBe(true);
    expect(lines[1].startsWith("1,OPEN,NO_CANDIDATE,SOURCE,ORD-1,ORD-1,236.28,")).toBe(true);
  });

  it("an exception opened from the queue goes back to it with its filters, and on to the next one", async () => {
    const { ExceptionsPage, ExceptionDetailPage } = await import("../../src/pages/streams/Exceptions");
    render(
      <MemoryRouter initialEntries={["/exceptions?status=OPEN&reason=NO_CANDIDATE"]}>
        <Routes>
          <Route path="/exceptions" element={<ExceptionsPage />} />
          <Route path="/exceptions/:id" element={<ExceptionDetailPage />} />
        </Routes>
      </MemoryRouter>,
    );
    fireEvent.click((await screen.findByRole("table", { name: "exceptions" })).querySelector('a[href="/exceptions/1"]')!);
    await screen.findByRole("heading", { name: /ORD-1/ });
    expect(screen.getByRole("link", { name: "Exceptions" }).getAttribute("href")).toBe("/exceptions?status=OPEN&reason=NO_CANDIDATE");
    expect((screen.getByRole("textbox", { name: "Assignee" }) as HTMLInputElement).value).toBe("anna@company.com");
    const toNext = screen.getByRole("button", { name: "Next exception of the list (2 of 3) →" });
    toNext.focus();
    fireEvent.click(toNext);
    // from the keyboard: the next exception's heading has the focus, not the top of the page
    const second = await screen.findByRole("heading", { name: /ORD-2/ });
    await waitFor(() => expect(document.activeElement).toBe(second));
    // the form is the new exception's, not the last one's
    expect((screen.getByRole("textbox", { name: "Assignee" }) as HTMLInputElement).value).toBe("");
    fireEvent.click(screen.getByRole("button", { name: "Next exception of the list (3 of 3) →" }));
    await screen.findByRole("heading", { name: /ORD-3/ });
    expect(screen.getByText("last exception of that page")).toBeTruthy();
    fireEvent.click(screen.getByRole("link", { name: "← Back to the list" }));
    expect(await screen.findByRole("table", { name: "exceptions" })).toBeTruthy();
    expect((screen.getByLabelText("Reason") as HTMLSelectElement).value).toBe("NO_CANDIDATE");
  });

  it("names the exception's stream, not only its id", async () => {
    const { ExceptionDetailPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions/3", "/exceptions/:id", <ExceptionDetailPage />);
    await screen.findByRole("heading", { name: /ORD-3/ });
    const link = await screen.findByRole("link", { name: "Settlement (#9002)" });
    expect(link.getAttribute("href")).toBe("/streams/9002");
  });

  it("working an exception sends only what was changed, so an assignee set meanwhile by someone else is kept", async () => {
    const api = await import("../../src/services/api");
    // the stored exception, changed by each PATCH as the API would
    let stored = { ...exc(1), assignee: "anna@company.com", note: "waiting for the bank" };
    vi.mocked(api.exceptions.get).mockImplementation((async () => stored) as never);
    vi.mocked(api.exceptions.patch).mockClear();
    vi.mocked(api.exceptions.patch).mockImplementation((async (_id: number, body: object) => (stored = { ...stored, ...body })) as never);
    const { ExceptionDetailPage } = await import("../../src/pages/streams/Exceptions");
    renderAt("/exceptions/1", "/exceptions/:id", <ExceptionDetailPage />);
    await screen.findByRole("heading", { name: /ORD-1/ });
    fireEvent.change(screen.getByRole("combobox", { name: "Status" }), { target: { value: "RESOLVED" } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await screen.findByText("Saved.");
    expect(api.exceptions.patch).toHaveBeenCalledTimes(1);
    expect(api.exceptions.patch).toHaveBeenCalledWith(1, { status: "RESOLVED" }); // neither the assignee nor the note
    // saving again with nothing changed sends nothing, and says so
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await screen.findByText(/Nothing to save/);
    expect(api.exceptions.patch).toHaveBeenCalledTimes(1);
    // clearing the assignee is a change: it is sent as null
    fireEvent.change(screen.getByRole("textbox", { name: "Assignee" }), { target: { value: "  " } });
    fireEvent.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(api.exceptions.patch).toHaveBeenCalledTimes(2));
    expect(api.exceptions.patch).toHaveBeenLastCalledWith(1, { assignee: null });
  });

  it("filters by a stream chosen by its name; a stream id from a link that is not listed stays chosen", async () => {
    const api = await import("../../src/services/api");
    await open("/exceptions?streamId=9002");
    const pick = screen.getByRole("combobox", { name: "Stream" }) as HTMLSelectElement;
    await waitFor(() => expect(pick.selectedOptions[0]?.textContent).toBe("Settlement (#9002)"));
    expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ streamId: 9002 }));
    fireEvent.change(pick, { target: { value: "9001" } });
    await waitFor(() => expect(api.exceptions.list).toHaveBeenLastCalledWith(expect.objectContaining({ streamId: 9001, page: 1 })));
    cleanup();
    await open("/exceptions?streamId=777");
    const other = screen.getByRole("combobox", { name: "Stream" }) as HTMLSelectElement;
    await waitFor(() => expect(other.options.length).toBe(4)); // any, #777, and the two listed
    expect(other.value).toBe("777");
    expect(other.selectedOptions[0].textContent).toBe("stream #777");
  });
});
