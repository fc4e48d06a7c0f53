// The switch, end to end in each browser: a choice in the popup writes the gitlab_canary cookie,
// reloads the target tab exactly once, and the stand-in (the HAProxy stand-in) sees the result.
//
// Determinism: the stand-in is seeded and runs with --canary-weight 0, so a request without the
// cookie is served by main ("weighted") unless its path is forced; each test uses its own path,
// starts from a profile without gitlab_canary cookies, and waits on log entries and the popup's
// body[data-switch], never on time.

import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { openPopup, choose, setScopeThisEnv, SEL } from '../lib/popup.mjs';

const STAGING = 'https://staging.gitlab.com';
const skip = realExtensionAvailable() && process.env.EXT_FIXTURE !== '1' ? false : 'needs the built extension (dist/chrome, dist/firefox)';

/** GET entries for host+path with seq > since. */
async function hits(env, host, path, since) {
  return (await env.standin.log(since)).filter((e) => e.method === 'GET' && e.host === host && e.path === path);
}

/**
 * In `env`'s browser: open `url` in a tab (with `open`, default a normal tab), open the popup for
 * it, pick the scope, choose, and check the common promises: the switch ends "done" with a
 * message and no error, and the tab was reloaded exactly once. Returns the reload's log entry.
 */
async function switchIn(env, choice, url, { thisEnvOnly = false, open = (u) => env.driver.openPage(u) } = {}) {
  const { host, pathname } = new URL(url);
  const page = env.track(await open(url));
  await env.standin.waitForLog((e) => e.host === host && e.path === pathname, { what: `first load of ${url}` });
  const tabId = await env.driver.tabIdFor(url, { exact: true });
  const popup = env.track(await openPopup(env.driver, tabId));
  assert.equal(await popup.text(SEL.environment).then((t) => t.split(' ')[0]), host);
  await setScopeThisEnv(popup, thisEnvOnly);

  const since = await env.standin.lastSeq();
  const result = await choose(popup, choice);
  assert.equal(result.state, 'done', `switch ended in error: ${result.error}`);
  assert.equal(result.error, '');
  assert.notEqual(result.message, '', 'the popup says what the choice changed');

  // The tab has reloaded (data-switch=done), so its request is in the log. A barrier before
  // counting: one more round trip through the browser, so that a second reload fired at the
  // same time would be logged too.
  const barrier = env.track(await env.driver.openPage(`https://ops.gitlab.com/-/barrier/${Date.now()}`));
  await barrier.close();
  const reloads = await hits(env, host, pathname, since);
  assert.equal(reloads.length, 1, `exactly one reload of ${url}, saw ${reloads.length}: ${JSON.stringify(reloads.map((e) => e.seq))}`);
  return { entry: reloads[0], page, popup, since };
}

