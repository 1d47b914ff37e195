// The page's strings, in its language, from the JSON block the server renders.

let strings = {};
const block = document.getElementById('desk-strings');
if (block) strings = JSON.parse(block.textContent);

export function t(key, params = {}) {
  const text = strings[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function timeLeft(ms) {
  const seconds = ms / 1000;
  if (seconds < 60) return t('time.soon');
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return t('time.m', { m: minutes });
  return t('time.hm', { h: Math.floor(minutes / 60), m: minutes % 60 });
}
