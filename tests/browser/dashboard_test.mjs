// The gtsim ui dashboard in a real browser: Playwright (playwright-core, pinned by
// web/package-lock.json) drives Debian's chromium headless against a real 3-region cluster of
// gtsim-region processes on 127.0.0.1 (ports chosen at run time), started here and always
// stopped. Checks: the page shows 3 regions and 6 links; the "partition us-east-1 / us-west-2"
// button cuts that link and its staleness grows while us-east-1 takes writes; "heal" drains it;
// two conflicting writes (one key, two regions) show in the conflict feed. Every wait is on a
// condition with a deadline. Screenshots go to $GTSIM_ARTIFACTS (build/ui-screenshots).
//
// Run: GTSIM_BIN_DIR=build node tests/browser/dashboard_test.mjs (CTest: "ui: ...").
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const require = createRequire(path.join(root, "web/package.json"));
const bin = path.resolve(process.env.GTSIM_BIN_DIR || path.join(root, "build"));
const artifacts = path.resolve(process.env.GTSIM_ARTIFACTS || path.join(bin, "ui-screenshots"));
const chromiumPath = process.env.GTSIM_CHROMIUM || "/usr/bin/chromium";
const gtsimBin = path.join(bin, "gtsim");
const REGIONS = ["us-east-1", "us-west-2", "eu-west-1"];
const TABLE = "dash";

function fail(msg) {
  throw new Error(msg);
}
if (!existsSync(chromiumPath)) fail(`${chromiumPath} is missing: apt-get install -y chromium (tools/setup.sh does)`);
if (!existsSync(gtsimBin)) fail(`${gtsimBin} is missing: build the gtsim target`);
let chromium;
try {
  ({ chromium } = require("playwright-core"));
} catch (e) {
  fail(`playwright-core is missing: cd web && npm ci (${e.message})`);
}

const dir = mkdtempSync(path.join(tmpdir(), "gtsim-ui-test-"));
const gtsim = (...args) =>
  execFileSync(gtsimBin, [...args, "--dir", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
let ui = null, browser = null, page = null, clusterUp = false;

function cleanup() {
  if (ui && ui.exitCode === null) ui.kill("SIGTERM");
  if (clusterUp) {
    try { gtsim("down"); } catch (e) { console.error(`gtsim down: ${e.message}`); }
    clusterUp = false;
  }
  rmSync(dir, { recursive: true, force: true });
}
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => { cleanup(); process.exit(2); });
}

