// Streams in the console: upload two files, create rule sets (one API validation error shown at its
// field), a two-step stream, run it and watch the steps complete, download an artifact and compare
// its checksum, cancel a run of a large file uploaded through the presigned upload session.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect, test, type Page } from "@playwright/test";
import { api, apiKey, shot, signIn } from "./helpers";

test.describe.configure({ mode: "serial" });

const tag = Date.now().toString(36);
const SOURCE = `orders_${tag}.csv`;
const TARGET = `marketplace_${tag}.csv`;
const BIG = `orders_big_${tag}.csv`;

/**
 * 100 orders; the marketplace has 80 of them exactly, 12 with the amount 0.50 off (matched by step 2),
 * 4 with the amount 5.00 off (beyond both tolerances) and 4 unrelated rows.
 */
function files() {
  const src = ["order_id,amount,order_date,customer"];
  const tgt = ["txn_id,order_ref,gross,settled_on,payer"];
  for (let i = 1; i <= 100; i++) {
    const amount = (10 + i * 1.37).toFixed(2);
    src.push(`ORD-${i},${amount},2026-02-${String((i % 27) + 1).padStart(2, "0")},Customer ${i}`);
    if (i <= 80) tgt.push(`TX-${i},ord-${i} ,${amount},2026-02-${String((i % 27) + 1).padStart(2, "0")},Customer ${i}`);
    else if (i <= 92) tgt.push(`TX-${i},ORD-${i},${(Number(amount) + 0.5).toFixed(2)},2026-02-${String((i % 27) + 1).padStart(2, "0")},Customer ${i}`);
    else if (i <= 96) tgt.push(`TX-${i},ORD-${i},${(Number(amount) + 5).toFixed(2)},2026-02-${String((i % 27) + 1).padStart(2, "0")},Customer ${i}`);
    else tgt.push(`TX-X${i},OTHER-${i},${(Number(amount) * 3).toFixed(2)},2026-03-01,Someone ${i}`);
  }
  return { source: src.join("\n") + "\n", target: tgt.join("\n") + "\n" };
}

async function uploadOne(page: Page, name: string, body: string) {
  await page.locator("#upload-input").setInputFiles({ name, mimeType: "text/csv", buffer: Buffer.from(body) });
  const row = page.locator(`li[data-upload="${name}"]`);
  await expect(row).toHaveAttribute("data-phase", "ready", { timeout: 120_000 });
  return row;
}

async function ruleSet(page: Page, name: string, tolerance: string) {
  await page.goto("/rule-sets/new");
  await expect(page).toHaveTitle("New rule set · recon");
  await page.locator("input[name=name]").fill(name);
  await page.locator("input[name=sourceKey]").fill("order_id");
  await page.locator("input[name=targetKey]").fill("txn_id");
  await page.locator('input[name="passes[0].name"]').fill("Reference and amount");
  await page.locator('input[name="passes[0].conditions[0].source"]').fill("order_id");
  await page.locator('input[name="passes[0].conditions[0].target"]').fill("order_ref");
  const c0 = page.locator('tr[data-condition="0.0"]');
  await c0.getByRole("checkbox", { name: "trim" }).check();
  await c0.getByRole("checkbox", { name: "upper" }).check();
  await page.getByRole("button", { name: "Add condition" }).click();
  await page.locator('input[name="passes[0].conditions[1].source"]').fill("amount");
  await page.locator('input[name="passes[0].conditions[1].target"]').fill("gross");
  await page.locator('select[name="passes[0].conditions[1].operator"]').selectOption("AMOUNT_TOLERANCE");
  await page.locator('input[name="passes[0].conditions[1].absolute"]').fill(tolerance);
  await page.getByRole("button", { name: "Create rule set" }).click();
  await expect(page.getByRole("status")).toContainText(`Saved ${name} as version 1`);
  await expect(page).toHaveURL(/\/rule-sets\/\d+$/);
  return Number(page.url().split("/").pop());
}

let streamId = 0;

test("upload two files, see their schema and row count", async ({ page }) => {
  const f = files();
  await signIn(page, "/files");
  await expect(page).toHaveTitle("Files · recon");
  await uploadOne(page, SOURCE, f.source);
  const row = await uploadOne(page, TARGET, f.target);
  await expect(row.getByRole("progressbar")).toHaveAttribute("aria-valuenow", "100");
  await expect(page.locator(`tr[data-file="${SOURCE}"]`)).toContainText("100");
  await shot(page, "streams-files");
  await page.locator(`tr[data-file="${SOURCE}"]`).getByRole("link", { name: SOURCE }).click();
  await expect(page).toHaveTitle(`${SOURCE} · recon`);
  const schema = page.getByRole("table", { name: "schema" });
  for (const col of ["order_id", "amount", "order_date", "customer"]) await expect(schema).toContainText(col);
  // the download is the uploaded bytes exactly
  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download" }).click()]);
  const got = readFileSync((await dl.path())!, "utf8");
  expect(got).toBe(f.source);
  await expect(page.locator("[data-verified]")).toHaveAttribute("data-verified", "yes");
});

