// One driver for two browsers: the extension loaded in Chromium (playwright-core) or Firefox
// (puppeteer-core over WebDriver BiDi), every GitLab hostname mapped to the local stand-in.
//
//   const driver = await launch('chromium' | 'firefox', { extensionDir, standinPort, headless });
//   const page = await driver.openPage('https://staging.gitlab.com/');
//   const tabId = await driver.tabIdFor('https://staging.gitlab.com/');
//   const popup = await driver.openExtensionPage(`popup.html?tab=${tabId}`);
//   await popup.click('[data-testid=choose-next]');
//   await driver.extEval(() => chrome.cookies.getAll({ name: 'gitlab_canary' }));
//   await driver.close();
//
// Page handles (web pages and extension pages alike):
//   goto(url) reload() url() waitForLoad() evaluate(fn, arg) click(sel) text(sel) attr(sel, name)
//   exists(sel) waitFor(sel, {timeout, state: 'attached'|'visible'|'detached'})
//   waitForFunction(fn, arg, {timeout}) screenshot(path) consoleMessages() consoleErrors() close()
// Functions given to evaluate/extEval/waitForFunction run in the browser: they must be
// self-contained, take one JSON-serialisable argument and return a JSON-serialisable value.
//
// Nothing leaves the machine: the GitLab hostnames go to 127.0.0.1:<standinPort>, loopback goes
// direct, and everything else is sent to a refusing loopback proxy (lib/trap.mjs), recorded in
// driver.outsideRequests().

import crypto from 'node:crypto';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { readManifest } from './extension.mjs';
import { startTrap } from './trap.mjs';

export const BROWSERS = ['chromium', 'firefox'];

/** The stand-in's self-managed GitLab (a custom environment: outside *.gitlab.com). */
export const SELF_MANAGED_HOST = 'gitlab.example.test';

/** GitLab hostnames the browsers resolve to the stand-in. */
export const GITLAB_HOSTS = ['gitlab.com', 'staging.gitlab.com', 'next.gitlab.com', 'ops.gitlab.com', SELF_MANAGED_HOST];

/** The moz-extension:// UUID the Firefox driver pins the extension to (any fixed UUID works). */
export const FIREFOX_EXTENSION_UUID = '6a1f0c2e-3b4d-4e5f-8a6b-7c8d9e0f1a2b';

const CHROMIUM_BIN = process.env.CHROMIUM_BIN || '/usr/bin/chromium';
const FIREFOX_BIN = process.env.FIREFOX_BIN || '/usr/bin/firefox-esr';
const DEFAULT_TIMEOUT = 15_000;

/**
 * Launch a browser with the unpacked extension at extensionDir.
 * @param {'chromium'|'firefox'} name
 * @param {{extensionDir: string, standinPort: number, headless?: boolean, helperPage?: string, prefs?: object,
 *   profileDir?: string, permanent?: boolean, restoreSession?: boolean, bfcache?: boolean}} opts
 *   helperPage: the extension page that extEval/tabIdFor run in (default: the options page if the
 *   manifest has one, else the action popup).
 *   prefs: Firefox preferences on top of the harness's (first-party isolation, say); Chromium
 *   refuses them.
 *   profileDir: the browser profile to use, created when missing and kept by close() (the caller
 *   removes it): a second launch on the same directory is the same browser started again (its
 *   cookies, the extension's storage.local; never storage.session). Default: a temporary profile,
 *   removed by close().
 *   permanent (Firefox): install the extension permanently, as an unsigned .xpi in the profile's
 *   extensions/ (signatures off, as ESR allows), instead of as a temporary add-on: only then does it
 *   stay installed, with its storage, across a restart. Chromium loads the unpacked extension on
 *   every launch of a kept profile anyway.
 *   restoreSession: the browser restores the last session when it starts (Chromium
 *   `--restore-last-session`; Firefox `browser.startup.page` 3), session cookies included.
 *   bfcache (Chromium): keep the back/forward cache, which Playwright turns off by default
 *   (`--disable-back-forward-cache`); Firefox has it on anyway.
 */
export async function launch(name, opts) {
  if (!opts || !opts.extensionDir || !opts.standinPort) throw new Error('launch needs {extensionDir, standinPort}');
  const manifest = readManifest(opts.extensionDir);
  if (!manifest) throw new Error(`no manifest.json in ${opts.extensionDir}`);
  const trap = await startTrap();
  try {
    if (name === 'chromium') {
      if (opts.prefs) throw new Error('prefs are Firefox preferences: Chromium has none to set');
      return await launchChromium({ ...opts, manifest, trap });
    }
    if (name === 'firefox') {
      if (opts.bfcache !== undefined) throw new Error('bfcache is a Chromium option: Firefox keeps its back/forward cache');
      return await launchFirefox({ ...opts, manifest, trap });
    }
  } catch (err) {
    await trap.stop();
    throw err;
  }
  await trap.stop();
  throw new Error(`unknown browser ${name}; expected one of ${BROWSERS.join(', ')}`);
}

function defaultHelperPage(manifest) {
  return (
    manifest.options_ui?.page ||
    manifest.options_page ||
    manifest.action?.default_popup ||
    (() => {
      throw new Error('the manifest has no options page and no action popup: pass helperPage to launch()');
    })()
  );
}

/**
 * Run fn until it returns a truthy value (resolved with it) or the deadline passes; errors
 * thrown meanwhile are retried (a document being replaced by a navigation, say).
 */
export async function waitUntil(fn, opts) {
  return poll(fn, opts);
}

