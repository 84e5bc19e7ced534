// Drives Brook's console behind a login (a broker with an authorizer, the console over HTTPS)
// in headless Debian Chromium with playwright-core.
//
//   BROOK_CONSOLE=https://127.0.0.1:8443 SCREENSHOTS=dir node login.mjs
//
// Expects the SASL users admin (a super user, password admin-secret) and bob (bob-secret, who
// may describe topic "orders" but not delete it), and the topic "orders". Checks: every page
// asks for a login, a wrong password is refused, bob cannot delete orders from the console,
// a write without the CSRF token is refused, the session cookie is Secure, HttpOnly and
// SameSite=Strict and invisible to scripts, logging out ends the session, admin deletes orders.
// Exits non-zero on the first failed check. Run by crates/brook/tests/acls.rs.
import { check, openPage, run } from "./browser.mjs";

const base = process.env.BROOK_CONSOLE;
const shots = process.env.SCREENSHOTS || "screenshots";
if (!base) throw new Error("set BROOK_CONSOLE");
// The test's certificate authority is not the browser's: accept the broker's certificate.
const opened = await openPage(shots, { ignoreHTTPSErrors: true });
const { context, page, shot, byTest } = opened;
/** What a script on the console's own page gets for a request: the status. */
const fetchStatus = (method, path, headers, body) =>
  page.evaluate(async ([method, path, headers, body]) => (await fetch(path, { method, headers, body })).status,
    [method, path, headers, body]);

async function logIn(user, password) {
  await byTest("login-user").fill(user);
  await byTest("login-password").fill(password);
  await byTest("login").click();
}

await run(opened, "login-failure", async () => {
  // Every page asks for a login first.
  await page.goto(`${base}/#/topics`);
  await byTest("login-form").waitFor();
  check(!(await page.locator('[data-testid="topics-table"]').count()), "no topics before a login");

  // A wrong password is refused, and nothing else is shown.
  await logIn("bob", "not-bobs-password");
  const refusal = page.locator('[data-testid="login-form"] [role="alert"]');
  await refusal.waitFor();
  check((await refusal.innerText()).includes("Invalid username or password"), "the refusal says why");
  await shot("login-refused");

  // bob logs in, sees orders, and may not delete it.
  await logIn("bob", "bob-secret");
  await byTest("user").waitFor();
  check((await byTest("user").innerText()) === "bob", "the header names the user");
  await page.goto(`${base}/#/topics`);
  await page.locator('tr[data-topic="orders"]').waitFor();
  await byTest("delete-orders").click();
  await byTest("confirm").locator("button.danger").click();
  const denied = page.locator('[role="alert"]', { hasText: "TOPIC_AUTHORIZATION_FAILED" });
  await denied.waitFor();
  await shot("login-delete-denied");
  await page.reload();
  await page.locator('tr[data-topic="orders"]').waitFor();

  // The session cookie: Secure, HttpOnly (no script reads it), SameSite=Strict.
  const cookies = await context.cookies();
  const sessionCookie = cookies.find((c) => c.name === "__Host-brook_session");
  check(sessionCookie, `a __Host- session cookie among ${cookies.map((c) => c.name)}`);
  check(sessionCookie.secure && sessionCookie.httpOnly && sessionCookie.sameSite === "Strict",
    `cookie flags ${JSON.stringify(sessionCookie)}`);
  check(!(await page.evaluate(() => document.cookie)).includes("brook_session"), "scripts cannot read the cookie");

  // A write with the cookie but without the CSRF token is refused, as is a non-JSON body.
  const forged = await fetchStatus("POST", "/api/topics", { "content-type": "application/json" }, '{"name":"forged"}');
  check(forged === 403, `a write without the CSRF token: ${forged}`);
  const asText = await fetchStatus("POST", "/api/topics", { "content-type": "text/plain" }, '{"name":"forged"}');
  check(asText === 415, `a text body: ${asText}`);

  // Logging out ends the session.
  await byTest("logout").click();
  await byTest("login-form").waitFor();
  const after = await fetchStatus("GET", "/api/topics", {});
  check(after === 401, `the API after logging out: ${after}`);

  // admin, a super user, deletes orders.
  await logIn("admin", "admin-secret");
  await byTest("user").waitFor();
  await page.goto(`${base}/#/topics`);
  await page.locator('tr[data-topic="orders"]').waitFor();
  await byTest("delete-orders").click();
  await byTest("confirm").locator("button.danger").click();
  await page.locator('tr[data-topic="orders"]').waitFor({ state: "detached" });
  await shot("login-admin");

  console.log("login checks passed");
});
