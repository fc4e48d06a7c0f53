// The popup from any tab, and the same stage for curl and git, in each browser. On a tab that
// shows no GitLab page (about:blank, a site that is not a known environment, an extension page)
// the popup lists every known environment with what it receives and lets the user choose for
// each, writing that environment's cookie and reloading nothing; on a GitLab tab it offers
// curl and git commands which, run against the stand-in, are served by the stage in force.
//
// Determinism: seeded stand-in with --canary-weight 0; cookies reset before each test; waits
// are on the popup's attributes and the stand-in log.

import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { openPopup, choose } from '../lib/popup.mjs';
import { setCanaryCookie } from '../lib/gitlab.mjs';
import { SELF_MANAGED_HOST, waitUntil } from '../lib/browsers.mjs';
import { localValue } from '../lib/served.mjs';

const STAGING = 'https://staging.gitlab.com';
const skip = realExtensionAvailable() && process.env.EXT_FIXTURE !== '1' ? false : 'needs the built extension (dist/chrome, dist/firefox)';

/** The popup's rows: [{host, preference, pressed}] (pressed: the choose-… control that is). */
function rows(popup) {
  return popup.evaluate(() =>
    [...document.querySelectorAll('[data-testid=env-row]')].map((r) => ({
      host: r.dataset.host,
      preference: r.querySelector('[data-testid=preference]').textContent.trim(),
      pressed: [...r.querySelectorAll('[aria-pressed=true]')].map((b) => b.dataset.testid),
      open: r.querySelector('[data-testid=env-open]').getAttribute('href'),
    })),
  );
}

