// Drives Brook's web console in headless Debian Chromium with playwright-core.
//
//   BROOK_CONSOLE=http://127.0.0.1:8080 SCREENSHOTS=dir GROUP=billing GROUP_LAG=8 node console.mjs
//
// Creates a topic in the form (and is refused a bad one), edits a config, produces a message
// from the form and finds it in the browser, sees GROUP's lag (at least GROUP_LAG, growing
// while the caller produces) and its chart fill with samples, deletes a topic through the
// confirmation dialog. Exits non-zero on the first failed check.
// Run by crates/brook/tests/console.rs, which starts the broker and prepares GROUP.
import { check, openPage, run } from "./browser.mjs";

const base = process.env.BROOK_CONSOLE;
const shots = process.env.SCREENSHOTS || "screenshots";
const group = process.env.GROUP;
const groupLag = process.env.GROUP_LAG;
if (!base || !group || !groupLag) throw new Error("set BROOK_CONSOLE, GROUP and GROUP_LAG");
const opened = await openPage(shots);
const { page, shot, byTest } = opened;

await run(opened, "failure", async () => {
  // Overview: the broker and its totals.
  await page.goto(base);
  await byTest("brokers").waitFor();
  check((await byTest("brokers").innerText()).includes("1"), "one broker on the overview");
  check((await byTest("topics").innerText()).match(/\d/), "a topic count");
  await shot("overview");

  // Topics: a bad name is refused with Kafka's reason; a good one is created.
  await page.click('a[data-nav="topics"]');
  await byTest("new-topic").click();
  await byTest("topic-name").fill("bad name!");
  await byTest("create-topic").click();
  const refusal = page.locator('[data-testid="create-topic-form"] [role="alert"]');
  await refusal.waitFor();
  check((await refusal.innerText()).includes("INVALID_TOPIC_EXCEPTION"), "the refusal names Kafka's error");
  await byTest("topic-name").fill("web-orders");
  await byTest("topic-partitions").fill("2");
  await byTest("create-topic").click();
  await page.locator('tr[data-topic="web-orders"]').waitFor();
  await byTest("new-topic").click();
  await byTest("topic-name").fill("to-delete");
  await byTest("create-topic").click();
  await page.locator('tr[data-topic="to-delete"]').waitFor();
  await shot("topics");
  // The search box narrows the list as one types.
  await byTest("topic-search").fill("web");
  await page.locator('tr[data-topic="to-delete"]').waitFor({ state: "detached" });
  check(await page.locator('tr[data-topic="web-orders"]').isVisible(), "the search keeps matching topics");
  await byTest("topic-search").fill("");
  await page.locator('tr[data-topic="to-delete"]').waitFor();

  // A topic's page: its partitions, and a config edited in place.
  await page.click('tr[data-topic="web-orders"] a');
  await byTest("partitions-table").waitFor();
  check((await byTest("partitions-table").locator("tbody tr").count()) === 2, "two partitions listed");
  await page.fill('input[data-config="retention.ms"]', "86400000");
  await byTest("save-configs").click();
  await page.locator(".success").waitFor();
  const retentionRow = byTest("configs-table").locator("tr", { has: page.locator('input[data-config="retention.ms"]') });
  check((await retentionRow.innerText()).includes("topic override"), "retention.ms is now a topic override");
  await shot("topic");

  // Messages: produce from the form, then find the message with a key filter.
  await page.goto(`${base}/#/messages?topic=web-orders`);
  await byTest("produce-new").click();
  await byTest("produce-key").fill("customer_42");
  await byTest("produce-value").fill('{"item":"book","amount":12}');
  await page.locator('[data-testid="produce-form"] button', { hasText: "add header" }).click();
  await page.fill(".header-key", "source");
  await page.fill(".header-value", "web");
  await byTest("produce-submit").click();
  const result = byTest("produce-result");
  await result.waitFor();
  const landed = (await result.innerText()).match(/partition (\d+) at offset (\d+)/);
  check(landed, `the form reports where the message landed: ${await result.innerText()}`);
  await byTest("msg-key-filter").fill("customer_42");
  await byTest("msg-search").click();
  const row = page.locator(`tr.message[data-partition="${landed[1]}"][data-offset="${landed[2]}"]`);
  await row.waitFor();
  const value = await row.locator("td.value").innerText();
  check(value.includes('"amount": 12') && value.toLowerCase().includes("json"), `the value is shown as pretty JSON: ${value}`);
  check((await row.locator("td.key").innerText()).includes("customer_42"), "the key is shown");
  check((await row.locator("td.headers").innerText()).includes("source: web"), "the header is shown");
  await shot("messages");
  // From an offset in the message's partition, without filters: the same message.
  await byTest("msg-key-filter").fill("");
  await byTest("msg-partition").selectOption(landed[1]);
  await byTest("msg-mode").selectOption("offset");
  await byTest("msg-offset").fill(landed[2]);
  const previous = await byTest("messages-table").elementHandle();
  await byTest("msg-search").click();
  await page.waitForFunction((table) => !table.isConnected, previous); // the new answer replaced it
  await page.locator(`tr.message[data-offset="${landed[2]}"]`).waitFor();
  check((await byTest("msg-count").innerText()).startsWith("1 message"), "one message from that offset");

  // Consumer groups: the group's lag, and a chart with samples taken at different times.
  await page.click('a[data-nav="groups"]');
  await page.locator(`tr[data-group="${group}"]`).waitFor();
  await page.click(`tr[data-group="${group}"] a`);
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="lag-chart"]')?.dataset.samples) >= 5);
  const cells = await byTest("offsets-table").locator("tbody tr").first().locator("td").allInnerTexts();
  const [committed, end, lag] = cells.slice(2, 5).map((c) => Number(c.replace(/,/g, "")));
  check(lag === end - committed && lag >= Number(groupLag), `lag = end - committed >= ${groupLag}: ${cells}`);
  const total = Number((await byTest("total-lag").innerText()).replace(/\D/g, ""));
  check(total >= Number(groupLag), `total lag at least ${groupLag}: ${total}`);
  check((await byTest("lag-chart").locator("circle").count()) >= 5, "the chart plots the samples");
  await shot("group");

  // Deleting asks first; cancelling keeps the topic, confirming removes it.
  await page.click('a[data-nav="topics"]');
  await byTest("delete-to-delete").click();
  await byTest("confirm").locator("button", { hasText: "Cancel" }).click();
  check(await page.locator('tr[data-topic="to-delete"]').isVisible(), "cancel keeps the topic");
  await byTest("delete-to-delete").click();
  await byTest("confirm").locator("button", { hasText: "Delete" }).click();
  await page.locator('tr[data-topic="to-delete"]').waitFor({ state: "detached" });
  check(await page.locator('tr[data-topic="web-orders"]').isVisible(), "the other topic stays");

  console.log(`browser test passed; screenshots in ${shots}`);
});
