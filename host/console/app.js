// Entry point: sign-in from a one-time link, then a tiny hash router:
// #/ sessions, #/s/NAME a session, #/plugins plugins.

import { api, signIn, whoami, el } from './api.js';
import { showList } from './list.js';
import { showSession } from './session.js';
import { showPlugins } from './plugins.js';

const main = document.getElementById('main');
let current = null; // the shown page's { dispose() }

function signedOut(message) {
  main.replaceChildren(el('section', { class: 'card signin', id: 'signed-out' },
    el('h1', {}, 'Sign in to wasmux'),
    message ? el('p', { class: 'error', id: 'login-error' }, message) : null,
    el('p', {}, 'Run this where the daemon runs, and open the link it prints:'),
    el('pre', {}, 'wasmux open'),
    el('p', { class: 'muted' }, 'Each link works once and only for a short time.')));
}

function route() {
  current?.dispose?.();
  current = null;
  const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
  document.querySelectorAll('nav a').forEach((a) => a.classList.remove('active'));
  if (hash.startsWith('/s/')) {
    current = showSession(main, hash.slice(3));
  } else if (hash === '/plugins') {
    document.getElementById('nav-plugins').classList.add('active');
    current = showPlugins(main);
  } else {
    document.getElementById('nav-sessions').classList.add('active');
    current = showList(main);
  }
}

function setupNotifications() {
  const button = document.getElementById('notify');
  if (!('Notification' in window) || Notification.permission !== 'default') return;
  button.hidden = false;
  button.onclick = async () => {
    await Notification.requestPermission();
    button.hidden = true;
  };
}

async function start() {
  if (location.pathname === '/login') {
    const params = new URLSearchParams(location.hash.slice(1));
    const code = params.get('code');
    const session = params.get('session');
    history.replaceState(null, '', '/' + (session ? '#/s/' + encodeURIComponent(session) : ''));
    try {
      if (!code) throw new Error('this sign-in link has no code');
      await signIn(code);
    } catch (e) {
      signedOut(e.message);
      return;
    }
  } else if (!(await whoami())) {
    signedOut(null);
    return;
  }
  document.body.classList.add('signed-in');
  const out = document.getElementById('signout');
  out.hidden = false;
  out.onclick = async () => {
    await api('DELETE', '/auth/session');
    current?.dispose?.();
    out.hidden = true;
    signedOut('Signed out.');
  };
  setupNotifications();
  window.addEventListener('hashchange', route);
  route();
}

start();
