// The page's strings, in its language, from the JSON block the server renders.

let strings = {};
const block = document.getElementById('desk-strings');
if (block) strings = JSON.parse(block.textContent);

// A message with plural forms arrives as one string per CLDR category ("one", "few"...),
// as the server's catalogue has them; the count is its `num` (or `n`) parameter.
const plurals = new Intl.PluralRules(document.documentElement.lang || 'ar');

export function t(key, params = {}) {
  let text = strings[key] ?? key;
  if (typeof text === 'object') text = text[plurals.select(params.num ?? params.n ?? 0)] ?? text.other;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function timeLeft(ms) {
  const seconds = ms / 1000;
  if (seconds < 60) return t('time.soon');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t('time.m', { m: minutes });
  return t('time.hm', { h: Math.floor(minutes / 60), m: minutes % 60 });
}