async function poll(fn, { timeout = DEFAULT_TIMEOUT, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let lastErr;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
      lastErr = undefined;
    } catch (err) {
      lastErr = err; // e.g. the document is being replaced by a navigation: try again
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeout} ms waiting for ${what}${lastErr ? ` (last error: ${lastErr.message})` : ''}`);
    }
    await delay(interval);
  }
}

/** In-page helpers, shipped as function sources so that every adapter can run them. */
const IN_PAGE = {
  state: ([sel, state]) => {
    const el = document.querySelector(sel);
    if (state === 'detached') return !el;
    if (!el) return false;
    if (state === 'attached') return true;
    const style = getComputedStyle(el);
    const r = el.getBoundingClientRect();
    return style.visibility !== 'hidden' && style.display !== 'none' && r.width > 0 && r.height > 0;
  },
  text: (sel) => {
    const el = document.querySelector(sel);
    return el ? el.textContent.replace(/\s+/g, ' ').trim() : null;
  },
  attr: ([sel, name]) => {
    const el = document.querySelector(sel);
    return el ? el.getAttribute(name) : null;
  },
  ready: () => document.readyState === 'complete',
  center: (sel) => {
    const el = document.querySelector(sel);
    if (!el) return null;
    el.scrollIntoView({ block: 'center', inline: 'center' });
    const r = el.getBoundingClientRect();
    return { x: r.x + r.width / 2, y: r.y + r.height / 2, w: r.width, h: r.height, disabled: !!el.disabled };
  },
};

/**
 * The uniform page handle, on top of a small adapter:
 *   evaluate(fn, arg) click(sel) goto(url) reload() url() screenshot(path) close() consoleMessages()
 */
class PageHandle {
  constructor(adapter, kind) {
    this.adapter = adapter;
    this.kind = kind; // 'web' | 'extension'
  }
  evaluate(fn, arg) {
    return this.adapter.evaluate(fn, arg);
  }
  async goto(url) {
    await this.adapter.goto(url);
    await this.waitForLoad();
  }
  async reload() {
    await this.adapter.reload();
    await this.waitForLoad();
  }
  url() {
    return this.adapter.url();
  }
  async waitForLoad({ timeout = DEFAULT_TIMEOUT } = {}) {
    await poll(() => this.adapter.evaluate(IN_PAGE.ready), { timeout, what: 'document.readyState "complete"' });
    if (this.adapter.afterLoad) await this.adapter.afterLoad();
  }
  async waitFor(sel, { timeout = DEFAULT_TIMEOUT, state = 'attached' } = {}) {
    await poll(() => this.adapter.evaluate(IN_PAGE.state, [sel, state]), { timeout, what: `${sel} to be ${state}` });
  }
  async waitForFunction(fn, arg, { timeout = DEFAULT_TIMEOUT, what } = {}) {
    return poll(() => this.adapter.evaluate(fn, arg), { timeout, what: what || `function ${String(fn).slice(0, 80)}` });
  }
  async exists(sel) {
    return this.adapter.evaluate(IN_PAGE.state, [sel, 'attached']);
  }
  /** Trimmed textContent of the first match (whitespace collapsed); waits for it to exist. */
  async text(sel, { timeout = DEFAULT_TIMEOUT } = {}) {
    await this.waitFor(sel, { timeout });
    return this.adapter.evaluate(IN_PAGE.text, sel);
  }
  async attr(sel, name, { timeout = DEFAULT_TIMEOUT } = {}) {
    await this.waitFor(sel, { timeout });
    return this.adapter.evaluate(IN_PAGE.attr, [sel, name]);
  }
  /** A real (trusted) mouse click on the element's centre, once it is visible. */
  async click(sel, { timeout = DEFAULT_TIMEOUT } = {}) {
    await this.waitFor(sel, { timeout, state: 'visible' });
    await this.adapter.click(sel);
  }
  screenshot(file) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    return this.adapter.screenshot(file);
  }
  /** [{type, text, url}] seen on this page (see README for what each browser can see). */
  async consoleMessages() {
    return this.adapter.consoleMessages();
  }
  async consoleErrors() {
    return (await this.consoleMessages()).filter((m) => m.type === 'error' || m.type === 'pageerror');
  }
  close() {
    return this.adapter.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Chromium: playwright-core, persistent context (extensions need one), new headless mode.

/**
 * Chromium's flags for a run on loopback: no background networking, GitLab's hostnames mapped to
 * the stand-in, everything else to the refusing trap proxy. Shared with the bench's browser
 * without the extension, so that the two differ by the extension only.
 */
export function chromiumArgs(standinPort, trapPort) {
  const hostRules = `MAP *.gitlab.com 127.0.0.1:${standinPort}, MAP gitlab.com 127.0.0.1:${standinPort}, MAP ${SELF_MANAGED_HOST} 127.0.0.1:${standinPort}, EXCLUDE localhost`;
  return [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--no-default-browser-check',
    '--disable-dev-shm-usage',
    '--disable-domain-reliability',
    '--disable-client-side-phishing-detection',
    '--no-pings',
    // No --disable-features here: Chromium keeps only the last one, and playwright's own
    // (Translate, OptimizationHints, NetworkTimeServiceQuerying, HttpsUpgrades, ...) matters.
    '--ignore-certificate-errors',
    `--host-resolver-rules=${hostRules}`,
    // Everything that is not GitLab (mapped above) nor loopback (bypassed implicitly) goes
    // to the refusing trap proxy.
    `--proxy-server=http://127.0.0.1:${trapPort}`,
    `--proxy-bypass-list=gitlab.com;*.gitlab.com;${SELF_MANAGED_HOST}`,
  ];
}

