// CDC reconciliation in the console: sign in, trigger a CHECKSUM job, watch it complete with the
// demo data's injected drift, open a mismatch (rows side by side, differing fields marked), resolve it.
// Needs demo data loaded with a manifest (DEMO_MANIFEST): test_console.py loads it.
import { readFileSync } from "node:fs";
import { expect, test } from "@playwright/test";
import { api, apiKey, shot, signIn } from "./helpers";

interface Manifest {
  tables: Record<string, { cassandra_rows: number; MISSING_IN_POSTGRES: number; MISSING_IN_CASSANDRA: number; DATA_MISMATCH: number }>;
  drift: { table: string; type: string; key: Record<string, string> }[];
}
const manifest = (): Manifest => JSON.parse(readFileSync(process.env.DEMO_MANIFEST ?? "", "utf8"));

test.describe.configure({ mode: "serial" });

test("a wrong key is refused at the key field, the right one signs in", async ({ page }) => {
  await page.goto("/cdc/jobs?status=COMPLETED");
  await expect(page).toHaveURL(/\/login/);
  await expect(page).toHaveTitle("Sign in · recon");
  await page.getByLabel("API key").fill("not-a-key");
  await page.keyboard.press("Enter"); // keyboard only
  await expect(page.locator("#api-key-error")).toContainText("not valid");
  await expect(page.getByLabel("API key")).toHaveAttribute("aria-invalid", "true");
  await page.getByLabel("API key").fill(apiKey());
  await page.keyboard.press("Enter");
  // back where the person wanted to go, filters intact
  await expect(page).toHaveURL(/\/cdc\/jobs\?status=COMPLETED/);
  await expect(page.getByLabel("Status")).toHaveValue("COMPLETED");
  // the key lives in sessionStorage only
  expect(await page.evaluate(() => window.localStorage.length)).toBe(0);
  expect(await page.evaluate(() => window.sessionStorage.getItem("recon.apiKey"))).toBe(apiKey());
});