for (const name of browsersUnderTest()) {
  describe(`switch: ${name}`, { timeout: 120_000, skip }, () => {
    const env = useBrowser(name, { seed: 7, standinArgs: ['--canary-weight', '0'] });

    beforeEach(async () => {
      // Cookies are read and removed by the browser itself, so that a cookie the extension cannot
      // see does not leak from one test into the next.
      await env.driver.clearBrowserCookies('gitlab_canary');
    });

    const switchTo = (choice, url, opts) => switchIn(env, choice, url, opts);

    it('Next: the reload carries gitlab_canary=true and is served by a canary pod', async () => {
      const { entry, popup, page } = await switchTo('next', `${STAGING}/switch/next`);
      assert.deepEqual(entry.gitlab_canary, ['true']);
      assert.equal(entry.stage, 'canary');
      assert.equal(entry.route_reason, 'cookie-true');
      assert.match(entry.pod, /^gitlab-cny-/);
      assert.match(await popup.text(SEL.preference), /Next/);
      await popup.close();
      await page.close();
    });

    it('Current: the reload carries gitlab_canary=false and is served by main', async () => {
      const { entry, popup, page } = await switchTo('current', `${STAGING}/switch/current`);
      assert.deepEqual(entry.gitlab_canary, ['false']);
      assert.equal(entry.stage, 'main');
      assert.equal(entry.route_reason, 'cookie-false');
      assert.doesNotMatch(entry.pod, /^gitlab-cny-/);
      assert.match(await popup.text(SEL.preference), /Current/);
      await popup.close();
      await page.close();
    });

    it('Auto: after Next, the reload carries no gitlab_canary cookie', async () => {
      const first = await switchTo('next', `${STAGING}/switch/auto-before`);
      await first.popup.close();
      await first.page.close();
      const { entry, popup, page } = await switchTo('auto', `${STAGING}/switch/auto`);
      assert.deepEqual(entry.gitlab_canary, []);
      assert.ok(!entry.cookies.includes('gitlab_canary'), JSON.stringify(entry.cookies));
      assert.equal(entry.route_reason, 'weighted');
      assert.equal(entry.stage, 'main'); // --canary-weight 0
      assert.match(await popup.text(SEL.preference), /Auto/);
      await popup.close();
      await page.close();
    });

    // GitLab's own "g x" shortcut writes a host-only gitlab_canary (no domain) next to the
    // .gitlab.com one that next.gitlab.com writes (GITLAB-FACTS.md). Whether it is Secure is
    // not known, so both variants.
    for (const secure of [false, true]) {
      it(`fixes a contradicting host-only cookie (${secure ? 'Secure' : 'not Secure'}): the reload carries only the choice`, async () => {
        const url = `${STAGING}/switch/host-only-${secure ? 'secure' : 'plain'}`;
        const page = env.track(await env.driver.openPage(url));
        await env.driver.setCookie({
          url: `${STAGING}/`,
          name: 'gitlab_canary',
          value: 'false',
          path: '/',
          secure,
          expirationDate: Math.floor(Date.now() / 1000) + 365 * 24 * 3600,
        });
        const planted = await env.driver.browserCookies('gitlab_canary');
        assert.deepEqual(
          planted.map((c) => [c.domain, c.hostOnly, c.value]),
          [['staging.gitlab.com', true, 'false']],
        );
        await page.close();

        const { entry, popup, page: again } = await switchTo('next', url);
        assert.deepEqual(entry.gitlab_canary, ['true'], 'the reload carries exactly one gitlab_canary, the chosen value');
        assert.equal(entry.stage, 'canary');
        const left = await env.driver.browserCookies('gitlab_canary');
        assert.ok(
          left.every((c) => c.value === 'true'),
          `no cookie with the old value is left: ${JSON.stringify(left)}`,
        );
        await popup.close();
        await again.close();
      });
    }

    it('a repeated choice still reloads exactly once', async () => {
      const url = `${STAGING}/switch/repeat`;
      const one = await switchTo('current', url);
      await one.popup.close();
      await one.page.close();
      const two = await switchTo('current', url);
      assert.deepEqual(two.entry.gitlab_canary, ['false']);
      await two.popup.close();
      await two.page.close();
    });

    it('all environments (default): a choice on staging also changes what gitlab.com receives', async () => {
      const { popup, page } = await switchTo('next', `${STAGING}/switch/all-envs`);
      const cookies = await env.driver.browserCookies('gitlab_canary');
      assert.deepEqual(
        cookies.map((c) => [c.domain, c.hostOnly, c.value]),
        [['gitlab.com', false, 'true']],
        'one cookie for .gitlab.com',
      );
      await popup.close();
      await page.close();

      const since = await env.standin.lastSeq();
      const prod = env.track(await env.driver.openPage('https://gitlab.com/'));
      const entry = await env.standin.waitForLog((e) => e.host === 'gitlab.com' && e.path === '/', { since, what: 'GET gitlab.com/' });
      assert.deepEqual(entry.gitlab_canary, ['true']);
      assert.equal(entry.stage, 'canary');
      await prod.close();
    });

    it('this environment only keeps its word: Current on staging while Next is set for all leaves gitlab.com on Next', async () => {
      // Next for every environment first (as next.gitlab.com writes it).
      await env.driver.setCookie({ url: 'https://gitlab.com/', domain: '.gitlab.com', name: 'gitlab_canary', value: 'true', path: '/', secure: true, expirationDate: Math.floor(Date.now() / 1000) + 86_400 });
      const { entry, popup, page } = await switchTo('current', `${STAGING}/switch/keep-word`, { thisEnvOnly: true });
      assert.deepEqual(entry.gitlab_canary, ['false'], 'staging receives Current, and only that');
      const message = await popup.text('[data-testid=switch-message]');
      assert.match(message, /Kept Next for gitlab\.com: wrote a host-only gitlab_canary=true there/, message);
      const cookies = await env.driver.browserCookies('gitlab_canary');
      assert.deepEqual(
        cookies.map((c) => [c.domain, c.hostOnly, c.value]).sort(),
        [['gitlab.com', true, 'true'], ['staging.gitlab.com', true, 'false']],
        'the all-environments cookie re-homed for gitlab.com; staging has its own',
      );
      await popup.close();
      await page.close();
      // The stand-in's log: gitlab.com still receives exactly Next, staging exactly Current.
      const since = await env.standin.lastSeq();
      const prod = env.track(await env.driver.openPage('https://gitlab.com/'));
      const prodEntry = await env.standin.waitForLog((e) => e.host === 'gitlab.com' && e.path === '/', { since, what: 'GET gitlab.com/' });
      assert.deepEqual(prodEntry.gitlab_canary, ['true']);
      assert.equal(prodEntry.stage, 'canary');
      await prod.close();
    });

    it('this environment only: a choice on staging leaves gitlab.com alone', async () => {
      const { entry, popup, page } = await switchTo('next', `${STAGING}/switch/this-env`, { thisEnvOnly: true });
      assert.deepEqual(entry.gitlab_canary, ['true']);
      const cookies = await env.driver.browserCookies('gitlab_canary');
      assert.deepEqual(
        cookies.map((c) => [c.domain, c.hostOnly, c.value]),
        [['staging.gitlab.com', true, 'true']],
        'one host-only cookie for staging.gitlab.com',
      );
      await popup.close();
      await page.close();

      const since = await env.standin.lastSeq();
      const prod = env.track(await env.driver.openPage('https://gitlab.com/'));
      const prodEntry = await env.standin.waitForLog((e) => e.host === 'gitlab.com' && e.path === '/', { since, what: 'GET gitlab.com/' });
      assert.deepEqual(prodEntry.gitlab_canary, []);
      assert.equal(prodEntry.route_reason, 'weighted');
      await prod.close();
    });

    it('the extension reported no errors', async () => {
      // Firefox reports a content script's runtime.sendMessage still in flight when its page
      // unloads ("Promise rejected after context unloaded: Actor 'Conduits' destroyed before
      // query 'RuntimeMessage' was resolved"). The tests reload and close GitLab pages within
      // milliseconds of their load, so this says nothing about the extension; anything else does.
      const errors = (await env.driver.extensionErrors()).filter((e) => !/^Promise rejected after context unloaded: Actor 'Conduits' destroyed/.test(e.text));
      assert.deepEqual(errors, []);
    });
  });
}

