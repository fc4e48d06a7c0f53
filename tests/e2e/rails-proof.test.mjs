// The session proof and the watch on the real Rails session stack (tests/rails, lib/rails.mjs:
// Rails 6.1, Devise, redis-actionpack's RedisStore and Rails' CacheStore over Redis), in each
// browser (issue 16, "In both browsers, on that stack"): a PASS through a compatible change and
// its rollback; a FAIL when sessions are not found (with and without remember-me), when a store
// raises (HTTP 500 with the session, 401 without), across mixed stages and after a rollback
// without the reader; INCONCLUSIVE when GitLab fails for everyone; the watch calling a 500 a
// loss and never "signed in so far" over unanswered samples; a browser restart between prepare
// and check (no verdict), and one that kept the session (session restore: a normal verdict);
// a back navigation that is a real bfcache restore, with the right badge.
//
// One stack per browser, re-configured before each test: both stages back on RedisStore,
// GitLab's keys, no coders (the state before the seed change), both running. GitLab's change is
// `stack.change(settings)` (canary, then main, restarted), its rollback `stack.rollback(settings)`
// (main, then canary). The router runs with --canary-weight 0: the home stage is main, the
// check's "other stage" canary. Every test signs in through Devise's form in a tab of its own.
// The browser's profile is kept for the block (env.restart); Firefox has the extension installed
// permanently (an unsigned .xpi in the profile), Chromium keeps its back/forward cache.
//
// Waits are on the router's log, storage.local (`check`, `watch`), the popup's text and the
// badge; each has a time-out. No sleeps.