test("trigger a CHECKSUM job, watch it complete with the demo drift, resolve a mismatch", async ({ page }) => {
  const m = manifest();
  const users = m.tables.users;
  const expected = users.MISSING_IN_POSTGRES + users.MISSING_IN_CASSANDRA + users.DATA_MISMATCH;
  await signIn(page, "/cdc/trigger");
  await expect(page).toHaveTitle("Trigger a reconciliation · recon");
  await page.getByRole("checkbox", { name: "users" }).check();
  await page.getByRole("radio", { name: /CHECKSUM/ }).check();
  await page.getByLabel("Priority").selectOption("HIGH");
  await page.getByRole("button", { name: "Start" }).click();
  await expect(page).toHaveURL(/jobs=/);
  const card = page.locator(".job-progress").first();
  await expect(card).toBeVisible();
  // a bar while the job runs (it may be over before the first read: then none, as for any finished job)
  await expect(page.getByRole("progressbar", { name: "users progress" }).or(card.locator("[data-status=COMPLETED]"))).toBeVisible();
  // the job runs through the real workers: poll the page (it polls the API) with a deadline
  await expect(card).toHaveAttribute("data-status", "COMPLETED", { timeout: 240_000 });
  await expect(card.getByRole("progressbar")).toHaveCount(0);
  await expect(card).toContainText(`${expected} mismatches`);
  const drift = Number(((100 * expected) / users.cassandra_rows).toFixed(3));
  await expect(card.getByTestId("job-drift")).toHaveText(`${drift} %`);
  await shot(page, "cdc-trigger");

  // job detail: the mismatch summary by type, equal to what was injected
  await card.getByRole("link", { name: "Open the job" }).click();
  await expect(page).toHaveTitle(/Job users completed/);
  for (const t of ["MISSING_IN_POSTGRES", "MISSING_IN_CASSANDRA", "DATA_MISMATCH"] as const) {
    await expect(page.locator(`tr[data-type=${t}] td.r`)).toHaveText(String(users[t]));
  }
  await shot(page, "cdc-job-detail");

  // the data mismatches of this job, one opened: rows side by side, the differing column marked
  await page.locator("tr[data-type=DATA_MISMATCH]").getByRole("link", { name: "browse" }).click();
  await expect(page).toHaveURL(/mismatch_type=DATA_MISMATCH/);
  await expect(page.locator("select#mismatch_type")).toHaveValue("DATA_MISMATCH");
  const rows = page.locator("table[aria-label=mismatches] tbody tr");
  await expect(rows).toHaveCount(users.DATA_MISMATCH);
  const injected = new Set(m.drift.filter((d) => d.table === "users" && d.type === "DATA_MISMATCH").map((d) => d.key.user_id));
  const first = rows.first();
  const key = (await first.locator("code").textContent())!.trim();
  expect(injected.has(key)).toBe(true);
  // chosen from the keyboard: the comparison (after every row in the tab order) takes the focus
  await first.getByRole("button").focus();
  await page.keyboard.press("Enter");
  await expect(page).toHaveURL(/selected=/);
  await expect(page.getByRole("article", { name: "mismatch detail" }).locator("h2")).toBeFocused();
  const compare = page.getByRole("table", { name: "row comparison" });
  await expect(compare).toBeVisible();
  const differing = compare.locator("tr[data-differs=yes]");
  expect(await differing.count()).toBeGreaterThan(0);
  // a differing column shows two different values; an equal one the same value twice
  const d0 = differing.first().locator("td");
  expect(await d0.nth(0).textContent()).not.toBe(await d0.nth(1).textContent());
  const same = compare.locator("tr[data-differs=no]").first().locator("td");
  expect(await same.nth(0).textContent()).toBe(await same.nth(1).textContent());
  await shot(page, "cdc-mismatch");

  // resolve it with a note, from the keyboard: the notes are a few Tab presses from the comparison's heading
  const notes = page.getByLabel("Notes");
  for (let i = 0; i < 4 && !(await notes.evaluate((e) => e === document.activeElement)); i++) await page.keyboard.press("Tab");
  await expect(notes).toBeFocused();
  await page.keyboard.type("Re-synced from Cassandra by the on-call engineer");
  await page.keyboard.press("Tab");
  await expect(page.getByRole("button", { name: "Mark resolved" })).toBeFocused();
  await page.keyboard.press("Enter");
  await expect(page.getByRole("status")).toContainText(/marked manual resolved/i);
  // the form is gone with the button pressed: the focus is back on the comparison, not at the top of the page
  await expect(page.locator("article[aria-label='mismatch detail'] h2")).toBeFocused();
  await expect(first.locator(".badge[data-status=MANUAL_RESOLVED]")).toBeVisible();
  const id = await first.getAttribute("data-mismatch");
  const body = await api<{ mismatches: { mismatch_id: string; resolution_status: string; resolution_notes: string }[] }>(page, "GET", `/reconciliation/mismatches?table=users&resolution_status=MANUAL_RESOLVED&page_size=100`);
  const resolved = body.mismatches.find((x) => x.mismatch_id === id);
  expect(resolved?.resolution_notes).toBe("Re-synced from Cassandra by the on-call engineer");

  // the back button walks back through the filters kept in the URL
  await page.goBack();
  await expect(page).not.toHaveURL(/selected=/);
  await expect(page.locator("select#mismatch_type")).toHaveValue("DATA_MISMATCH");

  // every data mismatch of the job as CSV, named with the filters: the API's fields, the one resolved above with its note
  const [dl] = await Promise.all([page.waitForEvent("download"), page.getByRole("button", { name: `Download CSV (${users.DATA_MISMATCH})` }).click()]);
  expect(dl.suggestedFilename()).toMatch(/^mismatches-.*mismatch_type-DATA_MISMATCH.*-\d{8}T\d{4}Z\.csv$/);
  const lines = readFileSync((await dl.path())!, "utf8").replace(/^\uFEFF/, "").trim().split("\r\n");
  expect(lines).toHaveLength(users.DATA_MISMATCH + 1);
  expect(lines[0].startsWith("mismatch_id,job_id,table_name,primary_key_value,mismatch_type,differing_columns,")).toBe(true);
  for (const k of injected) expect(lines.filter((l) => l.includes(`,users,${k},DATA_MISMATCH,`))).toHaveLength(1);
  expect(lines.find((l) => l.startsWith(`${id},`))).toContain(",MANUAL_RESOLVED,Re-synced from Cassandra by the on-call engineer,");

  // the job's rows missing in Cassandra, ticked and ignored at once with one note (checked through the API)
  await page.locator("select#mismatch_type").selectOption("MISSING_IN_CASSANDRA");
  await expect(rows).toHaveCount(users.MISSING_IN_CASSANDRA);
  await page.getByLabel("select every mismatch of this page").check();
  await page.getByLabel("Note for all of them").fill("Deleted in Cassandra on purpose; PostgreSQL keeps history");
  await page.getByRole("button", { name: `Ignore ${users.MISSING_IN_CASSANDRA} (expected)` }).click();
  await expect(page.locator("[data-bulk-result]")).toHaveText(`Marked ${users.MISSING_IN_CASSANDRA} of ${users.MISSING_IN_CASSANDRA} ignored.`);
  const jobId = new URL(page.url()).searchParams.get("job_id")!;
  const ignored = await api<{ mismatches: { resolution_status: string; resolution_notes: string }[] }>(page, "GET", `/reconciliation/mismatches?job_id=${jobId}&mismatch_type=MISSING_IN_CASSANDRA&page_size=100`);
  expect(ignored.mismatches.map((x) => `${x.resolution_status} ${x.resolution_notes}`)).toEqual(
    Array(users.MISSING_IN_CASSANDRA).fill("IGNORED Deleted in Cassandra on purpose; PostgreSQL keeps history"),
  );
});

