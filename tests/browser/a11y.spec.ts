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
  expect(await height()).toBeLessThanOrEqual(60);
  await page.setViewportSize({ width: 1400, height: 900 });
  await expect(menu).toBeHidden();
  await expect(files).toBeVisible();
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