test("a rule set error from the API is shown at the field it names", async ({ page }) => {
  await signIn(page, "/rule-sets/new");
  await page.locator("input[name=name]").fill(`Bad threshold ${tag}`);
  await page.locator('input[name="passes[0].name"]').fill("Name similarity");
  await page.locator('input[name="passes[0].conditions[0].source"]').fill("order_id");
  await page.locator('input[name="passes[0].conditions[0].target"]').fill("order_ref");
  await page.getByRole("button", { name: "Add condition" }).click();
  await page.locator('input[name="passes[0].conditions[1].source"]').fill("customer");
  await page.locator('input[name="passes[0].conditions[1].target"]').fill("payer");
  await page.locator('select[name="passes[0].conditions[1].operator"]').selectOption("SIMILARITY");
  const threshold = page.locator('input[name="passes[0].conditions[1].threshold"]');
  await threshold.fill("1.5");
  await page.getByRole("button", { name: "Create rule set" }).click();
  const err = page.locator('.field-error[data-field="passes[0].conditions[1].threshold"]');
  await expect(err).toContainText("between 0 and 1");
  await expect(threshold).toHaveAttribute("aria-invalid", "true");
  // the message sits in the same table row as the field
  await expect(page.locator('tr[data-condition="0.1"]').locator(".field-error")).toHaveCount(1);
  await shot(page, "streams-ruleset-error");
  await threshold.fill("0.9");
  await page.getByRole("button", { name: "Create rule set" }).click();
  await expect(page.getByRole("status")).toContainText("as version 1");
  await expect(err).toHaveCount(0);
  // editing it creates version 2; reloading the page shows what was saved
  await expect(page).toHaveURL(/\/rule-sets\/\d+$/);
  await page.reload();
  await expect(threshold).toHaveValue("0.9");
  await threshold.fill("0.85");
  await page.getByRole("button", { name: "Save new version" }).click();
  await expect(page.getByRole("status")).toContainText("as version 2");
  await page.reload();
  await expect(page.getByRole("heading", { level: 1 })).toContainText("v2");
  await expect(threshold).toHaveValue("0.85");
});

