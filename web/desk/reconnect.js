// When to reconnect a stream after failures in a row: the one schedule of every client
// (docs/design.md, "Reconnecting"; ticker/tail.py `reconnect_delay`, and the widget's own
// copy, which must stay one self-contained file).

export const FIRST_MS = 1000; // the wait after the first failure
export const MAX_MS = 30000; // no wait is longer

// `failures`: 1, 2, ...; doubled after each, with a jitter of 1 to 1.5 so that clients
// dropped together do not all come back in the same instant. `random` is for the tests.
export function reconnectDelay(failures, random = Math.random) {
  return Math.min(MAX_MS, FIRST_MS * 2 ** (failures - 1) * (1 + random() / 2));
}
