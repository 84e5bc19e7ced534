// What the console's browser tests share: headless Debian Chromium (playwright-core) with one
// page that records its script errors and any 5xx answer, and the checks they make.
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

/** Opens a page; `ignoreHTTPSErrors` accepts a certificate from the test's own CA. */
export async function openPage(shots, { ignoreHTTPSErrors = false } = {}) {
  mkdirSync(shots, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    // As root in CI, and on a machine whose outside network is closed: no sandbox, no background
    // connections to Google's services.
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors });
  const page = await context.newPage();
  const pageErrors = [];
  page.on("pageerror", (e) => pageErrors.push(e.message));
  // 4xx answers are part of the tests (refusals); a 5xx never is.
  page.on("response", (r) => { if (r.status() >= 500) pageErrors.push(`${r.status()} from ${r.url()}`); });
  page.setDefaultTimeout(15000);
  const shot = (name) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  const byTest = (id) => page.locator(`[data-testid="${id}"]`);
  return { browser, context, page, pageErrors, shot, byTest, shots };
}

export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** Runs `steps`; on failure saves `<failure>.png` and exits non-zero; always closes the browser. */
export async function run(opened, failure, steps) {
  rmSync(join(opened.shots, `${failure}.png`), { force: true });
  try {
    await steps();
    check(opened.pageErrors.length === 0, `no errors in the page: ${opened.pageErrors.join("; ")}`);
  } catch (e) {
    await opened.shot(failure).catch(() => {});
    console.error(e);
    process.exitCode = 1;
  } finally {
    await opened.browser.close();
  }
}