test("create a two-step stream, run it, watch the steps complete, download an artifact", async ({ page }) => {
  await signIn(page, "/files");
  const strict = await ruleSet(page, `Exact ${tag}`, "0.01");
  await shot(page, "streams-ruleset-editor");
  const loose = await ruleSet(page, `Within a euro ${tag}`, "1.00");
  const fileList = await api<{ data: { items: { id: number; filename: string }[] } }>(page, "GET", `/files?filename=${encodeURIComponent("orders_" + tag)}&pageSize=100`);
  const src = fileList.data.items.find((x) => x.filename === SOURCE)!.id;
  const tgt = (await api<{ data: { items: { id: number; filename: string }[] } }>(page, "GET", `/files?filename=${encodeURIComponent("marketplace_" + tag)}`)).data.items[0].id;

  // a step whose inputs lack the rule set's columns: the API's errors appear at that step's rule set
  await page.goto("/streams/new");
  await page.locator("input[name=name]").fill(`Swapped ${tag}`);
  await page.locator('input[name="steps[0].name"]').fill("Sides swapped");
  await page.locator('select[name="steps[0].ruleSetId"]').selectOption(String(strict));
  await page.locator('select[name="steps[0].sourceInput.id"]').selectOption(String(tgt));
  await page.locator('select[name="steps[0].targetInput.id"]').selectOption(String(src));
  await page.getByRole("button", { name: "Create stream" }).click();
  const missing = page.locator('.field-error[data-field="steps[0].ruleSetId"]');
  await expect(missing).toContainText("absent from the source input");
  await expect(missing).toContainText("absent from the target input");
  await expect(page.locator('select[name="steps[0].ruleSetId"]')).toHaveAttribute("aria-invalid", "true");
  await shot(page, "streams-step-error");
  await expect(page).toHaveURL(/\/streams\/new$/);

  await page.goto("/streams/new");
  await expect(page).toHaveTitle("New stream · recon");
  // the form says what is missing before asking the API
  await page.getByRole("button", { name: "Create stream" }).click();
  await expect(page.locator('.field-error[data-field="steps[0].ruleSetId"]')).toContainText("choose a rule set");
  await page.locator("input[name=name]").fill(`Settlement ${tag}`);
  await page.locator("input[name=domain]").fill("ECOMMERCE");
  await page.locator('input[name="steps[0].name"]').fill("Orders vs marketplace");
  await page.locator('select[name="steps[0].ruleSetId"]').selectOption(String(strict));
  await page.locator('select[name="steps[0].sourceInput.id"]').selectOption(String(src));
  await page.locator('select[name="steps[0].targetInput.id"]').selectOption(String(tgt));
  await page.getByRole("button", { name: "Add step" }).click();
  await page.locator('input[name="steps[1].name"]').fill("Leftovers within a euro");
  await page.locator('select[name="steps[1].ruleSetId"]').selectOption(String(loose));
  await expect(page.locator('select[name="steps[1].sourceInput.type"]')).toHaveValue("STEP_OUTPUT_UNMATCHED_SOURCE");
  await page.locator('select[name="steps[1].targetInput.type"]').selectOption("STEP_OUTPUT_UNMATCHED_TARGET");
  await page.locator('select[name="steps[1].targetInput.id"]').selectOption("1");
  await shot(page, "streams-step-editor");
  await page.getByRole("button", { name: "Create stream" }).click();
  // saved: either straight to the stream, or to its editor showing the validation warnings first
  await expect(page).toHaveURL(/\/streams\/\d+(\/edit)?$/, { timeout: 30_000 });
  streamId = Number(/\/streams\/(\d+)/.exec(page.url())![1]);
  if (page.url().endsWith("/edit")) await page.getByRole("link", { name: /Open the stream/ }).click();
  await expect(page).toHaveTitle(`Stream Settlement ${tag} · recon`);
  await expect(page.getByRole("table", { name: "steps" }).locator("tbody tr")).toHaveCount(2);
  await page.getByRole("button", { name: "Validate" }).click();
  await expect(page.getByRole("status", { name: "validation" })).toContainText("The stream is valid");

  await page.getByRole("button", { name: "Run now" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  const timeline = page.getByRole("list", { name: "step runs" });
  await expect(timeline.locator("li[data-step]")).toHaveCount(2, { timeout: 60_000 });
  await expect(page.locator("h1 .badge")).toHaveAttribute("data-status", "COMPLETED", { timeout: 240_000 });
  await expect(timeline.locator('li[data-step="1"]')).toHaveAttribute("data-status", "COMPLETED");
  await expect(timeline.locator('li[data-step="2"]')).toHaveAttribute("data-status", "COMPLETED");
  await expect(page.locator(".kv")).toContainText("92"); // 80 exact + 12 within a euro
  // each step's own counts: rows in, matched and left over per side, as the generator made them
  const counts = async (step: number, side: string) =>
    (await page.getByRole("table", { name: `counts of step ${step}` }).locator(`tr[data-side=${side}] td`).allTextContents());
  expect(await counts(1, "source")).toEqual(["100", "80", "20"]);
  expect(await counts(1, "target")).toEqual(["100", "80", "20"]);
  expect(await counts(2, "source")).toEqual(["20", "12", "8"]);
  expect(await counts(2, "target")).toEqual(["20", "12", "8"]);
  await expect(timeline.locator('li[data-step="2"] a[data-step-exceptions]')).toHaveText("16 exceptions");
  await expect(timeline.locator('li[data-step="2"] a[data-step-exceptions]')).toHaveAttribute("href", /^\/exceptions\?reconciliationId=\d+$/);
  await expect(timeline.locator('li[data-step="1"]')).toContainText("no exception");
  await expect(timeline.locator('li[data-step="2"]').getByRole("link", { name: `Within a euro ${tag} v1` })).toHaveAttribute("href", `/rule-sets/${loose}?version=1`);
  // a finished run shows no progress bar (it would read as work still to do)
  await expect(page.getByRole("progressbar", { name: "run progress" })).toHaveCount(0);
  await shot(page, "streams-run");

  // an artifact downloaded through the console has the checksum the API recorded
  const matched = timeline.locator('li[data-step="1"] tr[data-artifact=MATCHED]');
  const recorded = (await matched.getAttribute("data-checksum"))!;
  expect(recorded).toMatch(/^sha256:[0-9a-f]{64}$/);
  const [dl] = await Promise.all([page.waitForEvent("download"), matched.getByRole("button", { name: "Download" }).click()]);
  const sha = "sha256:" + createHash("sha256").update(readFileSync((await dl.path())!)).digest("hex");
  expect(sha).toBe(recorded);
  await expect(matched.locator("[data-verified]")).toHaveAttribute("data-verified", "yes");

  // each step is also a legacy reconciliation; step 2 holds the run's exceptions (step 1's unmatched
  // rows went on to step 2)
  await timeline.locator('li[data-step="2"]').getByRole("link", { name: /^reconciliation \d+$/ }).click();
  await expect(page).toHaveTitle(/^Reconciliation Settlement \S+ \/ Leftovers within a euro/);
  await expect(page.locator("h1 .badge")).toHaveAttribute("data-status", "COMPLETED");
  await expect(page.locator(".kv")).toContainText("12");
  await page.getByLabel("Side").selectOption("SOURCE");
  await expect(page).toHaveURL(/side=SOURCE/);
  await expect(page.locator("table[aria-label=exceptions] tbody tr")).toHaveCount(8);
  await shot(page, "streams-legacy");
  await page.goto("/reconciliations");
  await expect(page.locator("table[aria-label=reconciliations]")).toContainText("Leftovers within a euro");

  // its exceptions: 8 orders and 8 marketplace rows without a partner, explained; the stream is chosen by
  // its name, and a stream with a long name among the choices does not widen the filter past the window
  const def = await api<{ data: { steps: { id?: number }[] } }>(page, "GET", `/streams/${streamId}`);
  await api(page, "POST", "/streams", { name: `Month-end settlement ${tag} of every marketplace, gateway and bank, ${"with a name longer than any screen ".repeat(2)}`, triggerType: "MANUAL", steps: def.data.steps.map(({ id: _id, ...step }) => step) });
  await page.goto(`/exceptions?streamId=${streamId}`);
  await expect(page).toHaveTitle("Exceptions · recon");
  await expect(page.locator(".pager")).toContainText("16 items");
  await expect(page.getByLabel("Stream")).toHaveValue(String(streamId));
  await expect(page.locator("#streamId option", { hasText: `Month-end settlement ${tag}` })).toHaveCount(1);
  expect((await page.getByLabel("Stream").boundingBox())!.width).toBeLessThanOrEqual(300);
  // an order whose amount is 5.00 off is explained by its closest candidate
  const off = page.locator("table[aria-label=exceptions] tbody tr").filter({ has: page.locator("td:nth-child(4)", { hasText: /^ORD-93$/ }) });
  await expect(off.locator(".badge[data-status=TOLERANCE_EXCEEDED]")).toBeVisible();
  await expect(off).toContainText("TX-93");
  await shot(page, "streams-exceptions");
  // all 16 as CSV, the amounts exactly as in the uploaded file
  const [csvDl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: "Download CSV (16)" }).click()]);
  const csv = readFileSync((await csvDl.path())!, "utf8").trim().split("\r\n");
  expect(csv).toHaveLength(17);
  const ord93 = csv.find((l) => l.includes(",SOURCE,ORD-93,"))!;
  expect(ord93).toContain(`,${(10 + 93 * 1.37).toFixed(2)},`);
  expect(ord93).toContain("TOLERANCE_EXCEEDED");
  await page.getByLabel("Reason").selectOption("NO_CANDIDATE");
  await expect(page).toHaveURL(/reason=NO_CANDIDATE/);
  await expect(page.locator(".pager")).toContainText("8 items");
  // the marketplace side's rows, ticked and assigned at once: one PATCH each, every one in its history
  await page.getByLabel("Side").selectOption("TARGET");
  await expect(page.locator(".pager")).toContainText("4 items");
  await page.getByLabel("select every exception of this page").check();
  const bulk = page.getByRole("form", { name: "change the selected exceptions" });
  await expect(bulk).toContainText("4 selected");
  await bulk.getByLabel("Assignee").fill("marketplace-desk@company.com");
  // applied from the keyboard: the form goes with the button, and the focus goes to the outcome (not the page's top)
  await bulk.getByRole("button", { name: "Apply to 4 exceptions" }).press("Enter");
  await expect(page.locator("[data-bulk-result]")).toContainText("Changed 4 of 4 exceptions.");
  await expect(page.locator("[data-bulk-result]")).toBeFocused();
  const assigned = await api<{ data: { items: { side: string; reason: string }[]; totalItems: number } }>(page, "GET", `/exceptions?streamId=${streamId}&assignee=${encodeURIComponent("marketplace-desk@company.com")}&pageSize=100`);
  expect(assigned.data.totalItems).toBe(4);
  expect(new Set(assigned.data.items.map((x) => `${x.side} ${x.reason}`))).toEqual(new Set(["TARGET NO_CANDIDATE"]));
  await page.getByLabel("Side").selectOption("");
  await page.locator("table[aria-label=exceptions] tbody tr").first().getByRole("link").first().click();
  // the exception's own form, not the list's Assignee filter (still there while the page changes)
  await expect(page).toHaveURL(/\/exceptions\/\d+$/);
  await expect(page.getByRole("button", { name: "Save" })).toBeVisible();
  // a long unbroken value (a pasted list of addresses) wraps inside the page instead of widening it
  await page.getByLabel("Assignee").fill("finance-ops-" + "x".repeat(240));
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page.getByRole("status")).toContainText("Saved");
  await expect(page.getByRole("table", { name: "history" })).toContainText("x".repeat(200));
  expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth)).toBe(true);
  await page.getByLabel("Assignee").fill("finance-ops@company.com");
  await page.getByLabel("Status").selectOption("RESOLVED");
  await page.getByLabel("Note").fill("Refunded before settlement");
  // saved from the keyboard: the focus stays on Save (a button disabled while saving lost it to the page's top)
  const save = page.getByRole("button", { name: "Save" });
  await save.focus();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status")).toContainText("Saved");
  await expect(save).toBeFocused();
  await expect(page.getByRole("table", { name: "history" }).locator("tbody tr")).not.toHaveCount(0);
  await expect(page.getByRole("table", { name: "history" })).toContainText("RESOLVED");
});

