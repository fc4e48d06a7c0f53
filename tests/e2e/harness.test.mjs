// Proves the harness itself, in each browser: GitLab hostnames reach the stand-in, an extension
// page opens and uses the extension APIs, and a cookie the extension sets is what the stand-in
// receives. Runs against dist/<browser>/ (or EXT_DIR_*), else a generated fixture extension.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { waitUntil } from '../lib/browsers.mjs';

for (const name of browsersUnderTest()) {
  describe(`harness: ${name}`, { timeout: 90_000 }, () => {
    const env = useBrowser(name, { seed: 11 });

    it('serves https://staging.gitlab.com/ from the stand-in', async () => {
      const since = await env.standin.lastSeq();
      const page = env.track(await env.driver.openPage('https://staging.gitlab.com/'));
      assert.equal(await page.url(), 'https://staging.gitlab.com/');
      const entry = await env.standin.waitForLog((e) => e.host === 'staging.gitlab.com' && e.path === '/', {
        since,
        what: 'GET staging.gitlab.com/',
      });
      assert.equal(entry.method, 'GET');
      assert.ok(['canary', 'main'].includes(entry.stage), `stage ${entry.stage}`);
      assert.notEqual(entry.route_reason, 'forced-path', 'GitLab-operated paths are forced only on gitlab.com');
      await page.close();
    });

    it('serves https://gitlab.com/gitlab-org/gitlab forced to canary', async () => {
      const since = await env.standin.lastSeq();
      const page = env.track(await env.driver.openPage('https://gitlab.com/gitlab-org/gitlab'));
      const entry = await env.standin.waitForLog((e) => e.host === 'gitlab.com' && e.path === '/gitlab-org/gitlab', {
        since,
        what: 'GET gitlab.com/gitlab-org/gitlab',
      });
      assert.equal(entry.route_reason, 'forced-path');
      assert.equal(entry.stage, 'canary');
      assert.deepEqual(entry.gitlab_canary, []);
      await page.close();
    });

    it('opens an extension page that can use the cookies and tabs APIs', async () => {
      const page = env.track(await env.driver.openPage('https://staging.gitlab.com/'));
      const tabId = await env.driver.tabIdFor('https://staging.gitlab.com/');
      assert.equal(typeof tabId, 'number');
      const ext = env.track(await env.driver.openExtensionPage(`popup.html?tab=${tabId}`));
      assert.ok((await ext.url()).startsWith(env.driver.extensionBase), await ext.url());
      const result = await ext.evaluate(async () => {
        const api = globalThis.browser ?? globalThis.chrome;
        return {
          cookies: await api.cookies.getAll({ name: 'gitlab_canary' }),
          hosts: await api.permissions.contains({ origins: ['https://staging.gitlab.com/*', 'https://gitlab.com/*'] }),
        };
      });
      assert.ok(Array.isArray(result.cookies));
      assert.equal(result.hosts, true, 'host permissions for the GitLab hosts are granted');
      await ext.close();
      await page.close();
    });

    it('sends a host-only cookie set through the extension to the stand-in', async () => {
      const page = env.track(await env.driver.openPage('https://staging.gitlab.com/'));
      // Secure, so that it is visible to an extension whose host permissions are https-only.
      await env.driver.setCookie({ url: 'https://staging.gitlab.com/', name: 'gitlab_canary', value: 'false', secure: true });
      const seen = await env.driver.cookies({ name: 'gitlab_canary' });
      assert.equal(seen.length, 1, JSON.stringify(seen));
      assert.equal(seen[0].hostOnly, true);
      assert.equal(seen[0].domain, 'staging.gitlab.com');

      const since = await env.standin.lastSeq();
      await page.reload();
      const entry = await env.standin.waitForLog((e) => e.host === 'staging.gitlab.com' && e.path === '/', {
        since,
        what: 'the reload of staging.gitlab.com/',
      });
      assert.ok(entry.cookies.includes('gitlab_canary'), JSON.stringify(entry.cookies));
      assert.deepEqual(entry.gitlab_canary, ['false']);
      assert.equal(entry.route_reason, 'cookie-false');
      assert.equal(entry.stage, 'main');

      // Host-only: gitlab.com does not receive it.
      const since2 = await env.standin.lastSeq();
      const other = env.track(await env.driver.openPage('https://gitlab.com/'));
      const e2 = await env.standin.waitForLog((e) => e.host === 'gitlab.com' && e.path === '/', { since: since2, what: 'GET gitlab.com/' });
      assert.deepEqual(e2.gitlab_canary, []);

      assert.equal(await env.driver.clearCookies('gitlab_canary'), 1);
      assert.deepEqual(await env.driver.cookies({ name: 'gitlab_canary' }), []);
      await other.close();
      await page.close();
    });

    it('stops the background (as the browser does when idle), and a message wakes it', async () => {
      assert.equal(await env.driver.serviceWorkerRunning(), true);
      await env.driver.stopServiceWorker();
      assert.equal(await env.driver.serviceWorkerRunning(), false);
      // Any extension event restarts it; a runtime message is one that every build listens to.
      await env.driver.extEval(async () => {
        try {
          await chrome.runtime.sendMessage({ harness: 'wake' });
        } catch {
          // no answer is fine: the message only has to be delivered
        }
        return true;
      });
      await waitUntil(() => env.driver.serviceWorkerRunning(), { timeout: 10_000, what: 'the background to restart' });
    });

    it('keeps GitLab traffic off the trap proxy', async () => {
      const leaked = env.driver.outsideRequests().filter((a) => /gitlab\.com/.test(a.target));
      assert.deepEqual(leaked, []);
    });
  });
}
