// The options page, in each browser: invalid fields are named and nothing is saved; valid
// settings are saved and the popup follows them (no reload after a choice when so set, the
// watch defaults, a link template override); an invalid self-managed environment is refused
// before any permission is asked for.
//
// Adding a valid environment asks the browser for host access. Firefox grants it without a
// prompt under the harness's extensions.webextOptionalPermissionPrompts = false, so there the
// whole path runs: access granted on add, the self-managed host's pages read like GitLab.com's,
// access given back on remove. Chromium shows a prompt that automation cannot answer.

import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { openPopup, choose, waitForServedStage } from '../lib/popup.mjs';
import { localValue, removeLocal, pageEntry, waitForDetection } from '../lib/served.mjs';
import { SELF_MANAGED_HOST, waitUntil } from '../lib/browsers.mjs';
import { setPerfBar, setCanaryCookie } from '../lib/gitlab.mjs';

/** Sets input values the way typing does (value + input event), then clicks Save. */
async function fillAndSave(page, values) {
  await page.evaluate((vals) => {
    for (const [testid, v] of Object.entries(vals)) {
      const el = document.querySelector(`[data-testid="${testid}"]`);
      if (el.type === 'checkbox') el.checked = v;
      else el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    }
    delete document.body.dataset.saved;
  }, values);
  await page.click('[data-testid=options-save]');
}

async function openOptions(driver) {
  const page = await driver.openExtensionPage('options.html');
  await page.waitFor('body[data-ready]');
  return page;
}

const statusText = (page) => page.text('[data-testid=options-status]');