test("a run's step leads to its exceptions, an exception to the files of its step, and back to the step", async ({ page }) => {
  test.skip(!streamId, "needs the stream of the previous test");
  await signIn(page, "/streams");
  type D<T> = { data: T };
  const runId = (await api<D<{ items: { id: number }[] }>>(page, "GET", `/streams/${streamId}/runs?status=COMPLETED`)).data.items[0].id;
  await page.goto(`/runs/${runId}`);
  await page.getByRole("list", { name: "step runs" }).locator('li[data-step="2"] a[data-step-exceptions]').click();
  // the queue narrowed to that step says which run and step it is
  await expect(page.locator(".pager")).toContainText("16 items");
  await expect(page.locator("[data-step-context]")).toContainText(`Exceptions of run #${runId}, step 2`);
  // an order without a partner: its row is in the step's UNMATCHED_SOURCE file
  await page.getByLabel("Side").selectOption("SOURCE");
  await expect(page).toHaveURL(/side=SOURCE/);
  await expect(page.locator(".pager")).toContainText("8 items"); // the list read again, before a row is opened
  await page.locator("table[aria-label=exceptions] tbody tr").first().getByRole("link").first().click();
  const files = page.getByRole("table", { name: "files of the step" });
  const holds = files.locator("tr[data-holds-row=yes]");
  await expect(holds).toHaveCount(1);
  await expect(holds).toHaveAttribute("data-artifact", "UNMATCHED_SOURCE");
  await expect(holds).toContainText("8"); // the step's 8 unmatched orders
  await expect(files.locator("tbody tr")).toHaveCount(3); // matched, unmatched source, unmatched target
  const filename = (await holds.getByRole("link").textContent())!;
  // back to the step: the run page opens at it, marked
  await page.getByRole("link", { name: `#${runId} step 2` }).first().click();
  await expect(page).toHaveURL(new RegExp(`/runs/${runId}#step-2$`));
  const step2 = page.locator("li#step-2");
  await expect(step2).toHaveAttribute("aria-current", "location");
  await expect(step2).toBeFocused();
  await expect(step2.getByRole("link", { name: filename })).toBeVisible();
  // and the file itself
  await page.goBack();
  await page.getByRole("table", { name: "files of the step" }).getByRole("link", { name: filename }).click();
  await expect(page).toHaveURL(/\/files\/\d+$/);
  await expect(page.locator("h1")).toContainText(filename);
});

