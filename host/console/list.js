// The sessions page: one row per session with its state, tool, queue,
// permissions, last message and exit code, live from each session's events.

import { api, follow, el, attempt, notify } from './api.js';

export function showList(main) {
  const streams = new Map(); // name -> EventSource
  let timer = null;
  let disposed = false;
  const rows = el('div', { class: 'sessions', id: 'sessions' });
  const form = createForm(() => refresh());
  main.replaceChildren(el('section', {},
    el('div', { class: 'title' }, el('h1', {}, 'Sessions'), form.toggle),
    form.node, rows));

  async function refresh() {
    if (disposed) return;
    let list;
    try { list = await api('GET', '/overview'); } catch (e) { console.warn(e); return; }
    if (disposed) return;
    rows.replaceChildren(...(list.length ? list.map(row) : [el('p', { class: 'muted' }, 'No sessions yet: create one above.')]));
    for (const s of list) {
      if (!streams.has(s.name)) {
        streams.set(s.name, follow(s.name, s.lastEventSeq, (e) => {
          if (e.type === 'permission-request') notify(`${s.name} asks permission`, e.description, 'perm-' + e.permissionId);
          if (e.type === 'task-complete') notify(`${s.name} finished its turn`, e.summary ?? '', 'turn-' + s.name);
          schedule();
        }));
      }
    }
    for (const [name, es] of streams) {
      if (!list.some((s) => s.name === name)) { es.close(); streams.delete(name); }
    }
  }
  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 100);
  }
  refresh();
  const poll = setInterval(refresh, 5000); // sessions created elsewhere
  return {
    dispose() {
      disposed = true;
      clearInterval(poll);
      clearTimeout(timer);
      for (const es of streams.values()) es.close();
    },
  };
}

function row(s) {
  const st = s.state ?? {};
  const exited = s.status === 'exited';
  const last = s.lastMessage;
  return el('article', { class: 'card session-row', 'data-name': s.name },
    el('div', { class: 'row-head' },
      el('a', { href: '#/s/' + encodeURIComponent(s.name), class: 'name' }, s.name),
      el('span', { class: 'provider' }, s.provider),
      el('span', { class: `state state-${st.value}`, 'data-state': st.value, title: 'source: ' + (st.source ?? '') },
        st.value, el('small', {}, ' · ', st.source ?? '')),
      st.tool ? el('span', { class: 'tool' }, '⚙ ', st.tool) : null,
      exited ? el('span', { class: 'exit' }, 'exit ', s.exitCode ?? '?') : null),
    el('div', { class: 'row-meta' },
      el('span', { 'data-field': 'queue' }, 'queue ', s.queueDepth),
      el('span', { 'data-field': 'permissions', class: s.pendingPermissions ? 'warn' : '' },
        'permissions ', s.pendingPermissions),
      last ? el('span', { class: 'preview', 'data-field': 'last' },
        `“${last.text}” `, el('small', {}, last.status), last.response ? ' → ' + last.response : '') : null),
    el('div', { class: 'row-actions' },
      el('button', { onclick: () => attempt(() => api('POST', `/sessions/${encodeURIComponent(s.name)}/restart`)) }, 'Restart'),
      el('button', {
        class: 'danger',
        onclick: () => confirm(`Delete session ${s.name} and its log?`) &&
          attempt(() => api('DELETE', '/sessions/' + encodeURIComponent(s.name))),
      }, 'Delete')));
}

function createForm(done) {
  const provider = el('select', { name: 'provider' });
  const node = el('form', { class: 'card create', hidden: true, id: 'create-form' },
    el('label', {}, 'Name', el('input', { name: 'name', required: true, pattern: '[A-Za-z0-9_.-]+', autocomplete: 'off' })),
    el('label', {}, 'Provider', provider),
    el('label', {}, 'Working directory', el('input', { name: 'cwd', placeholder: 'absolute path (default: the daemon\'s)' })),
    el('label', {}, 'Arguments', el('input', { name: 'args', placeholder: 'space separated' })),
    el('button', { type: 'submit', class: 'primary' }, 'Create'));
  node.onsubmit = async (ev) => {
    ev.preventDefault();
    const f = new FormData(node);
    const body = { name: f.get('name'), provider: f.get('provider') };
    if (f.get('cwd')) body.cwd = f.get('cwd');
    const args = String(f.get('args') ?? '').trim();
    if (args) body.args = args.split(/\s+/);
    await attempt(() => api('POST', '/sessions', body));
    node.reset();
    node.hidden = true;
    done();
  };
  const toggle = el('button', {
    class: 'primary', id: 'new-session',
    onclick: async () => {
      node.hidden = !node.hidden;
      if (!node.hidden && !provider.options.length) {
        const p = await api('GET', '/plugins');
        for (const x of p.plugins.filter((x) => x.kind === 'provider')) {
          provider.append(el('option', { value: x.name }, x.name));
        }
      }
    },
  }, 'New session');
  return { node, toggle };
}
