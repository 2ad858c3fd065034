// Shared pieces of the end-to-end tests: a static server for dist/ on loopback,
// and headless Chromium driven by playwright-core (Debian's /usr/bin/chromium).
import { createServer } from 'node:http';
import { readFile, mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { extname, join, normalize, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = process.env.KSCOPE_DIST ?? join(ROOT, 'dist');
export const ARTIFACTS = join(process.env.CARGO_TARGET_DIR ?? join(ROOT, 'target'), 'e2e');

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
  '.css': 'text/css; charset=utf-8',
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.json': 'application/json',
};

/** Serves DIST on 127.0.0.1 at a free port. Resolves to { url, close }. */
export async function serveDist() {
  if (!existsSync(join(DIST, 'index.html'))) {
    throw new Error(`${DIST}/index.html is missing: build the app first (trunk build --release)`);
  }
  const server = createServer(async (req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    const file = join(DIST, path.endsWith('/') ? join(path, 'index.html') : path);
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
      res.end(body);
    } catch {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    }
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  return { url: `http://127.0.0.1:${port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

/** Headless Chromium with the flags this closed network needs. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
}

/** Opens the app, fails on any page error, and waits for the worker's first state. */
export async function openApp(browser, url) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  await page.goto(url);
  await page.waitForSelector('.node-card', { timeout: 30_000 });
  return { page, errors };
}

/** Simulated time shown in the status bar, in ms. */
export async function simTime(page) {
  return Number(await page.getAttribute('[data-testid=sim-time]', 'data-ms'));
}

/** Types a console line and waits until the console shows `expect` in a new entry. */
export async function runConsole(page, line, expect) {
  const before = await page.locator('[data-testid=console-output] pre').count();
  await page.fill('[data-testid=console-input]', line);
  await page.press('[data-testid=console-input]', 'Enter');
  await page.waitForFunction(
    ([n, text]) => {
      const pres = [...document.querySelectorAll('[data-testid=console-output] pre')].slice(n);
      return pres.some((p) => p.textContent.includes(text));
    },
    [before, expect],
    { timeout: 30_000 },
  );
  const pres = await page.locator('[data-testid=console-output] pre').allTextContents();
  return pres.slice(before).join('\n');
}

export async function screenshot(page, name) {
  await mkdir(ARTIFACTS, { recursive: true });
  const path = join(ARTIFACTS, name);
  await page.screenshot({ path, fullPage: false });
  return path;
}
