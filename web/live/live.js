/*! /live/{channel}: keeps the page's list and its structured data live. */
// The connection is the widget's: a hidden <breaking-ticker> on the page reads the stream,
// and after each change tells us which items it shows (`ticker-render`). We redraw the
// server-rendered list from them (text as Text nodes, never markup) and rewrite the
// LiveBlogPosting, so that a retracted or expired item leaves both.
(() => {
  'use strict';
  const HEADLINE_MAX = 110; // as ticker/routes/live.py

  const list = document.getElementById('updates');
  const empty = document.getElementById('empty');
  const data = document.getElementById('live-data');
  const main = document.querySelector('main.live');
  if (!list || !data || !main) return;
  const lang = document.documentElement.lang || 'ar';
  const dir = document.documentElement.dir || 'rtl';
  let format;
  try {
    format = new Intl.DateTimeFormat(`${lang}-u-nu-latn`, {
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: main.dataset.timezone,
    });
  } catch {
    format = new Intl.DateTimeFormat(`${lang}-u-nu-latn`, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
  }

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
    node.append(...children);
    return node;
  };

  const headline = (text) => {
    if (text.length <= HEADLINE_MAX) return text;
    let cut = text.slice(0, HEADLINE_MAX - 1);
    if (cut.slice(HEADLINE_MAX >> 1).includes(' ')) cut = cut.slice(0, cut.lastIndexOf(' '));
    return cut.replace(/[ ،,.:;]+$/u, '') + '…';
  };

  const corrected = (item) => item.updated_at && item.updated_at !== item.created_at;

  // `widget` is the widget's class: its digit-group rule and its link check, so that the
  // page's rows are exactly the widget's.
  const row = (item, widget) => {
    const text = el('bdi', { dir }, ...widget.isolated(item.text));
    const p = el('p', {}, text);
    if (corrected(item)) p.append(' ', el('span', { class: 'fix' }, list.dataset.corrected));
    const article = el('article', {}, el('time', { datetime: item.created_at }), p);
    article.firstChild.textContent = format.format(new Date(item.created_at));
    const url = widget.safeUrl(item.url);
    if (url) article.append(el('a', { href: url, rel: 'noopener noreferrer' }, list.dataset.source));
    const li = el('li', { id: `item-${item.id}`, 'data-priority': item.priority || 'urgent' }, article);
    li.sig = sig(item);
    return li;
  };
  const sig = (item) => [item.text, item.url, item.priority, item.updated_at].join('\n');

  const posting = (item, page) => {
    const url = `${page}#item-${item.id}`;
    const p = {
      '@type': 'BlogPosting',
      '@id': url,
      url,
      headline: headline(item.text),
      articleBody: item.text,
      datePublished: item.created_at,
    };
    if (corrected(item)) p.dateModified = item.updated_at;
    return p;
  };

  // New urgent items are read out politely, as the widget does (its own region is hidden).
  const announce = document.getElementById('announce');
  const label = document.querySelector('.badge span')?.textContent || '';
  const announced = new Set([...list.children].map((li) => li.id));

  const redraw = (items, widget) => {
    let changed = items.length !== list.children.length;
    const news = items.filter((item) => !announced.has(`item-${item.id}`));
    news.forEach((item) => announced.add(`item-${item.id}`));
    const urgent = news.filter((item) => (item.priority || 'urgent') === 'urgent').slice(0, 3);
    if (announce && urgent.length) {
      announce.textContent = urgent.map((item) => `${label}: ${item.text}`).join(' — ');
    }
    items.forEach((item, i) => {
      let li = document.getElementById(`item-${item.id}`);
      if (!li || li.sig !== sig(item)) {
        const fresh = row(item, widget);
        if (li) li.replaceWith(fresh);
        li = fresh;
        changed = true;
      }
      if (list.children[i] !== li) {
        list.insertBefore(li, list.children[i] || null);
        changed = true;
      }
    });
    const keep = new Set(items.map((item) => `item-${item.id}`));
    for (const li of [...list.children]) if (!keep.has(li.id)) li.remove();
    empty.hidden = items.length > 0;
    if (!changed) return;
    const blog = JSON.parse(data.textContent);
    blog.liveBlogUpdate = items.map((item) => posting(item, blog.url));
    blog.dateModified = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    // `<` escaped as in the server's JSON: the page stays well-formed when serialised.
    data.textContent = JSON.stringify(blog).replace(/</g, '\\u003c');
    const updated = document.querySelector('.updated time');
    if (updated) {
      updated.dateTime = blog.dateModified;
      updated.textContent = format.format(new Date(blog.dateModified));
    }
  };

  customElements.whenDefined('breaking-ticker').then((Ticker) => {
    const ticker = main.querySelector('breaking-ticker');
    if (!ticker) return;
    // The server drew its rows from the state it gave the widget: they match those items.
    try {
      const state = JSON.parse(ticker.querySelector('script[type="application/json"]').textContent);
      for (const item of state.snapshots.flatMap((s) => s.items)) {
        const li = document.getElementById(`item-${item.id}`);
        if (li) li.sig = sig(item);
      }
    } catch {
      // rows without a signature are drawn again at the first change
    }
    const sync = (items) => redraw(items, Ticker);
    ticker.addEventListener('ticker-render', (e) => sync(e.detail.items));
    if (ticker.shown.length || !list.children.length) sync(ticker.shown);
  });
})();
