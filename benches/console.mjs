// The console side of `wasmux-bench console`: headless Chromium signs in,
// opens a session page (timing navigation start → first terminal paint),
// then types a burst command into the page's terminal and times BEGIN → END
// markers as xterm.js finishes parsing them.
// Environment: BASE, TOKEN, SESSION, CMD, RUNS, CHROMIUM, PLAYWRIGHT; for
// profiling, PROFILE=file (a V8 CPU profile of the bursts in `file`, each
// open's resource timing in `file.paint`) and TRACE=file (a Chromium trace
// of the bursts).
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
    if (process.env.PROFILE) {
      const entries = await page.evaluate(() => performance.getEntries().map((e) => ({ n: e.name.replace(/^https?:\/\/[^/]+/, ''), t: e.entryType, s: Math.round(e.startTime), d: Math.round(e.duration), rs: Math.round(e.responseStart ?? 0), sz: e.transferSize })));
      (await import('node:fs')).appendFileSync(process.env.PROFILE + '.paint', JSON.stringify(entries) + '\n');
    }
  }
  if (process.env.TRACE) await browser.startTracing(page, { path: process.env.TRACE, categories: ['devtools.timeline', 'v8.execute', 'blink', 'toplevel', 'disabled-by-default-devtools.timeline'] });
  let cdp = null;
  if (process.env.PROFILE) {
    cdp = await context.newCDPSession(page);
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
    await cdp.send('Profiler.start');
  }
  for (let i = 0; i < RUNS; i++) {
    const r = await page.evaluate((cmd) => new Promise((resolve, reject) => {
      const t = window.wasmuxTerm;
      // Find a marker in the byte stream without decoding every chunk: both
      // markers hold a '-', which base64 lines never do, so only the bytes
      // around each '-' (native indexOf) are compared; a marker split across
      // two chunks is found in the previous chunk's tail joined to this head.
      const enc = (s) => Array.from(s, (c) => c.charCodeAt(0));
      const BEGIN = enc('BEGIN-MARK7f3a'), END = enc('END-MARK7f3a');
      let prev = new Uint8Array(0);
      const at = (bytes, i, m) => m.every((b, k) => bytes[i + k] === b);
      // The offset in `bytes` just past `m`'s end, or null.
      const find = (bytes, m) => {
        const dash = m.indexOf(45);
        const joint = new Uint8Array(2 * (m.length - 1));
        const tail = prev.subarray(Math.max(0, prev.length - (m.length - 1)));
        joint.set(tail);
        joint.set(bytes.subarray(0, m.length - 1), tail.length);
        for (let i = 0; i + m.length <= tail.length + Math.min(bytes.length, m.length - 1); i++) {
          if (at(joint, i, m)) return i + m.length - tail.length;
        }
        for (let i = bytes.indexOf(45); i >= 0; i = bytes.indexOf(45, i + 1)) {
          if (i >= dash && at(bytes, i - dash, m)) return i - dash + m.length;
        }
        return null;
      };
      let began = null, body = 0, found = false;
      t.onBytes = (bytes, parsed) => {
        if (!found) {
          const end = find(bytes, BEGIN);
          if (end !== null) {
            found = true;
            parsed(() => { began = performance.now(); });
            body = bytes.length - end;
          }
        } else {
          body += bytes.length;
          if (find(bytes, END) !== null) {
            t.onBytes = null;
            parsed(() => resolve({ ms: performance.now() - began, body }));
          }
        }
        prev = bytes;
      };
      setTimeout(() => reject(new Error('burst timed out')), 300000);
      t.input(cmd + '\r');
    }), CMD);
    out.burstMs.push(r.ms);
    out.bodyBytes.push(r.body);
    await page.waitForTimeout(500); // the prompt comes back (not timed)
  }
  if (process.env.TRACE) await browser.stopTracing();
  if (cdp) {
    const { profile } = await cdp.send('Profiler.stop');
    (await import('node:fs')).writeFileSync(process.env.PROFILE, JSON.stringify(profile));
  }
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
