// What the extension says about the page a tab shows, read where the extension keeps it, and
// what the stand-in says about the same page.
//
//   const entry = await pageEntry(env.standin, url, { since });   // the HTML request's log line
//   const state = await waitForDetection(env.driver, tabId, { url, after: t0 });
//   const { text, title } = await badge(env.driver, tabId);
//   await waitForBadge(env.driver, tabId, 'NEXT');
//   const { local, session } = await extensionStorage(env.driver);
//
// Everything here runs in an extension page through driver.extEval (the same code in both
// browsers: Firefox has `chrome.*` with promises in MV3 too), and every wait has a time-out.

import { waitUntil } from './browsers.mjs';

/** The badge text each stage shows (CONTRACT.md). */
export const BADGE = { canary: 'NEXT', main: 'CUR', unknown: '' };

/**
 * The stand-in's log entry of the HTML request for `url` (GET, same host, path and query), with
 * seq > since. Peek, API and asset requests have other paths, so they never match.
 */
export async function pageEntry(standin, url, { since = 0, timeoutMs = 15_000 } = {}) {
  const u = new URL(url);
  const query = u.search.replace(/^\?/, '');
  return standin.waitForLog(
    (e) => e.method === 'GET' && e.host === u.hostname && e.path === u.pathname && (e.query || '') === query,
    { since, timeoutMs, what: `the HTML request of ${url}` },
  );
}

/** `{text, title}` of the toolbar button for one tab. */
export function badge(driver, tabId) {
  return driver.extEval(async (id) => {
    const api = globalThis.browser ?? globalThis.chrome;
    return { text: await api.action.getBadgeText({ tabId: id }), title: await api.action.getTitle({ tabId: id }) };
  }, tabId);
}

/**
 * Waits until the tab's badge text is `text` and, for a stage badge (NEXT, CUR), until its title
 * names the served stage too (the background sets the badge first, the title after it);
 * resolves `{text, title}`.
 */
export async function waitForBadge(driver, tabId, text, { timeout = 15_000 } = {}) {
  let last;
  const stage = text === BADGE.canary ? 'canary' : text === BADGE.main ? 'main' : null;
  try {
    return await waitUntil(
      async () => {
        last = await badge(driver, tabId);
        if (last.text !== text) return false;
        return !stage || new RegExp(`served by ${stage}\\b`).test(last.title) ? last : false;
      },
      { timeout, what: `badge "${text}" on tab ${tabId}` },
    );
  } catch (err) {
    err.message += ` (last: ${JSON.stringify(last)})`;
    throw err;
  }
}

/** storage.session `tab:<id>`: {url, detection}, or null. */
export function tabState(driver, tabId) {
  return driver.extEval(async (id) => {
    const key = `tab:${id}`;
    return (await chrome.storage.session.get(key))[key] ?? null;
  }, tabId);
}

/**
 * Waits until the extension has stored a detection for the page the tab shows now: same URL,
 * read at or after `after` (ms since the epoch, this machine's clock), and, when given and the
 * detection names one, for this request id (the perf bar's). Resolves the stored `{url, detection}`.
 */
export async function waitForDetection(driver, tabId, { url, after = 0, requestId, timeout = 15_000 } = {}) {
  let last = null;
  try {
    return await waitUntil(
      async () => {
        last = await tabState(driver, tabId);
        const d = last?.detection;
        // A detection still waiting for the peek results of its request is not the last word.
        if (!d || last.refining || (url && last.url !== url) || d.atMs < after) return false;
        // Vue's replacement of the bar's mount carries no request id: then `after` decides.
        if (requestId && d.requestId && d.requestId !== requestId) return false;
        return last;
      },
      { timeout, what: `a detection of ${url || 'the page'} in tab ${tabId}` },
    );
  } catch (err) {
    err.message += ` (last stored: ${JSON.stringify(last)})`;
    throw err;
  }
}

/** Everything in storage.local and storage.session (extension pages can read both). */
export function extensionStorage(driver) {
  return driver.extEval(async () => ({
    local: await chrome.storage.local.get(null),
    session: await chrome.storage.session.get(null),
  }));
}

/** One storage.local value, or null. */
export function localValue(driver, key) {
  return driver.extEval(async (k) => (await chrome.storage.local.get(k))[k] ?? null, key);
}

/** Removes storage.local keys. */
export function removeLocal(driver, keys) {
  return driver.extEval(async (k) => {
    await chrome.storage.local.remove(k);
    return true;
  }, keys);
}

/** Activates a tab (as the user clicking it does): tabs.onActivated reaches the background. */
export function activateTab(driver, tabId) {
  return driver.extEval(async (id) => {
    await chrome.tabs.update(id, { active: true });
    return true;
  }, tabId);
}

/**
 * Console messages that the extension caused on a web page: anything from an extension URL, or
 * naming the extension or its wasm core. The pages' own noise (a 404 favicon) is not ours.
 */
export function extensionConsoleErrors(messages, extensionBase) {
  return messages.filter(
    (m) =>
      (m.type === 'error' || m.type === 'pageerror') &&
      (String(m.url || '').startsWith(extensionBase) ||
        /chrome-extension:|moz-extension:|Canary Switch|wasm_bindgen|canary_switch|\bwasm\b/i.test(String(m.text))),
  );
}
