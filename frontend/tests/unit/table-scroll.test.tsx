import { afterEach, describe, expect, it } from "vitest";
import { cleanup, render, screen } from "@testing-library/react";
import { TableScroll } from "../../src/components/ui";

// jsdom lays nothing out: the widths a browser would measure are given to the box and read back by the component
let widths = { scroll: 0, client: 0 };
Object.defineProperty(HTMLElement.prototype, "scrollWidth", { configurable: true, get() { return this.classList.contains("table-scroll") ? widths.scroll : 0; } });
Object.defineProperty(HTMLElement.prototype, "clientWidth", { configurable: true, get() { return this.classList.contains("table-scroll") ? widths.client : 0; } });

afterEach(cleanup);

function History({ link }: { link?: boolean }) {
  return (
    <TableScroll>
      <table aria-label="history"><tbody><tr><td>{link ? <a href="/x">finance-ops</a> : "finance-ops"}</td></tr></tbody></table>
    </TableScroll>
  );
}

describe("the box a wide table scrolls in", () => {
  it("takes the focus, named after its table, when it is wider than the window and nothing in it does", () => {
    widths = { scroll: 620, client: 320 };
    render(<History />);
    const box = screen.getByRole("region", { name: "history (scrolls sideways)" });
    expect(box.tabIndex).toBe(0);
    expect(box.className).toBe("table-scroll");
  });

  it("adds no stop to Tab when the table fits", () => {
    widths = { scroll: 320, client: 320 };
    const { container } = render(<History />);
    expect(screen.queryByRole("region")).toBeNull();
    expect(container.querySelector(".table-scroll")!.hasAttribute("tabindex")).toBe(false);
  });

  it("adds no stop to Tab when a link in it already takes the focus (it scrolls into view)", () => {
    widths = { scroll: 620, client: 320 };
    const { container } = render(<History link />);
    expect(screen.queryByRole("region")).toBeNull();
    expect(container.querySelector(".table-scroll")!.hasAttribute("tabindex")).toBe(false);
  });
});
