// Accessibility of the main pages: axe-core's WCAG 2 A and AA rules (labels, names, contrast, landmarks, ...).
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "@playwright/test";
import { api, signIn } from "./helpers";

const PAGES = ["/", "/cdc/jobs", "/cdc/mismatches", "/cdc/trigger", "/files", "/rule-sets", "/rule-sets/new", "/data-sources",
  "/streams", "/streams/new", "/exceptions", "/reconciliations"];

test("the main pages have no WCAG 2 A/AA violations", async ({ page }) => {
  await page.goto("/login");
  const login = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
  expect(login.passes.length).toBeGreaterThan(0); // the rules did run
  const found: string[] = login.violations.map((v) => `/login ${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  await signIn(page, "/");
  for (const p of [...PAGES, ...(await detailPages(page))]) {
    await page.goto(p);
    await expect(page.locator(".loading")).toHaveCount(0);
    found.push(...(await violations(page, p)));
  }
  expect(found, found.join("\n")).toEqual([]);
});

// A phone, or a narrow window: each page fits its width (a wide table scrolls in its own box, not the page),
// the menu above it covers none of it, and axe's rules hold there too
test("in a window 360 px wide no page scrolls sideways, the menu covers nothing, and the rules hold", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 800 });
  await signIn(page, "/");
  const found: string[] = [];
  for (const p of [...PAGES, ...(await detailPages(page))]) {
    await page.goto(p);
    await expect(page.locator(".loading")).toHaveCount(0);
    const [scrollWidth, width] = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
    if (scrollWidth > width) found.push(`${p}: the page is ${scrollWidth} px wide in a ${width} px window`);
    // what is at the heading's place is the heading, not the menu drawn over it
    const covered = await page.locator("main h1").first().evaluate((h) => {
      const r = h.getBoundingClientRect();
      const top = document.elementFromPoint(r.left + 4, r.top + r.height / 2);
      return top && !h.contains(top) ? top.outerHTML.slice(0, 80) : null;
    });
    if (covered) found.push(`${p}: the heading is under ${covered}`);
    found.push(...(await violations(page, p)));
  }
  expect(found, found.join("\n")).toEqual([]);
});

// A phone: the menu is one line (a Menu button), not 170 px of links above every page; it opens, is used and
// closes from the keyboard, and a wide window shows the links without the button
test("in a window 360 px wide the menu is a button that opens the navigation, from the keyboard too", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 800 });
  await signIn(page, "/streams");
  const bar = page.getByRole("banner");
  const height = async () => (await bar.boundingBox())!.height;
  expect(await height()).toBeLessThanOrEqual(60);
  const menu = page.getByRole("button", { name: "Menu" });
  const files = page.getByRole("navigation", { name: "main" }).getByRole("link", { name: "Files" });
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(files).toBeHidden();
  await menu.focus();
  await page.keyboard.press("Enter");
  await expect(menu).toHaveAttribute("aria-expanded", "true");
  await expect(files).toBeVisible();
  await page.keyboard.press("Tab"); // from the button into the menu
  await expect(page.getByRole("link", { name: "Overview" })).toBeFocused();
  await page.keyboard.press("Escape"); // closed, the focus back on the button
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(menu).toBeFocused();
  await expect(files).toBeHidden();
  await page.keyboard.press("Enter");
  await files.focus();
  await page.keyboard.press("Enter"); // a link chosen: its page, the menu closed
  await expect(page).toHaveURL(/\/files$/);
  await expect(page.locator("main h1")).toHaveText("Files");
  await expect(menu).toHaveAttribute("aria-expanded", "false");
  await expect(page.getByRole("main")).toBeFocused(); // not lost with the link, out of sight in the closed menu
  await page.keyboard.press("Tab");
  await expect(page.getByRole("main").locator(":focus")).toHaveCount(1); // the next Tab is in the page
  expect(await height()).toBeLessThanOrEqual(60);
  await page.setViewportSize({ width: 1400, height: 900 });
  await expect(menu).toBeHidden();
  await expect(files).toBeVisible();
});

// The pinned top bar covers no control that takes the focus: Shift+Tab up a long form (a rule set of four
// passes) scrolls each control below the bar, not under it
test("the pinned menu hides no focused control when Shift+Tab goes up a long page", async ({ page }) => {
  await page.setViewportSize({ width: 1200, height: 700 });
  await signIn(page, "/rule-sets/new");
  for (let i = 0; i < 3; i++) await page.getByRole("button", { name: "Add pass" }).click();
  await page.getByRole("button", { name: "Create rule set" }).focus();
  const under: string[] = [];
  let steps = 0;
  for (; steps < 80; steps++) {
    await page.keyboard.press("Shift+Tab");
    const r = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const bar = document.querySelector("header.topbar")!.getBoundingClientRect();
      return { top: el.getBoundingClientRect().top, bar: bar.bottom, inMain: !!el.closest("main"), what: el.getAttribute("aria-label") ?? el.getAttribute("name") ?? el.textContent };
    });
    if (!r.inMain) break;
    if (r.top < r.bar) under.push(`${r.what} at ${Math.round(r.top)} px, the bar ends at ${Math.round(r.bar)} px`);
  }
  expect(steps).toBeGreaterThan(30); // the form is longer than the window
  expect(under, under.join("\n")).toEqual([]);
});

// The focus ring stands out from what is around it (WCAG 1.4.11: 3:1) on the page, on a card and in the dark
// top bar, for the controls Tab reaches from the top of a page
test("the focus ring has a contrast of 3:1 at least with what surrounds it", async ({ page }) => {
  await signIn(page, "/rule-sets/new");
  const low: string[] = [];
  let checked = 0;
  for (let i = 0; i < 30; i++) {
    await page.keyboard.press("Tab");
    const r = await page.evaluate(() => {
      const rgb = (c: string) => (c.match(/[\d.]+/g) ?? []).map(Number);
      const lum = ([r, g, b]: number[]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }).reduce((a, v, k) => a + v * [0.2126, 0.7152, 0.0722][k], 0);
      const el = document.activeElement as HTMLElement;
      const st = getComputedStyle(el);
      // the ring is drawn outside the control (outline-offset): against its parents' background
      let bg = "rgb(255, 255, 255)";
      for (let p = el.parentElement; p; p = p.parentElement) {
        const c = getComputedStyle(p).backgroundColor;
        if (c !== "rgba(0, 0, 0, 0)" && c !== "transparent") { bg = c; break; }
      }
      const [a, b] = [lum(rgb(st.outlineColor)), lum(rgb(bg))];
      return { what: el.getAttribute("aria-label") ?? el.getAttribute("name") ?? el.textContent?.trim().slice(0, 30), style: st.outlineStyle, ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05), ring: st.outlineColor, bg };
    });
    if (r.style === "none") continue;
    checked++;
    if (r.ratio < 3) low.push(`${r.what}: ring ${r.ring} on ${r.bg}, ${r.ratio.toFixed(2)}:1`);
  }
  expect(checked).toBeGreaterThan(20);
  expect(low, low.join("\n")).toEqual([]);
});

// What a visit of the pages does not show: an API refusal (its box, with the API's code), ticked rows, a
// mismatch's differing columns, the key asked for over a page when the API refused the session's key
test("the rules hold on an API error, ticked rows, a mismatch compared and the key asked for again", async ({ page }) => {
  await signIn(page, "/exceptions?olderThanDays=-1");
  await expect(page.locator(".error-box")).toContainText("VALIDATION_ERROR");
  const found = await violations(page, "/exceptions?olderThanDays=-1 (refused)");
  await page.goto("/exceptions");
  await page.locator("table[aria-label=exceptions] tbody input[type=checkbox]").first().check();
  await expect(page.locator("table[aria-label=exceptions] tbody tr.selected")).toHaveCount(1);
  found.push(...(await violations(page, "/exceptions (a row ticked)")));
  await page.goto("/cdc/mismatches?mismatch_type=DATA_MISMATCH");
  await page.locator("table[aria-label=mismatches] tbody tr button[aria-pressed]").first().click();
  await expect(page.locator("table.compare tr.diff").first()).toBeVisible();
  found.push(...(await violations(page, "/cdc/mismatches (a mismatch compared)")));
  await page.evaluate(() => sessionStorage.setItem("recon.apiKey", "revoked"));
  await page.goto("/rule-sets");
  await expect(page.getByRole("dialog", { name: "Sign in again" })).toBeVisible();
  found.push(...(await violations(page, "/rule-sets (the key refused)")));
  expect(found, found.join("\n")).toEqual([]);
});

/** axe-core's WCAG 2 A and AA violations on the page, one line each. */
async function violations(page: Page, p: string) {
  const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
  return r.violations.map((v) => `${p} ${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}

/** Detail pages of what the stack holds (the demo stream, its latest run, an exception), when it holds them. */
async function detailPages(page: Page) {
  type D<T> = { data: T };
  const detail = ["/cdc/tables/users"];
  const stream = (await api<D<{ items: { id: number }[] }>>(page, "GET", "/streams?pageSize=1")).data.items[0];
  if (stream) {
    detail.push(`/streams/${stream.id}`);
    const run = (await api<D<{ items: { id: number }[] }>>(page, "GET", `/streams/${stream.id}/runs?pageSize=1`)).data.items[0];
    if (run) detail.push(`/runs/${run.id}`);
  }
  const exc = (await api<D<{ items: { id: number; reconciliationId: number }[] }>>(page, "GET", "/exceptions?pageSize=1")).data.items[0];
  if (exc) detail.push(`/exceptions/${exc.id}`, `/reconciliations/${exc.reconciliationId}`);
  return detail;
}

// A phone: the trigger form's strategies say what they do under the choice, not in a column a word or two wide
// beside it (the descriptions were 90 to 150 px wide, up to five lines for a dozen words)
test("in a window 360 px wide the trigger form's strategies read under their choice", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 800 });
  await signIn(page, "/cdc/trigger");
  const words = page.locator("label.radio .muted");
  await expect(words).toHaveCount(4);
  for (const box of await words.evaluateAll((els) => els.map((e) => e.getBoundingClientRect().width))) expect(box).toBeGreaterThan(250);
});

