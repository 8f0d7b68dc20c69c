// The console side of `wasmux-bench console`: headless Chromium signs in,
// opens a session page (timing navigation start → first terminal paint),
// then types a burst command into the page's terminal and times BEGIN → END
// markers as xterm.js finishes parsing them.
// Environment: BASE, TOKEN, SESSION, CMD, RUNS, CHROMIUM, PLAYWRIGHT.
import { createRequire } from 'node:module';

const require = createRequire(process.env.PLAYWRIGHT + '/');
const { chromium } = require('playwright-core');
const { BASE, TOKEN, SESSION, CMD, CHROMIUM } = process.env;
const RUNS = Number(process.env.RUNS ?? 2);

async function loginUrl() {
  const r = await fetch(`${BASE}/auth/login?session=${SESSION}`, { method: 'POST', headers: { authorization: 'Bearer ' + TOKEN } });
  return (await r.json()).url;
}

const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
const out = { firstPaintMs: [], burstMs: [], bodyBytes: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  // Sign in once; later opens reuse the cookie.
  await page.goto(await loginUrl());
  await page.waitForFunction(() => window.wasmuxTerm?.firstPaint != null, null, { timeout: 60000 });
  for (let i = 0; i < 3; i++) {
    await page.goto('about:blank');
    await page.goto(`${BASE}/#/s/${SESSION}`);
    await page.waitForFunction(() => window.wasmuxTerm?.firstPaintAt != null, null, { timeout: 60000 });
    out.firstPaintMs.push(await page.evaluate(() => window.wasmuxTerm.firstPaintAt));
  }
  for (let i = 0; i < RUNS; i++) {
    const r = await page.evaluate((cmd) => new Promise((resolve, reject) => {
      const t = window.wasmuxTerm;
      const dec = new TextDecoder();
      let tail = '', began = null, body = 0;
      t.onBytes = (bytes, parsed) => {
        const text = tail + dec.decode(bytes, { stream: true });
        if (began === null) {
          const at = text.indexOf('BEGIN-MARK7f3a');
          if (at < 0) { tail = text.slice(-20); return; }
          parsed(() => { began = performance.now(); });
          body = text.length - at - 14;
          tail = text.slice(-20);
          return;
        }
        body += bytes.length;
        if (text.includes('END-MARK7f3a')) {
          t.onBytes = null;
          parsed(() => resolve({ ms: performance.now() - began, body }));
        }
        tail = text.slice(-20);
      };
      setTimeout(() => reject(new Error('burst timed out')), 300000);
      t.input(cmd + '\r');
    }), CMD);
    out.burstMs.push(r.ms);
    out.bodyBytes.push(r.body);
    await page.waitForTimeout(500); // the prompt comes back (not timed)
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
