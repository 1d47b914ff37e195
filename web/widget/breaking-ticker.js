/*! <breaking-ticker>: the live breaking-news box. Embedding guide: docs/widget.md */
// Plain JavaScript, no dependencies, read top to bottom: settings, state (the items of a
// feed), rendering (the custom element), connection (one stream per site, shared by tabs).
// The server inlines breaking-ticker.css where CSS is declared and minifies the whole.
(() => {
  'use strict';
  if (!window.customElements || customElements.get('breaking-ticker')) return;

  /* -------------------------------------------------------------- settings -- */

  // Timings. A host page (or a test) may override any of them before the script loads:
  // window.BreakingTickerConfig = { hiddenMs: 30000 }.
  const CONFIG = {
    backoffMs: 1000, // reconnect delays: docs/design.md, "Reconnecting" (web/desk/reconnect.js)
    maxBackoffMs: 30000,
    pollAfter: 4, // stream failures in a row before also polling the snapshot
    reconnects: 3, // failed reconnects left to the browser (at the server's `retry:`) before our own
    pollMs: 15000,
    hiddenMs: 60000, // a page hidden this long lets its stream go
    newMs: 8000, // how long a new item stays highlighted
    helloMs: 2000, // a tab that hears from no leader by then reads the snapshot itself
    ...window.BreakingTickerConfig,
  };
  const CSS = '/*@css*/';
  // The ticker is where this script came from, unless the element names a `server`.
  const ORIGIN = new URL(document.currentScript?.src || location.href, location.href).origin;
  const CHANNEL = /^[a-z0-9][a-z0-9-]{0,31}$/;
  // Languages written right to left: the server fills in ticker/model.py's RTL_LANGS.
  const RTL = /^(@rtl)\b/i;
  const TEXT = {
    ar: {
      label: 'عاجل',
      pause: 'إيقاف التحديث مؤقتًا',
      corrected: 'تصحيح',
      empty: 'لا أخبار عاجلة في الوقت الحالي',
      offline: 'انقطع الاتصال، تجري إعادة المحاولة…',
      unknown: 'لا توجد قناة بهذا الاسم',
    },
    en: {
      label: 'Breaking',
      pause: 'Pause updates',
      corrected: 'Corrected',
      empty: 'No breaking news right now',
      offline: 'Connection lost, retrying…',
      unknown: 'No such channel',
    },
  };

  // Event ids are `<milliseconds>-<sequence>` (docs/api.md): is `a` later than `b`?
  const later = (a, b) => {
    if (!b) return !!a;
    const [am, as] = a.split('-').map(Number);
    const [bm, bs] = b.split('-').map(Number);
    return am > bm || (am === bm && as > bs);
  };

  // Elements are built from text only: strings become Text nodes, never markup.
  const h = (tag, attrs = {}, ...children) => {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value != null && value !== false) el.setAttribute(name, value === true ? '' : value);
    }
    el.append(...children);
    return el;
  };

  const safeUrl = (url) => {
    try {
      const u = new URL(url);
      return u.protocol === 'https:' || u.protocol === 'http:' ? u.href : null;
    } catch {
      return null;
    }
  };

  // `ar-u-nu-latn` with hourCycle h23 gives 23:31 (Intl may add U+200F marks around it).
  const clocks = new Map();
  const clock = (lang, digits, hourCycle, timeZone) => {
    const key = [lang, digits, hourCycle, timeZone].join();
    if (!clocks.has(key)) {
      const options = { hour: '2-digit', minute: '2-digit', hourCycle, timeZone };
      let format;
      try {
        format = new Intl.DateTimeFormat(`${lang}-u-nu-${digits}`, options);
      } catch {
        delete options.timeZone; // an unknown language tag or time zone: keep the rest
        format = new Intl.DateTimeFormat(`ar-u-nu-${digits}`, options);
      }
      clocks.set(key, format);
    }
    return clocks.get(key);
  };

  /* ----------------------------------------------------------------- state -- */

  // The live items of one server and list of channels, shared by every <breaking-ticker>
  // of the page that shows them. They change only through event(), reset() and adopt().
  class Feed {
    constructor(server, channels) {
      this.server = server;
      this.channels = channels;
      this.key = `${server} ${channels}`;
      this.items = new Map(); // id → item, all channels together
      this.last = {}; // channel → id of the last event its items reflect
      this.pos = null; // id of the last stream event: where a reconnect resumes
      this.fresh = new Set(); // ids published while we watched: highlighted when shown
      this.fixed = new Set(); // ids corrected while we watched (updated_at has whole seconds)
      this.meta = {}; // channel → {title, lang, dir, timezone}
      this.missing = [];
      this.status = 'connecting'; // then 'live' or 'offline'
      this.ready = false; // items came from somewhere (stream, snapshot, page, other tab)
      this.views = new Set();
      this.skew = -Infinity; // a lower bound of (server clock − our clock)
      this.timer = 0;
      this.link = new Link(this);
    }

    event(type, id, data) {
      if (type === 'reset') return this.reset(data.channel, data.items, id, true);
      const channel = data.channel;
      // A channel's events apply in order, once: a resume may replay what a snapshot has.
      if (this.last[channel] && !later(id, this.last[channel])) return;
      this.last[channel] = id;
      const had = this.items.has(data.id);
      if (type === 'publish' || type === 'update') {
        this.items.set(data.id, data);
        this.seen(data);
        if (type === 'publish' && !had) this.fresh.add(data.id);
        if (type === 'update') this.fixed.add(data.id);
      } else {
        this.items.delete(data.id);
      }
      this.changed({ type: type === 'publish' && had ? 'update' : type, item: data });
    }

    // A whole channel at once. A stream `reset` is always taken (the server may have gone
    // back in time after losing data); a polled snapshot only when it is newer.
    reset(channel, items, last, always) {
      if (!always && this.last[channel] && !later(last, this.last[channel])) return false;
      for (const [id, item] of this.items) if (item.channel === channel) this.items.delete(id);
      for (const item of items) {
        this.items.set(item.id, item);
        this.seen(item);
      }
      this.last[channel] = last;
      this.changed({ type: 'reset' });
      return true;
    }

    dump() {
      const { pos, last, status } = this;
      return { pos, last, status, items: [...this.items.values()], fixed: [...this.fixed] };
    }

    adopt(state) {
      this.items = new Map(state.items.map((item) => [item.id, item]));
      state.items.forEach((item) => this.seen(item));
      this.pos = state.pos;
      this.last = state.last;
      this.fixed = new Set(state.fixed);
      this.setStatus(state.status);
      this.changed({ type: 'reset' });
    }

    // `updated_at` is never later than the server's clock when we receive it, so the
    // largest (updated_at − now) seen bounds the server's lead from below: items expire
    // locally late rather than early when the reader's clock is wrong.
    seen(item) {
      const lead = Date.parse(item.updated_at) - Date.now();
      if (lead > this.skew) this.skew = lead; // (a NaN never gets in)
    }

    // Items past `expires_at` leave even when their `expire` event was missed.
    expire() {
      clearTimeout(this.timer);
      const now = Date.now() + this.skew;
      let next = Infinity;
      for (const [id, item] of this.items) {
        const at = Date.parse(item.expires_at);
        if (at <= now) this.items.delete(id);
        else next = Math.min(next, at);
      }
      if (next < Infinity) {
        this.timer = setTimeout(() => this.changed({}), Math.min(next - now + 100, 2e9));
      }
    }

    changed(change) {
      this.expire();
      this.ready = true;
      for (const ids of [this.fresh, this.fixed]) {
        for (const id of ids) if (!this.items.has(id)) ids.delete(id);
      }
      for (const view of this.views) view.update(change);
    }

    setStatus(status) {
      if (status === this.status) return;
      this.status = status;
      for (const view of this.views) view.update({ type: 'status' });
    }

    async loadMeta() {
      try {
        const response = await fetch(`${this.server}/api/v1/channels`, { credentials: 'omit' });
        for (const channel of (await response.json()).channels) this.meta[channel.id] = channel;
        this.missing = this.channels.filter((id) => !this.meta[id]);
      } catch {
        return; // defaults from the attributes, and Arabic, right to left
      }
      for (const view of this.views) view.update({ type: 'meta' });
    }
  }

  const feeds = new Map(); // Feed.key → Feed

  /* ------------------------------------------------------------- rendering -- */

  let sheet; // one constructed stylesheet for all: a host page's CSP style-src cannot block it
  // Digit groups (phone numbers, scores, times, amounts) read left to right even inside a
  // right-to-left sentence. The server writes its own rule in here (ticker/bidi.py).
  const DIGIT_GROUP = new RegExp('/*@digits*/', 'gu');
  // A group right after a Latin word already runs on with it («Europa-2»): left alone.
  const AFTER_LATIN = new RegExp('/*@after-latin*/', 'u');
  // `text` in pieces, each with whether it is a digit group to isolate; joined, they are `text`.
  const split = (text) => {
    const pieces = [];
    let at = 0;
    for (const match of text.matchAll(DIGIT_GROUP)) {
      if (AFTER_LATIN.test(text.slice(0, match.index))) continue;
      if (match.index > at) pieces.push([text.slice(at, match.index), false]);
      pieces.push([match[0], true]);
      at = match.index + match[0].length;
    }
    if (at < text.length) pieces.push([text.slice(at), false]);
    return pieces;
  };
  // Text nodes, with each digit group in a left-to-right isolate: never markup.
  const isolated = (text) =>
    split(text).map(([piece, group]) => (group ? h('bdi', { dir: 'ltr', class: 'num' }, piece) : piece));
  const reducedMotion = matchMedia('(prefers-reduced-motion: reduce)');
  const EVENTS = {
    publish: 'ticker-publish',
    update: 'ticker-update',
    retract: 'ticker-remove',
    expire: 'ticker-remove',
    status: 'ticker-status',
  };

  class BreakingTicker extends HTMLElement {
    static observedAttributes = [
      'channel', 'server', 'mode', 'limit', 'lang', 'dir', 'timezone', 'digits', 'hour-cycle',
      'theme', 'label',
    ];

    constructor() {
      super();
      const root = this.attachShadow({ mode: 'open' });
      if (!sheet) {
        sheet = new CSSStyleSheet();
        sheet.replaceSync(CSS);
      }
      root.adoptedStyleSheets = [sheet];
      this.label = h('span', { class: 'label', part: 'label' });
      this.state = h('span', { class: 'state', part: 'status' });
      this.button = h('button', { class: 'pause', part: 'pause', type: 'button' });
      this.list = h('ol', { part: 'list', role: 'list' }); // role: list-style none drops it in Safari
      this.empty = h('p', { class: 'empty', part: 'empty', hidden: true });
      this.view = h('div', { class: 'view', part: 'viewport' }, this.list, this.empty);
      // The polite live region: it speaks new urgent items, not every correction.
      this.speaker = h('div', { class: 'sr', 'aria-live': 'polite' });
      // The pause control comes before the items in the document, as on screen: the
      // keyboard reaches it first, not after every item link (WCAG 2.4.3 and 2.2.2).
      this.box = h(
        'section',
        { class: 'bt', part: 'box' },
        h('header', { part: 'header' }, this.label, this.state),
        h('div', { class: 'ctl' }, this.button),
        this.view,
        this.speaker,
      );
      root.append(this.box);
      this.rows = new Map(); // item id → <li>
      this.news = []; // urgent items to announce at the next render
      this.held = this.hover = this.focus = false;
      this.button.onclick = () => {
        this.held = !this.held;
        this.sync();
      };
      // Hover and focus pause the items (not the button, which must stay clickable).
      const pause = (key, value) => () => {
        this[key] = value;
        this.sync();
      };
      this.view.addEventListener('pointerenter', pause('hover', true));
      this.view.addEventListener('pointerleave', pause('hover', false));
      this.view.addEventListener('focusin', (e) => {
        pause('focus', true)();
        // The strip has stopped moving and is back where it scrolls by hand: show the
        // focused link there (the browser scrolled to where the animation had it).
        e.target.scrollIntoView?.({ block: 'nearest', inline: 'nearest' });
      });
      this.view.addEventListener('focusout', (e) => {
        if (!this.view.contains(e.relatedTarget)) pause('focus', false)();
      });
      this.resized = new ResizeObserver(() => this.move());
    }

    connectedCallback() {
      if (document.readyState === 'loading') {
        // Server-rendered state (/embed) is a child: wait until the parser has it.
        document.addEventListener('DOMContentLoaded', () => this.isConnected && this.attach(), {
          once: true,
        });
      } else {
        this.attach();
      }
    }

    disconnectedCallback() {
      this.detach();
    }

    attributeChangedCallback(name) {
      if (!this.feed) return;
      if (name === 'channel' || name === 'server') {
        this.detach();
        this.attach();
      } else {
        this.update({ type: 'options' });
      }
    }

    attach() {
      if (this.feed) return;
      const server = (this.getAttribute('server') || ORIGIN).replace(/\/+$/, '');
      const channels = (this.getAttribute('channel') || 'main')
        .split(',')
        .map((id) => id.trim())
        .filter((id) => CHANNEL.test(id));
      if (!channels.length) {
        this.empty.hidden = false;
        this.empty.textContent = TEXT.ar.unknown;
        return;
      }
      const key = `${server} ${channels}`;
      let feed = feeds.get(key);
      if (!feed) {
        feeds.set(key, (feed = new Feed(server, channels)));
        this.seed(feed);
        if (!Object.keys(feed.meta).length) feed.loadMeta();
        feed.link.start();
      }
      this.feed = feed;
      feed.views.add(this);
      this.resized.observe(this.view);
      this.resized.observe(this.list);
      this.update({ type: 'attach' });
    }

    detach() {
      const feed = this.feed;
      if (!feed) return;
      this.feed = null;
      this.drawn = false;
      this.rows.clear();
      this.list.replaceChildren();
      this.resized.disconnect();
      this.anim?.cancel();
      this.anim = this.moving = null;
      feed.views.delete(this);
      if (!feed.views.size) {
        feeds.delete(feed.key);
        feed.link.stop();
        clearTimeout(feed.timer);
      }
    }

    // /embed renders the items into the page with the stream position they reflect, so the
    // first connection resumes from there: nothing missed, nothing twice, no extra request.
    seed(feed) {
      const data = this.querySelector('script[type="application/json"]');
      if (!data) return;
      try {
        const state = JSON.parse(data.textContent);
        feed.meta = state.channels;
        for (const s of state.snapshots) feed.reset(s.channel, s.items, s.last_event_id, true);
        feed.pos = state.position;
      } catch {
        // a broken state only costs the first connection a `reset`
      }
    }

    options() {
      const attr = (name) => (this.getAttribute(name) || '').trim();
      const pick = (name, allowed) => (allowed.includes(attr(name)) ? attr(name) : allowed[0]);
      const meta = this.feed.meta[this.feed.channels[0]] || {};
      const lang = attr('lang') || meta.lang || 'ar';
      const text = TEXT[lang.slice(0, 2).toLowerCase()] || TEXT.en;
      return (this.opts = {
        lang,
        text,
        dir: pick('dir', ['', 'rtl', 'ltr']) || meta.dir || (RTL.test(lang) ? 'rtl' : 'ltr'),
        mode: pick('mode', ['list', 'marquee']),
        theme: pick('theme', ['light', 'dark']),
        digits: pick('digits', ['latn', 'arab']),
        cycle: pick('hour-cycle', ['h23', 'h12']),
        zone: attr('timezone') || meta.timezone,
        limit: Math.min(100, Math.max(1, parseInt(attr('limit'), 10) || 10)),
        label: attr('label') || text.label,
      });
    }

    // Called by the feed for every change; renders once per burst of events.
    update(change = {}) {
      const name = EVENTS[change.type];
      if (name) {
        const detail = change.item ? { type: change.type, item: change.item } : { status: this.feed.status };
        this.dispatchEvent(new CustomEvent(name, { detail }));
      }
      if (change.type === 'publish' && change.item.priority === 'urgent') this.news.push(change.item);
      if (!this.queued) {
        this.queued = true;
        setTimeout(() => {
          this.queued = false;
          this.render();
        });
      }
      if (change.type === 'publish') report(this, change.item); // after the render is due
    }

    paused() {
      return this.held || this.hover || this.focus;
    }

    render() {
      const feed = this.feed;
      if (!feed) return;
      const o = this.options();
      const marquee = o.mode === 'marquee';
      const box = { dir: o.dir, lang: o.lang, 'data-mode': o.mode, 'data-theme': o.theme };
      box['data-status'] = feed.status;
      box['aria-label'] = o.label;
      for (const [name, value] of Object.entries(box)) this.box.setAttribute(name, value);
      this.label.textContent = o.label;
      this.state.textContent = feed.status === 'offline' ? o.text.offline : '';
      this.button.setAttribute('aria-label', o.text.pause);
      this.button.title = o.text.pause;
      this.button.setAttribute('aria-pressed', this.held);
      for (const name of ['role', 'aria-label']) this.view.removeAttribute(name);
      if (marquee) {
        this.view.setAttribute('role', 'marquee');
        this.view.setAttribute('aria-label', o.label);
      }

      const shown = [...feed.items.values()]
        .sort((a, b) => (later(a.id, b.id) ? -1 : 1))
        .slice(0, o.limit);
      const keep = new Set(shown.map((item) => item.id));
      const paused = this.paused();
      // Retracted and expired items leave at once, even while paused: a withdrawn item must
      // not stay on screen. New items and corrections wait for the reader to resume.
      for (const [id, li] of this.rows) {
        if (!feed.items.has(id) || (!paused && !keep.has(id))) {
          li.remove();
          this.rows.delete(id);
        }
      }
      this.pending = paused;
      if (!paused) {
        const format = clock(o.lang, o.digits, o.cycle, o.zone);
        shown.forEach((item, i) => {
          let li = this.rows.get(item.id);
          if (!li) {
            this.rows.set(item.id, (li = h('li', { part: 'item' })));
            if (this.drawn && feed.fresh.has(item.id)) this.flash(li);
          }
          const fixed = item.updated_at !== item.created_at || feed.fixed.has(item.id);
          const look = [item.text, item.url, item.priority, item.created_at, fixed];
          const sig = [...look, o.lang, o.digits, o.cycle, o.zone, o.dir].join('\n');
          if (li.sig !== sig) {
            li.sig = sig;
            this.fill(li, item, fixed, o, format);
          }
          if (this.list.children[i] !== li) this.list.insertBefore(li, this.list.children[i] || null);
        });
        this.drawn = true;
        const news = this.news.filter((item) => keep.has(item.id)).slice(-3);
        this.news = [];
        if (news.length && !marquee) {
          this.speaker.textContent = news.map((item) => `${o.label}: ${item.text}`).join(' — ');
        }
      }
      this.empty.hidden = !feed.ready || this.rows.size > 0;
      this.empty.textContent = feed.missing.length ? `${o.text.unknown}: ${feed.missing}` : o.text.empty;
      this.move();
      this.dispatchEvent(new CustomEvent('ticker-render', { detail: { items: this.shown } }));
    }

    // The items on screen, in their order (newest first): what /live redraws its page from.
    get shown() {
      const items = this.feed?.items;
      if (!items) return [];
      return [...this.list.children].map((li) => items.get(li.dataset.id)).filter(Boolean);
    }

    // One line: `HH:MM` at the start, then the sentence, isolated so that Latin words and
    // numbers inside Arabic (or the reverse) cannot reorder the line around them.
    fill(li, item, fixed, o, format) {
      const text = h('bdi', { part: 'text', dir: o.dir }, ...isolated(item.text));
      const url = safeUrl(item.url);
      const body = h(
        'span',
        { class: 'body' },
        url ? h('a', { part: 'link', href: url, target: '_blank', rel: 'noopener noreferrer' }, text) : text,
      );
      if (fixed) {
        body.append(' ', h('span', { class: 'fix', part: 'corrected' }, o.text.corrected));
      }
      const time = h('time', { part: 'time', datetime: item.created_at });
      time.textContent = format.format(new Date(item.created_at));
      li.dataset.id = item.id;
      li.dataset.priority = item.priority;
      li.replaceChildren(time, body);
    }

    flash(li) {
      li.classList.add('new');
      li.setAttribute('part', 'item new');
      setTimeout(() => {
        li.classList.remove('new');
        li.setAttribute('part', 'item');
      }, CONFIG.newMs);
    }

    // Pause and resume: the button (aria-pressed), hover and focus.
    sync() {
      this.button.setAttribute('aria-pressed', this.held);
      this.box.toggleAttribute('data-held', this.held);
      if (this.anim) this.paused() ? this.anim.pause() : this.anim.play();
      if (this.pending && !this.paused()) this.render();
      else this.move();
    }

    // The marquee: one Web Animation from "just entered at the far edge" to "just left at the
    // near edge", started where the newest item sits at the start. Right to left it travels
    // rightwards, so every sentence comes in by its first word, as on Arabic news channels.
    // No motion with prefers-reduced-motion, nor while a link inside has the focus (the
    // strip then scrolls, so the focused link is in view).
    move() {
      const o = this.opts;
      if (!o) return;
      const room = this.view.clientWidth;
      const width = this.list.offsetWidth;
      const on = o.mode === 'marquee' && !reducedMotion.matches && !this.focus && width > room;
      const key = on ? [room, width, o.dir, this.list.firstChild?.dataset.id].join() : null;
      if (key === this.moving) return;
      this.moving = key;
      this.anim?.cancel();
      this.anim = null;
      this.box.toggleAttribute('data-moving', on);
      if (!on) return;
      const s = o.dir === 'rtl' ? 1 : -1;
      const speed = parseFloat(getComputedStyle(this).getPropertyValue('--bt-speed')) || 70;
      const duration = ((room + width) / speed) * 1000;
      this.anim = this.list.animate(
        [{ transform: `translateX(${-s * room}px)` }, { transform: `translateX(${s * width}px)` }],
        { duration, iterations: Infinity },
      );
      this.anim.currentTime = (duration * room) / (room + width);
      if (this.paused()) this.anim.pause();
    }
  }

  reducedMotion.addEventListener('change', () => {
    for (const feed of feeds.values()) for (const view of feed.views) view.move();
  });

  /* ------------------------------------------------------------ connection -- */

  // Tabs of one site share one stream: the tab holding the Web Lock leads, reads the stream
  // and repeats every event on a BroadcastChannel to the others. When it closes, the next
  // tab in the lock's queue takes over and resumes from the last id it heard. A tab hidden
  // for a while leaves the queue (and its stream), and comes back when it is visible again.
  class Link {
    constructor(feed) {
      this.feed = feed;
      this.name = `breaking-ticker ${feed.key}`;
      this.failures = 0;
    }

    start() {
      if (window.BroadcastChannel) {
        this.bc = new BroadcastChannel(this.name);
        this.bc.onmessage = (e) => this.heard(e.data);
      }
      this.onVisibility = () => this.visibility();
      document.addEventListener('visibilitychange', this.onVisibility);
      this.visibility();
    }

    stop() {
      document.removeEventListener('visibilitychange', this.onVisibility);
      clearTimeout(this.hideTimer);
      clearTimeout(this.helloTimer);
      this.resign();
      this.bc?.close();
    }

    say(message) {
      this.bc?.postMessage(message);
    }

    visibility() {
      clearTimeout(this.hideTimer);
      if (document.visibilityState === 'hidden') {
        this.hideTimer = setTimeout(() => this.resign(), CONFIG.hiddenMs);
      } else if (!this.running) {
        this.campaign();
      }
    }

    campaign() {
      this.running = true;
      this.say({ t: 'hello' }); // the leader, if any, answers with its state
      this.helloTimer = setTimeout(() => this.leader || this.feed.ready || this.poll(), CONFIG.helloMs);
      if (!navigator.locks) return this.lead(); // no Web Locks (an insecure context): lead alone
      this.abort = new AbortController();
      navigator.locks
        .request(this.name, { signal: this.abort.signal }, () => new Promise((release) => {
          this.release = release;
          this.lead();
        }))
        .catch(() => {});
    }

    lead() {
      this.leader = true;
      this.connect();
    }

    resign() {
      this.running = this.leader = false;
      this.abort?.abort(); // leaves the lock's queue if still waiting in it
      this.close();
      this.stopPolling();
      this.release?.();
      this.release = null;
    }

    close() {
      clearTimeout(this.retryTimer);
      this.es?.close();
      this.es = null;
    }

    // Without an id the stream starts with a `reset` per channel, taken at the stream's
    // position: the snapshot and the point to resume from arrive together, in one request.
    connect() {
      this.close();
      const { server, channels, pos } = this.feed;
      const url = `${server}/api/v1/stream?channels=${channels}`;
      // EventSource sends no cookies (withCredentials is false) and needs none.
      const es = (this.es = new EventSource(pos ? `${url}&last_event_id=${pos}` : url));
      let opened = false; // once open, it has the server's `retry:` delay
      es.onopen = () => {
        opened = true;
        this.failures = 0;
        this.stopPolling();
        this.status('live');
      };
      for (const type of ['reset', 'publish', 'update', 'retract', 'expire']) {
        es.addEventListener(type, (e) => this.received(type, e.lastEventId, JSON.parse(e.data)));
      }
      // A stream that was open and dropped (a deploy, a lost connection) is being reconnected
      // by the browser itself (CONNECTING): let it, so that the server's `retry:` spreads the
      // clients of a restarted server over seconds, and Last-Event-ID resumes them. Our own
      // backoff is for a stream closed for good (a non-200 answer: CLOSED), one that never
      // opened, or reconnects that keep failing.
      es.onerror = () => {
        if (es !== this.es) return;
        if (opened && es.readyState === EventSource.CONNECTING && this.failures < CONFIG.reconnects) {
          if (this.failures++) this.status('offline');
          return;
        }
        this.close();
        this.failed();
      };
    }

    received(type, id, data) {
      this.failures = 0;
      this.feed.pos = id;
      this.feed.event(type, id, data);
      this.say({ t: 'event', type, id, data });
    }

    // Reconnect ourselves with exponential backoff and jitter, always from the last id;
    // after repeated failures poll the snapshot meanwhile.
    failed() {
      const n = this.failures++;
      if (n) this.status('offline');
      if (this.failures >= CONFIG.pollAfter) this.startPolling();
      const wait = Math.min(CONFIG.maxBackoffMs, CONFIG.backoffMs * 2 ** n * (1 + Math.random() / 2));
      this.retryTimer = setTimeout(() => this.leader && this.connect(), wait);
    }

    status(status) {
      this.feed.setStatus(status);
      this.say({ t: 'status', status });
    }

    startPolling() {
      if (this.polling) return;
      this.polling = true;
      const tick = async () => {
        await this.poll();
        if (this.polling) this.pollTimer = setTimeout(tick, CONFIG.pollMs * (0.75 + Math.random() / 2));
      };
      tick();
    }

    stopPolling() {
      this.polling = false;
      clearTimeout(this.pollTimer);
    }

    // The snapshot, revalidated with its ETag: `cache: 'no-cache'` makes the browser send
    // If-None-Match, and an unchanged snapshot costs a 304 without a body.
    async poll() {
      const feed = this.feed;
      for (const channel of feed.channels) {
        try {
          const url = `${feed.server}/api/v1/channels/${channel}/items?limit=100`;
          const response = await fetch(url, { cache: 'no-cache', credentials: 'omit' });
          if (!response.ok) continue;
          const s = await response.json();
          if (feed.reset(channel, s.items, s.last_event_id, false) && this.leader) {
            this.say({ t: 'snapshot', s });
          }
        } catch {
          // the next poll, or the stream, will do
        }
      }
    }

    // What the other tabs say. A leader answers `hello` and ignores the rest (two leaders
    // can only happen without Web Locks, and each then has its own stream).
    heard(m) {
      const feed = this.feed;
      if (m.t === 'hello') {
        if (this.leader && feed.ready) this.say({ t: 'state', state: feed.dump() });
      } else if (this.leader) {
        return;
      } else if (m.t === 'event') {
        feed.pos = m.id;
        feed.event(m.type, m.id, m.data);
      } else if (m.t === 'snapshot') {
        feed.reset(m.s.channel, m.s.items, m.s.last_event_id, false);
      } else if (m.t === 'state') {
        feed.adopt(m.state);
      } else if (m.t === 'status') {
        feed.setStatus(m.status);
      }
    }
  }

  /* ----------------------------------------------------------- lag reports -- */

  // Publish → screen lag, as readers see it (docs/widget.md, "Lag reports"): for a random 1%
  // of the new items a visible box shows, the time from the event's id (its publish time in
  // Redis) to the render that shows it. Sent 10 at a time, or when the page is hidden (the
  // reader leaves or switches tabs): a JSON list of numbers as text/plain (no preflight),
  // nothing else. lag-reports="off" on the element turns them off. sendBeacon outlives the
  // page; it cannot leave out cookies the browser holds for the ticker's origin (the server
  // reads none there), but fetch with keepalive and credentials: 'omit' does not fit the
  // script's 8 KB budget. The tests fix Math.random to choose what is sampled.
  const flush = (feed) => {
    if (feed.lags?.length) navigator.sendBeacon(`${feed.server}/api/v1/beacon/lag`, `[${feed.lags}]`);
    feed.lags = [];
  };
  document.addEventListener('visibilitychange', () => feeds.forEach(flush));

  const report = (view, item) => {
    if (document.hidden || Math.random() >= 0.01 || view.getAttribute('lag-reports') === 'off') return;
    // After the render (already due). An item held by a pause, or past the box's limit, is
    // not on screen. The reader's clock may be wrong: a lag below zero, or past a minute, is
    // a wrong clock (or a reader who was away), not a delivery, and is dropped.
    setTimeout(() => {
      const lag = Date.now() - parseInt(item.id);
      if (view.rows.has(item.id) && lag >= 0 && lag < 6e4 && (view.feed.lags ||= []).push(lag) > 9) {
        flush(view.feed);
      }
    });
  };

  // For pages built around the widget (/live) and for tests: the same rules and nodes.
  BreakingTicker.split = split;
  BreakingTicker.isolated = isolated;
  BreakingTicker.safeUrl = safeUrl;
  customElements.define('breaking-ticker', BreakingTicker);
})();
