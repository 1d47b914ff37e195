// Reach on the compose page: how many readers the selected channel has right now,
// and how many streams each listed item (live or recently ended) went out to,
// from GET /api/v1/channels/{channel}/stats (docs/api.md, "Reach"). Counts change with
// each process's heartbeat, so the page asks once per heartbeat, and only while
// the tab is visible. Without this script the page simply shows no counts.

import { api } from './api.js';
import { t } from './strings.js';

const STATS_ITEMS = 100; // the most ids one question may name (docs/api.md)
const FALLBACK_SECONDS = 5;

export function initReach(section, select) {
  const lists = [section.querySelector('#live-list'), section.querySelector('#ended-list')].filter(Boolean);
  const readers = section.querySelector('#reach-readers');
  const delivered = new Map(); // item id -> streams it went out to
  let every = FALLBACK_SECONDS;
  let timer = null;
  let asking = false;

  function rows() {
    return lists.flatMap((list) => [...list.querySelectorAll(':scope > li[data-id]')]);
  }

  // A row's count sits beside its view (which live.js replaces on each change), so it stays.
  function show(li) {
    const n = delivered.get(li.dataset.id);
    let p = li.querySelector(':scope > .reach');
    if (n === undefined) {
      if (p) p.remove();
      return;
    }
    if (!p) {
      p = document.createElement('p');
      p.className = 'reach';
      const view = li.querySelector(':scope > .item-view') || li.querySelector(':scope > .item-meta');
      if (view) view.after(p); else li.append(p);
    }
    const text = t('reach.delivered', { num: n });
    if (p.textContent !== text) p.textContent = text;
    p.dataset.delivered = String(n);
  }

  function showAll() { for (const li of rows()) show(li); }

  async function ask() {
    if (asking || document.hidden) return;
    asking = true;
    try {
      // One question per channel in view: the selected one (its readers) and any
      // channel with a listed item (the editor may follow several).
      const byChannel = new Map([[select.value, []]]);
      for (const li of rows()) {
        const ids = byChannel.get(li.dataset.channel) || [];
        ids.push(li.dataset.id);
        byChannel.set(li.dataset.channel, ids);
      }
      for (const [channel, ids] of byChannel) {
        if (!channel) continue;
        const unique = [...new Set(ids)].slice(0, STATS_ITEMS);
        const query = unique.length ? `?items=${unique.map(encodeURIComponent).join(',')}` : '';
        const result = await api('GET', `/api/v1/channels/${encodeURIComponent(channel)}/stats${query}`);
        if (!result.data) {
          if (channel === select.value) readers.textContent = '';
          continue;
        }
        if (result.data.heartbeat_seconds > 0) every = result.data.heartbeat_seconds;
        for (const item of result.data.items) delivered.set(item.id, item.delivered);
        if (channel === select.value) {
          readers.textContent = t('reach.readers', { num: result.data.readers });
          readers.dataset.readers = String(result.data.readers);
        }
      }
      showAll();
    } finally {
      asking = false;
    }
  }

  function schedule() {
    clearTimeout(timer);
    timer = null;
    if (document.hidden) return;
    timer = setTimeout(async () => {
      await ask();
      schedule();
    }, every * 1000);
  }

  async function now() {
    await ask();
    schedule();
  }

  // New rows (a publish, an ending) get the counts already known at once.
  const observer = new MutationObserver(showAll);
  for (const list of lists) observer.observe(list, { childList: true });
  select.addEventListener('change', () => { readers.textContent = ''; now(); });
  document.addEventListener('visibilitychange', () => { if (document.hidden) schedule(); else now(); });
  now();
}
