// Which extension the tests load, and a tiny stand-in extension for when dist/ is not built yet.
//
// extensionDir('chromium') -> env EXT_DIR_CHROMIUM, else <repo>/dist/chrome   (if it has a manifest)
// extensionDir('firefox')  -> env EXT_DIR_FIREFOX,  else <repo>/dist/firefox  (if it has a manifest)
// EXT_FIXTURE=1 forces the fixture.
// Otherwise a minimal MV3 extension is generated under the OS temp dir, so that the harness
// itself can be proved before the real extension exists (fixture: true).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from './standin.mjs';

export const FIXTURE_GECKO_ID = 'harness-fixture@canary-switch.test';

const DIST = { chromium: 'chrome', firefox: 'firefox' };
const ENV = { chromium: 'EXT_DIR_CHROMIUM', firefox: 'EXT_DIR_FIREFOX' };

/** @returns {{dir: string, fixture: boolean, manifest: object}} */
export function extensionDir(browserName) {
  if (!DIST[browserName]) throw new Error(`unknown browser ${browserName}`);
  if (process.env.EXT_FIXTURE === '1') {
    const dir = writeFixtureExtension(browserName);
    return { dir, fixture: true, manifest: readManifest(dir) };
  }
  const fromEnv = process.env[ENV[browserName]];
  if (fromEnv) {
    const manifest = readManifest(fromEnv);
    if (!manifest) throw new Error(`${ENV[browserName]}=${fromEnv} has no manifest.json`);
    return { dir: path.resolve(fromEnv), fixture: false, manifest };
  }
  const dist = path.join(REPO_ROOT, 'dist', DIST[browserName]);
  const manifest = readManifest(dist);
  if (manifest) return { dir: dist, fixture: false, manifest };
  const dir = writeFixtureExtension(browserName);
  return { dir, fixture: true, manifest: readManifest(dir) };
}

/** True when the real built extension is there for both browsers (or given by env). */
export function realExtensionAvailable() {
  return ['chromium', 'firefox'].every((b) => {
    const fromEnv = process.env[ENV[b]];
    return readManifest(fromEnv || path.join(REPO_ROOT, 'dist', DIST[b])) !== null;
  });
}

export function readManifest(dir) {
  try {
    return JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return null;
  }
}

/** Write the minimal MV3 fixture extension for one browser; returns its directory. */
export function writeFixtureExtension(browserName) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `canary-switch-fixture-${browserName}-`));
  const manifest = {
    manifest_version: 3,
    name: 'Canary Switch harness fixture',
    version: '0.0.1',
    permissions: ['cookies', 'storage', 'tabs'],
    host_permissions: ['*://*.gitlab.com/*'],
    action: { default_popup: 'popup.html' },
    options_ui: { page: 'options.html', open_in_tab: true },
    background:
      browserName === 'firefox' ? { scripts: ['background.js'] } : { service_worker: 'background.js' },
  };
  if (browserName === 'firefox') {
    manifest.browser_specific_settings = { gecko: { id: FIXTURE_GECKO_ID, strict_min_version: '128.0' } };
  }
  fs.writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(manifest, null, 2));
  fs.writeFileSync(
    path.join(dir, 'background.js'),
    `// Harness fixture background: listeners registered synchronously at top level.
const api = globalThis.browser ?? globalThis.chrome;
api.runtime.onInstalled.addListener(() => {});
api.runtime.onMessage.addListener((msg, _sender, reply) => {
  if (msg && msg.ping) { reply({ pong: true }); }
});
`,
  );
  const page = (title) => `<!doctype html>
<html><head><meta charset="utf-8"><title>${title}</title></head>
<body><h1 data-testid="title">${title}</h1><p data-testid="tab"></p>
<script src="page.js"></script></body></html>
`;
  fs.writeFileSync(path.join(dir, 'popup.html'), page('Fixture popup'));
  fs.writeFileSync(path.join(dir, 'options.html'), page('Fixture options'));
  fs.writeFileSync(
    path.join(dir, 'page.js'),
    `const tab = new URLSearchParams(location.search).get('tab');
document.querySelector('[data-testid=tab]').textContent = tab ?? '';
document.body.dataset.ready = '';
`,
  );
  return dir;
}
