// The dashboard in a real browser (Debian's Chromium, driven by playwright-core):
// the page loads offline, shows the checks and their probes, and turns a probe red
// after the test stops its target. Starts its own Redis and `healthgate local`.
//
//   HEALTHGATE_BINARY=build/healthgate node tests/browser/dashboard_test.mjs
import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

const binary = process.env.HEALTHGATE_BINARY;
if (!binary) throw new Error("set HEALTHGATE_BINARY to the healthgate executable");
const CANARY = "canary-browser-7Tq2";

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(what, fn, ms) {
  const end = Date.now() + ms;
  for (;;) {
    try {
      if (await fn()) return;
    } catch {}
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let failures = 0;
function check(name, ok, detail = "") {
  console.log(`${ok ? "PASS" : "FAIL"}: ${name}${ok ? "" : "\n      | " + detail}`);
  if (!ok) failures++;
}

const dir = mkdtempSync(join(tmpdir(), "healthgate-browser-"));
const children = [];
function start(cmd, args, log) {
  const out = log ? [ "ignore", "pipe", "pipe" ] : "ignore";
  const p = spawn(cmd, args, { stdio: out });
  if (log) {
    p.stdout.on("data", (d) => (log.text += d));
    p.stderr.on("data", (d) => (log.text += d));
  }
  children.push(p);
  return p;
}

let browser;
const hgLog = { text: "" };
try {
  const redisPort = await freePort();
  const httpPort = await freePort();
  const redis = start("redis-server", ["--bind", "127.0.0.1", "--port", String(redisPort),
    "--save", "", "--appendonly", "no", "--dir", dir, "--requirepass", CANARY]);
  mkdirSync(join(dir, "secrets/shop/redis"), { recursive: true });
  writeFileSync(join(dir, "secrets/shop/redis/password"), CANARY);
  mkdirSync(join(dir, "m"));
  writeFileSync(join(dir, "m/web.yaml"), `apiVersion: healthgate.dev/v1alpha1
kind: HealthCheck
metadata: {name: web, namespace: shop}
spec:
  interval: 500ms
  timeout: 300ms
  failureThreshold: 1
  probes:
  - name: cache
    redis: {host: 127.0.0.1, port: ${redisPort}, passwordSecretRef: {name: redis, key: password}}
  - name: optional
    critical: false
    tcp: {host: 127.0.0.1, port: ${redisPort}}
`);
  start(binary, ["local", "-f", join(dir, "m"), "--secrets-dir", join(dir, "secrets"),
    "--http-address", `127.0.0.1:${httpPort}`], hgLog);
  const base = `http://127.0.0.1:${httpPort}`;
  await waitFor("healthgate /ready/shop/web", async () => (await fetch(`${base}/ready/shop/web`)).status === 200, 15000);

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  const page = await browser.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));

  const resp = await page.goto(base + "/");
  check("dashboard answers 200 with HTML", resp.status() === 200 &&
        (resp.headers()["content-type"] || "").includes("text/html"), `${resp.status()}`);

  const card = page.locator('[data-check="shop/web"]');
  await card.waitFor({ timeout: 10000 });
  check("the check is shown", await card.count() === 1);
  await page.locator('[data-check="shop/web"][data-check-state="Ready"]').waitFor({ timeout: 10000 });
  check("the check is Ready", true);
  const cache = card.locator('[data-probe="cache"]');
  await page.locator('[data-check="shop/web"] [data-probe="cache"][data-state="healthy"]').waitFor({ timeout: 10000 });
  check("the probe is healthy", true);
  const greenColor = await cache.locator(".state").evaluate((e) => getComputedStyle(e).color);

  redis.kill("SIGTERM");
  const t0 = Date.now();
  await page.locator('[data-check="shop/web"] [data-probe="cache"][data-state="unhealthy"]').waitFor({ timeout: 10000 });
  check(`the probe turns unhealthy after Redis stops (${Date.now() - t0} ms)`, true);
  await page.locator('[data-check="shop/web"][data-check-state="NotReady"]').waitFor({ timeout: 10000 });
  check("the check turns NotReady", true);
  const redColor = await cache.locator(".state").evaluate((e) => getComputedStyle(e).color);
  const [r, g] = redColor.match(/\d+/g).map(Number);
  check(`the probe is drawn red (${redColor}, was ${greenColor})`, r > 150 && g < 120 && redColor !== greenColor, redColor);
  const text = await page.content();
  check("the canary password is not on the page", !text.includes(CANARY));
  check("no request leaves the healthgate server (works offline)", external.length === 0, external.join(", "));
  check("no script errors", errors.length === 0, errors.join("; "));
  await page.screenshot({ path: join(dir, "dashboard.png"), fullPage: true });
} catch (e) {
  check("dashboard test ran to the end", false, `${e.stack}\n--- healthgate log ---\n${hgLog.text}`);
} finally {
  if (browser) await browser.close();
  for (const c of children) c.kill("SIGTERM");
  rmSync(dir, { recursive: true, force: true });
}
console.log(failures === 0 ? "dashboard_test: all passed" : `dashboard_test: ${failures} failed`);
process.exit(failures === 0 ? 0 : 1);