test("cancel a run of a large file uploaded through the upload session", async ({ page }) => {
  test.skip(!streamId, "needs the stream of the previous test");
  await signIn(page, "/files");
  // ~7 MB: above the direct-upload limit, so the console uses the presigned upload session
  const lines = ["order_id,amount,order_date,customer"];
  for (let i = 1; i <= 160_000; i++) lines.push(`ORD-${i},${(10 + (i % 5000) * 1.37).toFixed(2)},2026-02-${String((i % 27) + 1).padStart(2, "0")},Customer number ${i}`);
  const body = lines.join("\n") + "\n";
  expect(body.length).toBeGreaterThan(5 * 1024 * 1024);
  const row = await uploadOne(page, BIG, body);
  const id = Number((await row.getByRole("link").textContent())!.replace(/\D/g, ""));
  const meta = await api<{ data: { rowCount: number; checksum: string } }>(page, "GET", `/files/${id}`);
  expect(meta.data.rowCount).toBe(160_000);
  expect(meta.data.checksum).toBe("sha256:" + createHash("sha256").update(body).digest("hex"));

  // point step 1 of the stream at the big file, then start and cancel a run
  await page.goto(`/streams/${streamId}/edit`);
  await page.locator('select[name="steps[0].sourceInput.id"]').selectOption(String(id));
  await page.getByRole("button", { name: "Save" }).click();
  await expect(page).toHaveURL(new RegExp(`/streams/${streamId}(/edit)?$`));
  await page.goto(`/streams/${streamId}`);
  await page.getByRole("button", { name: "Run now" }).click();
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  // canceling asks first: no answer, no cancel
  page.once("dialog", (d) => d.dismiss());
  await page.getByRole("button", { name: "Cancel run" }).click();
  await expect(page.getByRole("button", { name: "Cancel run" })).toBeEnabled();
  expect((await api<{ data: { status: string } }>(page, "GET", `/stream-runs/${page.url().split("/").pop()}`)).data.status).toMatch(/^(PENDING|RUNNING)$/);
  let asked = "";
  page.once("dialog", (d) => {
    asked = d.message();
    return d.accept();
  });
  // canceled from the keyboard: the button keeps the focus while the request runs, and once the run has
  // stopped (no Cancel any more) the heading saying so has it
  await page.getByRole("button", { name: "Cancel run" }).press("Enter");
  await expect(page.locator("h1 .badge")).toHaveAttribute("data-status", "CANCELED", { timeout: 60_000 });
  expect(asked).toMatch(/^Cancel run #\d+\?/);
  await expect(page.getByRole("button", { name: "Cancel run" })).toHaveCount(0);
  await expect(page.getByRole("heading", { level: 1 })).toBeFocused();
  const steps = page.getByRole("list", { name: "step runs" }).locator("li[data-step]");
  for (const s of await steps.all()) expect(["CANCELED", "SKIPPED"]).toContain(await s.getAttribute("data-status"));
  await shot(page, "streams-run-canceled");

  // the stream can be paused and resumed
  await page.goto(`/streams/${streamId}`);
  // from the keyboard: the button pressed keeps the focus, and is then the other action
  await page.getByRole("button", { name: "Pause" }).press("Enter");
  await expect(page.locator("h1 .badge")).toHaveAttribute("data-status", "PAUSED");
  await expect(page.getByRole("button", { name: "Run now" })).toBeDisabled();
  await expect(page.getByRole("button", { name: "Resume" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.locator("h1 .badge")).toHaveAttribute("data-status", "ACTIVE");
  await expect(page.getByRole("button", { name: "Pause" })).toBeFocused();
  await shot(page, "streams-detail");
});

test("a failing step is retried, its attempts and error shown, the run FAILED", async ({ page }) => {
  await signIn(page, "/streams");
  type D<T> = { data: T };
  // a snapshot whose connection variable is not set fails every attempt
  const ds = await api<D<{ id: number }>>(page, "POST", "/data-sources", {
    name: `Broken ${tag}`, type: "POSTGRES", config: { connection: { env: `RECON_UNSET_${tag.toUpperCase()}` }, schema: "public", table: "users" },
  });
  const orders = (await api<D<{ items: { id: number }[] }>>(page, "GET", `/files?filename=${SOURCE}`)).data.items[0].id;
  const rs = await api<D<{ id: number }>>(page, "POST", "/rule-sets", {
    name: `Snapshot ${tag}`, passes: [{ name: "by id", cardinality: "ONE_TO_ONE", conditions: [{ source: "user_id", target: "order_id", operator: "EQUALS" }] }],
  });
  const stream = await api<D<{ id: number }>>(page, "POST", "/streams", {
    name: `Broken snapshot ${tag}`, triggerType: "MANUAL",
    steps: [{ stepOrder: 1, name: "Snapshot vs orders", sourceInput: { type: "DATA_SOURCE_SNAPSHOT", id: ds.data.id }, targetInput: { type: "FILE", id: orders }, ruleSetId: rs.data.id, config: { maxRetries: 1, continueOnFailure: false } }],
  });
  await page.goto(`/streams/${stream.data.id}`);
  await expect(page.getByRole("table", { name: "steps" })).toContainText(`snapshot of Broken ${tag} (data source #${ds.data.id})`);
  // Enter in the reason runs it, as Run now does
  await page.getByLabel("Reason for the run").fill("month-end close, second try");
  await page.getByLabel("Reason for the run").press("Enter");
  await expect(page).toHaveURL(/\/runs\/\d+$/);
  await expect(page.locator(".kv")).toContainText("reason: month-end close, second try");
  await expect(page.locator("h1 .badge")).toHaveAttribute("data-status", "FAILED", { timeout: 120_000 });
  const step = page.getByRole("list", { name: "step runs" }).locator('li[data-step="1"]');
  await expect(step).toHaveAttribute("data-status", "FAILED");
  await expect(step).toContainText("attempt 2 of 2");
  await expect(step.locator(".field-error")).toContainText("is not set");
  await step.getByText("2 attempts").click();
  await expect(step.locator("details li")).toHaveCount(2);
  await expect(page.getByRole("alert").first()).toContainText("failed");
  await shot(page, "streams-run-failed");
});

test("a data source of the CDC catalog, tested from the console", async ({ page }) => {
  await signIn(page, "/data-sources");
  await expect(page).toHaveTitle("Data sources · recon");
  await page.getByRole("button", { name: "New data source" }).click();
  await page.locator("input[name=name]").fill(`Users CDC ${tag}`);
  await page.getByRole("button", { name: "Create" }).click();
  // the API names the missing table at its field
  await expect(page.locator('.field-error[data-field^="config"]').first()).toBeVisible();
  await page.locator('select[name="config.table"]').selectOption("users");
  await expect(page.locator('.field-error[data-field^="config"]')).toHaveCount(0);
  await page.getByRole("button", { name: "Create" }).click();
  const row = page.locator(`tr[data-datasource="Users CDC ${tag}"]`);
  await expect(row).toBeVisible();
  await row.getByRole("button", { name: "Test" }).click();
  await expect(row.locator("[data-test-ok]")).toHaveAttribute("data-test-ok", "yes");
  await expect(row.getByRole("status")).toContainText("user_id");
  await shot(page, "streams-data-sources");
  // an unused data source can be deleted (one a stream uses answers 409 naming the streams)
  page.once("dialog", (d) => d.accept());
  await row.getByRole("button", { name: "Delete" }).click();
  await expect(row).toHaveCount(0);
});

test("a data source edited from the console: the API's complaint at its field, then saved with PUT", async ({ page }) => {
  await signIn(page, "/data-sources");
  type D<T> = { data: T };
  const name = `Edit me ${tag}`;
  const ds = await api<D<{ id: number }>>(page, "POST", "/data-sources", { name, type: "POSTGRES", config: { schema: "public", table: "users" } });
  await page.reload();
  const row = page.locator(`tr[data-datasource="${name}"]`);
  await row.getByRole("button", { name: `Edit ${name}` }).click();
  const form = page.getByRole("form", { name: `edit data source ${name}` });
  // the create form, prefilled with what is stored
  await expect(form.locator("input[name=name]")).toHaveValue(name);
  await expect(form.locator("input[name=name]")).toBeFocused();
  await expect(form.locator('select[name="type"]')).toHaveValue("POSTGRES");
  await expect(form.locator('input[name="config.schema"]')).toHaveValue("public");
  await expect(form.locator('input[name="config.table"]')).toHaveValue("users");
  // a connection string where the variable's name belongs: the API names the field, the console shows it there
  await form.getByLabel("Credentials").selectOption("env");
  const env = form.locator('input[name="config.connection.env"]');
  await env.fill("postgresql://oms:hunter2@db/oms");
  await form.getByRole("button", { name: "Save" }).click();
  const complaint = form.locator('.field-error[data-field="config.connection.env"]');
  await expect(complaint).toContainText("environment variable name");
  await expect(env).toHaveAttribute("aria-invalid", "true");
  expect((await api<D<{ config: Record<string, unknown> }>>(page, "GET", `/data-sources/${ds.data.id}`)).data.config).toEqual({ schema: "public", table: "users" });
  // back to the service's database, another table: saved, the row shows it, the API has it
  await form.getByLabel("Credentials").selectOption("");
  await form.locator('input[name="config.table"]').fill("orders");
  // saved from the keyboard: the form goes, and the focus goes back to the row's Edit
  await form.getByRole("button", { name: "Save" }).press("Enter");
  await expect(form).toHaveCount(0);
  await expect(row.getByRole("button", { name: `Edit ${name}` })).toBeFocused();
  await expect(row).toContainText('"table":"orders"');
  const stored = (await api<D<{ config: Record<string, unknown>; createdAt: string; updatedAt: string }>>(page, "GET", `/data-sources/${ds.data.id}`)).data;
  expect(stored.config).toEqual({ schema: "public", table: "orders" });
  // the row says it was changed when the API's times (to the second) differ: an edit within the second of
  // the creation reads as unchanged there too
  if (stored.updatedAt !== stored.createdAt) await expect(row).toContainText("changed");
  else await expect(row).not.toContainText("changed");
  await row.getByRole("button", { name: "Test" }).press("Enter");
  await expect(row.locator("[data-test-ok]")).toHaveAttribute("data-test-ok", "yes");
  await expect(row.getByRole("status")).toContainText("order_id");
  await expect(row.getByRole("button", { name: "Test" })).toBeFocused(); // kept while testing
  await api(page, "DELETE", `/data-sources/${ds.data.id}`);
});

test("a key that stops working while a data source is edited: a key is asked for over the form, the edit kept and saved with it", async ({ page }) => {
  await signIn(page, "/data-sources");
  type D<T> = { data: T };
  const name = `Key rotated ${tag}`;
  const ds = await api<D<{ id: number }>>(page, "POST", "/data-sources", { name, type: "POSTGRES", config: { schema: "public", table: "users" } });
  await page.reload();
  const row = page.locator(`tr[data-datasource="${name}"]`);
  await row.getByRole("button", { name: `Edit ${name}` }).press("Enter");
  const form = page.getByRole("form", { name: `edit data source ${name}` });
  await form.locator('input[name="config.table"]').fill("orders");
  // meanwhile the key is rotated: the one this browser holds is refused (401) by the API
  await page.evaluate(() => sessionStorage.setItem("recon.apiKey", "rotated-away"));
  await form.getByRole("button", { name: "Save" }).press("Enter");
  const dialog = page.getByRole("dialog", { name: "Sign in again" });
  await expect(dialog).toBeVisible();
  await expect(page).toHaveURL(/\/data-sources$/); // not sent to the sign-in page
  await expect(form.locator('input[name="config.table"]')).toHaveValue("orders");
  await expect(form.getByRole("alert").first()).toContainText("refused the key");
  const field = dialog.getByLabel("API key");
  await expect(field).toBeFocused();
  expect((await api<D<{ config: Record<string, unknown> }>>(page, "GET", `/data-sources/${ds.data.id}`)).data.config).toEqual({ schema: "public", table: "users" });
  await field.fill("still-not-a-key");
  await field.press("Enter");
  await expect(dialog.getByRole("alert")).toContainText("not valid");
  await field.fill(apiKey());
  await field.press("Enter");
  await expect(dialog).toHaveCount(0);
  // back on Save, the edit as it was: saved with the new key
  await expect(form.getByRole("button", { name: "Save" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(form).toHaveCount(0);
  await expect(row).toContainText('"table":"orders"');
  expect((await api<D<{ config: Record<string, unknown> }>>(page, "GET", `/data-sources/${ds.data.id}`)).data.config).toEqual({ schema: "public", table: "orders" });
  await api(page, "DELETE", `/data-sources/${ds.data.id}`);
});

test("long unbroken values (a composite key, a token) wrap inside the window on the exceptions pages", async ({ page }) => {
  await signIn(page, "/exceptions");
  type D<T> = { data: T };
  const key = `TENANT-42|${"9f86d081884c7d659a2feaa0c55ad015".repeat(6)}`;
  const token = "eyJhbGciOiJIUzI1NiJ9" + "Q".repeat(300);
  const upload = async (name: string, body: string) => {
    const res = await page.request.post(`/api/v1/files?filename=${name}`, { headers: { Authorization: `Bearer ${apiKey()}`, "Content-Type": "text/csv" }, data: Buffer.from(body) });
    expect(res.status(), await res.text()).toBe(201);
    const id = ((await res.json()) as D<{ id: number }>).data.id;
    await expect.poll(async () => (await api<D<{ status: string }>>(page, "GET", `/files/${id}`)).data.status, { timeout: 60_000 }).toBe("READY");
    return id;
  };
  const source = await upload(`long_source_${tag}.csv`, `ref,memo\nA-1,short\n${key},${token}\n`);
  const target = await upload(`long_target_${tag}.csv`, "ref,memo\nA-1,short\n");
  const rs = await api<D<{ id: number }>>(page, "POST", "/rule-sets", { name: `By ref ${tag}`, sourceKey: "ref", targetKey: "ref", passes: [{ name: "ref", cardinality: "ONE_TO_ONE", conditions: [{ source: "ref", target: "ref", operator: "EQUALS" }] }] });
  const rec = await api<D<{ id: number }>>(page, "POST", "/reconciliations", { name: `Long values ${tag}`, sourceFileId: source, targetFileId: target, ruleSetId: rs.data.id });
  await api(page, "POST", `/reconciliations/${rec.data.id}/start`);
  const finished = async () => {
    const s = (await api<D<{ status: string }>>(page, "GET", `/reconciliations/${rec.data.id}`)).data;
    return ["COMPLETED", "FAILED", "CANCELED"].includes(s.status) ? JSON.stringify(s) : "running";
  };
  await expect.poll(finished, { timeout: 120_000 }).not.toBe("running");
  expect(JSON.parse(await finished())).toMatchObject({ status: "COMPLETED", exceptionCount: 1 });
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  await page.goto(`/exceptions?reconciliationId=${rec.data.id}`);
  const row = page.locator("table[aria-label=exceptions] tbody tr");
  await expect(row).toHaveCount(1);
  await expect(row).toContainText(key);
  expect(await fits()).toBe(true);
  await row.getByRole("link").first().click();
  await expect(page.locator("h1")).toContainText(key); // the heading and the breadcrumb name the whole key
  await expect(page.getByRole("table", { name: "row data" })).toContainText(token);
  expect(await fits()).toBe(true);
});

// A phone: a long name or key without spaces (a file, a stream, a rule set, a reconciliation, a composite key)
// takes at most three lines of 11rem in its table's cell, cut with an ellipsis, instead of widening the table (a
// 130-character file name made the files' table 1,314 px wide: the row's status off screen) or being squeezed a
// character a line (a key 48 px wide, its row 828 px tall); the whole value is its title, its text (read out
// whole) and the heading of the page its row links to.
test("in a window 360 px wide long names and keys take at most three lines of their cell, the whole value reachable", async ({ page }) => {
  type D<T> = { data: T };
  await page.setViewportSize({ width: 360, height: 800 });
  await signIn(page, "/files");
  const long = `settlement_export_2026-12-02_marketplace_EU-west_partner_ACME_GmbH_payouts_against_bank_statement_DE89370400440532013000_${tag}`;
  const key = `TENANT-42|${"9f86d081884c7d659a2feaa0c55ad015".repeat(6)}`;
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  // the upload's own line wraps the name inside the window
  const sourceName = `${long}_source.csv`;
  await uploadOne(page, sourceName, `ref,memo\nA-1,short\n${key},x\n`);
  expect(await fits()).toBe(true);
  const res = await page.request.post(`/api/v1/files?filename=${long}_target.csv`, { headers: { Authorization: `Bearer ${apiKey()}`, "Content-Type": "text/csv" }, data: Buffer.from("ref,memo\nA-1,short\n") });
  expect(res.status(), await res.text()).toBe(201);
  const target = ((await res.json()) as D<{ id: number }>).data.id;
  const source = (await api<D<{ items: { id: number }[] }>>(page, "GET", `/files?filename=${encodeURIComponent(sourceName)}`)).data.items[0].id;
  await expect.poll(async () => (await api<D<{ status: string }>>(page, "GET", `/files/${target}`)).data.status, { timeout: 60_000 }).toBe("READY");
  const rsName = `${long}_rules`;
  const rs = await api<D<{ id: number }>>(page, "POST", "/rule-sets", { name: rsName, sourceKey: "ref", targetKey: "ref", passes: [{ name: "ref", cardinality: "ONE_TO_ONE", conditions: [{ source: "ref", target: "ref", operator: "EQUALS" }] }] });
  const recName = `${long}_reconciliation`;
  const rec = await api<D<{ id: number }>>(page, "POST", "/reconciliations", { name: recName, sourceFileId: source, targetFileId: target, ruleSetId: rs.data.id });
  await api(page, "POST", `/reconciliations/${rec.data.id}/start`);
  const streamName = `${long}_stream`;
  const stream = await api<D<{ id: number }>>(page, "POST", "/streams", { name: streamName, triggerType: "MANUAL", steps: [{ stepOrder: 1, name: `${long}_step`, sourceInput: { type: "FILE", id: source }, targetInput: { type: "FILE", id: target }, ruleSetId: rs.data.id }] });
  await expect.poll(async () => (await api<D<{ status: string }>>(page, "GET", `/reconciliations/${rec.data.id}`)).data.status, { timeout: 120_000 }).toBe("COMPLETED");

  /**
   * At most three lines of at most 11rem (154 px), the whole value its text and its title; in the row's first columns
   * (`onScreen`), inside the window: the cells after it are not pushed out of sight.
   */
  const oneLine = async (where: string, el: ReturnType<Page["locator"]>, value: string, onScreen = true) => {
    await expect(el, where).toHaveText(value);
    await expect(el, where).toHaveAttribute("title", value);
    const box = (await el.boundingBox())!;
    expect(box.height, `${where}: ${value} takes ${box.height} px`).toBeLessThan(70);
    expect(box.width, `${where}: ${value} is ${box.width} px wide`).toBeLessThanOrEqual(155);
    if (onScreen) expect(box.x + box.width, `${where}: ${value} ends at ${box.x + box.width} px`).toBeLessThanOrEqual(360);
    expect(await fits(), `${where}: the page is wider than the window`).toBe(true);
  };
  // an INVALID file's reason on its row reads as a sentence, not a word a line
  const invalid = await page.request.post(`/api/v1/files?filename=${long}_noheader.csv`, { headers: { Authorization: `Bearer ${apiKey()}`, "Content-Type": "text/csv" }, data: Buffer.from("ORD-1,10.50,2026-02-20\nORD-2,11.00,2026-02-21\n") });
  expect(invalid.status(), await invalid.text()).toBe(201);
  const invalidId = ((await invalid.json()) as D<{ id: number }>).data.id;
  await expect.poll(async () => (await api<D<{ status: string }>>(page, "GET", `/files/${invalidId}`)).data.status, { timeout: 60_000 }).toBe("INVALID");
  await page.goto("/files?filename=settlement_export_2026-12-02");
  const reason = (await page.locator(`tr[data-file="${long}_noheader.csv"] [data-file-error]`).boundingBox())!;
  expect(reason.width, `the INVALID file's reason is ${reason.width} px wide`).toBeGreaterThanOrEqual(135);
  expect(reason.height, `the INVALID file's reason is ${reason.height} px tall`).toBeLessThan(150);
  const fileLink = page.locator(`tr[data-file="${sourceName}"] a.long`);
  await oneLine("files", fileLink, sourceName);
  await fileLink.click();
  await expect(page.locator("h1")).toContainText(sourceName); // the whole name, wrapped in the window
  expect(await fits()).toBe(true);
  await page.goto("/rule-sets"); // newest first
  await oneLine("rule sets", page.locator(`tr[data-ruleset="${rsName}"] a.long`), rsName);
  await page.goto("/reconciliations");
  await oneLine("reconciliations", page.getByRole("link", { name: recName }), recName);
  await page.goto(`/reconciliations/${rec.data.id}`);
  await oneLine("reconciliation's exceptions", page.locator("td code.long", { hasText: key }), key);
  await page.goto(`/exceptions?reconciliationId=${rec.data.id}`);
  const keyCell = page.locator("table[aria-label=exceptions] code.long");
  await oneLine("exceptions", keyCell, key);
  await page.goto("/streams"); // newest first
  await oneLine("streams", page.locator(`tr[data-stream="${streamName}"] a.long`), streamName);
  await page.goto(`/streams/${stream.data.id}`);
  const steps = page.getByRole("table", { name: "steps" });
  await oneLine("stream's steps", steps.locator("span.long"), `${long}_step`);
  await oneLine("stream's steps", steps.getByRole("link", { name: rsName }), rsName, false); // its fifth column
  // from the keyboard: each link Tab reaches in the steps' table (wider than the window) is scrolled wholly into sight
  await steps.evaluate((t: HTMLElement) => { t.tabIndex = -1; t.focus(); }); // the next Tab: the table's first link
  const seen: string[] = [];
  for (let i = 0; i < 4; i++) {
    await page.keyboard.press("Tab");
    const at = await page.evaluate(() => {
      const el = document.activeElement as HTMLElement;
      const b = el.getBoundingClientRect();
      return el.closest("table[aria-label=steps]") ? `${el.textContent} ${Math.round(b.left)}..${Math.round(b.right)}` : null;
    });
    if (!at) break;
    seen.push(at);
    const [left, right] = at.slice(at.lastIndexOf(" ") + 1).split("..").map(Number);
    expect(left >= 0 && right <= 360, `${at}: out of the 360 px window`).toBe(true);
  }
  expect(seen.length, seen.join("\n")).toBeGreaterThanOrEqual(3); // source, target and rule set
  // the forms offering them as choices (a step's rule set and files, a new reconciliation's) stay inside the window
  await page.goto("/streams/new");
  await expect(page.locator("select[name='steps[0].ruleSetId'] option", { hasText: rsName })).toHaveCount(1);
  expect(await fits(), "the stream editor is wider than the window").toBe(true);
  await page.goto("/reconciliations");
  await page.getByRole("button", { name: "New reconciliation" }).click();
  await expect(page.locator("select[name=ruleSetId] option", { hasText: rsName })).toHaveCount(1);
  expect(await fits(), "the new reconciliation's form is wider than the window").toBe(true);
  await api(page, "DELETE", `/streams/${stream.data.id}`);
});