test("overview, job list filters and paging in the URL, drift chart", async ({ page }) => {
  await signIn(page, "/");
  await expect(page).toHaveTitle("CDC overview · recon");
  const users = page.locator(".table-card[data-table=users]");
  await expect(users.locator(".badge[data-status=COMPLETED]")).toBeVisible();
  await expect(users).toContainText("CHECKSUM".toLowerCase());
  await shot(page, "cdc-overview");

  await page.getByRole("link", { name: "Jobs", exact: true }).click();
  await page.getByLabel("Table").selectOption("users");
  await expect(page).toHaveURL(/table=users/);
  await page.getByLabel("Status").selectOption("COMPLETED");
  await expect(page).toHaveURL(/status=COMPLETED/);
  await page.locator("select#job_type").selectOption("MANUAL_ONDEMAND");
  await expect(page.locator("table[aria-label=jobs] tbody tr").first()).toContainText("users");
  await shot(page, "cdc-jobs");
  await page.goBack();
  await expect(page.locator("select#job_type")).toHaveValue("");
  await expect(page.getByLabel("Status")).toHaveValue("COMPLETED");
  // a filter that matches nothing says so and how to get out of it (no job was created before 2000)
  await page.getByLabel("Status").selectOption("FAILED");
  // a date is typed in UTC as the API writes it (whatever the browser's locale), applied on Enter
  await page.getByLabel("to (UTC)").fill("2000-01-01");
  await page.getByLabel("to (UTC)").press("Enter");
  await expect(page).toHaveURL(/to_date=2000-01-01(&|$)/);
  await expect(page.locator(".empty")).toContainText("No job matches these filters");

  await page.goto("/cdc/tables/users");
  await expect(page).toHaveTitle("Drift of users · recon");
  await expect(page.locator(".chart canvas")).toBeVisible();
  await shot(page, "cdc-drift-chart");
  // one strategy's jobs only, kept in the URL (a SAMPLE's drift is not the table's)
  await page.getByLabel("Strategy").selectOption("CHECKSUM");
  await expect(page).toHaveURL(/strategy=CHECKSUM/);
  const strategies = await page.locator("table[aria-label='completed jobs'] tbody tr td:nth-child(2)").allTextContents();
  expect(strategies.length).toBeGreaterThan(0);
  expect(new Set(strategies)).toEqual(new Set(["CHECKSUM"]));
});
