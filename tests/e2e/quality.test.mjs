// Store readiness and accessibility, in Chromium:
// - Chromium loads dist/chrome with no install warnings and no manifest errors (as
//   chrome://extensions reports them through chrome.developerPrivate);
// - the popup and the options page pass axe-core's WCAG 2 A and AA rules (contrast included) in
//   the light and the dark theme;
// - the switch works with the keyboard alone, in the popup and through the toggle command.
// That web pages reach no extension file is tested in both browsers (stage.test.mjs).
// Firefox's side of store readiness is `web-ext lint` (0 errors, 0 warnings) in ./build.sh test.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { openPopup, SEL } from '../lib/popup.mjs';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/**
 * axe-core's violations on a page, as "rule: target" strings. The source is evaluated through
 * the DevTools protocol, which the extension pages' CSP (script-src 'self') does not govern.
 */
async function axeViolations(page) {
  const result = await page.adapter.raw.evaluate(
    `${AXE}\n;axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'] } })`,
  );
  return result.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')} (${v.help})`));
}

describe('quality: chromium', { skip: !realExtensionAvailable() && 'no dist/', timeout: 120_000 }, () => {
  const env = useBrowser('chromium', { seed: 5, standinArgs: ['--canary-weight', '0'] });

  it('Chromium reports no install warnings and no manifest errors for dist/chrome', async () => {
    const page = env.track(await env.driver.openPage('chrome://extensions/'));
    const info = await page.adapter.raw.evaluate((id) => chrome.developerPrivate.getExtensionInfo(id), env.driver.extensionId);
    assert.equal(info.state, 'ENABLED');
    assert.deepEqual(info.installWarnings, [], 'install warnings');
    assert.deepEqual(info.manifestErrors, [], 'manifest errors');
    await page.close();
  });

  for (const scheme of ['light', 'dark']) {
    it(`popup and options pass WCAG 2 A/AA checks in the ${scheme} theme`, async () => {
      const url = `https://staging.gitlab.com/quality/a11y-${scheme}`;
      const site = env.track(await env.driver.openPage(url));
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      const popup = env.track(await openPopup(env.driver, tabId));
      await popup.adapter.raw.emulateMedia({ colorScheme: scheme });
      assert.deepEqual(await axeViolations(popup), [], 'popup');
      const options = env.track(await env.driver.openExtensionPage('options.html'));
      await options.waitFor('body[data-ready]');
      await options.adapter.raw.emulateMedia({ colorScheme: scheme });
      assert.deepEqual(await axeViolations(options), [], 'options');
      await popup.close();
      await options.close();
      await site.close();
    });
  }

  it('switches with the keyboard alone', async () => {
    const url = 'https://staging.gitlab.com/quality/keyboard';
    const site = env.track(await env.driver.openPage(url));
    const tabId = await env.driver.tabIdFor(url, { exact: true });
    const popup = env.track(await openPopup(env.driver, tabId));
    const since = await env.standin.lastSeq();
    // Tab from the top of the page until the Next button has focus, then press Enter.
    let focused = '';
    for (let i = 0; i < 10 && focused !== 'choose-next'; i++) {
      await popup.adapter.raw.keyboard.press('Tab');
      focused = await popup.adapter.raw.evaluate(() => document.activeElement?.dataset?.testid || '');
    }
    assert.equal(focused, 'choose-next', 'Tab reaches the Next button');
    await popup.adapter.raw.keyboard.press('Enter');
    await popup.waitForFunction(() => document.body.dataset.switch === 'done', null, { what: 'the switch' });
    assert.match(await popup.text(SEL.preference), /Next/);
    const entry = await env.standin.waitForLog((e) => e.host === 'staging.gitlab.com' && e.path === '/quality/keyboard', {
      since,
      what: 'the reload',
    });
    assert.deepEqual(entry.gitlab_canary, ['true']);
    assert.equal(entry.stage, 'canary');
    await popup.close();
    await site.close();
  });

  it('the toggle command (Alt+Shift+N) flips the active tab between Next and Current, one reload each', async () => {
    // Automation cannot press an extension shortcut; this calls the handler that the
    // commands.onCommand listener forwards to, in the running service worker.
    const url = 'https://staging.gitlab.com/quality/command';
    // From Auto (no cookie): the toggle goes to Next first, then to Current.
    await env.driver.clearBrowserCookies('gitlab_canary');
    const site = env.track(await env.driver.openPage(url));
    await site.adapter.raw.bringToFront();
    const worker = env.driver.raw.context.serviceWorkers().find((w) => w.url().startsWith(env.driver.extensionBase));
    assert.ok(worker, 'the extension service worker');
    for (const [expected, stage] of [
      ['true', 'canary'],
      ['false', 'main'],
    ]) {
      const since = await env.standin.lastSeq();
      await worker.evaluate(() => wasm_bindgen.on_command('toggle-stage'));
      const entry = await env.standin.waitForLog((e) => e.host === 'staging.gitlab.com' && e.path === '/quality/command', {
        since,
        what: `the reload after toggling to ${stage}`,
      });
      assert.deepEqual(entry.gitlab_canary, [expected]);
      assert.equal(entry.stage, stage);
      const barrier = env.track(await env.driver.openPage('https://staging.gitlab.com/quality/command-barrier'));
      await env.standin.waitForLog((e) => e.path === '/quality/command-barrier', { since, what: 'the barrier page' });
      const log = await env.standin.log(since);
      assert.equal(log.filter((e) => e.path === '/quality/command').length, 1, 'exactly one reload');
      await barrier.close();
      await site.adapter.raw.bringToFront();
    }
    await site.close();
  });
});