import { describe, it, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { waitUntil } from '../lib/browsers.mjs';
import { openPopup, startCheck, waitForStoredCheck, waitForVerdictInPopup, SEL } from '../lib/popup.mjs';
import { localValue, removeLocal, waitForDetection, waitForBadge, badge } from '../lib/served.mjs';
import { signIn, setPerfBar, setCanaryCookie } from '../lib/gitlab.mjs';
import { railsAvailable } from '../lib/rails.mjs';

const HOST = 'staging.gitlab.com';
const ORIGIN = `https://${HOST}`;
const SKIP = !railsAvailable()
  ? 'the Rails stack is not installed (./build.sh test installs it)'
  : !realExtensionAvailable() || process.env.EXT_FIXTURE === '1'
    ? 'needs the built extension (dist/chrome, dist/firefox)'
    : false;
// Firefox reports an extension API promise still pending when its context goes away (a page
// unloading under an injected script, a background stopped by a restart): see session.test.mjs.
const FIREFOX_UNLOAD_NOISE = /^Promise (rejected|resolved) after context unloaded\b/;
/** Before the seed change: RedisStore on both stages, GitLab's keys, no compatibility coders. */
const BEFORE = { store: 'redis_store', keys: 'gitlab', coder: 'none' };
const MAIN_POD = /gitlab-webservice-web-[a-z0-9]+-[a-z0-9]+/;

const hhmm = (ms) => `${new Date(ms).toISOString().slice(11, 16)} UTC`;
const summary = (check) => JSON.stringify(check.steps.map((s) => [s.kind, s.verdict, s.note]));
/** The report's table row of step `n` (1-based). */
const row = (report, n) => report.split('\n').find((l) => l.startsWith(`| ${n} | `)) || '';

for (const name of browsersUnderTest()) {
  describe(`rails-proof: ${name}`, { timeout: 600_000, skip: SKIP }, () => {
    const env = useBrowser(name, {
      seed: 43,
      standinArgs: ['--canary-weight', '0'],
      rails: { main: BEFORE, canary: BEFORE },
      restartable: true,
      launch: name === 'firefox' ? { permanent: true } : { bfcache: true },
    });
    /** Extension errors of browsers this block has restarted (each driver sees its own). */
    const earlierErrors = [];

    beforeEach(async () => {
      const stack = env.standin;
      const now = stack.settings();
      // Only what differs is restarted (a stage boots in about a second).
      await Promise.all(
        ['main', 'canary'].map((stage) => {
          const s = now[stage];
          const differs = Object.keys(BEFORE).some((k) => s[k] !== BEFORE[k]);
          if (differs) return stack.restartStage(stage, BEFORE);
          if (!s.running) return stack.startStage(stage);
          return null;
        }),
      );
      await stack.config({ canary_weight: 0, canary_disabled: false });
      await removeLocal(env.driver, ['prepared', 'check', 'watch']);
      for (const c of ['_gitlab_session', 'remember_user_token', 'gitlab_canary']) await env.driver.clearBrowserCookies(c);
      await setPerfBar(env.driver, true);
    });

    /** A tab signed in as qa-user through Devise's form, then showing `path`. */
    async function signedInTab(path, { remember = false } = {}) {
      const page = env.track(await env.driver.openPage(`${ORIGIN}/users/sign_in`));
      await signIn(env, page, { host: HOST, remember });
      return showIn(page, path);
    }

    /** Shows `path` in `page` and waits until the extension has read it; {page, tabId, url}. */
    async function showIn(page, path) {
      const url = `${ORIGIN}${path}`;
      if ((await page.url()) !== url) await page.goto(url);
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      await waitForDetection(env.driver, tabId, { url });
      return { page, tabId, url };
    }

    /** Prepares the tab's environment in a fresh popup; resolves the stored record. */
    async function prepare(tabId) {
      const popup = env.track(await openPopup(env.driver, tabId));
      await popup.click('[data-testid=session-prepare]');
      await popup.waitForFunction(
        () => {
          const el = document.querySelector('[data-testid=session-prepared]');
          return el && !el.hidden && el.textContent.includes('@qa-user');
        },
        undefined,
        { what: 'the prepared session to show' },
      );
      const stored = await localValue(env.driver, 'prepared');
      assert.equal(stored?.length, 1, JSON.stringify(stored));
      await popup.close();
      return stored[0];
    }

    /** Runs one check from a fresh popup; resolves {check, view, ms}. */
    async function runCheck(tabId, { afterRollback = false } = {}) {
      const popup = env.track(await openPopup(env.driver, tabId));
      const box = await popup.evaluate(() => document.querySelector('[data-testid=session-check-after-rollback]').checked);
      if (box !== afterRollback) await popup.click('[data-testid=session-check-after-rollback]');
      const { id, clickedAt } = await startCheck(popup, env.driver);
      const check = await waitForStoredCheck(env.driver, (c) => c && c.id === id && c.verdict, { timeout: 90_000, what: `check ${id} to finish` });
      const view = await waitForVerdictInPopup(popup);
      const ms = Date.now() - clickedAt;
      console.log(`rails-check ${name} ${ms} ms: ${view.status}`);
      await popup.close();
      return { check, view, ms };
    }

    /** The browser's `_gitlab_session` values for HOST (they stay in this process). */
    async function sessionValues() {
      return (await env.driver.browserCookies('_gitlab_session')).filter((c) => c.domain === HOST).map((c) => c.value);
    }

    /** Starts a watch of HOST only, every `secs` seconds, from a popup it returns. */
    async function startWatch(tabId, secs) {
      const popup = env.track(await openPopup(env.driver, tabId));
      await popup.evaluate(([host, s]) => {
        for (const box of document.querySelectorAll('[data-testid^=watch-host-]')) box.checked = box.value === host;
        document.querySelector('[data-testid=watch-interval-secs]').value = String(s);
        document.querySelector('[data-testid=watch-limit-minutes]').value = '10';
        return true;
      }, [HOST, secs]);
      await popup.click(SEL.watch.start);
      await waitUntil(
        async () => ((await localValue(env.driver, 'watch'))?.samples || []).some((s) => s.host === HOST && s.identity?.signedIn?.username === 'qa-user'),
        { what: 'a signed-in sample of the watch' },
      );
      return popup;
    }

    const watchStatus = (popup) =>
      popup.evaluate((sel) => {
        const el = document.querySelector(sel);
        return { text: el.textContent.trim(), state: el.dataset.state };
      }, SEL.watch.status);

    /** Closes the browser and starts it again on the same profile (its errors kept first). */
    async function restartBrowser(opts) {
      earlierErrors.push(...(await env.driver.extensionErrors()));
      const t = Date.now();
      await env.restart(opts);
      console.log(`browser-restart-ms ${name} ${Date.now() - t}${opts?.restoreSession ? ' (session restore)' : ''}`);
    }

    // ------------------------------------------------------------------ PASS

    it('PASS through a compatible change (CacheStore with the coders, shared keys) with a session prepared before it, and again after its rollback', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/compatible');
      const prepared = await prepare(tabId);
      assert.equal(prepared.session.endsWithBrowser, true, 'RedisStore: _gitlab_session has no Expires');
      await env.standin.change({ store: 'cache_store', coder: 'compat' });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'PASS', summary(check));
      assert.deepEqual(check.steps.map((s) => s.verdict), ['PASS', 'PASS', 'PASS', 'PASS', 'PASS']);
      assert.equal(check.steps[0].observation.session.fingerprint, prepared.session.fingerprint, 'the very session prepared');
      assert.equal(view.status, `PASS — the session prepared at ${hhmm(prepared.atMs)} survived the change: after the change, the same user stayed signed in across refresh, both stages and back.`);
      assert.match(view.report, /^### Session continuity check \(after the change\): ✅ PASS/);
      assert.match(view.report, /\| Prepared before the change \| `qa-user` \(id 101\) at .*, ends with the browser \|/);
      // The stages really were the changed ones: canary served the other-stage step.
      assert.match(row(view.report, 3), /^\| 3 \| Other stage \(canary\) \| [0-9:]+ \| canary \| `gitlab-cny-webservice-web-[a-z0-9-]+` \| 200 \|/);

      // Its rollback (RedisStore with GitLab's reader, which unwraps CacheStore's entries).
      const again = await prepare(tabId);
      await env.standin.rollback({ store: 'redis_store', coder: 'compat' });
      const rolled = await runCheck(tabId, { afterRollback: true });
      assert.equal(rolled.check.verdict, 'PASS', summary(rolled.check));
      assert.equal(rolled.check.afterRollback, true);
      assert.equal(rolled.view.status, `PASS — the session prepared at ${hhmm(again.atMs)} survived the rollback: after the rollback, the same user stayed signed in across refresh, both stages and back.`);
      assert.match(rolled.view.report, /^### Session continuity check \(after the rollback\): ✅ PASS/);
      assert.match(rolled.view.report, /\| Prepared before the rollback \|/);
      assert.match(rolled.view.report, /\| Run \| after a rollback/);
      await page.close();
    });

    // ------------------------------------------------------------------ sessions not found

    it('FAIL when the new store does not find the sessions (keys not shared), without remember-me: signed out at the first request after the change', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/not-found');
      const prepared = await prepare(tabId);
      await env.standin.change({ store: 'cache_store', keys: 'rails' });
      const since = await env.standin.lastSeq();
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'FAIL', summary(check));
      const first = check.steps[0];
      assert.deepEqual([first.kind, first.verdict], ['baseline', 'FAIL']);
      assert.match(
        first.note,
        new RegExp(`^the session prepared at ${hhmm(prepared.atMs)} did not survive: signed out at the first request after the change \\(on main(, pod ${MAIN_POD.source})?\\)$`),
      );
      assert.match(view.status, /^FAIL — at step “Baseline”, served by main/);
      assert.match(row(view.report, 1), /\| 401 \| signed out \|/);
      // The router saw it: a new session id on the API request, nobody signed in.
      const api = await env.standin.waitForLog((e) => e.path === '/api/v4/user' && e.stage === 'main', { since, what: 'the probe' });
      assert.deepEqual([api.status, api.session, api.session_rotated], [401, 'none', true]);
      await page.close();
    });

    it('FAIL when the new store does not find the sessions, with remember-me: the session was replaced, remember-me signed the user in again', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/not-found-remembered', { remember: true });
      const prepared = await prepare(tabId);
      assert.equal(prepared.session.remember, true);
      await env.standin.change({ store: 'cache_store', keys: 'rails' });
      const since = await env.standin.lastSeq();
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'FAIL', summary(check));
      const first = check.steps[0];
      assert.deepEqual([first.kind, first.verdict], ['baseline', 'FAIL']);
      assert.equal(first.observation.identity.signedIn?.username, 'qa-user', 'still appears signed in');
      assert.notEqual(first.observation.session.fingerprint, prepared.session.fingerprint);
      assert.match(
        first.note,
        new RegExp(
          `^the session prepared at ${hhmm(prepared.atMs)} did not survive: the session was replaced on main(, pod ${MAIN_POD.source})?; remember-me signed the user in again, so users without it were signed out$`,
        ),
      );
      assert.match(view.status, /^FAIL — at step “Baseline”, served by main/);
      assert.match(view.report, /remember-me set/);
      // Devise's rememberable made the new session on main.
      const api = await env.standin.waitForLog((e) => e.path === '/api/v4/user' && e.session === 'remembered', { since, what: 'a remembered sign-in' });
      assert.equal(api.stage, 'main');
      await page.close();
    });

    // ------------------------------------------------------------------ a store that raises

    it('FAIL when the new store raises on the old sessions (shared keys, no coder): HTTP 500 with the session, 401 without', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/raises');
      const prepared = await prepare(tabId);
      const before = await sessionValues();
      const logFrom = env.standin.stageLog('main').length;
      await env.standin.change({ store: 'cache_store' });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'FAIL', summary(check));
      const first = check.steps[0];
      assert.deepEqual([first.kind, first.verdict], ['baseline', 'FAIL']);
      assert.deepEqual(first.observation.identity, { failing: { status: 500, without: 401 } });
      assert.match(
        first.note,
        new RegExp(
          `^the session prepared at ${hhmm(prepared.atMs)} did not survive: every request that carries it fails with HTTP 500 on .+, while requests without it work: users whose session was written before the change cannot use GitLab until they clear their cookies$`,
        ),
      );
      assert.match(view.status, /^FAIL — at step “Baseline”/);
      assert.ok(view.status.includes('every request that carries it fails with HTTP 500'), view.status);
      assert.ok(row(view.report, 1).includes('| 500 (401 without the session) |'), row(view.report, 1));
      // The control request gave the session back: the browser holds the same cookie.
      assert.deepEqual(await sessionValues(), before, 'the session cookie is put back after the control request');
      // Rails' own word: CacheStore read RedisStore's Hash as an entry.
      assert.match(env.standin.stageLog('main').slice(logFrom), /undefined method `expired\?' for \{.*\}:Hash/);
      await page.close();
    });

    it('FAIL across mixed stages (only canary changed, no coder): every request with the session fails with HTTP 500 on canary', async () => {
      await env.standin.restartStage('canary', { store: 'cache_store' });
      const { page, tabId } = await signedInTab('/rails-proof/mixed');
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'FAIL', summary(check));
      const failed = check.steps.find((s) => s.verdict === 'FAIL');
      assert.equal(failed.kind, 'other-stage', summary(check));
      assert.deepEqual(failed.observation.identity, { failing: { status: 500, without: 401 } });
      assert.match(
        failed.note,
        /^every request that carries this session fails with HTTP 500 on canary\b[^:]*, while requests without it work: users whose session was written by main cannot use canary until they clear their cookies$/,
      );
      assert.match(view.status, /^FAIL — at step “Other stage \(canary\)”, served by canary/);
      assert.ok(row(view.report, 3).includes('| 500 (401 without the session) |'), row(view.report, 3));
      assert.equal(check.steps.at(-1).kind, 'restore');
      assert.equal(check.steps.at(-1).verdict, 'PASS', 'the gitlab_canary cookies were put back');
      // Main still reads the session: the user was locked out of canary only.
      assert.equal(await page.evaluate(async () => (await fetch('/api/v4/user')).status), 200);
      await page.close();
    });

    it('FAIL after a rollback without the reader: a session written while the change was applied breaks every request, in the words of "after the rollback"', async () => {
      await env.standin.change({ store: 'cache_store', coder: 'compat' });
      const { page, tabId } = await signedInTab('/rails-proof/rollback-without-reader');
      const prepared = await prepare(tabId);
      const logFrom = env.standin.stageLog('main').length;
      await env.standin.rollback({ store: 'redis_store', coder: 'none' });
      const { check, view } = await runCheck(tabId, { afterRollback: true });
      assert.equal(check.verdict, 'FAIL', summary(check));
      assert.equal(check.afterRollback, true);
      const first = check.steps[0];
      assert.deepEqual([first.kind, first.verdict], ['baseline', 'FAIL']);
      assert.match(
        first.note,
        new RegExp(
          `^the session prepared at ${hhmm(prepared.atMs)} did not survive: every request that carries it fails with HTTP 500 on .+, while requests without it work: users whose session was written before the rollback cannot use GitLab until they clear their cookies$`,
        ),
      );
      assert.match(view.status, /^FAIL — at step “Baseline”/);
      assert.match(view.report, /^### Session continuity check \(after the rollback\): ❌ FAIL/);
      assert.match(view.report, /\| Prepared before the rollback \|/);
      for (const text of [view.status, view.report]) assert.doesNotMatch(text, /(request after|before) the change/);
      assert.ok(row(view.report, 1).includes('| 500 (401 without the session) |'), row(view.report, 1));
      assert.match(env.standin.stageLog('main').slice(logFrom), /undefined method `stringify_keys' for #<ActiveSupport::Cache::Entry/);
      await page.close();
    });

    // ------------------------------------------------------------------ GitLab failing for everyone

    it('INCONCLUSIVE when the stage the check needs is down for everyone: 502 with and without the session', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/stage-down');
      await env.standin.stopStage('canary');
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'INCONCLUSIVE', summary(check));
      assert.ok(!check.steps.some((s) => s.verdict === 'FAIL'), 'a stage down is not a broken session');
      const step = check.steps.find((s) => s.verdict === 'INCONCLUSIVE');
      assert.equal(step.kind, 'other-stage');
      assert.deepEqual(step.observation.identity, { failing: { status: 502, without: 502 } });
      assert.equal(step.note, 'GitLab answered HTTP 502 with and without the session');
      assert.equal(view.status, 'INCONCLUSIVE — step “Other stage (canary)”: GitLab answered HTTP 502 with and without the session.');
      assert.ok(row(view.report, 3).includes('| 502 (502 without the session) |'), row(view.report, 3));
      assert.equal(check.steps.at(-1).kind, 'restore');
      await page.close();
    });

    // ------------------------------------------------------------------ the watch

    it('watch: a store change that raises is "Session lost" (HTTP 500), LOST on the tab', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/watch-500');
      // The samples are asked from the open GitLab tab, as the check asks (Chromium throttles
      // an extension context's own requests to a URL that keeps answering 5xx). 1 s: a sample
      // that meets a 5xx takes about a second; the watch skips an alarm due meanwhile rather
      // than run two samples side by side.
      const popup = await startWatch(tabId, 1);
      const changedAt = Date.now();
      await env.standin.change({ store: 'cache_store' });
      // The loss, or (wrongly) three samples that say nothing: whichever comes first.
      const shown = await popup.waitForFunction(
        (sel) => {
          const el = document.querySelector(sel);
          const text = el.textContent.trim();
          const m = /(\d+) of them without an answer/.exec(text);
          return el.dataset.state === 'lost' || (m && Number(m[1]) >= 3) ? { text, state: el.dataset.state } : false;
        },
        SEL.watch.status,
        { timeout: 30_000, what: 'the watch to report the loss' },
      );
      const w = await localValue(env.driver, 'watch');
      const samples = JSON.stringify(w.samples.map((s) => s.identity));
      console.log(`watch-after-change-ms ${name} ${Date.now() - changedAt} ${shown.state} ${samples}`);
      await popup.click(SEL.watch.stop);
      await waitUntil(async () => (await localValue(env.driver, 'watch'))?.stoppedMs, { what: 'the watch to stop' });
      assert.equal(shown.state, 'lost', `${shown.text} — samples: ${samples}`);
      assert.match(
        shown.text,
        /^Session lost on staging\.gitlab\.com at .+: every request that carries the session fails with HTTP 500, while requests without it work: users with such a session cannot use GitLab until they clear their cookies\.$/,
      );
      assert.ok(w.samples.some((s) => s.identity?.failing?.status === 500 && s.identity.failing.without === 401), samples);
      await waitForBadge(env.driver, tabId, 'LOST');
      await popup.close();
      await page.close();
    });

    it('watch: a stage down for everyone is never "signed in so far": it counts the samples without an answer', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/watch-502');
      const popup = await startWatch(tabId, 2);
      await env.standin.stopStage('main');
      const shown = await popup.waitForFunction(
        (sel) => {
          const el = document.querySelector(sel);
          const m = /^Watching staging\.gitlab\.com: (\d+) samples, (\d+) of them without an answer about the session/.exec(el.textContent.trim());
          return m && Number(m[2]) >= 2 ? { text: el.textContent.trim(), state: el.dataset.state } : false;
        },
        SEL.watch.status,
        { timeout: 20_000, what: 'two samples without an answer in the watch status' },
      );
      assert.equal(shown.state, 'watching', 'no loss: nobody could use GitLab');
      assert.doesNotMatch(shown.text, /signed in so far/);
      assert.match(shown.text, /\(GitLab failed with and without it, or did not answer\); stops at /);
      const w = await localValue(env.driver, 'watch');
      const samples = JSON.stringify(w.samples.map((s) => s.identity));
      assert.ok(w.samples.some((s) => s.identity?.failing?.status === 502), samples);
      assert.ok(!w.samples.some((s) => s.identity === 'signedOut' || (typeof s.identity?.failing?.without === 'number' && s.identity.failing.without < 500)), `no sample is a loss: ${samples}`);
      assert.notEqual((await badge(env.driver, tabId)).text, 'LOST');
      await popup.click(SEL.watch.stop);
      await waitUntil(async () => (await localValue(env.driver, 'watch'))?.stoppedMs, { what: 'the watch to stop' });
      await popup.close();
      await page.close();
    });

    // ------------------------------------------------------------------ bfcache

    it('a back navigation is a real bfcache restore, and the badge names the stage of the restored page', async () => {
      const { page, tabId } = await signedInTab('/rails-proof/bfcache-start');
      await setCanaryCookie(env.driver, 'true');
      await showIn(page, '/rails-proof/bfcache-a');
      await waitForBadge(env.driver, tabId, 'NEXT');
      await page.evaluate(() => {
        window.__harnessDocument = 'a';
        window.__harnessShows = [];
        addEventListener('pageshow', (e) => window.__harnessShows.push(e.persisted));
        return true;
      });
      await setCanaryCookie(env.driver, 'false');
      await showIn(page, '/rails-proof/bfcache-b');
      await waitForBadge(env.driver, tabId, 'CUR');
      const since = await env.standin.lastSeq();
      await page.evaluate(() => {
        history.back();
        return true;
      });
      const restored = await page.waitForFunction(
        () => location.pathname === '/rails-proof/bfcache-a' && (window.__harnessShows || []).length > 0 && { document: window.__harnessDocument, shows: window.__harnessShows },
        undefined,
        { what: 'page a shown again from the back/forward cache (its pageshow)' },
      );
      assert.deepEqual(restored, { document: 'a', shows: [true] }, 'the same document, pageshow persisted');
      // Not fetched again: the router saw no request for page a.
      assert.ok(!(await env.standin.log(since)).some((e) => e.method === 'GET' && e.path === '/rails-proof/bfcache-a'), 'page a came from the cache');
      // Page a was served by canary; a reload now would go to main (the cookie says false).
      const shown = await waitForBadge(env.driver, tabId, 'NEXT');
      assert.match(shown.title, /served by canary/);
      await setCanaryCookie(env.driver, null);
      await page.close();
    });

    // ------------------------------------------------------------------ browser restarts

    it('a browser restart between prepare and check is INCONCLUSIVE (the session cookie ends with the browser); a watch it interrupted says so', async () => {
      const { tabId } = await signedInTab('/rails-proof/restart');
      const prepared = await prepare(tabId);
      assert.equal(prepared.session.endsWithBrowser, true);
      assert.ok(prepared.browserRun, 'the preparation names its browser run');
      const watching = await startWatch(tabId, 60);
      await watching.close();
      await restartBrowser();
      assert.deepEqual(await sessionValues(), [], 'the browser-session cookie is gone');
      assert.equal((await localValue(env.driver, 'prepared'))?.length, 1, 'the prepared session is kept (storage.local)');
      const { tabId: again } = await signedInTab('/rails-proof/restart-again');
      const { check, view } = await runCheck(again);
      assert.equal(check.verdict, 'INCONCLUSIVE', summary(check));
      assert.notEqual(check.browserRun, prepared.browserRun);
      assert.equal(
        check.steps[0].note,
        `the browser was restarted after the session was prepared at ${hhmm(prepared.atMs)}, and GitLab's session cookie ends with the browser: prepare again and keep the browser open until the check`,
      );
      assert.equal(view.status, `INCONCLUSIVE — step “Baseline”: ${check.steps[0].note}.`);
      assert.ok(!check.steps.some((s) => s.verdict === 'FAIL'), 'the restart is not the change');
      // The watch started before the restart stopped, and says why.
      const popup = env.track(await openPopup(env.driver, again));
      const { text, state } = await watchStatus(popup);
      assert.equal(state, 'stopped');
      assert.match(text, /^Stopped: the browser was restarted at .+, after \d+ samples\. GitLab's session cookie ends with the browser/);
      await popup.close();
    });

    it('a browser restart with remember-me: signed in again by remember-me is still INCONCLUSIVE, not a replaced session', async () => {
      const { tabId } = await signedInTab('/rails-proof/restart-remembered', { remember: true });
      const prepared = await prepare(tabId);
      await restartBrowser();
      // remember_user_token (two weeks) outlived the browser: the first page signs the user in.
      const page = env.track(await env.driver.openPage(`${ORIGIN}/rails-proof/restart-remembered-again`));
      const { tabId: again } = await showIn(page, '/rails-proof/restart-remembered-again');
      await env.standin.waitForLog((e) => e.path === '/rails-proof/restart-remembered-again' && e.session === 'remembered', { what: 'a remembered sign-in' });
      const { check } = await runCheck(again);
      assert.equal(check.verdict, 'INCONCLUSIVE', summary(check));
      assert.equal(
        check.steps[0].note,
        `the browser was restarted after the session was prepared at ${hhmm(prepared.atMs)}, and GitLab's session cookie ends with the browser: prepare again and keep the browser open until the check`,
      );
    });

    it('a browser restart that kept the session (session restore) gets a normal verdict: PASS on an unchanged stack', async () => {
      const { tabId } = await signedInTab('/rails-proof/restore');
      const prepared = await prepare(tabId);
      const before = await sessionValues();
      await restartBrowser({ restoreSession: true });
      assert.deepEqual(await sessionValues(), before, 'the browser restored its session cookie');
      const page = env.track(await env.driver.openPage(`${ORIGIN}/rails-proof/restore-again`));
      const { tabId: again } = await showIn(page, '/rails-proof/restore-again');
      const { check, view } = await runCheck(again);
      assert.equal(check.verdict, 'PASS', summary(check));
      assert.notEqual(check.browserRun, prepared.browserRun, 'the check knew of the restart');
      assert.equal(check.steps[0].observation.session.fingerprint, prepared.session.fingerprint);
      assert.match(view.status, new RegExp(`^PASS — the session prepared at ${hhmm(prepared.atMs)} survived the change`));
    });

    it('the extension reported no errors', async () => {
      const errors = earlierErrors.concat(await env.driver.extensionErrors()).filter((e) => !FIREFOX_UNLOAD_NOISE.test(e.text));
      assert.deepEqual(errors, []);
    });
  });
}
