// The compose form, made faster with JavaScript: a live count and preview,
// Ctrl/Cmd+Enter, publishing through the API without leaving the page, and a
// draft kept in this browser so that no failure and no reload loses the text.
//
// Without this script the form still works: it posts to /desk/publish.

import { api, failureKey } from './api.js';
import { hhmm, length, looksLikeUrl, normalise, TEXT_MAX, withDigitGroups } from './text.js';
import { t } from './strings.js';

// ---- State ---------------------------------------------------------------

const KEEPALIVE_MS = 4 * 60 * 1000;

function newKey() {
  // Not crypto.randomUUID: it needs a secure context, and a desk may run on plain HTTP inside
  // a newsroom. getRandomValues works everywhere.
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, '-').replace(/\//g, '_');
}

export function initCompose(form, channels) {
  const els = {
    text: form.elements.text,
    url: form.elements.url,
    channel: form.elements.channel,
    ttl: form.elements.ttl_seconds,
    key: form.elements.idempotency_key,
    count: form.querySelector('#text-count'),
    button: form.querySelector('#publish'),
    message: document.getElementById('page-message'),
    preview: document.getElementById('preview'),
  };
  const byId = new Map(channels.map((c) => [c.id, c]));
  const draftKey = `ticker-desk:draft:${form.dataset.user || ''}`;
  let busy = false;
  let lastKeepalive = Date.now();

  // ---- The draft, kept in localStorage ------------------------------------

  function saveDraft() {
    const draft = {
      text: els.text.value,
      url: els.url.value,
      channel: els.channel.value,
      priority: form.elements.priority.value,
      ttl: els.ttl.value,
      key: els.key.value,
    };
    try {
      if (draft.text || draft.url) localStorage.setItem(draftKey, JSON.stringify(draft));
      else localStorage.removeItem(draftKey);
    } catch { /* private mode or full: the form itself still holds the text */ }
  }

  function restoreDraft() {
    let draft = null;
    try { draft = JSON.parse(localStorage.getItem(draftKey) || 'null'); } catch { draft = null; }
    // Text the server put back (after a failed post) wins over an older draft.
    if (!draft || els.text.value.trim()) return;
    els.text.value = draft.text || '';
    els.url.value = draft.url || '';
    if (byId.has(draft.channel)) els.channel.value = draft.channel;
    if (draft.priority) {
      const radio = form.querySelector(`input[name="priority"][value="${draft.priority}"]`);
      if (radio) radio.checked = true;
    }
    if ([...els.ttl.options].some((o) => o.value === draft.ttl)) els.ttl.value = draft.ttl;
    // The same key as the attempt that may have reached the server: a retry after a
    // lost answer then returns that item instead of publishing it twice.
    if (draft.key) els.key.value = draft.key;
  }

  function clearDraft() {
    try { localStorage.removeItem(draftKey); } catch { /* nothing to clear */ }
  }

  // ---- Rendering -------------------------------------------------------------

  function channel() {
    return byId.get(els.channel.value) || channels[0] || { lang: 'ar', dir: 'rtl', timezone: 'Asia/Beirut' };
  }

  function renderCount() {
    const n = length(els.text.value);
    els.count.textContent = `${n} / ${TEXT_MAX}`;
    els.count.classList.toggle('over', n > TEXT_MAX);
  }

  function renderDirection() {
    const c = channel();
    els.text.dir = c.dir;
    els.text.lang = c.lang;
    const box = els.preview.querySelector('.bt');
    box.dir = c.dir;
    box.lang = c.lang;
  }

  // The widget's item line: <time>HH:MM</time> then the sentence, a link around it if any.
  function renderPreview() {
    const c = channel();
    const row = els.preview.querySelector('li');
    const text = normalise(els.text.value);
    row.dataset.priority = form.elements.priority.value || 'urgent';
    row.querySelector('time').textContent = hhmm(new Date(), c.timezone, c.lang);
    const body = row.querySelector('.body');
    const sentence = document.createElement('bdi');
    // The placeholder is in the desk's language, not the channel's: an English
    // sentence in a right-to-left box keeps its period at its end.
    const ui = document.documentElement;
    sentence.dir = text ? c.dir : ui.dir;
    sentence.lang = text ? c.lang : ui.lang;
    if (text) sentence.replaceChildren(...withDigitGroups(text));
    else sentence.textContent = t('compose.preview_empty');
    const url = els.url.value.trim();
    let content = sentence;
    if (text && looksLikeUrl(url)) {
      content = document.createElement('a');
      content.href = url;
      content.target = '_blank';
      content.rel = 'noopener noreferrer';
      content.append(sentence);
    }
    body.replaceChildren(content);
    body.classList.toggle('empty', !text);
  }

  function render() {
    renderCount();
    renderPreview();
  }

  function showMessage(text, kind = 'ok', extra = null) {
    const box = els.message;
    box.className = `message ${kind}`;
    box.setAttribute('aria-live', kind === 'error' ? 'assertive' : 'polite');
    box.textContent = text;
    if (extra) {
      box.append(' ', extra);
    }
  }

  function clearFieldErrors() {
    for (const el of form.querySelectorAll('.field-error')) el.remove();
    for (const el of form.querySelectorAll('[aria-invalid="true"]')) {
      el.removeAttribute('aria-invalid');
      const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((id) => !id.endsWith('-error'));
      el.setAttribute('aria-describedby', ids.join(' '));
    }
  }

  function fieldError(name, text) {
    const input = name === 'priority' ? form.querySelector('input[name="priority"]') : form.elements[name];
    if (!input) return;
    const id = `${input.id || name}-error`;
    const p = document.createElement('p');
    p.className = 'field-error js';
    p.id = id;
    p.textContent = text;
    const field = input.closest('.field');
    field.append(p);
    input.setAttribute('aria-invalid', 'true');
    const ids = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    input.setAttribute('aria-describedby', [...ids, id].join(' '));
  }

  // ---- Checks before sending -----------------------------------------------

  function localErrors() {
    const errors = [];
    const n = length(els.text.value);
    if (n === 0) errors.push(['text', t('field.text')]);
    else if (n > TEXT_MAX) errors.push(['text', t('field.text_long', { num: n - TEXT_MAX })]);
    const url = els.url.value.trim();
    if (url && !looksLikeUrl(url)) errors.push(['url', t('field.url')]);
    if (!byId.has(els.channel.value)) errors.push(['channel', t('field.channel')]);
    return errors;
  }

  const FIELD_KEYS = { text: 'field.text', url: 'field.url', priority: 'field.priority', ttl_seconds: 'field.ttl' };

  // ---- Publishing --------------------------------------------------------------

  async function publish() {
    if (busy) return; // a double click sends once (and the key would make it harmless anyway)
    clearFieldErrors();
    const errors = localErrors();
    if (errors.length) {
      for (const [name, text] of errors) fieldError(name, text);
      showMessage(errors.map(([, text]) => text).join(' '), 'error');
      form.elements[errors[0][0]].focus();
      return;
    }
    busy = true;
    els.button.setAttribute('aria-busy', 'true');
    els.button.disabled = true;
    saveDraft();
    const c = channel();
    const body = {
      text: els.text.value,
      priority: form.elements.priority.value || 'urgent',
      ttl_seconds: Number(els.ttl.value),
    };
    const url = els.url.value.trim();
    if (url) body.url = url;
    const result = await api(
      'POST', `/api/v1/channels/${encodeURIComponent(c.id)}/items`, body,
      { 'Idempotency-Key': els.key.value },
    );
    busy = false;
    els.button.removeAttribute('aria-busy');
    els.button.disabled = false;
    if (result.status === 201 || result.status === 200) {
      published(result.status === 201);
      return;
    }
    failed(result);
  }

  function published(fresh) {
    els.text.value = '';
    els.url.value = '';
    els.key.value = newKey();
    // Back to the default priority: the next item is urgent unless the editor says not.
    form.querySelector('input[name="priority"][value="urgent"]').checked = true;
    clearDraft();
    render();
    showMessage(t(fresh ? 'js.published' : 'js.already'), 'ok');
    els.text.focus();
  }

  function failed(result) {
    const problem = result.problem || {};
    if (result.status === 422) {
      if (/idempotency/i.test(problem.title || '')) {
        els.key.value = newKey();
        saveDraft();
        showMessage(t('js.idempotency'), 'error');
        return;
      }
      const fields = (problem.errors || []).map((e) => e.field);
      for (const name of fields) fieldError(name, t(FIELD_KEYS[name] || 'field.text'));
      showMessage(fields.map((f) => t(FIELD_KEYS[f] || 'field.text')).join(' '), 'error');
      const first = fields[0] && (form.elements[fields[0]] || form.elements.text);
      if (first && first.focus) first.focus();
      return;
    }
    const key = failureKey(result);
    if (key === 'session') {
      const link = document.createElement('a');
      link.href = '/desk/login?next=/desk/compose';
      link.textContent = t('js.login');
      showMessage(t('js.session'), 'error', link);
      return;
    }
    if (key === 'failed') {
      showMessage(t('js.failed', { detail: problem.detail || result.status }), 'error');
      return;
    }
    showMessage(t(`js.${key}`), 'error');
  }

  // ---- Wiring ------------------------------------------------------------------

  function keepalive() {
    // Typing is activity: restart the idle timer, and learn early if the session ended.
    if (Date.now() - lastKeepalive < KEEPALIVE_MS) return;
    lastKeepalive = Date.now();
    fetch('/desk/session', { credentials: 'same-origin' }).then((r) => {
      if (r.status === 401) failed({ status: 401, problem: {} });
    }).catch(() => {});
  }

  form.noValidate = true; // our messages, in the page's language, next to each field
  restoreDraft();
  renderDirection();
  render();
  els.preview.hidden = false;

  form.addEventListener('input', () => { render(); saveDraft(); keepalive(); });
  els.channel.addEventListener('change', () => { renderDirection(); render(); saveDraft(); });
  form.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    publish();
  });
  // The preview's clock follows the minute.
  setInterval(renderPreview, 15000);
}
