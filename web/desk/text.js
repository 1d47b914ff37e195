// Text rules shared with the server (ticker/model.py) and the widget's item line.

const BREAKS = /[\t\n\r\v\f\u2028\u2029\u0085]/g;
const BIDI_CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
const CONTROLS = /[\u0000-\u001F\u007F-\u009F]/g;

export const TEXT_MAX = 280;

/** The text as the server will store it: NFC, one line, no bidi overrides, trimmed. */
export function normalise(raw) {
  return raw
    .normalize('NFC')
    .replace(BREAKS, ' ')
    .replace(BIDI_CONTROLS, '')
    .replace(CONTROLS, '')
    .replace(/ {2,}/g, ' ')
    .trim();
}

/** Characters as the server counts them: code points, not UTF-16 units. */
export function length(text) {
  return [...normalise(text)].length;
}

const formats = new Map();

/** The widget's time: `HH:MM`, 24-hour, Latin digits, in the channel's time zone. */
export function hhmm(date, timeZone, lang = 'ar') {
  const key = `${lang}|${timeZone}`;
  if (!formats.has(key)) {
    formats.set(key, new Intl.DateTimeFormat(`${lang}-u-nu-latn`, {
      hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone,
    }));
  }
  // Formatted times may carry direction marks (docs/design.md, "Traps"): drop them.
  return formats.get(key).format(date).replace(/[\u200e\u200f\u061c]/g, '');
}

/** A loose check of what the server accepts: an absolute http(s) URL. */
export function looksLikeUrl(value) {
  try {
    const url = new URL(value);
    return (url.protocol === 'http:' || url.protocol === 'https:') && Boolean(url.hostname);
  } catch {
    return false;
  }
}

// The text as nodes, each digit group (a phone number, a score) in a left-to-right
// isolate, by the widget's own rule when the page loaded the widget; else plain text.
export function withDigitGroups(text) {
  const widget = customElements.get('breaking-ticker');
  return widget && widget.isolated ? widget.isolated(text) : [text];
}
