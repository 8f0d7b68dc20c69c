// A session's page: the live terminal beside the timeline, a composer
// (send, steer, abort, reset) and the queue with per-item cancel.

import { api, follow, el, attempt } from './api.js';
import { TermView } from './terminal.js';
import { Timeline } from './timeline.js';

export function showSession(main, name) {
  const path = '/sessions/' + encodeURIComponent(name);
  const state = el('span', { class: 'state', id: 'session-state' }, '…');
  const link = el('span', { class: 'link-status', id: 'link-status' }, '');
  const termBox = el('div', { class: 'term', id: 'terminal' });
  const side = el('div', { class: 'side' });
  const queue = el('ol', { class: 'queue', id: 'queue' });
  const text = el('textarea', { id: 'composer-text', rows: 2, placeholder: 'Message the agent (Enter sends, Shift+Enter for a new line)' });
  const send = async (how) => {
    const t = text.value.trim();
    if (!t) return;
    await attempt(() => api('POST', `${path}/${how === 'steer' ? 'steer' : 'messages'}`, { text: t }));
    text.value = '';
  };
  text.addEventListener('keydown', (ev) => {
    if (ev.key === 'Enter' && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); send('send'); }
  });
  const composer = el('div', { class: 'composer' }, text,
    el('div', { class: 'composer-actions' },
      el('button', { class: 'primary', id: 'send', onclick: () => send('send') }, 'Send'),
      el('button', { id: 'steer', onclick: () => send('steer') }, 'Steer'),
      el('button', { id: 'abort', onclick: () => attempt(() => api('POST', `${path}/abort`)) }, 'Abort'),
      el('button', {
        class: 'danger', id: 'reset',
        onclick: () => confirm('Restart the agent and clear the queue?') && attempt(() => api('POST', `${path}/reset`)),
      }, 'Reset')));
  const tabs = el('div', { class: 'tabs' },
    el('button', { onclick: () => main.querySelector('.session').dataset.tab = 'term' }, 'Terminal'),
    el('button', { onclick: () => main.querySelector('.session').dataset.tab = 'chat' }, 'Timeline'));
  main.replaceChildren(el('section', { class: 'session', 'data-tab': 'chat' },
    el('div', { class: 'title' }, el('a', { href: '#/' }, '←'), el('h1', {}, name), state, link),
    tabs, el('div', { class: 'panes' }, termBox, side)));
  const timeline = new Timeline(side, name);
  side.append(el('div', { class: 'queue-box' }, el('h2', {}, 'Queue'), queue), composer);

  const showState = (s) => {
    state.textContent = s.value + (s.tool ? ` · ${s.tool}` : '');
    state.title = 'source: ' + s.source;
    state.className = 'state state-' + s.value;
    state.dataset.state = s.value;
  };
  const term = new TermView(termBox, name, { onState: showState, onStatus: (s) => { link.textContent = s; link.dataset.status = s; } });

  let queueTimer = null;
  const refreshQueue = async () => {
    const s = await api('GET', `${path}/state`);
    showState(s.state);
    queue.replaceChildren(...s.queue.map((m) => el('li', { 'data-id': m.id }, m.text,
      el('button', {
        class: 'ghost small', title: 'cancel',
        onclick: () => attempt(() => api('DELETE', `${path}/messages/${encodeURIComponent(m.id)}`)),
      }, '✕'))));
    queue.parentElement.hidden = s.queue.length === 0;
  };
  refreshQueue().catch((e) => { timeline.add(el('div', { class: 'notice error' }, e.message)); });
  const es = follow(name, 0, (e) => {
    timeline.event(e);
    if (e.type === 'state') showState(e);
    if (e.type?.startsWith('message-')) { clearTimeout(queueTimer); queueTimer = setTimeout(refreshQueue, 100); }
  });
  // Stored events come first; after them, only live ones notify.
  es.addEventListener('open', () => setTimeout(() => { timeline.replaying = false; }, 500));
  return {
    dispose() {
      es.close();
      clearTimeout(queueTimer);
      term.dispose();
    },
  };
}
