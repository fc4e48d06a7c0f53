// Background loader (Chromium service worker, Firefox event page). A classic script: the
// background module's glue (canary_switch_background.js, wasm-bindgen `no-modules`) defines the
// global `wasm_bindgen`. Chromium loads it here;
// Firefox lists the same files before this one in `background.scripts` (event pages have no
// importScripts).
if (typeof importScripts === 'function') importScripts('ext-compat.js', 'canary_switch_background.js', 'post-note.js', 'peek.js');

// Every listener is registered here, synchronously, in the first turn of the script: a stopped
// service worker woken by an event delivers it only to listeners that exist by then
// (https://developer.chrome.com/docs/extensions/develop/concepts/service-workers/events).
// The wasm starts loading at once and each handler awaits it. All logic is in Rust
// (extension/crates/background/: background.rs, checker.rs); the page reader (reader.js) and the identity probe
// (user.js) are plain scripts the background injects into GitLab tabs.
const core = wasm_bindgen;
const ready = core({ module_or_path: 'canary_switch_background_bg.wasm' });
// For ./build.sh bench: worker start -> wasm ready is this mark's startTime.
ready.then(() => performance.mark('canary-switch:wasm-ready'), (e) => console.error('Canary Switch: the wasm core failed to load;', e));

const when = (handler) => (...args) =>
  ready.then(() => handler(...args)).catch((e) => console.error('Canary Switch:', e));

ext.tabs.onActivated.addListener(when((info) => core.on_tab_activated(info.tabId)));
// A new document: Chromium says `loading` once it has committed; Firefox says a bare `loading`
// at navigation start (the old document is still shown) and `loading` with the URL at commit.
// The reader is injected at commit and answers at DOMContentLoaded; `complete` is the fallback.
// A same-document URL change is `{url}` in Chromium and `{status: 'complete', url}` in Firefox.
const pageEvent = (change) => {
  const e = core.PageEvent;
  if (change.status === 'complete') return change.url ? e.UrlChange : e.Complete;
  if (change.status === 'loading') return change.url || !globalThis.extLoadingAtStart ? e.Loading : e.Start;
  return e.UrlChange;
};
ext.tabs.onUpdated.addListener(
  when((tabId, change, tab) => (change.url || change.status) && core.on_tab_updated(tabId, pageEvent(change), (tab && tab.url) || '')),
);
ext.tabs.onRemoved.addListener(when((tabId) => core.on_tab_removed(tabId)));
ext.runtime.onMessage.addListener((message, sender, sendResponse) => {
  // Commands come only from the extension's own pages (the popup); web pages run no extension
  // code at all (the page reader is a one-shot injection that sends nothing).
  if (sender.id !== ext.runtime.id || !message || typeof message !== 'object' || !('command' in message)) return false;
  if (!sender.url || !sender.url.startsWith(ext.runtime.getURL(''))) return false;
  ready
    .then(() => core.on_command_message(message.command))
    .then(sendResponse, (e) => sendResponse({ error: String(e) }));
  return true;
});
// GitLab tabs already open when the extension is installed or updated, or when this worker
// starts again, get their badge without a reload: each start reads the tabs that have no
// detection for their page (one injection per tab at a time, so the two calls at install
// share the work).
ext.runtime.onInstalled.addListener(when(() => core.on_started()));
when(() => core.on_started())();
ext.alarms.onAlarm.addListener(when((alarm) => core.on_alarm(alarm.name)));
ext.cookies.onChanged.addListener(
  when((info) => info.cookie.name === 'gitlab_canary' && core.on_canary_cookie_changed()),
);
ext.commands.onCommand.addListener(when((command) => core.on_command(command)));