// Starts `gtsim ui` on a free port; resolves with its URL (the first line it prints).
function startUi() {
  return new Promise((resolve, reject) => {
    ui = spawn(gtsimBin, ["ui", "--listen", "127.0.0.1:0", "--dir", dir],
               { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    const timer = setTimeout(() => reject(new Error("gtsim ui printed no URL within 20 s")), 20000);
    ui.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/^(http:\/\/127\.0\.0\.1:\d+\/)\n/);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
    ui.on("exit", (code) => { clearTimeout(timer); reject(new Error(`gtsim ui exited (${code})`)); });
  });
}

const linkSel = (s, d) => `g.link[data-source="${s}"][data-destination="${d}"]`;
async function shot(page, name) {
  const file = path.join(artifacts, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`screenshot ${file}`);
}
async function staleness(page, s, d) {
  return Number(await page.getAttribute(linkSel(s, d), "data-staleness-ms"));
}
function step(msg) { console.log(`- ${msg}`); }

async function main() {
  mkdirSync(artifacts, { recursive: true });
  step(`cluster of ${REGIONS.join(", ")} in ${dir}`);
  gtsim("up", "--regions", REGIONS.join(","));
  clusterUp = true;
  gtsim("create-table", "--region", "us-east-1", "--table", TABLE, "--hash-key", "id:S",
        "--replicas", REGIONS.join(","));
  const url = await startUi();
  step(`gtsim ui at ${url}`);
  browser = await chromium.launch({ executablePath: chromiumPath, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  page.on("pageerror", (e) => console.error(`page error: ${e.message}`));
  await page.goto(url);

  step("3 regions and 6 links, all connected");
  await page.waitForFunction(() =>
    document.querySelectorAll('g.node[data-state="running"]').length === 3 &&
    document.querySelectorAll('g.link[data-state="connected"]').length === 6,
    null, { timeout: 30000 });
  const regions = await page.$$eval("g.node", (ns) => ns.map((n) => n.dataset.region).sort());
  if (JSON.stringify(regions) !== JSON.stringify([...REGIONS].sort())) fail(`regions drawn: ${regions}`);
  if ((await page.$$("g.link")).length !== 6) fail("not 6 links");
  if ((await page.$$('tr[data-testid="link-row"]')).length !== 6) fail("not 6 link rows");
  // A page served from the binary: uPlot loaded and drew three charts.
  if ((await page.$$(".uplot")).length !== 3) fail("the three uPlot charts are missing");
  await shot(page, "1-connected");

  step('click "partition us-east-1 / us-west-2": that link is cut both ways');
  await page.getByRole("button", { name: "partition us-east-1 / us-west-2", exact: true }).click();
  await page.waitForFunction(([a, b]) =>
    document.querySelector(a)?.dataset.state === "cut" &&
    document.querySelector(b)?.dataset.state === "cut",
    [linkSel("us-east-1", "us-west-2"), linkSel("us-west-2", "us-east-1")], { timeout: 20000 });
  // The other links still flow.
  const others = await page.$$eval('g.link[data-state="connected"]', (ls) => ls.length);
  if (others !== 4) fail(`${others} links connected during the partition, not 4`);

  step("writes on both sides: us-east-1's staleness toward us-west-2 grows");
  gtsim("put", "--region", "us-east-1", "--table", TABLE, "--item", '{"id":{"S":"k"},"v":{"S":"east"}}');
  gtsim("put", "--region", "us-west-2", "--table", TABLE, "--item", '{"id":{"S":"k"},"v":{"S":"west"}}');
  await page.waitForFunction((sel) => Number(document.querySelector(sel).dataset.stalenessMs) >= 1000,
    linkSel("us-east-1", "us-west-2"), { timeout: 20000 });
  const first = await staleness(page, "us-east-1", "us-west-2");
  await page.waitForFunction(([sel, v]) => Number(document.querySelector(sel).dataset.stalenessMs) >= v + 1000,
    [linkSel("us-east-1", "us-west-2"), first], { timeout: 20000 });
  step(`staleness ${first} ms, then ${await staleness(page, "us-east-1", "us-west-2")} ms`);
  await shot(page, "2-partitioned");

  step('click "heal": the link connects and drains (staleness 0, nothing pending)');
  await page.getByRole("button", { name: "heal", exact: true }).click();
  await page.waitForFunction(([a, b]) => [a, b].every((s) => {
    const l = document.querySelector(s);
    return l.dataset.state === "connected" && Number(l.dataset.stalenessMs) === 0 &&
      l.dataset.pending === "0";
  }), [linkSel("us-east-1", "us-west-2"), linkSel("us-west-2", "us-east-1")], { timeout: 30000 });

  step("the conflicting writes show in the conflict feed");
  await page.waitForFunction((t) =>
    [...document.querySelectorAll('li[data-testid="conflict"]')].some((li) =>
      li.dataset.table === t && li.textContent.includes('"k"') &&
      li.textContent.includes("us-east-1's write") && li.textContent.includes("discarded")),
    TABLE, { timeout: 30000 });
  const feed = await page.$$eval('li[data-testid="conflict"]', (ls) => ls.map((l) => l.textContent));
  step(`conflict feed: ${feed[0]}`);
  await shot(page, "3-healed-conflict");

  step("the other buttons: pause, delay, skew, kill, restart (each shows on the page)");
  const click = (name) => page.getByRole("button", { name, exact: true }).click();
  const waitLink = (s, d, state, text) => page.waitForFunction(([sel, st, tx]) => {
    const l = document.querySelector(sel);
    return l.dataset.state === st && (!tx || l.textContent.includes(tx));
  }, [linkSel(s, d), state, text], { timeout: 20000 });
  await click("pause eu-west-1 → us-west-2");
  await waitLink("eu-west-1", "us-west-2", "paused");
  await waitLink("us-west-2", "eu-west-1", "connected");  // one way only
  await page.getByRole("textbox", { name: "delay of us-west-2 → eu-west-1" }).fill("150ms");
  await click("delay us-west-2 → eu-west-1");
  await waitLink("us-west-2", "eu-west-1", "delayed", "delayed 150 ms");
  await page.getByRole("textbox", { name: "clock skew of us-west-2" }).fill("-300ms");
  await click("skew us-west-2");
  await page.waitForFunction(() => [...document.querySelectorAll('li[data-testid="event"]')]
    .some((li) => li.textContent.includes("fault: us-west-2 clock skewed -300ms")), null,
    { timeout: 20000 });
  await click("kill eu-west-1");
  await page.waitForFunction(() =>
    document.querySelector('g.node[data-region="eu-west-1"]').dataset.state === "stopped",
    null, { timeout: 20000 });
  await waitLink("us-east-1", "eu-west-1", "other");
  await shot(page, "4-faults");
  await click("restart eu-west-1");
  await page.waitForFunction(() =>
    document.querySelector('g.node[data-region="eu-west-1"]').dataset.state === "running",
    null, { timeout: 30000 });
  await click("heal");
  await waitLink("eu-west-1", "us-west-2", "connected");

  step("control plane: a replica added to a table shows in the event feed");
  gtsim("create-table", "--region", "us-east-1", "--table", "grow", "--hash-key", "id:S",
        "--replicas", "us-east-1,us-west-2");
  await page.waitForFunction(() => [...document.querySelectorAll('li[data-testid="event"]')]
    .some((li) => li.textContent.includes("table grow: replicas us-east-1, us-west-2")), null,
    { timeout: 30000 });
  gtsim("update-table", "--region", "us-east-1", "--table", "grow", "--add-replica", "eu-west-1");
  await page.waitForFunction(() => [...document.querySelectorAll('li[data-testid="event"]')]
    .some((li) => /table grow: replicas us-east-1, us-west-2 → .*eu-west-1/.test(li.textContent)),
    null, { timeout: 30000 });

  step("the fault API refuses bad requests and other sites");
  const post = (body, headers = {}) => page.evaluate(async ([b, h]) => {
    const r = await fetch("/api/fault", { method: "POST", body: b,
      headers: { "Content-Type": "application/json", ...h } });
    return { status: r.status, body: await r.json() };
  }, [body, headers]);
  let r = await post(JSON.stringify({ action: "kill", region: "mars-1" }));
  if (r.status !== 400 || !/mars-1/.test(r.body.error)) fail(`unknown region: ${JSON.stringify(r)}`);
  r = await post(JSON.stringify({ action: "explode" }));
  if (r.status !== 400) fail(`unknown action: ${JSON.stringify(r)}`);
  r = await post("not json");
  if (r.status !== 400) fail(`bad JSON: ${JSON.stringify(r)}`);
  const other = await fetch(new URL("api/fault", url), { method: "POST",
    headers: { "Content-Type": "application/json", Origin: "http://evil.example" },
    body: JSON.stringify({ action: "heal" }) });
  if (other.status !== 403) fail(`a foreign Origin was answered ${other.status}`);
  // DNS rebinding: a request naming another host is refused.
  const rebound = await new Promise((resolve, reject) => {
    const u = new URL("api/status", url);
    http.get({ host: "127.0.0.1", port: u.port, path: u.pathname, headers: { Host: "evil.example" } },
             (res) => { res.resume(); resolve(res.statusCode); }).on("error", reject);
  });
  if (rebound !== 403) fail(`Host: evil.example was answered ${rebound}`);
  console.log("PASS");
}

try {
  await main();
} catch (e) {
  console.error(`FAIL: ${e.stack || e.message}`);
  process.exitCode = 1;
  if (page) await shot(page, "failure").catch(() => {});
} finally {
  if (browser) await browser.close().catch(() => {});
  cleanup();
}