/**
 * A page handle over a library page: Playwright's (Chromium) or Puppeteer's (Firefox web pages),
 * whose page objects share these calls. `nav`: the options of goto and reload. Console messages
 * and uncaught errors are collected from the start.
 */
function libraryPage(page, kind, nav) {
  const messages = [];
  page.on('console', (m) => messages.push({ type: m.type(), text: m.text(), url: m.location()?.url || '' }));
  page.on('pageerror', (e) => messages.push({ type: 'pageerror', text: String(e.stack || e), url: page.url() }));
  return new PageHandle(
    {
      evaluate: (fn, arg) => page.evaluate(fn, arg),
      click: (sel) => page.click(sel),
      goto: (url) => page.goto(url, nav),
      reload: () => page.reload(nav),
      url: async () => page.url(),
      screenshot: (file) => page.screenshot({ path: file }),
      consoleMessages: async () => messages.slice(),
      close: () => page.close(),
      raw: page,
    },
    kind,
  );
}

async function launchChromium({ extensionDir, standinPort, headless = true, manifest, trap, helperPage, profileDir, restoreSession = false, bfcache = false }) {
  const { chromium } = await import('playwright-core');
  // A kept profile (profileDir) belongs to the caller; a temporary one goes with close().
  const ownProfile = !profileDir;
  const profile = profileDir ? (fs.mkdirSync(profileDir, { recursive: true }), profileDir) : fs.mkdtempSync(path.join(os.tmpdir(), 'canary-switch-chromium-'));
  const removeProfile = () => {
    if (ownProfile) fs.rmSync(profile, { recursive: true, force: true });
  };
  const dir = path.resolve(extensionDir);
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_BIN,
      // Playwright's `headless: true` is Chromium's new headless mode, which runs extensions
      // (the old headless shell did not).
      headless,
      ignoreHTTPSErrors: true,
      // Playwright passes --disable-extensions by default; the extension is the point here. It
      // also passes --disable-back-forward-cache, so that no back navigation is ever a bfcache
      // restore: `bfcache: true` keeps the cache, as a user's Chromium has it.
      ignoreDefaultArgs: ['--disable-extensions', ...(bfcache ? ['--disable-back-forward-cache'] : [])],
      args: [
        `--disable-extensions-except=${dir}`,
        `--load-extension=${dir}`,
        ...chromiumArgs(standinPort, trap.port),
        // "Continue where you left off" for this start: the last session's tabs and its session
        // cookies (ProfileImpl::ShouldRestoreOldSessionCookies) come back.
        ...(restoreSession ? ['--restore-last-session'] : []),
      ],
    });
  } catch (err) {
    removeProfile();
    throw err;
  }
  context.setDefaultTimeout(DEFAULT_TIMEOUT);
  context.setDefaultNavigationTimeout(DEFAULT_TIMEOUT);

  const extErrors = [];
  let extBase = null;
  const isExt = (url) => !!extBase && !!url && url.startsWith(extBase);
  context.on('console', (msg) => {
    if (msg.type() !== 'error') return;
    const url = msg.location()?.url || msg.page()?.url() || '';
    if (isExt(url)) extErrors.push({ type: 'error', text: msg.text(), url });
  });
  context.on('weberror', (we) => {
    const url = we.page()?.url() || '';
    if (isExt(url)) extErrors.push({ type: 'pageerror', text: String(we.error()?.stack || we.error()), url });
  });

  // The extension's id is the host of its service worker's URL.
  const findWorker = async (timeout) =>
    context.serviceWorkers().find((w) => w.url().startsWith('chrome-extension://')) ||
    (await context
      .waitForEvent('serviceworker', {
        predicate: (w) => w.url().startsWith('chrome-extension://'),
        timeout,
      })
      .catch(() => null));
  let sw = await findWorker(10_000);
  if (!sw && profileDir) {
    // A kept profile started again: the worker is registered already and Chromium may leave it
    // stopped until an event. An unpacked extension's id is its path's (SHA-256, a-p digits):
    // a message from one of its pages wakes the worker, which must then appear.
    const id = unpackedExtensionId(dir);
    const targets = await targetList(context);
    const page = await context.newPage();
    try {
      await page.goto(`chrome-extension://${id}/${(helperPage || defaultHelperPage(manifest)).replace(/^\//, '')}`);
      await page.evaluate(() => chrome.runtime.sendMessage({ wake: true }).then(() => true, () => true));
      sw = await findWorker(10_000);
    } catch {
      sw = null;
    } finally {
      await page.close().catch(() => {});
    }
    process.stderr.write(`chromium: the extension's service worker did not start with the kept profile; ${sw ? 'woken by a message' : 'not woken'} (targets: ${targets})\n`);
  }
  if (!sw) {
    await context.close().catch(() => {});
    removeProfile();
    throw new Error(`Chromium: no extension service worker appeared for ${dir} (does the manifest have background.service_worker, and does it load?)`);
  }
  const extensionId = new URL(sw.url()).host;
  extBase = `chrome-extension://${extensionId}/`;

  // The first about:blank tab stays open as an anchor, so that closing the last page under test
  // never closes the window (and with it the browser).
  const newTab = () => context.newPage();

  const driver = baseDriver({
    name: 'chromium',
    manifest,
    extensionId,
    extensionBase: extBase,
    helperPage: helperPage || defaultHelperPage(manifest),
    trap,
    extErrors,
    async openPage(url) {
      const page = await newTab();
      const h = libraryPage(page, 'web', { waitUntil: 'load' });
      await h.goto(url);
      return h;
    },
    async openExtensionPage(rel) {
      const page = await context.newPage();
      const h = libraryPage(page, 'extension', { waitUntil: 'load' });
      await h.goto(extBase + rel.replace(/^\//, ''));
      return h;
    },
    /**
     * Stop the extension's service worker, as Chromium does after 30 s idle, and wait until its
     * target is gone. ServiceWorker.stopAllWorkers works from any page's CDP session: the
     * extension's worker lives in the profile's default storage partition. A worker that an
     * event is still starting (a cookie change a moment ago, say) ignores the stop and then
     * runs on, so the stop is sent again on every poll until the target is gone.
     */
    async stopServiceWorker() {
      const page = context.pages()[0] || (await context.newPage());
      const cdp = await context.newCDPSession(page);
      const browserCdp = await context.browser().newBrowserCDPSession();
      try {
        await cdp.send('ServiceWorker.enable');
        let lastStop = 0;
        await poll(
          async () => {
            if (Date.now() - lastStop >= 250) {
              lastStop = Date.now();
              await cdp.send('ServiceWorker.stopAllWorkers');
            }
            const { targetInfos } = await browserCdp.send('Target.getTargets');
            return !targetInfos.some((t) => t.type === 'service_worker' && t.url.startsWith(extBase));
          },
          { timeout: 10_000, what: 'the extension service worker to stop' },
        );
      } finally {
        await cdp.detach().catch(() => {});
        await browserCdp.detach().catch(() => {});
      }
    },
    /** True while the extension's service worker runs. */
    async serviceWorkerRunning() {
      const browserCdp = await context.browser().newBrowserCDPSession();
      try {
        const { targetInfos } = await browserCdp.send('Target.getTargets');
        return targetInfos.some((t) => t.type === 'service_worker' && t.url.startsWith(extBase));
      } finally {
        await browserCdp.detach().catch(() => {});
      }
    },
    /** Every cookie in the profile, read by the browser itself (not through the extension). */
    async browserCookies(name) {
      const all = await context.cookies();
      return all.filter((c) => !name || c.name === name).map(normalizeCookie);
    },
    async clearBrowserCookies(name) {
      await context.clearCookies(name ? { name } : undefined);
    },
    async shutdown() {
      await withTimeout(context.close(), 15_000, 'Chromium close').catch(() => {});
      removeProfile();
    },
    raw: { context },
  });
  return driver;
}

/** Chromium's id of an unpacked extension: the first 128 bits of SHA-256 of its path, in a-p. */
export function unpackedExtensionId(dir) {
  const hex = crypto.createHash('sha256').update(path.resolve(dir)).digest('hex').slice(0, 32);
  return [...hex].map((d) => String.fromCharCode(97 + parseInt(d, 16))).join('');
}

/** The browser's targets other than pages, for diagnostics. */
async function targetList(context) {
  try {
    const cdp = await context.browser().newBrowserCDPSession();
    try {
      const { targetInfos } = await cdp.send('Target.getTargets');
      return targetInfos.filter((t) => t.type !== 'page').map((t) => `${t.type} ${t.url}`).join(', ') || 'none';
    } finally {
      await cdp.detach().catch(() => {});
    }
  } catch (err) {
    return `unknown (${err.message})`;
  }
}

// ---------------------------------------------------------------------------------------------
// Firefox: puppeteer-core over WebDriver BiDi.
//
// Opening an extension page: Firefox's BiDi `browsingContext.navigate` refuses any URL that is
// not http(s)/file/blob/about:blank ("Navigation to moz-extension://… is not allowed in this
// context", remote/shared/BrowsingContextUtils.sys.mjs isWebdriverSafeNavigationURL) unless the
// browser was started with `--remote-allow-system-access`. With that flag the navigation works,
// but Firefox still sends no navigation/load/log events for contexts in the extension process
// (remote/webdriver-bidi/modules/root/browsingContext.sys.mjs: "Filter out notifications for
// webextension contexts until support gets added (bug 1755014)"), so puppeteer's page.goto and
// page.reload wait forever and its cached realm handles go stale after a reload. Hence extension
// pages are driven with raw, stateless BiDi commands on their browsing context id
// (browsingContext.navigate/reload with wait "complete", script.callFunction, input.performActions,
// browsingContext.captureScreenshot), sent through puppeteer's own session.
// The same flag lets the harness evaluate in the browser's chrome window: it listens there to
// Services.console for errors from moz-extension://<uuid>/ (background and pages; console.error
// from extension processes is not forwarded there, uncaught errors and CSP violations are), and
// terminates the background for stopServiceWorker().

function firefoxPrefs({ standinPort, trapPort, geckoId }) {
  const dead = 'http://127.0.0.1:9/'; // nothing listens on the discard port: fails at once
  return {
    // GitLab hostnames -> 127.0.0.1, and port 443 -> the stand-in's port (forcePort rewrites
    // the port of every socket opened to port 443, whatever the host: checked by the harness
    // test; anything not GitLab goes to the proxy below first, so only GitLab uses it).
    // Format: comma-separated "from=to" pairs, read by the socket transport service in libxul.
    'network.dns.localDomains': GITLAB_HOSTS.join(','),
    'network.socket.forcePort': `443=${standinPort}`,
    // Everything else goes to the refusing trap proxy.
    'network.proxy.type': 1,
    'network.proxy.http': '127.0.0.1',
    'network.proxy.http_port': trapPort,
    'network.proxy.ssl': '127.0.0.1',
    'network.proxy.ssl_port': trapPort,
    'network.proxy.share_proxy_settings': true,
    'network.proxy.no_proxies_on': GITLAB_HOSTS.concat(['.gitlab.com', 'localhost', '127.0.0.1']).join(','),
    'network.proxy.allow_hijacking_localhost': false,
    // A fixed moz-extension:// UUID for the extension, so its pages have a known URL.
    'extensions.webextensions.uuids': JSON.stringify({ [geckoId]: FIREFOX_EXTENSION_UUID }),
    // MV3 host permissions: granted at install unless this is false (default true in 128+; set so
    // that a changed default cannot silently leave the extension without access).
    'extensions.originControls.grantByDefault': true,
    // permissions.request() for optional host access (a self-managed environment added in the
    // options) is granted without the prompt that automation cannot answer.
    'extensions.webextOptionalPermissionPrompts': false,
    // Keep MV3 event pages from being suspended behind the tests' back (stopServiceWorker does it
    // on purpose).
    'extensions.background.idle.timeout': 300_000,
    // Off the network: DNS-over-HTTPS, prefetching, captive portal, connectivity checks.
    'network.trr.mode': 5,
    'network.dns.disablePrefetch': true,
    'network.prefetch-next': false,
    'network.http.speculative-parallel-limit': 0,
    'network.captive-portal-service.enabled': false,
    'network.connectivity-service.enabled': false,
    'browser.safebrowsing.malware.enabled': false,
    'browser.safebrowsing.phishing.enabled': false,
    'browser.safebrowsing.downloads.enabled': false,
    'browser.safebrowsing.downloads.remote.enabled': false,
    'browser.safebrowsing.blockedURIs.enabled': false,
    'browser.safebrowsing.provider.google.updateURL': '',
    'browser.safebrowsing.provider.google4.updateURL': '',
    'browser.safebrowsing.provider.mozilla.updateURL': '',
    // Updates, add-on services, remote settings, experiments, telemetry.
    'app.update.enabled': false,
    'app.update.auto': false,
    'app.update.disabledForTesting': true,
    'extensions.update.enabled': false,
    'extensions.getAddons.cache.enabled': false,
    'extensions.systemAddon.update.enabled': false,
    'extensions.systemAddon.update.url': '',
    'extensions.blocklist.enabled': false,
    'services.settings.server': dead,
    'app.normandy.enabled': false,
    'app.normandy.api_url': '',
    'app.shield.optoutstudies.enabled': false,
    'messaging-system.rsexperimentloader.enabled': false,
    'datareporting.policy.dataSubmissionEnabled': false,
    'datareporting.healthreport.uploadEnabled': false,
    'toolkit.telemetry.enabled': false,
    'toolkit.telemetry.unified': false,
    'toolkit.telemetry.archive.enabled': false,
    'toolkit.telemetry.server': dead,
    'toolkit.coverage.opt-out': true,
    'browser.ping-centre.telemetry': false,
    'browser.region.network.url': '',
    'browser.region.update.enabled': false,
    'browser.search.geoSpecificDefaults': false,
    'browser.search.update': false,
    'browser.topsites.contile.enabled': false,
    'browser.newtabpage.enabled': false,
    'browser.newtabpage.activity-stream.feeds.system.topstories': false,
    'browser.newtabpage.activity-stream.feeds.snippets': false,
    'browser.newtabpage.activity-stream.telemetry': false,
    'browser.discovery.enabled': false,
    'identity.fxaccounts.enabled': false,
    'media.gmp-manager.url': '',
    'media.gmp-gmpopenh264.enabled': false,
    'media.gmp-widevinecdm.enabled': false,
    'security.OCSP.enabled': 0,
    'security.remote_settings.crlite_filters.enabled': false,
    'security.remote_settings.intermediates.enabled': false,
    'browser.contentblocking.report.lockwise.enabled': false,
    'browser.shell.checkDefaultBrowser': false,
    'browser.aboutwelcome.enabled': false,
    'browser.startup.homepage_override.mstone': 'ignore',
    'browser.tabs.warnOnClose': false,
    'browser.tabs.closeWindowWithLastTab': false,
    'datareporting.healthreport.service.enabled': false,
    'privacy.sanitize.sanitizeOnShutdown': false,
  };
}

/**
 * A permanent install: the extension as an unsigned .xpi (a zip of its directory, manifest at the
 * root) at `<profile>/extensions/<gecko id>.xpi`, which Firefox installs from the profile scope
 * when it starts (prefs in PERMANENT_INSTALL_PREFS). Replaced when the directory's files changed.
 */
function installXpi(profile, extensionDir, geckoId) {
  const dir = path.resolve(extensionDir);
  const xpi = path.join(profile, 'extensions', `${geckoId}.xpi`);
  const newest = (d) =>
    fs.readdirSync(d, { withFileTypes: true }).reduce((m, e) => Math.max(m, e.isDirectory() ? newest(path.join(d, e.name)) : fs.statSync(path.join(d, e.name)).mtimeMs), 0);
  if (fs.existsSync(xpi) && fs.statSync(xpi).mtimeMs >= newest(dir)) return xpi;
  fs.mkdirSync(path.dirname(xpi), { recursive: true });
  const tmp = `${xpi}.tmp`;
  fs.rmSync(tmp, { force: true });
  const r = spawnSync('zip', ['-q', '-r', '-X', '-1', tmp, '.'], { cwd: dir, encoding: 'utf8' });
  if (r.error || r.status !== 0) throw new Error(`zip of ${dir} failed (is zip installed? ./build.sh installs it): ${r.error?.message || r.stderr}`);
  fs.renameSync(tmp, xpi);
  return xpi;
}

/** What a permanent, unsigned install from the profile needs (Firefox ESR honours them). */
const PERMANENT_INSTALL_PREFS = {
  'xpinstall.signatures.required': false,
  // Every scope enabled and none disabled on discovery (a side-loaded add-on would otherwise
  // wait for the user's consent).
  'extensions.autoDisableScopes': 0,
  'extensions.enabledScopes': 15,
};

/**
 * Session restore on start-up ("Open previous windows and tabs"): the last session's tabs and
 * its session cookies come back. puppeteer's defaults turn both off.
 */
const RESTORE_SESSION_PREFS = {
  'browser.startup.page': 3,
  'browser.sessionstore.resume_from_crash': true,
};

async function launchFirefox({ extensionDir, standinPort, headless = true, manifest, trap, helperPage, prefs = {}, profileDir, permanent = false, restoreSession = false }) {
  const puppeteer = (await import('puppeteer-core')).default;
  const geckoId = manifest.browser_specific_settings?.gecko?.id || manifest.applications?.gecko?.id;
  if (!geckoId) {
    throw new Error(`${extensionDir}/manifest.json has no browser_specific_settings.gecko.id: Firefox would give the extension a random id and UUID`);
  }
  // A permanent install goes into the profile before Firefox starts, so the profile is ours to
  // make when the caller keeps none; without either, puppeteer makes (and removes) a temporary one.
  let profile = profileDir || null;
  const ownProfile = permanent && !profileDir;
  if (ownProfile) profile = fs.mkdtempSync(path.join(os.tmpdir(), 'canary-switch-firefox-'));
  else if (profile) fs.mkdirSync(profile, { recursive: true });
  const removeProfile = () => {
    if (ownProfile) fs.rmSync(profile, { recursive: true, force: true });
  };
  let browser;
  try {
    if (permanent) installXpi(profile, extensionDir, geckoId);
    browser = await puppeteer.launch({
      browser: 'firefox',
      protocol: 'webDriverBiDi',
      executablePath: FIREFOX_BIN,
      headless,
      acceptInsecureCerts: true,
      // See the comment above: lets BiDi open moz-extension:// pages and evaluate in chrome.
      args: ['--remote-allow-system-access'],
      ...(profile ? { userDataDir: profile } : {}),
      extraPrefsFirefox: {
        ...firefoxPrefs({ standinPort, trapPort: trap.port, geckoId }),
        ...(permanent ? PERMANENT_INSTALL_PREFS : {}),
        ...(restoreSession ? RESTORE_SESSION_PREFS : {}),
        ...prefs,
      },
      protocolTimeout: 30_000,
      // Release builds ignore services.settings.server unless this is set
      // (toolkit/.../services-settings/Utils.sys.mjs, allowServerURL).
      env: { ...process.env, MOZ_REMOTE_SETTINGS_DEVTOOLS: '1' },
    });
  } catch (err) {
    removeProfile();
    throw err;
  }
  const pid = browser.process()?.pid;

  let session;
  let firstTab;
  try {
    firstTab = (await browser.pages())[0];
    session = firstTab?.mainFrame()?.browsingContext?.userContext?.browser?.session;
    if (!session || typeof session.send !== 'function') {
      throw new Error('puppeteer-core internals changed: cannot reach the BiDi session (see lib/browsers.mjs)');
    }
  } catch (err) {
    await browser.close().catch(() => {});
    removeProfile();
    throw err;
  }
  const send = async (method, params) => (await session.send(method, params)).result;

  /** script.callFunction on a context; argument and result travel as JSON strings. */
  async function callIn(context, fn, arg) {
    const r = await send('script.callFunction', {
      functionDeclaration: `async (json) => { const v = await (${fn})(JSON.parse(json)); return JSON.stringify(v === undefined ? null : v); }`,
      arguments: [{ type: 'string', value: JSON.stringify(arg === undefined ? null : arg) }],
      target: { context },
      awaitPromise: true,
      resultOwnership: 'none',
    });
    if (r.type === 'exception') {
      const d = r.exceptionDetails;
      const frames = (d.stackTrace?.callFrames || []).map((f) => `    at ${f.functionName || '<anon>'} (${f.url}:${f.lineNumber})`).join('\n');
      throw new Error(`in-browser exception: ${d.text}\n${frames}`);
    }
    return JSON.parse(r.result.value);
  }

  // Until the driver is handed out, a failure closes the browser (launch() stops the trap).
  const chromeWin = await initFirefox().catch(async (err) => {
    await browser.close().catch(() => {});
    removeProfile();
    throw err;
  });
  const chromeEval = (fn, arg) => callIn(chromeWin.context, fn, arg);
  const extBase = `moz-extension://${FIREFOX_EXTENSION_UUID}/`;

  async function initFirefox() {
    // The chrome window (browser.xhtml): privileged context for error capture and the background.
    const { contexts: chromeContexts } = await send('browsingContext.getTree', { 'moz:scope': 'chrome', maxDepth: 0 });
    const win = chromeContexts.find((c) => c.url.startsWith('chrome://browser/'));
    if (!win) throw new Error('Firefox: no chrome://browser/ window visible over BiDi');
    const chromeEval = (fn, arg) => callIn(win.context, fn, arg);
    const extBase = `moz-extension://${FIREFOX_EXTENSION_UUID}/`;

    // Listen before the extension is installed, so that install-time errors are seen too.
    await chromeEval((prefix) => {
      const store = (globalThis.__canarySwitchHarnessErrors = []);
      const listener = {
        observe(msg) {
          let e;
          try {
            e = msg.QueryInterface(Ci.nsIScriptError);
          } catch {
            return; // a plain string message, not an error from a script
          }
          const flags = e.flags;
          const isError = (flags & (Ci.nsIScriptError.warningFlag | Ci.nsIScriptError.infoFlag)) === 0;
          if (isError && String(e.sourceName || '').startsWith(prefix)) {
            store.push({ type: 'error', text: `${e.errorMessage}`, url: `${e.sourceName}:${e.lineNumber}`, category: e.category });
          }
        },
      };
      Services.console.registerListener(listener);
      return true;
    }, extBase);

    if (permanent) {
      // Installed from the profile at start-up (before this listener: errors of the very first
      // start are not seen); it must be there, enabled, and not a temporary add-on.
      const addon = await poll(
        () =>
          chromeEval(async (id) => {
            const { AddonManager } = ChromeUtils.importESModule('resource://gre/modules/AddonManager.sys.mjs');
            const a = await AddonManager.getAddonByID(id);
            return a ? { active: a.isActive, temporary: a.temporarilyInstalled, scope: a.scope, signed: a.signedState } : false;
          }, geckoId),
        { timeout: 10_000, what: `the add-on ${geckoId} installed from the profile` },
      );
      if (!addon.active || addon.temporary) throw new Error(`Firefox: the permanent install of ${geckoId} is not active: ${JSON.stringify(addon)}`);
    } else {
      const installedId = await browser.installExtension(path.resolve(extensionDir));
      if (installedId !== geckoId) throw new Error(`Firefox installed ${installedId}, expected ${geckoId}`);
    }

    // The background has started once the extension's policy is active; make sure it answers.
    await poll(
      () =>
        chromeEval((id) => {
          const policy = WebExtensionPolicy.getByID(id);
          return !!policy && policy.active;
        }, geckoId),
      { timeout: 10_000, what: 'the extension to become active' },
    );

    return win;
  }

  // Extension pages: raw BiDi on the context id (see the comment above launchFirefox).
  // Console errors: a hook installed after every load we drive (console.error, error and
  // unhandledrejection events); what happens before it is seen by driver.extensionErrors().
  const HOOK = () => {
    if (!window.__harnessConsole) {
      const store = (window.__harnessConsole = []);
      const orig = console.error.bind(console);
      console.error = (...a) => {
        store.push({ type: 'error', text: a.map(String).join(' '), url: location.href });
        orig(...a);
      };
      addEventListener('error', (e) => store.push({ type: 'pageerror', text: String(e.message), url: `${e.filename}:${e.lineno}` }));
      addEventListener('unhandledrejection', (e) => store.push({ type: 'pageerror', text: `unhandled rejection: ${e.reason && (e.reason.stack || e.reason)}`, url: location.href }));
    }
    return true;
  };
  function wrapExtension(page, context) {
    const earlier = [];
    const collect = async () => {
      try {
        const cur = await callIn(context, () => window.__harnessConsole || []);
        return cur;
      } catch {
        return [];
      }
    };
    const adapter = {
      evaluate: (fn, arg) => callIn(context, fn, arg),
      async click(sel) {
        const c = await callIn(context, IN_PAGE.center, sel);
        if (!c) throw new Error(`click: no element ${sel}`);
        await send('input.performActions', {
          context,
          actions: [
            {
              type: 'pointer',
              id: 'harness-mouse',
              parameters: { pointerType: 'mouse' },
              actions: [
                { type: 'pointerMove', x: Math.round(c.x), y: Math.round(c.y) },
                { type: 'pointerDown', button: 0 },
                { type: 'pointerUp', button: 0 },
              ],
            },
          ],
        });
      },
      async goto(url) {
        earlier.push(...(await collect()));
        await send('browsingContext.navigate', { context, url, wait: 'complete' });
      },
      async reload() {
        earlier.push(...(await collect()));
        await send('browsingContext.reload', { context, wait: 'complete' });
      },
      url: () => callIn(context, () => location.href),
      async screenshot(file) {
        const { data } = await send('browsingContext.captureScreenshot', { context });
        fs.writeFileSync(file, Buffer.from(data, 'base64'));
      },
      afterLoad: () => callIn(context, HOOK),
      consoleMessages: async () => earlier.concat(await collect()),
      close: () => send('browsingContext.close', { context }).catch(() => page.close()),
      raw: page,
    };
    return new PageHandle(adapter, 'extension');
  }

  // The first tab stays open as an anchor (see the Chromium driver).
  const newTab = () => browser.newPage();

  return baseDriver({
    name: 'firefox',
    manifest,
    extensionId: geckoId,
    extensionBase: extBase,
    helperPage: helperPage || defaultHelperPage(manifest),
    trap,
    extErrors: null,
    async extensionErrorsSource() {
      return chromeEval(() => globalThis.__canarySwitchHarnessErrors.slice());
    },
    async openPage(url) {
      const page = await newTab();
      const h = libraryPage(page, 'web', { waitUntil: 'load', timeout: DEFAULT_TIMEOUT });
      await h.goto(url);
      return h;
    },
    async openExtensionPage(rel) {
      const page = await browser.newPage();
      const h = wrapExtension(page, page.mainFrame().browsingContext.id);
      await h.goto(extBase + rel.replace(/^\//, ''));
      return h;
    },
    /**
     * Firefox runs MV3 backgrounds as event pages: terminate it the way an idle timeout does,
     * and wait until it is stopped. While a listener call is still pending (a cookie change a
     * moment ago, say) terminateBackground only resets the idle timer and forgets the pending
     * calls (parent/ext-backgroundPage.js), exactly as an idle timeout would; so it is called
     * again until the background is stopped.
     */
    async stopServiceWorker() {
      await poll(
        () =>
          chromeEval(async (id) => {
            const { ExtensionParent } = ChromeUtils.importESModule('resource://gre/modules/ExtensionParent.sys.mjs');
            const ext = ExtensionParent.GlobalManager.getExtension(id);
            if (!ext) throw new Error(`no extension ${id}`);
            if (ext.backgroundState === 'running') await ext.terminateBackground({ ignoreDevToolsAttached: true });
            return ext.backgroundState === 'stopped';
          }, geckoId),
        { timeout: 10_000, interval: 100, what: 'the extension background to stop' },
      );
    },
    async serviceWorkerRunning() {
      return chromeEval((id) => {
        const { ExtensionParent } = ChromeUtils.importESModule('resource://gre/modules/ExtensionParent.sys.mjs');
        const ext = ExtensionParent.GlobalManager.getExtension(id);
        return !!ext && ext.backgroundState === 'running';
      }, geckoId);
    },
    chromeEval,
    /** Every cookie in the profile, read by the browser itself (BiDi storage.getCookies). */
    async browserCookies(name) {
      const { cookies } = await send('storage.getCookies', name ? { filter: { name } } : {});
      return cookies.map((c) => normalizeCookie({ ...c, value: c.value?.value ?? '' }));
    },
    async clearBrowserCookies(name) {
      await send('storage.deleteCookies', name ? { filter: { name } } : {});
    },
    async shutdown() {
      await withTimeout(browser.close(), 15_000, 'Firefox close').catch(() => {
        if (pid) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      });
      removeProfile();
    },
    raw: { browser, send },
  });
}

// ---------------------------------------------------------------------------------------------

function withTimeout(promise, ms, what) {
  let t;
  return Promise.race([
    promise,
    new Promise((_, rej) => {
      t = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** {name, value, domain, hostOnly, path, secure}: `domain` without a leading dot. */
function normalizeCookie(c) {
  const dotted = c.domain.startsWith('.');
  return { name: c.name, value: c.value, domain: dotted ? c.domain.slice(1) : c.domain, hostOnly: !dotted, path: c.path, secure: !!c.secure };
}

/** What both drivers share, built on each one's openPage/openExtensionPage. */
function baseDriver(d) {
  let helper = null;
  let closed = false;
  const driver = {
    name: d.name,
    manifest: d.manifest,
    /** Chromium: the 32-letter id; Firefox: the gecko id. */
    extensionId: d.extensionId,
    /** chrome-extension://<id>/ or moz-extension://<uuid>/ */
    extensionBase: d.extensionBase,
    openPage: d.openPage,
    openExtensionPage: d.openExtensionPage,
    stopServiceWorker: d.stopServiceWorker,
    browserCookies: d.browserCookies,
    clearBrowserCookies: d.clearBrowserCookies,
    serviceWorkerRunning: d.serviceWorkerRunning,
    chromeEval: d.chromeEval,
    raw: d.raw,

    /** Run fn(arg) in an extension page (the helper page, opened once in its own tab). */
    async extEval(fn, arg) {
      if (!helper) helper = await d.openExtensionPage(d.helperPage);
      return helper.evaluate(fn, arg);
    },

    /** The helper extension page's handle (opens it if needed). */
    async helper() {
      if (!helper) helper = await d.openExtensionPage(d.helperPage);
      return helper;
    },

    /**
     * The id of the one tab whose URL starts with urlPrefix (or equals it, with exact: true), as
     * chrome.tabs.query in the extension sees it (the URL is visible for tabs on hosts the
     * extension has host permissions for).
     */
    async tabIdFor(urlPrefix, { timeout = DEFAULT_TIMEOUT, exact = false } = {}) {
      let found = [];
      await poll(
        async () => {
          found = await driver.extEval(
            async ([prefix, ex]) =>
              (await chrome.tabs.query({}))
                .filter((t) => (ex ? t.url === prefix : (t.url || '').startsWith(prefix)))
                .map((t) => ({ id: t.id, url: t.url })),
            [urlPrefix, exact],
          );
          return found.length > 0;
        },
        { timeout, what: `a tab at ${urlPrefix}` },
      );
      if (found.length > 1) throw new Error(`tabIdFor(${urlPrefix}): ${found.length} tabs match: ${JSON.stringify(found)}`);
      return found[0].id;
    },

    /** chrome.cookies.getAll(filter), from the extension. */
    cookies(filter = {}) {
      return driver.extEval((f) => chrome.cookies.getAll(f), filter);
    },

    /** chrome.cookies.set(details), from the extension; no `domain` = a host-only cookie. */
    setCookie(details) {
      return driver.extEval((det) => chrome.cookies.set(det), details);
    },

    /** Remove every cookie named `name` (all domains and paths), from the extension. */
    clearCookies(name) {
      return driver.extEval(async (n) => {
        const all = await chrome.cookies.getAll(n ? { name: n } : {});
        for (const c of all) {
          const host = c.domain.replace(/^\./, '');
          await chrome.cookies.remove({ url: `http${c.secure ? 's' : ''}://${host}${c.path}`, name: c.name, storeId: c.storeId });
        }
        return all.length;
      }, name);
    },

    /** Errors from the extension's own contexts (pages and background) since launch. */
    async extensionErrors() {
      if (d.extErrors) return d.extErrors.slice();
      return d.extensionErrorsSource();
    },

    /** Requests the browser tried to send outside loopback and GitLab (refused by the trap). */
    outsideRequests() {
      return d.trap.attempts();
    },

    async close() {
      if (closed) return;
      closed = true;
      try {
        await d.shutdown();
      } finally {
        await d.trap.stop();
      }
    },
  };
  return driver;
}
