// The plugins page: health, counters, last errors, reload.

import { api, el, attempt } from './api.js';

export function showPlugins(main) {
  const body = el('div', { id: 'plugins' });
  const reload = el('button', {
    class: 'primary', id: 'reload-plugins',
    onclick: () => attempt(async () => render(await api('POST', '/plugins/reload'))),
  }, 'Reload');
  main.replaceChildren(el('section', {}, el('div', { class: 'title' }, el('h1', {}, 'Plugins'), reload), body));
  function render(list) {
    body.replaceChildren(
      el('p', { class: 'muted' }, `WIT ${list.witVersion} (accepts ${list.accepts})`),
      ...list.plugins.map((p) => el('article', { class: 'card plugin', 'data-name': p.name },
        el('div', { class: 'row-head' }, el('b', { class: 'name' }, p.name), el('span', { class: 'provider' }, p.kind),
          el('span', { class: `health health-${p.health}` }, p.health), el('small', {}, 'v' + p.version)),
        el('p', { class: 'muted' }, p.description),
        el('div', { class: 'row-meta' },
          el('span', {}, `calls ${p.calls}`), el('span', {}, `failures ${p.failures}`),
          el('span', {}, `instances ${p.instances}`), el('span', {}, `mean ${Math.round(p.meanCallUs)} µs`),
          el('span', {}, p.compile)),
        p.lastError ? el('pre', { class: 'error' }, p.lastError) : null,
        p.reloadError ? el('pre', { class: 'error' }, 'reload: ' + p.reloadError) : null)),
      ...list.errors.map((e) => el('article', { class: 'card plugin error' }, el('pre', {}, pretty(e)))));
  }
  const pretty = (v) => JSON.stringify(v, null, 2);
  api('GET', '/plugins').then(render).catch((e) => body.replaceChildren(el('p', { class: 'error' }, e.message)));
  return { dispose() {} };
}
