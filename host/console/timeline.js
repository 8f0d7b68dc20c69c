// The timeline of a session's normalised events: chat bubbles, collapsible
// tool calls with their results, file-edit diffs, folded reasoning, token
// usage, and permission cards that resolve live in every tab.

import { api, el, attempt, notify } from './api.js';

function pretty(v) {
  if (typeof v === 'string') return v;
  try { return JSON.stringify(v, null, 2); } catch { return String(v); }
}

function diffView(diff) {
  return el('pre', { class: 'diff' }, ...diff.split('\n').map((line) => {
    const cls = line.startsWith('+++') || line.startsWith('---') ? 'hdr'
      : line.startsWith('+') ? 'add' : line.startsWith('-') ? 'del' : line.startsWith('@@') ? 'hunk' : '';
    return el('span', { class: cls }, line + '\n');
  }));
}

export class Timeline {
  constructor(container, name) {
    this.name = name;
    this.node = el('div', { class: 'timeline', id: 'timeline' });
    container.append(this.node);
    this.calls = new Map(); // callId -> details element
    this.cards = new Map(); // permissionId -> card
    this.answeredHere = new Map(); // permissionId -> decision chosen in this tab
    this.replaying = true;
  }

  add(node) {
    const stick = this.node.scrollHeight - this.node.scrollTop - this.node.clientHeight < 40;
    this.node.append(node);
    if (stick) this.node.scrollTop = this.node.scrollHeight;
    return node;
  }

  event(e) {
    const seq = e.seq;
    switch (e.type) {
      case 'message-queued':
        this.add(el('div', { class: 'bubble user', 'data-id': e.id, 'data-seq': seq }, e.text,
          el('small', {}, e.source && e.source !== 'api' ? e.source : '')));
        break;
      case 'steer':
        this.add(el('div', { class: 'bubble user steer', 'data-seq': seq }, el('small', {}, 'steer '), e.text));
        break;
      case 'message':
        this.add(el('div', { class: 'bubble agent', 'data-seq': seq }, e.message));
        break;
      case 'reasoning':
      case 'thinking':
        this.add(el('details', { class: 'reasoning' }, el('summary', {}, 'Reasoning'),
          el('div', {}, e.message ?? e.text)));
        break;
      case 'tool-call': {
        const d = el('details', { class: 'tool-call', 'data-call': e.callId },
          el('summary', {}, '⚙ ', el('b', {}, e.name), ' ', el('span', { class: 'status' }, 'running…')),
          el('pre', { class: 'input' }, pretty(e.input)));
        this.calls.set(e.callId, d);
        this.add(d);
        break;
      }
      case 'tool-result': {
        const d = this.calls.get(e.callId) ?? this.add(el('details', { class: 'tool-call' }, el('summary', {}, 'tool result')));
        d.classList.toggle('error', !!e.isError);
        const status = d.querySelector('.status');
        if (status) status.textContent = e.isError ? 'failed' : 'done';
        d.append(el('pre', { class: 'output' }, pretty(e.output)));
        break;
      }
      case 'file-edit':
        this.add(el('details', { class: 'file-edit', open: true },
          el('summary', {}, '✎ ', el('b', {}, e.filePath), ' ', e.description ?? ''),
          e.diff ? diffView(e.diff) : el('p', { class: 'muted' }, 'no diff')));
        break;
      case 'token-count':
        this.add(el('div', { class: 'tokens' },
          `tokens: ${e.input} in · ${e.output} out` + (e.cacheRead ? ` · ${e.cacheRead} cached` : '')));
        break;
      case 'permission-request':
        this.permission(e);
        if (!this.replaying) notify(`${this.name} asks permission`, e.description, 'perm-' + e.permissionId);
        break;
      case 'permission-resolved':
        this.resolved(e);
        break;
      case 'task-complete':
        if (!this.replaying) notify(`${this.name} finished its turn`, e.summary ?? '', 'turn-' + this.name);
        break;
      case 'turn-aborted':
        this.add(el('div', { class: 'notice' }, 'turn aborted'));
        break;
      case 'message-failed':
        this.add(el('div', { class: 'notice error' }, `message ${e.status}: ${e.error}`));
        break;
      case 'gap':
        this.add(el('div', { class: 'notice' }, `events ${e.from}–${e.to} are no longer retained`));
        break;
    }
  }

  permission(e) {
    const answer = (decision) => attempt(async () => {
      this.answeredHere.set(e.permissionId, decision);
      await api('POST', `/sessions/${encodeURIComponent(this.name)}/permissions/${encodeURIComponent(e.permissionId)}`, { decision });
    });
    const card = el('div', { class: 'permission card', 'data-permission': e.permissionId, 'data-resolved': 'false' },
      el('div', { class: 'perm-title' }, el('b', {}, e.toolName), ' wants permission'),
      el('p', {}, e.description),
      el('div', { class: 'perm-actions' },
        el('button', { class: 'primary', 'data-decision': 'allow', onclick: () => answer('allow') }, 'Allow'),
        el('button', { 'data-decision': 'always', onclick: () => answer('always') }, 'Always'),
        el('button', { class: 'danger', 'data-decision': 'deny', onclick: () => answer('deny') }, 'Deny')));
    this.cards.set(e.permissionId, card);
    this.add(card);
  }

  resolved(e) {
    const card = this.cards.get(e.permissionId);
    if (!card) return;
    const mine = this.answeredHere.get(e.permissionId);
    const who = mine === e.decision ? 'answered in this tab' : 'answered elsewhere';
    card.dataset.resolved = e.decision;
    card.querySelector('.perm-actions').replaceChildren(
      el('span', { class: `verdict verdict-${e.decision}` }, `${e.decision} · ${who}`));
  }
}
