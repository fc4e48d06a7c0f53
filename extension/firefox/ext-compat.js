// The WebExtension namespace for Firefox: `browser.*`, promise-based.
globalThis.ext = globalThis.browser;
