// The GitLab-like Rails stack itself (tests/rails, lib/rails.mjs), in each browser, with plain
// pages: Devise's form with and without "Remember me", the session cookie's lifetime per store,
// /api/v4/user, sign-out with the CSRF token (and by fetch), the HTTP 500 of a session the other
// store wrote when they share GitLab's keys without the coders, a new signed-out session when
// they do not share keys (and remember-me signing back in), the coders, and a stopped stage.
// One stack per browser: main runs RedisStore, canary CacheStore (the seed change half done).

import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { signIn, signOut, setCanaryCookie, setPerfBar, waitForPath } from '../lib/gitlab.mjs';
import { railsAvailable } from '../lib/rails.mjs';

const HOST = 'staging.gitlab.com';
const ORIGIN = `https://${HOST}`;
const DAY_S = 24 * 3600;
const SKIP = railsAvailable() ? false : 'the Rails stack is not installed (./build.sh test installs it)';

/** fetch() from the page (same origin); `credentials: 'omit'` sends no cookie at all. */
function fetchFromPage(page, urlPath, { method = 'GET', credentials = 'same-origin', csrf = false } = {}) {
  return page.evaluate(
    async ([p, m, c, withCsrf]) => {
      const headers = {};
      if (withCsrf) headers['X-CSRF-Token'] = document.querySelector('meta[name=csrf-token]')?.content || '';
      const r = await fetch(p, { method: m, credentials: c, headers, redirect: 'manual' });
      const text = await r.text();
      let json = null;
      try {
        json = JSON.parse(text);
      } catch {
        json = null;
      }
      return { status: r.status, json };
    },
    [urlPath, method, credentials, csrf],
  );
}

