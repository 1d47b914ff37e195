// The desk's script: it finds what the page has and makes it better. Every
// page works without it (plain forms, POST then redirect then GET).

import { initCompose } from './compose.js';
import { initLive } from './live.js';
import { initReach } from './reach.js';
import { initStatus } from './status.js';

function readJson(id, fallback) {
  const block = document.getElementById(id);
  if (!block) return fallback;
  try { return JSON.parse(block.textContent); } catch { return fallback; }
}

const channels = readJson('desk-channels', []);

const compose = document.getElementById('compose-form');
if (compose) initCompose(compose, channels);

const live = document.querySelector('section.live');
if (live && channels.length) initLive(live, channels);

const channelSelect = document.getElementById('channel');
if (live && channelSelect && live.querySelector('#reach-readers')) initReach(live, channelSelect);

const fleet = document.getElementById('fleet');
if (fleet) initStatus(fleet);

// Forms that undo something ask first (revoking a token).
for (const form of document.querySelectorAll('form[data-confirm]')) {
  form.addEventListener('submit', (event) => {
    if (!window.confirm(form.dataset.confirm)) event.preventDefault();
  });
}

// A token shown once: one click selects all of it for copying.
for (const input of document.querySelectorAll('input[data-select]')) {
  input.addEventListener('focus', () => input.select());
}
