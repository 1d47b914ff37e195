// The fleet status page, live: GET /api/v1/status (docs/api.md, "Fleet status") once per
// heartbeat while the tab is visible, redrawn with textContent. Without this script
// the page shows the figures the server rendered.

import { api } from './api.js';
import { t } from './strings.js';

export function initStatus(section) {
  const totals = section.querySelector('#fleet-totals');
  const body = section.querySelector('#fleet-processes tbody');
  const when = section.querySelector('#fleet-time');
  const problem = section.querySelector('#fleet-problem');
  let every = Number(section.dataset.heartbeat) || 5;
  let timer = null;

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else node.setAttribute(k, v);
    }
    node.append(...children);
    return node;
  }

  const shortTime = (iso) => iso.replace('T', ' ').replace('Z', '');

  function perChannel(channels) {
    const parts = Object.entries(channels).map(([c, n]) =>
      el('span', { class: 'per-channel', dir: 'ltr' }, el('bdi', { text: c === '*' ? t('status.all') : c }), `: ${n}`));
    if (!parts.length) return ['—'];
    return parts.flatMap((p, i) => (i ? [', ', p] : [p]));
  }

  function row(p) {
    const cells = [
      el('td', { dir: 'ltr' }, el('code', { text: p.id })),
      el('td', { dir: 'ltr', text: p.host }),
      el('td', { class: 'num', text: String(p.pid) }),
      el('td', { dir: 'ltr', text: p.version }),
      el('td', { class: 'when' }, el('time', { datetime: p.started, text: shortTime(p.started) })),
      el('td', { class: 'num', 'data-field': 'subscribers', text: String(p.subscribers) }),
      el('td', { 'data-field': 'channels' }, ...perChannel(p.channels)),
      el('td', { class: 'num', 'data-field': 'behind_ms', text: String(p.behind_ms) }),
      el('td', { class: 'num', 'data-field': 'dropped', text: String(p.dropped) }),
    ];
    return el('tr', p.ready ? { 'data-process': p.id } : { 'data-process': p.id, class: 'not-ready' }, ...cells);
  }

  function draw(fleet) {
    for (const dd of totals.querySelectorAll('dd[data-total]')) {
      const value = fleet.totals[dd.dataset.total];
      if (dd.dataset.total === 'channels') dd.replaceChildren(...perChannel(value));
      else dd.textContent = String(value);
    }
    const rows = fleet.processes.map(row);
    if (!rows.length) rows.push(el('tr', { class: 'empty-row' }, el('td', { colspan: '9', text: t('status.none') })));
    body.replaceChildren(...rows);
    when.replaceChildren(el('time', { datetime: fleet.time, text: shortTime(fleet.time) }));
    if (fleet.heartbeat_seconds > 0) every = fleet.heartbeat_seconds;
  }

  async function refresh() {
    const result = await api('GET', '/api/v1/status');
    if (result.data) {
      draw(result.data);
      problem.textContent = '';
    } else {
      problem.textContent = t(result.status === 401 ? 'status.session' : 'status.stale');
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (document.hidden) return;
    timer = setTimeout(async () => { await refresh(); schedule(); }, every * 1000);
  }

  document.addEventListener('visibilitychange', async () => {
    if (document.hidden) schedule();
    else { await refresh(); schedule(); }
  });
  schedule();
}
