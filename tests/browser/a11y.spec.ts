// Accessibility of the main pages: axe-core's WCAG 2 A and AA rules (labels, names, contrast, landmarks, ...).
import AxeBuilder from "@axe-core/playwright";
import { expect, test } from "@playwright/test";
import { api, signIn } from "./helpers";

const PAGES = ["/", "/cdc/jobs", "/cdc/mismatches", "/cdc/trigger", "/files", "/rule-sets", "/rule-sets/new", "/data-sources",
  "/streams", "/streams/new", "/exceptions", "/reconciliations"];

test("the main pages have no WCAG 2 A/AA violations", async ({ page }) => {
  await page.goto("/login");
  const login = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
  expect(login.passes.length).toBeGreaterThan(0); // the rules did run
  const found: string[] = login.violations.map((v) => `/login ${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  await signIn(page, "/");
  // detail pages of what the stack holds (the demo stream, its latest run, an exception), when it holds them
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
  for (const p of [...PAGES, ...detail]) {
    await page.goto(p);
    await expect(page.locator(".loading")).toHaveCount(0);
    const r = await new AxeBuilder({ page }).withTags(["wcag2a", "wcag2aa"]).analyze();
    found.push(...r.violations.map((v) => `${p} ${v.impact} ${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`));
  }
  expect(found, found.join("\n")).toEqual([]);
});