// A phone: an exception's history, its date kept on one line beside a who with no space in it
// ("demo@recon.local"), was wider than the window, and nothing in it took the focus: a keyboard could not
// scroll it (axe: scrollable-region-focusable). Every table box of the page either fits or can be scrolled
// from the keyboard (it holds a link, or takes the focus itself), and the history itself fits
test("in a window 360 px wide an exception's history fits, and a table box wider than the window can be scrolled from the keyboard", async ({ page }) => {
  await page.setViewportSize({ width: 360, height: 800 });
  await signIn(page, "/");
  type D<T> = { data: T };
  const exc = (await api<D<{ items: { id: number }[] }>>(page, "GET", "/exceptions?pageSize=1")).data.items[0];
  test.skip(!exc, "the stack holds no exception");
  await api(page, "PATCH", `/exceptions/${exc.id}`, { assignee: "settlement-desk-" + "q".repeat(40) + "@company.com" });
  await page.goto(`/exceptions/${exc.id}`);
  const history = page.getByRole("table", { name: "history" });
  await expect(history.locator("tbody tr")).not.toHaveCount(0);
  const boxes = await page.locator(".table-scroll").evaluateAll((els) =>
    els.map((e) => ({
      table: e.querySelector("table")?.getAttribute("aria-label") ?? "?",
      wider: e.scrollWidth > e.clientWidth + 1,
      keyboard: e.getAttribute("tabindex") === "0" || e.querySelector("a[href], button, input, select, textarea") !== null,
    })));
  expect(boxes.filter((b) => b.wider && !b.keyboard).map((b) => b.table)).toEqual([]);
  expect(boxes.find((b) => b.table === "history")?.wider).toBe(false);
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  expect(await violations(page, `/exceptions/${exc.id}`)).toEqual([]);
  // the box follows its table's width as the browser measures it: made wider than the window, it takes the
  // focus under its table's name and scrolls from the keyboard; back within the window, it leaves Tab alone
  const box = page.locator(".table-scroll").filter({ has: history });
  await history.locator("tbody td").first().evaluate((td) => {
    const wide = document.createElement("span");
    wide.id = "wide";
    wide.style.cssText = "display:inline-block;width:900px";
    td.append(wide);
  });
  const region = page.getByRole("region", { name: "history (scrolls sideways)" });
  await expect(region).toHaveAttribute("tabindex", "0");
  await region.focus();
  await page.keyboard.press("ArrowRight");
  await expect.poll(() => box.evaluate((e) => e.scrollLeft)).toBeGreaterThan(0);
  await page.locator("#wide").evaluate((e) => e.remove());
  await expect(box).not.toHaveAttribute("tabindex");
  await expect(region).toHaveCount(0);
});
