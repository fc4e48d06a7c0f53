// The WebExtension namespace for Chromium. In MV3 `chrome.*` calls return promises.
globalThis.ext = globalThis.chrome;