// Firefox with first-party isolation: every cookie call needs `firstPartyDomain`. The extension
// retries with the environment's site when the browser asks for it; this checks that a choice
// still lands in the jar that GitLab pages read.
describe('switch: firefox with first-party isolation', { timeout: 120_000, skip: skip || (!browsersUnderTest().includes('firefox') && 'firefox is not under test') }, () => {
  const env = useBrowser('firefox', { seed: 7, standinArgs: ['--canary-weight', '0'], prefs: { 'privacy.firstparty.isolate': true } });

  it('Next, then Current: each reload carries the cookie and is served by that stage', async () => {
    // Isolation is on: the browser refuses a cookie read that names no first-party domain.
    const refused = await env.driver.extEval(() =>
      browser.cookies.getAll({ name: 'gitlab_canary' }).then(
        () => '',
        (e) => String(e.message),
      ),
    );
    assert.match(refused, /firstPartyDomain/);
    for (const [choice, cookie, stage, shown] of [
      ['next', 'true', 'canary', /Next/],
      ['current', 'false', 'main', /Current/],
    ]) {
      const { entry, popup, page } = await switchIn(env, choice, `${STAGING}/switch/fpi`);
      assert.deepEqual(entry.gitlab_canary, [cookie]);
      assert.equal(entry.stage, stage);
      // Read back through the isolated jar: the popup shows what the page now gets.
      assert.match(await popup.text(SEL.preference), shown);
      await popup.close();
      await page.close();
    }
  });
});

// Firefox containers: a tab in a container has its own cookie store (`firefox-container-N`). A
// choice made for it must land in that store only. The container is a WebDriver BiDi user context,
// which Firefox makes a container; the pref is the one container add-ons turn on.
describe('switch: firefox, a tab in a container', { timeout: 120_000, skip: skip || (!browsersUnderTest().includes('firefox') && 'firefox is not under test') }, () => {
  const env = useBrowser('firefox', { seed: 7, standinArgs: ['--canary-weight', '0'], prefs: { 'privacy.userContext.enabled': true } });

  it('Next in the container: its reload goes to canary, a normal tab stays on main', async () => {
    const container = await env.driver.raw.browser.createBrowserContext();
    const inContainer = async (url) => {
      const page = await container.newPage();
      await page.goto(url);
      return page;
    };
    const url = `${STAGING}/switch/container`;
    try {
      const { entry, popup, page } = await switchIn(env, 'next', url, { open: inContainer });
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      const store = await env.driver.extEval((id) => browser.tabs.get(id).then((t) => t.cookieStoreId), tabId);
      assert.match(store, /^firefox-container-/);
      assert.deepEqual(entry.gitlab_canary, ['true']);
      assert.equal(entry.stage, 'canary');
      assert.match(await popup.text(SEL.preference), /Next/);
      await popup.close();
      await page.close();

      // The default store has no gitlab_canary: the same page in a normal tab is served by main.
      const since = await env.standin.lastSeq();
      const normal = env.track(await env.driver.openPage(url));
      const plain = await env.standin.waitForLog((e) => e.path === '/switch/container', { since, what: 'the page in a normal tab' });
      assert.deepEqual(plain.gitlab_canary, []);
      assert.equal(plain.stage, 'main');
      await normal.close();
    } finally {
      await container.close();
    }
  });
});
