// The live list: the current items of the editor's channels, kept up to date
// from the public event stream (docs/api.md: reset, publish, update, retract,
// expire), with correct-in-place and retract-after-confirmation through the API.
//
// Without this script the list is the server's snapshot, and each item's
// Correct and Retract are links to their own pages.

import { api, failureKey } from './api.js';
import { hhmm, length, looksLikeUrl, TEXT_MAX, withDigitGroups } from './text.js';
import { t, timeLeft } from './strings.js';
import { reconnectDelay } from './reconnect.js';

// ---- State ---------------------------------------------------------------

const ENDED_MAX = 20;

function idKey(id) {
  const [ms, seq] = id.split('-').map(Number);
  return [ms, seq];
}

function newestFirst(a, b) {
  const [am, as] = idKey(a.id);
  const [bm, bs] = idKey(b.id);
  return bm - am || bs - as;
}

const MAX_STREAM_CHANNELS = 32;

export function initLive(section, channels) {
  const list = section.querySelector('#live-list');
  const empty = section.querySelector('#live-empty');
  const state = section.querySelector('#live-state');
  const message = section.querySelector('#live-message');
  const endedList = section.querySelector('#ended-list');
  const endedSummary = section.querySelector('#ended summary');
  const dialog = document.getElementById('retract-dialog');
  const editTemplate = document.getElementById('edit-template');
  const byId = new Map(channels.map((c) => [c.id, c]));
  const items = new Map(); // id -> Item
  const corrected = new Set(); // ids with an update seen (a correction within the same second too)
  let adopted = false;
  let source = null;
  let failures = 0; // reconnects of our own in a row, since the stream was last open

  // The server rendered the list; its rows stand until the first reset replaces them.
  for (const li of list.children) li.dataset.sig = '';

  // ---- Rendering -------------------------------------------------------------

  function channelOf(item) {
    return byId.get(item.channel) || { id: item.channel, title: item.channel, dir: 'rtl', lang: 'ar', timezone: 'UTC' };
  }

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
      if (k === 'class') node.className = v;
      else if (k === 'text') node.textContent = v;
      else if (k.startsWith('data-') || k === 'dir' || k === 'lang' || k === 'datetime' || k === 'rel' || k === 'target' || k === 'href') node.setAttribute(k, v);
      else node[k] = v;
    }
    node.append(...children.filter(Boolean));
    return node;
  }

  function itemLine(item, c) {
    const line = el('p', { class: 'item-line', dir: c.dir, lang: c.lang },
      el('time', { class: 'item-time', datetime: item.created_at, text: hhmm(new Date(item.created_at), c.timezone, c.lang) }),
      ' ',
      el('bdi', { class: 'item-text' }, ...withDigitGroups(item.text)));
    if (item.url && looksLikeUrl(item.url)) {
      line.append(' ', el('a', { class: 'item-link', href: item.url, rel: 'noopener noreferrer', target: '_blank', text: t('live.link') }));
    }
    return line;
  }

  function viewOf(item) {
    const c = channelOf(item);
    const meta = el('p', { class: 'item-meta' },
      el('span', { class: `badge ${item.priority}`, text: t(`priority.${item.priority}`) }),
      el('span', { class: 'chan', text: c.title }),
      el('span', { class: 'left', 'data-expires': item.expires_at, text: t('live.left', { left: timeLeft(Date.parse(item.expires_at) - Date.now()) }) }),
      item.updated_at !== item.created_at || corrected.has(item.id)
        ? el('span', { class: 'corrected', text: t('live.corrected') }) : null);
    const base = `/desk/items/${encodeURIComponent(item.channel)}/${encodeURIComponent(item.id)}`;
    const actions = el('p', { class: 'item-actions' },
      el('a', { class: 'btn small', href: `${base}/edit`, 'data-action': 'correct', text: t('live.correct') }),
      el('a', { class: 'btn small danger', href: `${base}/retract`, 'data-action': 'retract', text: t('live.retract') }));
    return el('div', { class: 'item-view' }, itemLine(item, c), meta, actions);
  }

  function fillRow(li, item) {
    const sig = JSON.stringify(item) + corrected.has(item.id);
    if (li.dataset.sig === sig) return;
    li.dataset.sig = sig;
    li.className = `item ${item.priority}`;
    li.dataset.id = item.id;
    li.dataset.channel = item.channel;
    const focused = li.querySelector('.item-view :focus');
    const action = focused?.dataset.action;
    const old = li.querySelector('.item-view');
    const view = viewOf(item);
    if (old) old.replaceWith(view); else li.prepend(view);
    if (action) view.querySelector(`[data-action="${action}"]`).focus();
  }

  function render() {
    const sorted = [...items.values()].sort(newestFirst);
    const rows = new Map([...list.children].map((li) => [li.dataset.id, li]));
    let previous = null;
    for (const item of sorted) {
      let li = rows.get(item.id);
      if (li) rows.delete(item.id);
      else {
        li = el('li', { class: 'item' });
        if (adopted) li.classList.add('fresh');
      }
      fillRow(li, item);
      const wanted = previous ? previous.nextElementSibling : list.firstElementChild;
      if (li !== wanted) list.insertBefore(li, wanted);
      previous = li;
    }
    for (const li of rows.values()) {
      if (li.contains(document.activeElement)) section.querySelector('#live-h').focus();
      li.remove();
    }
    empty.hidden = sorted.length > 0;
  }

  // Both times are labelled (published, then retracted or expired), as the server renders them.
  function endedRow(e) {
    const c = channelOf(e);
    const at = (date) => hhmm(date, c.timezone, c.lang);
    const ended = t(e.kind === 'retract' ? 'live.retracted_at' : 'live.expired_at', { time: at(e.at) });
    const meta = [el('span', { class: 'chan', text: c.title })];
    if (e.published) meta.push(' ', el('span', { class: 'when published', text: t('live.published_at', { time: at(e.published) }) }));
    meta.push(' ', el('span', { class: 'when ended-at', text: ended }));
    if (e.kind === 'retract' && e.reason) {
      meta.push(' ', el('span', { class: 'why' }, `${t('live.reason')} `, el('bdi', { text: e.reason })));
    }
    return el('li', { class: `item ended-item ${e.kind}`, 'data-id': e.id, 'data-channel': e.channel },
      el('p', { class: 'item-line', dir: c.dir, lang: c.lang }, el('bdi', { class: 'item-text' }, ...withDigitGroups(e.text))),
      el('p', { class: 'item-meta' }, ...meta));
  }

  function tick() {
    for (const span of list.querySelectorAll('.left[data-expires]')) {
      span.textContent = t('live.left', { left: timeLeft(Date.parse(span.dataset.expires) - Date.now()) });
    }
  }

  function say(text, kind = 'ok') {
    message.className = `message ${kind}`;
    message.setAttribute('aria-live', kind === 'error' ? 'assertive' : 'polite');
    message.textContent = text;
  }

  // ---- Applying events ---------------------------------------------------------

  function end(id, kind, reason) {
    const item = items.get(id);
    if (!item) return;
    items.delete(id);
    // The server rendered the day's earlier ones; newer ones go on top.
    for (const li of endedList.querySelectorAll(`li[data-id="${CSS.escape(id)}"]`)) li.remove();
    const published = item.created_at ? new Date(item.created_at) : null;
    endedList.prepend(endedRow({ id, channel: item.channel, text: item.text, kind, reason, published, at: new Date() }));
    while (endedList.children.length > ENDED_MAX) endedList.lastElementChild.remove();
    endedSummary.textContent = t('live.ended', { n: endedList.children.length });
  }

  const handlers = {
    reset(data) {
      for (const [id, item] of items) if (item.channel === data.channel) items.delete(id);
      for (const item of data.items) items.set(item.id, item);
    },
    publish(item) { items.set(item.id, item); },
    update(item) { corrected.add(item.id); items.set(item.id, item); },
    retract(data) { end(data.id, 'retract', data.reason); },
    expire(data) { end(data.id, 'expire', null); },
  };

  function connect() {
    const ids = channels.map((c) => c.id);
    if (!ids.length) return;
    state.textContent = t('live.state_connecting');
    state.className = 'live-state';
    // A stream names at most 32 channels (docs/api.md); a desk with more follows every
    // channel and keeps only its own (the handlers below skip the others).
    const query = ids.length > MAX_STREAM_CHANNELS ? '' : `?channels=${ids.map(encodeURIComponent).join(',')}`;
    source = new EventSource(`/api/v1/stream${query}`);
    source.addEventListener('open', () => {
      failures = 0;
      state.textContent = t('live.state_live');
      state.className = 'live-state on';
    });
    for (const type of Object.keys(handlers)) {
      source.addEventListener(type, (event) => {
        const data = JSON.parse(event.data);
        if (!byId.has(data.channel)) return;
        handlers[type](data);
        render();
        if (type === 'reset') adopted = true;
      });
    }
    source.addEventListener('error', () => {
      state.textContent = t('live.state_offline');
      state.className = 'live-state off';
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an error status): reconnect ourselves (until then it does,
        // at the server's `retry:`). A new EventSource starts from a reset: nothing is missed.
        source = null;
        setTimeout(connect, reconnectDelay(++failures));
      }
    });
  }

  // ---- Correct in place ----------------------------------------------------------

  let editCount = 0;

  function openEditor(li) {
    const item = items.get(li.dataset.id);
    if (!item || li.querySelector('.item-edit')) {
      li.querySelector('.item-edit textarea')?.focus();
      return;
    }
    const c = channelOf(item);
    const form = editTemplate.content.firstElementChild.cloneNode(true);
    const prefix = `edit-${++editCount}`;
    for (const label of form.querySelectorAll('label[data-for]')) {
      label.htmlFor = `${prefix}-${label.dataset.for}`;
    }
    const fields = {
      text: form.querySelector('[data-name="text"]'),
      url: form.querySelector('[data-name="url"]'),
      priority: form.querySelector('[data-name="priority"]'),
      ttl: form.querySelector('[data-name="ttl"]'),
    };
    for (const [name, input] of Object.entries(fields)) input.id = `${prefix}-${name}`;
    fields.text.value = item.text;
    fields.text.dir = c.dir;
    fields.text.lang = c.lang;
    fields.url.value = item.url || '';
    fields.priority.value = item.priority;
    const count = form.querySelector('.count');
    const showCount = () => {
      const n = length(fields.text.value);
      count.textContent = `${n} / ${TEXT_MAX}`;
      count.classList.toggle('over', n > TEXT_MAX);
    };
    showCount();
    fields.text.addEventListener('input', showCount);
    const close = () => {
      form.remove();
      li.querySelector('[data-action="correct"]')?.focus();
    };
    form.querySelector('[data-cancel]').addEventListener('click', close);
    form.addEventListener('keydown', (event) => {
      if (event.key === 'Escape') { event.preventDefault(); close(); }
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) { event.preventDefault(); form.requestSubmit(); }
    });
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      const current = items.get(item.id) || item;
      const errorOf = (name) => form.querySelector(`[data-error="${name}"]`);
      for (const p of form.querySelectorAll('[data-error]')) { p.hidden = true; p.textContent = ''; }
      for (const input of Object.values(fields)) input.removeAttribute('aria-invalid');
      const show = (name, text) => {
        const p = errorOf(name);
        p.textContent = text;
        p.hidden = false;
        const input = fields[name];
        if (input) {
          input.setAttribute('aria-invalid', 'true');
          p.id = `${input.id}-error`;
          input.setAttribute('aria-describedby', p.id);
        }
      };
      const n = length(fields.text.value);
      const url = fields.url.value.trim();
      if (n === 0 || n > TEXT_MAX) { show('text', n ? t('field.text_long', { num: n - TEXT_MAX }) : t('field.text')); fields.text.focus(); return; }
      if (url && !looksLikeUrl(url)) { show('url', t('field.url')); fields.url.focus(); return; }
      const body = {};
      if (fields.text.value !== current.text) body.text = fields.text.value;
      if ((url || null) !== (current.url || null)) body.url = url || null;
      if (fields.priority.value !== current.priority) body.priority = fields.priority.value;
      if (fields.ttl.value) body.ttl_seconds = Number(fields.ttl.value);
      if (!Object.keys(body).length) { close(); return; }
      const button = form.querySelector('button[type="submit"]');
      button.disabled = true;
      const result = await api('PATCH', `/api/v1/channels/${encodeURIComponent(item.channel)}/items/${encodeURIComponent(item.id)}`, body);
      button.disabled = false;
      if (result.status === 200) {
        corrected.add(result.data.id);
        items.set(result.data.id, result.data);
        close();
        render();
        say(t('js.corrected'));
        return;
      }
      if (result.status === 422) {
        for (const e of result.problem.errors || []) show(e.field === 'ttl_seconds' ? 'form' : e.field, t(`field.${e.field === 'ttl_seconds' ? 'ttl' : e.field}`));
        return;
      }
      const key = failureKey(result);
      show('form', key === 'failed' ? t('js.failed', { detail: result.problem?.detail || result.status }) : t(`js.${key}`));
      if (key === 'gone') { end(item.id, 'retract', null); render(); }
    });
    li.append(form);
    fields.text.focus();
  }

  // ---- Retract after a confirmation -------------------------------------------------

  let retracting = null;

  function openRetract(li, opener) {
    const item = items.get(li.dataset.id);
    if (!item) return;
    retracting = { item, opener };
    dialog.querySelector('#retract-dialog-text').textContent = item.text;
    const reason = dialog.querySelector('#retract-reason');
    reason.value = '';
    reason.removeAttribute('aria-invalid');
    dialog.querySelector('#retract-reason-error').hidden = true;
    dialog.showModal();
    reason.focus();
  }

  dialog.querySelector('[data-close]').addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    if (retracting?.opener?.isConnected) retracting.opener.focus();
    retracting = null;
  });
  dialog.querySelector('form').addEventListener('submit', async (event) => {
    event.preventDefault();
    if (!retracting) return;
    const reason = dialog.querySelector('#retract-reason');
    const error = dialog.querySelector('#retract-reason-error');
    if (!reason.value.trim()) {
      error.textContent = t('js.reason_required');
      error.hidden = false;
      reason.setAttribute('aria-invalid', 'true');
      reason.focus();
      return;
    }
    const { item } = retracting;
    const button = dialog.querySelector('button[value="confirm"]');
    button.disabled = true;
    const result = await api('DELETE', `/api/v1/channels/${encodeURIComponent(item.channel)}/items/${encodeURIComponent(item.id)}`, { reason: reason.value });
    button.disabled = false;
    if (result.status === 204 || result.status === 404) {
      end(item.id, 'retract', reason.value.trim());
      render();
      dialog.close();
      say(t(result.status === 204 ? 'js.retracted' : 'js.gone'));
      return;
    }
    const key = failureKey(result);
    error.textContent = key === 'failed' ? t('js.failed', { detail: result.problem?.detail || result.status }) : t(`js.${key}`);
    error.hidden = false;
  });

  // ---- Wiring ---------------------------------------------------------------------

  list.addEventListener('click', (event) => {
    const link = event.target.closest('[data-action]');
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const li = link.closest('li.item');
    if (!items.has(li.dataset.id)) return; // not adopted yet: let the link open its page
    event.preventDefault();
    if (link.dataset.action === 'correct') openEditor(li);
    else openRetract(li, link);
  });

  section.querySelector('#live-h').tabIndex = -1;
  connect();
  setInterval(tick, 15000);
}
