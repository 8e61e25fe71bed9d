import { afterEach, describe, expect, it } from "vitest";
import { act, cleanup, fireEvent, render, screen } from "@testing-library/react";
import { useLocation } from "react-router-dom";
import { Badge, FieldError, Pager, Select, useUrlState } from "../../src/components/ui";
import { RowCompare } from "../../src/pages/cdc/Mismatches";
import { ApiError } from "../../src/services/api";
import { RUN_STATUSES, STEP_RUN_STATUSES } from "../../src/services/types";
import { renderAt } from "./render";

afterEach(cleanup);

function Where() {
  const l = useLocation();
  return <output data-testid="url">{l.pathname + l.search}</output>;
}
function Filters() {
  const { values, page, set } = useUrlState(["status", "table"] as const);
  return (
    <>
      <Select id="status" label="Status" value={values.status} options={RUN_STATUSES} onChange={(v) => set({ status: v })} />
      <Pager page={page} totalPages={5} totalItems={90} onPage={(p) => set({ page: p })} />
      <Where />
    </>
  );
}

describe("filters in the URL", () => {
  it("keeps filters and page in the query string; a new filter goes back to page 1", () => {
    renderAt("/runs?table=users&page=3", "/runs", <Filters />);
    const url = () => screen.getByTestId("url").textContent;
    expect(screen.getByText(/page 3 of 5/)).toBeTruthy();
    act(() => fireEvent.click(screen.getByText("Next →")));
    expect(url()).toBe("/runs?table=users&page=4");
    act(() => fireEvent.change(screen.getByLabelText("Status"), { target: { value: "CANCELED" } }));
    expect(url()).toBe("/runs?table=users&status=CANCELED");
    act(() => fireEvent.change(screen.getByLabelText("Status"), { target: { value: "" } }));
    expect(url()).toBe("/runs?table=users");
  });
});

describe("the pager", () => {
  it("counts its items in words, one item as one", () => {
    const { container, rerender } = render(<Pager page={1} totalPages={1} totalItems={1} onPage={() => {}} />);
    expect(container.querySelector(".pager span")!.textContent).toBe("page 1 of 1 · 1 item");
    rerender(<Pager page={2} totalPages={41} totalItems={1018} onPage={() => {}} />);
    expect(container.querySelector(".pager span")!.textContent).toBe("page 2 of 41 · 1,018 items");
  });
});

describe("badges", () => {
  it("render every run and step-run status as words", () => {
    render(<div>{[...RUN_STATUSES, ...STEP_RUN_STATUSES].map((s, i) => <Badge key={i} value={s} />)}</div>);
    expect(screen.getAllByText("partial failed")[0].className).toContain("tone-warn");
    expect(screen.getAllByText("retry wait")[0].getAttribute("data-status")).toBe("RETRY_WAIT");
    expect(document.querySelectorAll(".tone-unknown").length).toBe(0);
  });
});

describe("field errors", () => {
  it("show the API's message under the field it names, and nothing elsewhere", () => {
    const e = new ApiError(400, "VALIDATION_ERROR", "bad", { "passes[0].conditions[1].threshold": "must be between 0 and 1" });
    render(
      <>
        <FieldError error={e} field="passes[0].conditions[1].threshold" />
        <FieldError error={e} field="passes[0].name" />
      </>,
    );
    const alerts = screen.getAllByRole("alert");
    expect(alerts).toHaveLength(1);
    expect(alerts[0].textContent).toBe("must be between 0 and 1");
  });
});

describe("row comparison", () => {
  it("marks the differing columns and shows a missing row as missing", () => {
    render(<RowCompare m={{ cassandra_data: { id: "u1", name: "John Doe" }, postgres_data: { id: "u1", name: "John Smith" } }} />);
    const rows = document.querySelectorAll("tbody tr");
    expect([...rows].map((r) => r.getAttribute("data-differs"))).toEqual(["no", "yes"]);
    cleanup();
    render(<RowCompare m={{ cassandra_data: { id: "u2" }, postgres_data: null }} />);
    expect(screen.getByText("row missing")).toBeTruthy();
  });
});