for (const name of browsersUnderTest()) {
  describe(`options: ${name}`, { skip: !realExtensionAvailable() && 'no dist/', timeout: 180_000 }, () => {
    const env = useBrowser(name, { seed: 9, standinArgs: ['--canary-weight', '0'] });

    afterEach(async () => {
      await removeLocal(env.driver, ['settings']);
    });

    it(
      'adds a self-managed environment: host access granted, its pages read, access removed with it',
      { skip: name !== 'firefox' && 'Chromium asks with a prompt that automation cannot answer' },
      async () => {
        const host = SELF_MANAGED_HOST;
        const access = () =>
          env.driver.extEval((h) => browser.permissions.contains({ origins: [`*://${h}/*`] }), host);
        assert.equal(await access(), false, 'no access before');
        const page = env.track(await openOptions(env.driver));
        await page.evaluate((h) => {
          for (const [testid, v] of [['custom-host', h], ['custom-cookie-domain', h]]) {
            const el = document.querySelector(`[data-testid="${testid}"]`);
            el.value = v;
            el.dispatchEvent(new Event('input', { bubbles: true }));
          }
        }, host);
        await page.click('[data-testid=custom-add]');
        await page.waitFor(`[data-testid="custom-remove-${host}"]`);
        assert.equal(await access(), true, 'access granted on add');
        assert.deepEqual((await localValue(env.driver, 'settings')).custom, [{ host, cookie_domain: host }]);

        // The page reader is injected into its pages. Off GitLab.com neither the favicon nor the
        // sidebar tells the stage: the performance bar does (rendered before the reader comes).
        await env.driver.setCookie({ url: `https://${host}/`, name: 'perf_bar_enabled', value: 'true', path: '/', secure: true });
        const url = `https://${host}/self-managed/project?perf_delay=0`;
        const t0 = Date.now();
        const site = env.track(await env.driver.openPage(url));
        const entry = await pageEntry(env.standin, url);
        const tabId = await env.driver.tabIdFor(url, { exact: true });
        const state = await waitForDetection(env.driver, tabId, { url, after: t0 });
        assert.equal(state.detection.stage, entry.stage);
        assert.equal(state.detection.signal, 'perf-bar');
        assert.equal(state.detection.pod, entry.pod);
        assert.ok(!state.detection.signals.some((x) => x.signal === 'favicon'), 'a self-managed favicon says nothing');
        await site.close();

        await page.click(`[data-testid="custom-remove-${host}"]`);
        await page.waitFor(`[data-testid="custom-remove-${host}"]`, { state: 'detached' });
        await waitUntil(async () => (await access()) === false, { what: 'host access given back' });
        await page.close();
      },
    );

    it('names every invalid field and saves nothing', async () => {
      const page = env.track(await openOptions(env.driver));
      await fillAndSave(page, {
        'opt-watch-interval': '0',
        'opt-watch-limit': '99999',
        'links-staging.gitlab.com-logs': 'javascript:alert(1)',
      });
      await page.waitForFunction(() => document.querySelectorAll('.field-error').length === 3, null, {
        what: 'three field errors',
      });
      assert.match(await statusText(page), /Nothing was saved/);
      const invalid = await page.evaluate(() =>
        [...document.querySelectorAll('[aria-invalid="true"]')].map((e) => e.dataset.testid).sort(),
      );
      assert.deepEqual(invalid, ['links-staging.gitlab.com-logs', 'opt-watch-interval', 'opt-watch-limit']);
      // Each error is tied to its field for screen readers.
      const described = await page.evaluate(() => {
        const f = document.querySelector('[data-testid=opt-watch-interval]');
        return document.getElementById(f.getAttribute('aria-describedby'))?.textContent || '';
      });
      assert.match(described, /1 to 3600/);
      assert.equal(await localValue(env.driver, 'settings'), null, 'nothing stored');
      await page.close();
    });

    it('refuses an invalid self-managed environment before asking for any permission', async () => {
      const page = env.track(await openOptions(env.driver));
      await page.evaluate(() => {
        document.querySelector('[data-testid=custom-host]').value = 'gitlab.example.net';
        document.querySelector('[data-testid=custom-cookie-domain]').value = 'other.example.org';
      });
      await page.click('[data-testid=custom-add]');
      await page.waitFor('[data-testid="invalid-custom.new.cookieDomain"]');
      assert.match(await statusText(page), /Nothing was saved/);
      assert.equal(await localValue(env.driver, 'settings'), null);
      await page.close();
    });

    it('saves valid settings, and the popup follows them', async () => {
      const page = env.track(await openOptions(env.driver));
      const logs = 'https://logs.example.test/{stage}/{request_id}';
      await fillAndSave(page, {
        'opt-reload': false,
        'opt-watch-interval': '30',
        'opt-watch-limit': '45',
        'links-staging.gitlab.com-logs': logs,
      });
      await page.waitFor('body[data-saved]');
      assert.equal(await statusText(page), 'Saved.');
      const saved = await localValue(env.driver, 'settings');
      assert.equal(saved.version, 2);
      assert.equal(saved.reloadAfterChoice, false);
      assert.equal(saved.watchIntervalSecs, 30);
      assert.equal(saved.watchLimitMinutes, 45);
      assert.deepEqual(
        saved.links.map((l) => [l.host, l.templates.logs]),
        [['staging.gitlab.com', logs]],
      );
      await page.close();

      // The popup: watch defaults, the overridden log link, and no reload after a choice.
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'false');
      // The reader comes before the bar renders (perf_delay=60000): the mount still names the request.
      const url = 'https://staging.gitlab.com/options/follow?perf_delay=60000';
      const site = env.track(await env.driver.openPage(url));
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      const popup = env.track(await openPopup(env.driver, tabId));
      assert.equal(await popup.evaluate(() => document.querySelector('[data-testid=watch-interval-secs]').value), '30');
      assert.equal(await popup.evaluate(() => document.querySelector('[data-testid=watch-limit-minutes]').value), '45');
      await waitForServedStage(popup, 'main');
      const entry = await pageEntry(env.standin, url);
      const href = await popup.evaluate(() => document.querySelector('[data-testid=logs-link]').getAttribute('href'));
      assert.equal(href, `https://logs.example.test/main/${entry.request_id}`);

      const since = await env.standin.lastSeq();
      const result = await choose(popup, 'next');
      assert.equal(result.state, 'done');
      assert.match(result.message, /wrote gitlab_canary=true/);
      assert.doesNotMatch(result.message, /reloaded/);
      // The next page load uses the new stage; there was none in between.
      const barrier = env.track(await env.driver.openPage('https://staging.gitlab.com/options/barrier'));
      await pageEntry(env.standin, 'https://staging.gitlab.com/options/barrier', { since });
      const log = await env.standin.log(since);
      assert.equal(log.filter((e) => e.path === '/options/follow').length, 0, 'no reload of the tab');
      assert.deepEqual(log.find((e) => e.path === '/options/barrier').gitlab_canary, ['true']);
      await barrier.close();
      await popup.close();
      await site.close();
    });
  });
}