for (const name of browsersUnderTest()) {
  describe(`any tab: ${name}`, { timeout: 180_000, skip }, () => {
    const env = useBrowser(name, { seed: 41, standinArgs: ['--canary-weight', '0'] });

    beforeEach(async () => {
      await setCanaryCookie(env.driver, null);
    });

    /** What `url` on `host` receives now, by the stand-in's log of a fresh page load. */
    async function received(host) {
      const since = await env.standin.lastSeq();
      const p = env.track(await env.driver.openPage(`https://${host}/anytab/probe-${Date.now()}`));
      const e = await env.standin.waitForLog((x) => x.host === host && x.path.startsWith('/anytab/probe-'), { since, what: `a page of ${host}` });
      await p.close();
      return e.gitlab_canary;
    }

    for (const [kind, open] of [
      ['about:blank', async () => env.track(await env.driver.openPage('about:blank'))],
      ['a site that is not a known environment', async () => env.track(await env.driver.openPage(`https://${SELF_MANAGED_HOST}/not-added`))],
      ['an extension page', async () => env.track(await env.driver.openExtensionPage('options.html'))],
    ]) {
      it(`on ${kind}: every known environment listed with its preference; a choice writes that one's cookie and reloads nothing`, async () => {
        await setCanaryCookie(env.driver, 'true'); // Next for every environment
        const page = await open();
        const url = await page.url();
        const tabs = await env.driver.extEval(async () => (await chrome.tabs.query({})).map((t) => ({ id: t.id, url: t.url })));
        const tab = tabs.find((t) => t.url === url) || tabs[tabs.length - 1];
        const popup = env.track(await openPopup(env.driver, tab.id));
        const view = await popup.evaluate(() => ({
          environments: !document.querySelector('[data-testid=environments]').hidden,
          gitlabOnlyShown: [...document.querySelectorAll('[data-gitlab-only]')].filter((e) => !e.hidden).length,
          // No wall of disabled controls: none is on screen (the GitLab-page sections are hidden).
          disabled: [...document.querySelectorAll('button:disabled')].filter((b) => !b.closest('[hidden]')).map((b) => b.dataset.testid),
          unknown: document.body.innerText.includes('Served by unknown'),
        }));
        assert.deepEqual(view, { environments: true, gitlabOnlyShown: 0, disabled: [], unknown: false });
        assert.deepEqual(await rows(popup), [
          { host: 'gitlab.com', preference: 'Next', pressed: ['choose-next'], open: 'https://gitlab.com/' },
          { host: 'staging.gitlab.com', preference: 'Next', pressed: ['choose-next'], open: 'https://staging.gitlab.com/' },
        ]);
        const since = await env.standin.lastSeq();
        await popup.click('[data-testid=env-row][data-host="staging.gitlab.com"] [data-testid=choose-current]');
        await popup.waitForFunction(() => document.querySelector('[data-testid=env-row][data-host="staging.gitlab.com"] [data-testid=preference]').textContent.trim() === 'Current', undefined, { what: 'staging on Current' });
        const message = await popup.evaluate(() => document.querySelector('[data-testid=env-message]').textContent.trim());
        assert.match(message, /^Current for staging\.gitlab\.com only: wrote a host-only gitlab_canary=false\..*Kept Next for gitlab\.com/, message);
        assert.deepEqual((await rows(popup)).map((r) => r.preference), ['Next', 'Current'], 'gitlab.com keeps Next');
        assert.equal(await page.url(), url, 'the tab was not reloaded or navigated');
        assert.deepEqual((await env.standin.log(since)).filter((e) => e.method === 'GET'), [], 'nothing was loaded by the choice');
        assert.deepEqual(await received('staging.gitlab.com'), ['false']);
        assert.deepEqual(await received('gitlab.com'), ['true']);
        await popup.close();
        await page.close();
      });
    }

    it('on a GitLab tab: the curl and git commands reach the stage in force, and Auto offers "never canary"', async () => {
      const url = `${STAGING}/gitlab-org/gitlab/-/issues/7`;
      const page = env.track(await env.driver.openPage(url));
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      const popup = env.track(await openPopup(env.driver, tabId));
      const cli = () => popup.evaluate(() => ({
        value: document.querySelector('[data-testid=cli-value]').textContent.trim(),
        curl: document.querySelector('[data-testid=cli-curl]').textContent.trim(),
        git: document.querySelector('[data-testid=cli-git]').textContent.trim(),
      }));
      const auto = await cli();
      assert.equal(auto.value, 'These send gitlab_canary=false (never canary: a shell cannot share Auto\'s routing).');
      assert.equal(auto.curl, 'curl --cookie gitlab_canary=false https://staging.gitlab.com/api/v4/version');
      const r = await choose(popup, 'next');
      assert.equal(r.state, 'done');
      await popup.waitForFunction(() => document.querySelector('[data-testid=cli-curl]').textContent.includes('=true'), undefined, { what: 'the Next commands' });
      const next = await cli();
      assert.equal(next.curl, 'curl --cookie gitlab_canary=true https://staging.gitlab.com/api/v4/version');
      assert.equal(next.git, 'git -c http.extraHeader="Cookie: gitlab_canary=true" clone https://staging.gitlab.com/gitlab-org/gitlab.git');
      // Run them as copied, against the stand-in (the host mapped to it, its certificate accepted).
      const port = env.standin.port;
      const since = await env.standin.lastSeq();
      const curlArgs = next.curl.split(' ').slice(1);
      execFileSync('curl', ['-sk', '--connect-to', `staging.gitlab.com:443:127.0.0.1:${port}`, ...curlArgs], { stdio: 'pipe' });
      const api = await env.standin.waitForLog((e) => e.path === '/api/v4/version', { since, what: 'the curl request' });
      assert.equal(api.stage, 'canary');
      assert.deepEqual(api.gitlab_canary, ['true']);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'canary-git-'));
      const header = next.git.match(/http\.extraHeader="([^"]+)"/)[1];
      try {
        // git cannot remap a port: the same URL with the stand-in's port, resolved to loopback.
        const gitUrl = next.git.split(' ').pop().replace('https://staging.gitlab.com/', `https://staging.gitlab.com:${port}/`);
        execFileSync('git', ['-c', `http.extraHeader=${header}`, '-c', 'http.sslVerify=false', '-c', `http.curloptResolve=staging.gitlab.com:${port}:127.0.0.1`, 'clone', gitUrl, path.join(dir, 'c')], { stdio: 'pipe', env: { ...process.env, GIT_TERMINAL_PROMPT: '0' } });
      } catch {
        // The stand-in serves no git repository: the clone fails after its first request.
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      const gitHit = await env.standin.waitForLog((e) => e.path.startsWith('/gitlab-org/gitlab.git'), { since, what: 'the git request' });
      assert.equal(gitHit.stage, 'canary', 'git over HTTPS reached canary');
      await popup.close();
      await page.close();
    });

    it('on a GitLab tab the switch and what served the page lead; the other sections remember whether they were opened', async () => {
      const url = `${STAGING}/anytab/sections`;
      const page = env.track(await env.driver.openPage(url));
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      const state = (p) => p.evaluate(() => ({
        first: [...document.querySelectorAll('main > section:not([hidden]), main > details:not([hidden])')].slice(0, 2).map((e) => e.getAttribute('aria-labelledby') || e.dataset.testid),
        open: [...document.querySelectorAll('details[data-section]')].filter((d) => d.open).map((d) => d.dataset.section),
      }));
      const first = env.track(await env.driver.openExtensionPage(`popup.html?tab=${tabId}`));
      await first.waitFor('body[data-ready]');
      assert.deepEqual(await state(first), { first: ['choose-label', 'served-label'], open: [] });
      await first.click('[data-testid=section-check] summary');
      await first.waitForFunction(() => document.querySelector('[data-testid=section-check]').open, undefined, { what: 'the check section open' });
      await waitUntil(async () => JSON.stringify(await localValue(env.driver, 'popupSections')) === '["check"]', { what: 'the open section remembered' });
      await first.close();
      const again = env.track(await env.driver.openExtensionPage(`popup.html?tab=${tabId}`));
      await again.waitFor('body[data-ready]');
      assert.deepEqual((await state(again)).open, ['check'], 'remembered');
      await again.close();
      const expanded = env.track(await openPopup(env.driver, tabId));
      assert.deepEqual((await state(expanded)).open, ['cli', 'check', 'watch'], 'expand=1 opens every section');
      await expanded.close();
      await page.close();
    });
  });
}
