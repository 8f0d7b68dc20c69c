// Browser scenarios for the console, run by tests/e2e/console.rs:
//   node console.mjs <scenario>
// Environment: BASE (daemon URL), TOKEN, SESSION, TMUX_SOCKET, SHOTS (dir),
// CHROMIUM (browser path), PLAYWRIGHT (dir holding node_modules).
// Prints one JSON object on stdout; a failed expectation throws (exit 1).

import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import net from 'node:net';

const require = createRequire(process.env.PLAYWRIGHT + '/');
const { chromium } = require('playwright-core');
const { BASE, TOKEN, SESSION, TMUX_SOCKET, SHOTS, CHROMIUM } = process.env;
const LONG = 30000;

async function rest(method, path, body) {
  const res = await fetch(BASE + path, {
    method,
    headers: { authorization: 'Bearer ' + TOKEN, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

async function loginUrl(session, base = BASE) {
  const res = await fetch(base + '/auth/login' + (session ? '?session=' + session : ''), {
    method: 'POST', headers: { authorization: 'Bearer ' + TOKEN },
  });
  return (await res.json()).url;
}

// A TCP forwarder in front of the daemon: the page's network. `drop()`
// cuts every connection and refuses new ones until `restore()`.
async function cable() {
  const target = new URL(BASE);
  const open = new Set();
  let down = false;
  const server = net.createServer((c) => {
    if (down) { c.destroy(); return; }
    const u = net.connect(Number(target.port), target.hostname);
    open.add(c); open.add(u);
    c.pipe(u); u.pipe(c);
    const end = () => { c.destroy(); u.destroy(); open.delete(c); open.delete(u); };
    c.on('error', end); u.on('error', end); c.on('close', end); u.on('close', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    base: `http://127.0.0.1:${server.address().port}`,
    drop() { down = true; for (const s of open) s.destroy(); open.clear(); },
    restore() { down = false; },
    close() { server.close(); for (const s of open) s.destroy(); },
  };
}

function capturePane(all) {
  const argv = ['-S', TMUX_SOCKET, 'capture-pane', '-p', '-t', process.env.TMUX_TARGET].concat(all ? ['-S', '-'] : []);
  return execFileSync('tmux', argv, { encoding: 'utf8' });
}

async function until(what, fn, timeout = LONG) {
  const end = Date.now() + timeout;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
}

async function signedInPage(browser, session, base = BASE) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.on('pageerror', (e) => console.error('pageerror:', e.message));
  page.on('console', (m) => console.error('console:', m.type(), m.text()));
  await page.goto(await loginUrl(session, base));
  await page.waitForSelector('body.signed-in', { timeout: LONG });
  return { context, page };
}

const termText = (page) => page.evaluate(() => window.wasmuxTerm?.lines().join('\n') ?? '');

const scenarios = {
  // One-time URL: first use signs in, the second is refused; the cookie
  // is HttpOnly and SameSite=Strict.
  async signin(browser) {
    const url = await loginUrl();
    const a = await browser.newContext();
    const pa = await a.newPage();
    await pa.goto(url);
    await pa.waitForSelector('#sessions', { timeout: LONG });
    const cookies = await a.cookies();
    const b = await browser.newContext();
    const pb = await b.newPage();
    await pb.goto(url);
    await pb.waitForSelector('#login-error', { timeout: LONG });
    const refused = await pb.textContent('#login-error');
    const jsCookie = await pa.evaluate(() => document.cookie);
    await pa.screenshot({ path: `${SHOTS}/sessions.png` });
    // Sign-out revokes: the page shows the signed-out card and the API refuses.
    await pa.click('#signout');
    await pa.waitForSelector('#signed-out', { timeout: LONG });
    const after = await pa.evaluate(async () => (await fetch('/overview')).status);
    return { cookies, refused, jsCookie, afterSignOut: after };
  },

  // The list shows a session's state change live (a permission request
  // blocks the turn until answered, so every state is observable).
  async live(browser) {
    const { page } = await signedInPage(browser);
    const row = `.session-row[data-name="${SESSION}"]`;
    await page.waitForSelector(`${row} .state[data-state="idle"]`, { timeout: LONG });
    const seen = [];
    const msg = await rest('POST', `/sessions/${SESSION}/messages`, { text: 'write live.txt with from-the-list' });
    await until('a pending permission in the row', async () => {
      const t = await page.textContent(`${row} [data-field="permissions"]`);
      const s = await page.getAttribute(`${row} .state`, 'data-state');
      if (!seen.includes(s)) seen.push(s);
      return t.includes('1') && s !== 'idle';
    });
    const waitingState = await page.getAttribute(`${row} .state`, 'data-state');
    const preview = await page.textContent(`${row} [data-field="last"]`);
    const state = await rest('GET', `/sessions/${SESSION}/state`);
    await rest('POST', `/sessions/${SESSION}/permissions/${state.permissions[0].permissionId ?? state.permissions[0].id}`, { decision: 'allow' });
    await until('the row back to idle with no permission', async () => {
      const t = await page.textContent(`${row} [data-field="permissions"]`);
      const s = await page.getAttribute(`${row} .state`, 'data-state');
      if (!seen.includes(s)) seen.push(s);
      return t.includes('0') && s === 'idle';
    });
    const donePreview = await page.textContent(`${row} [data-field="last"]`);
    return { seen, waitingState, preview, donePreview, id: msg.id };
  },

  // Terminal: the demo prompt shows; typed text reaches the pane; a dropped
  // network resumes with nothing repeated and nothing missing.
  async terminal(browser) {
    const net = await cable();
    const { context, page } = await signedInPage(browser, SESSION, net.base);
    await page.waitForSelector('#terminal .xterm', { timeout: LONG });
    await until('the demo prompt in xterm', async () => (await termText(page)).includes('demo>')).catch(async (e) => {
      throw new Error(`${e.message}; xterm: ${JSON.stringify(await termText(page))}; link: ${await page.getAttribute('#link-status', 'data-status')}`);
    });
    const firstPaint = await page.evaluate(() => window.wasmuxTerm.firstPaint);
    await page.click('#terminal');
    await page.keyboard.type('typed-in-the-browser');
    await until('typed text in the pane', async () => capturePane(false).includes('typed-in-the-browser'));
    await page.keyboard.press('Enter');
    await until('the agent answering the typed line', async () => capturePane(false).split('\n').filter((l) => l.startsWith('demo>')).length >= 2);
    await page.screenshot({ path: `${SHOTS}/session.png` });

    net.drop();
    await context.setOffline(true);
    await until('the stream to notice the drop', async () =>
      (await page.getAttribute('#link-status', 'data-status')) === 'reconnecting');
    const m = await rest('POST', `/sessions/${SESSION}/messages`, { text: 'run `seq 1 400`' });
    await until('the offline turn to finish', async () =>
      (await rest('GET', `/sessions/${SESSION}/messages/${m.id}`)).status === 'done');
    const whileOffline = await termText(page);
    net.restore();
    await context.setOffline(false);
    await until('the stream live again', async () =>
      (await page.getAttribute('#link-status', 'data-status')) === 'live');
    await until('the burst in xterm', async () => (await termText(page)).includes('  400'));
    await until('xterm screen to match capture-pane', async () => {
      const xs = (await termText(page)).split('\n').map((l) => l.trimEnd());
      const ts = capturePane(false).split('\n').map((l) => l.trimEnd());
      while (xs.length && !xs[xs.length - 1]) xs.pop();
      while (ts.length && !ts[ts.length - 1]) ts.pop();
      const n = Math.min(xs.length, ts.length);
      return n > 0 && JSON.stringify(xs.slice(-n)) === JSON.stringify(ts.slice(-n));
    });
    const lines = (await termText(page)).split('\n').map((l) => l.trimEnd());
    const numbers = lines.map((l) => /^  (\d+)$/.exec(l)).filter(Boolean).map((x) => Number(x[1]));
    const pane = capturePane(false).split('\n').map((l) => l.trimEnd());
    const size = await page.evaluate(() => ({ cols: window.wasmuxTerm.term.cols, rows: window.wasmuxTerm.term.rows }));
    net.close();
    return { firstPaint, numbers, sawBurstOffline: whileOffline.includes('  400'), screenTail: lines.slice(-5), paneTail: pane.filter(Boolean).slice(-5), size };
  },

  // The composer sends a message; the answer shows as a bubble.
  async chat(browser) {
    const { page } = await signedInPage(browser, SESSION);
    await page.waitForSelector('#composer-text', { timeout: LONG });
    await page.fill('#composer-text', 'list the files');
    await page.press('#composer-text', 'Enter');
    await page.waitForSelector('.bubble.user:has-text("list the files")', { timeout: LONG });
    const bubble = await page.waitForSelector('.bubble.agent:has-text("I listed")', { timeout: LONG });
    const tool = await page.textContent('details.tool-call summary');
    await page.screenshot({ path: `${SHOTS}/timeline.png` });
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: `${SHOTS}/phone-timeline.png` });
    return { answer: await bubble.textContent(), tool };
  },

  // A permission card answered in one tab resolves in the other.
  async permission(browser) {
    const { context, page: one } = await signedInPage(browser, SESSION);
    const two = await context.newPage();
    await two.goto(`${BASE}/#/s/${SESSION}`);
    for (const p of [one, two]) await p.waitForSelector('#composer-text', { timeout: LONG });
    await one.fill('#composer-text', 'write perm.txt with approved-in-browser');
    await one.click('#send');
    const card = '.permission[data-resolved="false"]';
    await one.waitForSelector(card, { timeout: LONG });
    await two.waitForSelector(card, { timeout: LONG });
    await one.screenshot({ path: `${SHOTS}/permission.png` });
    await one.click(`${card} button[data-decision="allow"]`);
    await two.waitForSelector('.permission[data-resolved="allow"]', { timeout: LONG });
    await one.waitForSelector('.permission[data-resolved="allow"]', { timeout: LONG });
    return {
      here: await one.textContent('.permission[data-resolved="allow"] .verdict'),
      elsewhere: await two.textContent('.permission[data-resolved="allow"] .verdict'),
    };
  },

  // The cookie is refused cross-origin: a page on another origin
  // (localhost vs 127.0.0.1) cannot read or change anything with it.
  async crossorigin(browser) {
    const { context, page } = await signedInPage(browser);
    const cookies = await context.cookies();
    const other = BASE.replace('127.0.0.1', 'localhost');
    const evil = await context.newPage();
    await evil.goto(other + '/console/vendor/VERSIONS');
    const result = await evil.evaluate(async (base) => {
      const out = {};
      for (const [k, init] of [['get', {}], ['post', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"text":"x"}' }]]) {
        try {
          const r = await fetch(base + '/overview', { credentials: 'include', ...init });
          out[k] = 'status ' + r.status;
        } catch (e) { out[k] = 'blocked: ' + e.message; }
      }
      return out;
    }, BASE);
    const own = await page.evaluate(async () => (await fetch('/overview')).status);
    await page.goto(`${BASE}/#/plugins`);
    await page.waitForSelector('.plugin', { timeout: LONG });
    await page.screenshot({ path: `${SHOTS}/plugins.png` });
    return { cookies, result, own };
  },
};

const name = process.argv[2];
const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
try {
  const out = await scenarios[name](browser);
  process.stdout.write(JSON.stringify(out));
} finally {
  await browser.close();
}
