// The WebExtension namespace for Firefox: `browser.*`, promise-based.
globalThis.ext = globalThis.browser;
// Firefox says a bare `loading` (no URL) when a top-level navigation starts, while the old
// document is still shown, and `loading` with the URL once the new one has committed.
globalThis.extLoadingAtStart = true;