for (const name of browsersUnderTest()) {
  describe(`${name}: the Rails stack`, { skip: SKIP }, () => {
    const env = useBrowser(name, {
      seed: 16,
      standinArgs: ['--canary-weight', '0'],
      rails: {
        main: { store: 'redis_store', keys: 'gitlab', coder: 'none' },
        canary: { store: 'cache_store', keys: 'gitlab', coder: 'none' },
      },
    });
    let page;

    before(async () => {
      page = await env.driver.openPage(`${ORIGIN}/users/sign_in`);
    });

    /** Session cookies of HOST as the extension sees them (values stay in this process). */
    async function sessionCookies() {
      const all = await env.driver.cookies({ domain: HOST });
      const of = (n) => all.filter((c) => c.name === n);
      return { session: of('_gitlab_session'), remember: of('remember_user_token') };
    }

    /** No session, the stage chosen, and a fresh sign-in form (its CSRF token new). */
    async function signedOutOnStage(stage) {
      await env.driver.clearBrowserCookies('_gitlab_session');
      await env.driver.clearBrowserCookies('remember_user_token');
      await setCanaryCookie(env.driver, stage === 'canary' ? 'true' : 'false');
      await page.goto(`${ORIGIN}/users/sign_in`);
    }

    /** Navigates to `path` and returns the router's log line of that page. */
    async function visit(urlPath) {
      const since = await env.standin.lastSeq();
      await page.goto(`${ORIGIN}${urlPath}`);
      return env.standin.waitForLog((e) => e.method === 'GET' && e.host === HOST && e.path === urlPath.split('?')[0], {
        since,
        what: `GET ${urlPath}`,
      });
    }

    it('signs in through the form on main (RedisStore): the cookie ends with the browser; API 200/401; sign-out with the CSRF token and by fetch', async () => {
      env.track(page);
      await signedOutOnStage('main');
      const post = await signIn(env, page, { host: HOST, remember: false });
      assert.equal(post.stage, 'main');
      assert.match(post.pod, /^gitlab-webservice-web-/);
      const { session, remember } = await sessionCookies();
      assert.equal(session.length, 1, 'one _gitlab_session');
      assert.equal(session[0].hostOnly, true);
      assert.equal(session[0].secure, true);
      assert.equal(session[0].httpOnly, true);
      assert.equal(session[0].path, '/');
      assert.equal(session[0].session, true, 'RedisStore: no Expires, a browser-session cookie');
      assert.equal(remember.length, 0, 'no remember_user_token without "Remember me"');

      const user = await fetchFromPage(page, '/api/v4/user');
      assert.deepEqual([user.status, user.json], [200, { id: 101, username: 'qa-user', name: 'QA User' }]);
      const anonymous = await fetchFromPage(page, '/api/v4/user', { credentials: 'omit' });
      assert.deepEqual([anonymous.status, anonymous.json], [401, { message: '401 Unauthorized' }]);

      // The page's markup on main, signed in.
      const markup = await page.evaluate(() => ({
        favicon: document.querySelector('link#favicon')?.getAttribute('data-original-href'),
        sidebar: JSON.parse(document.querySelector('aside.js-super-sidebar')?.getAttribute('data-sidebar') || 'null'),
        saas: document.querySelector('aside.js-super-sidebar')?.getAttribute('data-is-saas'),
        signOut: document.querySelector('[data-testid=sign-out-link]')?.getAttribute('data-method'),
      }));
      assert.match(markup.favicon, /^\/assets\/favicon-[0-9a-f]{64}\.png$/);
      assert.equal(markup.sidebar.is_logged_in, true);
      assert.equal(markup.sidebar.gitlab_com_and_canary, null);
      assert.equal(markup.sidebar.gitlab_com_but_not_canary, true);
      assert.equal(markup.saas, 'true');
      assert.equal(markup.signOut, 'post');

      // The user menu's link posts the CSRF token; Devise redirects a navigation (302).
      await signOut(env, page);
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 401);

      // An unknown session id: 401 with a fresh session cookie.
      await env.driver.setCookie({ url: `${ORIGIN}/`, name: '_gitlab_session', value: '0123456789abcdef0123456789abcdef', path: '/', secure: true, httpOnly: true });
      let since = await env.standin.lastSeq();
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 401);
      const fresh = await env.standin.waitForLog((e) => e.path === '/api/v4/user', { since, what: 'the 401' });
      assert.deepEqual([fresh.status, fresh.set_cookies, fresh.session_rotated], [401, ['_gitlab_session'], true]);

      // A sign-out by fetch (not a navigation): 204.
      await page.goto(`${ORIGIN}/users/sign_in`);
      await signIn(env, page, { host: HOST });
      since = await env.standin.lastSeq();
      const out = await fetchFromPage(page, '/users/sign_out', { method: 'POST', csrf: true });
      assert.equal(out.status, 204);
      const logged = await env.standin.waitForLog((e) => e.method === 'POST' && e.path === '/users/sign_out', { since, what: 'the sign-out' });
      assert.deepEqual([logged.status, logged.user], [204, 'qa-user']);
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 401);
    });

    it('signs in with "Remember me" on canary (CacheStore): Expires one week ahead, sent again with every answer; canary markup and peek', async () => {
      env.track(page);
      await signedOutOnStage('canary');
      const post = await signIn(env, page, { host: HOST, remember: true });
      assert.equal(post.stage, 'canary');
      const now = Date.now() / 1000;
      const { session, remember } = await sessionCookies();
      assert.equal(session.length, 1);
      assert.equal(session[0].session, false, 'CacheStore: the cookie has an Expires');
      assert.ok(Math.abs(session[0].expirationDate - (now + 7 * DAY_S)) < 3600, `one week ahead: ${session[0].expirationDate - now} s`);
      assert.equal(remember.length, 1, 'remember_user_token');
      assert.ok(Math.abs(remember[0].expirationDate - (now + 14 * DAY_S)) < 3600, 'two weeks ahead');
      assert.equal(remember[0].httpOnly, true);

      await setPerfBar(env.driver, true);
      const e = await visit('/rails/canary-page');
      assert.deepEqual([e.stage, e.status, e.user, e.session], ['canary', 200, 'qa-user', 'valid']);
      assert.deepEqual(e.set_cookies, ['_gitlab_session'], 'sent again');
      assert.equal(e.session_rotated, false, 'the same session');
      const markup = await page.evaluate(() => {
        const peek = document.querySelector('body > #js-peek');
        return {
          favicon: document.querySelector('link#favicon')?.getAttribute('href'),
          sidebar: JSON.parse(document.querySelector('aside.js-super-sidebar')?.getAttribute('data-sidebar') || 'null'),
          requestId: peek?.getAttribute('data-request-id'),
          peekUrl: peek?.getAttribute('data-peek-url'),
        };
      });
      assert.match(markup.favicon, /^\/assets\/favicon-yellow-[0-9a-f]{64}\.png$/);
      assert.equal(markup.sidebar.gitlab_com_and_canary, true);
      assert.equal(markup.peekUrl, '/-/peek/results');
      assert.equal(markup.requestId, e.request_id);
      const peek = await fetchFromPage(page, `/-/peek/results?request_id=${encodeURIComponent(markup.requestId)}`);
      assert.deepEqual(peek.json, {
        context: {},
        data: { host: { hostname: env.standin.settings().canary.pod, canary: true } },
        has_warnings: false,
      });
      await setPerfBar(env.driver, false);
    });

    it('shared keys without the coders: every request carrying the other store\'s session answers 500, remember-me or not; without it, main works', async () => {
      env.track(page);
      // The canary session of the previous test (an ActiveSupport::Cache::Entry), on main.
      const { session, remember } = await sessionCookies();
      assert.equal(session.length, 1, 'the canary session is still there');
      assert.equal(remember.length, 1, 'and remember_user_token');
      await setCanaryCookie(env.driver, 'false');
      for (const p of ['/rails/unreadable', '/users/sign_in']) {
        const e = await visit(p);
        assert.deepEqual([e.stage, e.status, e.user], ['main', 500, null], p);
        assert.deepEqual(e.set_cookies, [], `${p}: nothing set`);
      }
      assert.match(await page.text('body'), /500/);
      const api = await fetchFromPage(page, '/api/v4/user');
      assert.deepEqual([api.status, api.json], [500, { message: '500 Internal Server Error' }]);
      const without = await fetchFromPage(page, '/api/v4/user', { credentials: 'omit' });
      assert.equal(without.status, 401, 'a request without the session works');
      const since = await env.standin.lastSeq();
      assert.equal((await fetchFromPage(page, '/users/sign_in?control=1', { credentials: 'omit' })).status, 200, 'so does the sign-in page');
      const control = await env.standin.waitForLog((e) => e.path === '/users/sign_in' && e.query === 'control=1', { since, what: 'the control' });
      assert.equal(control.cookies.length, 0);
      assert.match(env.standin.stageLog('main'), /undefined method `stringify_keys' for #<ActiveSupport::Cache::Entry/);
      assert.doesNotMatch(env.standin.stageLog('main'), /\$2a\$/, 'no password salt in the log');

      // The other way round: a RedisStore session (a Hash) on canary.
      await signedOutOnStage('main');
      await signIn(env, page, { host: HOST });
      await setCanaryCookie(env.driver, 'true');
      const e = await visit('/rails/unreadable-on-canary');
      assert.deepEqual([e.stage, e.status], ['canary', 500]);
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 500);
      assert.match(env.standin.stageLog('canary'), /undefined method `expired\?' for \{.*\}:Hash/);
    });

    it('keys not shared (SESSION_KEYS=rails): a new, signed-out session; remember-me signs back in with another', async () => {
      env.track(page);
      await env.standin.restartStage('canary', { keys: 'rails' });
      assert.equal(env.standin.settings().canary.keys, 'rails');
      await signedOutOnStage('main');
      await signIn(env, page, { host: HOST });
      await setCanaryCookie(env.driver, 'true');
      let e = await visit('/rails/not-found');
      assert.deepEqual([e.stage, e.status, e.user, e.session, e.session_rotated], ['canary', 200, null, 'none', true]);
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 401);

      await signedOutOnStage('main');
      await signIn(env, page, { host: HOST, remember: true });
      await setCanaryCookie(env.driver, 'true');
      e = await visit('/rails/remembered');
      assert.deepEqual([e.stage, e.status, e.user, e.session, e.session_rotated], ['canary', 200, 'qa-user', 'remembered', true]);
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 200);
      const keys = await env.standin.redisKeys('session:gitlab:*');
      assert.ok(keys.some((k) => /^session:gitlab:2::[0-9a-f]{64}$/.test(k)), 'RedisStore keys');
      assert.ok(keys.some((k) => /^session:gitlab:_session_id:2::[0-9a-f]{64}$/.test(k)), 'CacheStore keys with Rails\' prefix');
    });

    it('with GitLab\'s coders both stores read each other\'s sessions', async () => {
      env.track(page);
      await Promise.all([
        env.standin.restartStage('main', { coder: 'compat' }),
        env.standin.restartStage('canary', { keys: 'gitlab', coder: 'compat' }),
      ]);
      await signedOutOnStage('main');
      await signIn(env, page, { host: HOST });
      await setCanaryCookie(env.driver, 'true');
      const e = await visit('/rails/compatible');
      assert.deepEqual([e.stage, e.status, e.user, e.session], ['canary', 200, 'qa-user', 'valid']);
      await setCanaryCookie(env.driver, 'false');
      assert.equal((await fetchFromPage(page, '/api/v4/user')).status, 200, 'main reads what canary wrote back');
    });

    it('a stopped stage answers 502 for everyone, with or without a session', async () => {
      env.track(page);
      await env.standin.stopStage('canary');
      await setCanaryCookie(env.driver, 'true');
      const e = await visit('/rails/stopped');
      assert.deepEqual([e.stage, e.status, e.pod], ['canary', 502, null]);
      assert.match(await page.text('body'), /502/);
      // Without any cookie too (the weighted share sends cookie-less requests to canary).
      await env.standin.config({ canary_weight: 1 });
      assert.equal((await fetchFromPage(page, '/api/v4/user', { credentials: 'omit' })).status, 502);
      await env.standin.config({ canary_weight: 0 });
      await env.standin.startStage('canary');
      const back = await visit('/rails/started');
      assert.deepEqual([back.stage, back.status], ['canary', 200]);
      await waitForPath(page, '/rails/started');
    });
  });
}
