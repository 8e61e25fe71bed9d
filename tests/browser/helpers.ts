import { readFileSync } from "node:fs";
import path from "node:path";
import { expect, type Page } from "@playwright/test";

export const ROOT = path.resolve(__dirname, "..", "..");
export const SHOTS = path.join(ROOT, "docs", "screenshots");

export function apiKey(): string {
  const file = process.env.API_KEY_FILE ?? path.join(process.env.STACK_DIR ?? path.join(ROOT, ".local", "test"), "api-key");
  return readFileSync(file, "utf8").trim();
}

/** Signs in through the login form, as a person does. */
export async function signIn(page: Page, target = "/") {
  await page.goto(target);
  await expect(page).toHaveURL(/\/login/);
  await page.getByLabel("API key").fill(apiKey());
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("button", { name: "Sign out" })).toBeVisible(); // the menu's links may be behind its button (a narrow window)
}

/** A screenshot for docs/screenshots (only when SCREENSHOTS=1, so that test runs do not rewrite docs). */
export async function shot(page: Page, name: string) {
  if (process.env.SCREENSHOTS !== "1") return;
  await page.waitForLoadState("networkidle").catch(() => {});
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false, animations: "disabled" });
}

/** Direct API calls with the key, for checks a person would make with curl. */
export async function api<T = unknown>(page: Page, method: string, p: string, body?: unknown): Promise<T> {
  const res = await page.request.fetch(`/api/v1${p}`, {
    method,
    headers: { Authorization: `Bearer ${apiKey()}`, ...(body !== undefined ? { "Content-Type": "application/json" } : {}) },
    data: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (!res.ok()) throw new Error(`${method} ${p} -> ${res.status()}: ${text}`);
  return (text ? JSON.parse(text) : null) as T;
}
