// Browser tests of the console (tests/browser/), driving Debian's Chromium against a running stack:
//   CONSOLE_URL  the console (scripts/console.sh up writes it to the stack's env file)
//   API_KEY_FILE the stack's API key file
// Run through `make test` (tests/browser/test_console.py), or by hand:
//   set -a; . .local/test/env; set +a; API_KEY_FILE=.local/test/api-key npx playwright test
import { defineConfig } from "@playwright/test";

const chromium = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

export default defineConfig({
  testDir: "../tests/browser",
  testMatch: "*.spec.ts",
  outputDir: "test-results",
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 300_000,
  expect: { timeout: 15_000 },
  reporter: [["list"]],
  use: {
    baseURL: process.env.CONSOLE_URL ?? "http://127.0.0.1:3080/",
    headless: true,
    viewport: { width: 1400, height: 900 },
    acceptDownloads: true,
    trace: "off",
    screenshot: "only-on-failure",
    launchOptions: { executablePath: chromium, args: ["--no-sandbox", "--disable-dev-shm-usage"] },
  },
});
