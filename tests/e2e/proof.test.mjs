// "Prove the session survives a change", end to end in each browser: remember-me cannot turn a
// lost session into a PASS; a session prepared before a change is compared with after it (and
// after a rollback); prepared state survives the popup and the background; the report goes to
// the change issue only after the confirm click, once, and every refusal is one sentence; the
// watch counts a replaced session as lost; no session or remember-me value leaks anywhere.
//
// Determinism: the stand-in is seeded with --canary-weight 0 (home stage main, other stage
// canary); each test signs in afresh and resets the stand-in's session mode, change and faults.
// Waits are on the stand-in log, storage.local, the popup's text and the stand-in's notes.

import { describe, it, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { waitUntil } from '../lib/browsers.mjs';
import { openPopup, startCheck, waitForStoredCheck, waitForVerdictInPopup } from '../lib/popup.mjs';
import { extensionStorage, localValue, removeLocal, waitForDetection } from '../lib/served.mjs';
import { signIn, signOut, setPerfBar, setCanaryCookie } from '../lib/gitlab.mjs';

const STAGING = 'https://staging.gitlab.com';
const HOST = 'staging.gitlab.com';
const ISSUE = `${STAGING}/gitlab-com/gl-infra/production/-/issues/19142`;
const skip = realExtensionAvailable() && process.env.EXT_FIXTURE !== '1' ? false : 'needs the built extension (dist/chrome, dist/firefox)';
const FIREFOX_UNLOAD_NOISE = /^Promise (rejected|resolved) after context unloaded\b/;
const NO_FAULTS = [
  { stage: 'canary', status: null, delay_ms: 0 },
  { stage: 'main', status: null, delay_ms: 0 },
];

for (const name of browsersUnderTest()) {
  describe(`proof: ${name}`, { timeout: 420_000, skip }, () => {
    const env = useBrowser(name, { seed: 37, standinArgs: ['--canary-weight', '0'] });
    const allPages = [];
    const secrets = new Set();

    beforeEach(async () => {
      await env.standin.config({ session_format: 'compatible', fault: NO_FAULTS, canary_disabled: false, canary_weight: 0 });
      const change = await env.standin.request('GET', '/-/standin/change');
      if (change.body.change === 'applied') await env.standin.request('POST', '/-/standin/change', { action: 'rollback' });
      await setCanaryCookie(env.driver, null);
      await env.driver.clearBrowserCookies('_gitlab_session');
      await env.driver.clearBrowserCookies('remember_user_token');
      await removeLocal(env.driver, ['prepared', 'check']);
      await setPerfBar(env.driver, true);
    });

    after(async () => {
      await env.standin?.config({ session_format: 'compatible', fault: NO_FAULTS }).catch(() => {});
    });

    const track = (page) => {
      allPages.push(page);
      return env.track(page);
    };

    /** Remembers every session and remember-me value the browser holds now (for the leak check). */
    async function collectSecrets() {
      for (const n of ['_gitlab_session', 'remember_user_token']) {
        const values = await env.driver.extEval(async (x) => (await chrome.cookies.getAll({ name: x })).map((c) => c.value), n);
        for (const v of values) secrets.add(v);
      }
    }

    /** A tab signed in as qa-user, showing `path`. */
    async function signedInTab(path, { remember = false } = {}) {
      const page = track(await env.driver.openPage(`${STAGING}/users/sign_in`));
      await signIn(env, page, { host: HOST, remember });
      const url = `${STAGING}${path}`;
      await page.goto(url);
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      await waitForDetection(env.driver, tabId, { url });
      await collectSecrets();
      return { page, tabId, url };
    }

    async function change(body) {
      const r = await env.standin.request('POST', '/-/standin/change', body);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body;
    }

    /** Clicks Prepare in a fresh popup and waits for the prepared line; resolves {popup, line}. */
    async function prepare(tabId, { issueUrl } = {}) {
      const popup = track(await openPopup(env.driver, tabId));
      if (issueUrl) await popup.evaluate(([u]) => {
        document.querySelector('[data-testid=report-post-url]').value = u;
      }, [issueUrl]);
      await popup.click('[data-testid=session-prepare]');
      await popup.waitForFunction(() => {
        const el = document.querySelector('[data-testid=session-prepared]');
        return el && !el.hidden && el.textContent.includes('@qa-user');
      }, undefined, { what: 'the prepared session to show' });
      const line = await popup.evaluate(() => document.querySelector('[data-testid=session-prepared]').textContent.trim());
      return { popup, line };
    }

    async function runCheck(tabId, { afterRollback = false } = {}) {
      const popup = track(await openPopup(env.driver, tabId));
      if (afterRollback) await popup.click('[data-testid=session-check-after-rollback]');
      const t0 = Date.now();
      const { id } = await startCheck(popup, env.driver);
      const check = await waitForStoredCheck(env.driver, (c) => c && c.id === id && c.verdict, { timeout: 90_000, what: `check ${id} to finish` });
      const view = await waitForVerdictInPopup(popup);
      await collectSecrets();
      return { check, view, popup, ms: Date.now() - t0 };
    }

    // ------------------------------------------------------------------ no false PASS

    it('a session lost and re-created by remember-me is a FAIL naming the step, not a PASS', async () => {
      const { page, tabId } = await signedInTab('/proof/remembered', { remember: true });
      // Main cannot read what canary wrote: at "Back (main)" the session is dropped, and
      // remember-me signs the user in again with a new one.
      await env.standin.config({ session_format: 'canary-new-format' });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'FAIL', JSON.stringify(check.steps.map((s) => [s.kind, s.verdict, s.note])));
      const back = check.steps.find((s) => s.kind === 'back');
      assert.equal(back.verdict, 'FAIL');
      assert.equal(back.sessionChanged, true);
      assert.equal(back.observation.identity.signedIn.username, 'qa-user', 'the user still appears signed in');
      assert.equal(back.observation.session.remember, true);
      assert.match(back.note, /^the session was replaced on main, pod gitlab-webservice-web-[a-z0-9]+-[a-z0-9]+; remember-me signed the user in again, so users without it were signed out$/);
      assert.match(view.status, /^FAIL — at step “Back \(main\)”/);
      // The stand-in agrees: that request was answered by remember-me with a new session.
      const log = await env.standin.log(0);
      assert.ok(log.some((e) => e.session === 'remembered' && e.stage === 'main'), 'the stand-in signed the user in again on main');
      await page.close();
    });

    // ------------------------------------------------------------------ prepared before, verified after

    it('a prepared session lost at the change is a FAIL at the first request after it', async () => {
      const { page, tabId } = await signedInTab('/proof/prepared-lost');
      const t0 = Date.now();
      const { popup, line } = await prepare(tabId, { issueUrl: ISSUE });
      const prepareMs = Date.now() - t0;
      console.log(`prepare-ms ${name} ${prepareMs}`);
      assert.match(line, /^Prepared: @qa-user at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, session [0-9a-f]{8} on main\.$/, line);
      const stored = await localValue(env.driver, 'prepared');
      assert.equal(stored.length, 1);
      assert.equal(stored[0].issueUrl, ISSUE);
      await popup.close();
      await change({ action: 'apply', kind: 'unreadable-before' });
      const { check, view, ms } = await runCheck(tabId);
      console.log(`verify-ms ${name} ${ms} ${check.verdict}`);
      assert.equal(check.verdict, 'FAIL');
      const first = check.steps[0];
      assert.equal(first.kind, 'baseline');
      assert.equal(first.verdict, 'FAIL');
      const at = stored[0].atMs;
      const hhmm = new Date(at).toISOString().slice(11, 16);
      assert.equal(
        first.note.replace(/ \(on main, pod [^)]+\)$/, ''),
        `the session prepared at ${hhmm} UTC did not survive: signed out at the first request after the change`,
      );
      assert.match(view.report, /\| Prepared before the change \| `qa-user` \(id 101\) at /, 'the report shows the prepared baseline');
      assert.match(view.report, /^### Session continuity check \(after the change\): ❌ FAIL/);
      // Used: it is gone once its check has judged it.
      await waitUntil(async () => ((await localValue(env.driver, 'prepared')) || []).length === 0, { what: 'the prepared session to be used up' });
      await page.close();
    });

    it('a compatible change with a prepared session is a PASS, and the report shows the baseline', async () => {
      const { page, tabId } = await signedInTab('/proof/prepared-compatible');
      const { popup } = await prepare(tabId);
      await popup.close();
      await change({ action: 'apply', kind: 'compatible' });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'PASS', JSON.stringify(check.steps.map((s) => [s.kind, s.verdict, s.note])));
      assert.equal(check.prepared.username, 'qa-user');
      assert.equal(check.prepared.session.fingerprint, check.steps[0].observation.session.fingerprint, 'the same session as prepared');
      assert.match(view.report, /Prepared before the change/);
      await page.close();
    });

    it('after a rollback that cannot read sessions written after the change: FAIL, in the words of "after the rollback"', async () => {
      // Applied first; the user signs in after the change (a session of the new code), prepares.
      await change({ action: 'apply', kind: 'unreadable-after-on-rollback' });
      const { page, tabId } = await signedInTab('/proof/rollback');
      const { popup } = await prepare(tabId);
      await popup.close();
      await change({ action: 'rollback' });
      const { check, view } = await runCheck(tabId, { afterRollback: true });
      assert.equal(check.verdict, 'FAIL');
      assert.equal(check.afterRollback, true);
      assert.match(check.steps[0].note, /did not survive: signed out at the first request after the rollback/);
      assert.match(view.report, /^### Session continuity check \(after the rollback\): ❌ FAIL/);
      assert.match(view.report, /\| Prepared before the rollback \|/);
      assert.doesNotMatch(view.report, /request after the change/);
      assert.match(view.report, /\| Run \| after a rollback/);
      await page.close();
    });

    it('prepared state survives a closed popup and a stopped background; Forget clears it', async () => {
      const { page, tabId } = await signedInTab('/proof/kept');
      const { popup, line } = await prepare(tabId);
      await popup.close();
      await env.driver.stopServiceWorker();
      const again = track(await openPopup(env.driver, tabId));
      assert.equal(await again.evaluate(() => document.querySelector('[data-testid=session-prepared]').textContent.trim()), line);
      await again.click('[data-testid=session-prepared-clear]');
      await again.waitForFunction(() => document.querySelector('[data-testid=session-prepared]').hidden, undefined, { what: 'the prepared line to go' });
      assert.deepEqual(await localValue(env.driver, 'prepared'), []);
      await again.close();
      await page.close();
    });

    it('preparing while signed out says so in one sentence and keeps nothing', async () => {
      const page = track(await env.driver.openPage(`${STAGING}/proof/signed-out`));
      const tabId = await env.driver.tabIdFor(`${STAGING}/proof/signed-out`, { exact: true });
      const popup = track(await openPopup(env.driver, tabId));
      await popup.click('[data-testid=session-prepare]');
      await popup.waitForFunction(() => !document.querySelector('[data-testid=error]').hidden, undefined, { what: 'an error sentence' });
      const text = await popup.evaluate(() => document.querySelector('[data-testid=error]').textContent.trim());
      assert.equal(text, 'Nobody is signed in on staging.gitlab.com: sign in there, then prepare again.');
      assert.equal(await localValue(env.driver, 'prepared'), null);
      await popup.close();
      await page.close();
    });

    // ------------------------------------------------------------------ posting to the change issue

    it('posting: the exact Markdown and the issue first, one comment after the confirm, its URL at the end', async () => {
      const { page, tabId } = await signedInTab('/proof/post');
      const { check, popup } = await runCheck(tabId);
      assert.equal(check.verdict, 'PASS');
      await popup.evaluate(([u]) => {
        document.querySelector('[data-testid=report-post-url]').value = u;
      }, [ISSUE]);
      await popup.click('[data-testid=report-post]');
      await popup.waitFor('[data-testid=report-post-preview]:not([hidden])');
      const preview = await popup.evaluate(() => ({
        target: document.querySelector('[data-testid=report-post-target]').textContent.trim(),
        body: document.querySelector('[data-testid=report-post-body]').textContent,
        report: document.querySelector('[data-testid=session-check-report]').textContent,
      }));
      assert.equal(preview.target, `This comment goes to ${ISSUE} (as the user signed in there):`);
      assert.equal(preview.body, preview.report, 'the comment is the report, exactly');
      assert.deepEqual((await env.standin.request('GET', '/-/standin/notes')).body, [], 'nothing posted before the confirm');
      await popup.click('[data-testid=report-post-confirm]');
      await popup.waitForFunction(() => /^Posted: /.test(document.querySelector('[data-testid=report-post-status]').textContent), undefined, {
        what: 'the posted status',
      });
      const notes = (await env.standin.request('GET', '/-/standin/notes')).body;
      assert.equal(notes.length, 1, JSON.stringify(notes));
      assert.equal(notes[0].body, preview.body);
      assert.equal(notes[0].project, 'gitlab-com/gl-infra/production');
      assert.equal(notes[0].iid, 19142);
      const status = await popup.evaluate(() => document.querySelector('[data-testid=report-post-status]').textContent.trim());
      assert.equal(status, `Posted: ${ISSUE}#note_${notes[0].id}`);
      await popup.close();
      await page.close();
    });

    it('posting refusals: 403, 404, not an issue URL, not signed in, and a page without a CSRF token', async () => {
      const { page, tabId } = await signedInTab('/proof/post-refused');
      const { popup } = await runCheck(tabId);
      const notesBefore = (await env.standin.request('GET', '/-/standin/notes')).body.length;
      const post = async (url) => {
        await popup.evaluate(([u]) => {
          document.querySelector('[data-testid=report-post-url]').value = u;
          document.querySelector('[data-testid=report-post-status]').textContent = '';
        }, [url]);
        await popup.click('[data-testid=report-post]');
        const previewed = await popup
          .waitForFunction(
            () => !document.querySelector('[data-testid=report-post-preview]').hidden || document.querySelector('[data-testid=report-post-status]').textContent !== '',
            undefined,
            { what: 'a preview or a sentence' },
          )
          .then(() => popup.evaluate(() => !document.querySelector('[data-testid=report-post-preview]').hidden));
        if (previewed) {
          await popup.click('[data-testid=report-post-confirm]');
          await popup.waitForFunction(() => {
            const t = document.querySelector('[data-testid=report-post-status]').textContent;
            return t !== '' && t !== 'Posting…';
          }, undefined, { what: 'the post to end' });
        }
        return popup.evaluate(() => document.querySelector('[data-testid=report-post-status]').textContent.trim());
      };
      assert.equal(await post(`${STAGING}/gitlab-com/gl-infra/readonly/-/issues/1`), 'Your account may not comment on this issue: ask for access, or post to another issue.');
      assert.equal(await post(`${STAGING}/private-group/secret/-/issues/1`), 'The issue was not found, or your account cannot see it: check the URL.');
      assert.equal(await post(`${STAGING}/gitlab-com/gl-infra/production/-/merge_requests/1`), 'That is not a GitLab issue URL: paste one like https://gitlab.com/group/project/-/issues/123.');
      // A page of the origin without a CSRF token is the only one open there: nothing to post with.
      const image = track(await env.driver.openPage(`${STAGING}/assets/favicon-yellow-84482a3d2d1bc5bfac60276055771fb9a3ca8513a6c0817a00ad85980d45b3c0.png`));
      await page.goto('about:blank');
      assert.equal(await post(ISSUE), 'The page of staging.gitlab.com carries no CSRF token: reload the issue page, sign in if asked, then post again.');
      await image.close();
      // Signed out there: the issue page opened for the post has no session.
      await env.driver.clearBrowserCookies('_gitlab_session');
      assert.equal(await post(ISSUE), 'You are not signed in on staging.gitlab.com: sign in there, then post again.');
      assert.equal((await env.standin.request('GET', '/-/standin/notes')).body.length, notesBefore, 'no comment was created');
      await popup.close();
      await page.close();
    });

    // ------------------------------------------------------------------ the watch

    it('the watch counts a session replaced by remember-me as lost', async () => {
      const { page } = await signedInTab('/proof/watch', { remember: true });
      const popup = track(await openPopup(env.driver, await env.driver.tabIdFor(`${STAGING}/proof/watch`, { exact: true })));
      await popup.evaluate(() => {
        for (const box of document.querySelectorAll('[data-testid^=watch-host-]')) box.checked = box.value === 'staging.gitlab.com';
        document.querySelector('[data-testid=watch-interval-secs]').value = '1';
      });
      await popup.click('[data-testid=watch-start]');
      await waitUntil(async () => ((await localValue(env.driver, 'watch'))?.samples || []).length >= 1, { what: 'a first sample' });
      // Every session dropped (Redis flushed): remember-me signs the user in again, newly.
      await env.standin.flushSessions();
      await popup.waitForFunction(() => document.querySelector('[data-testid=watch-status]').dataset.state === 'lost', undefined, {
        timeout: 30_000,
        what: 'the watch to report the loss',
      });
      const text = await popup.evaluate(() => document.querySelector('[data-testid=watch-status]').textContent.trim());
      assert.match(text, /^Session lost/);
      const w = await localValue(env.driver, 'watch');
      const lost = w.samples.find((s) => s.session && s.session.fingerprint !== w.samples[0].session.fingerprint);
      assert.ok(lost && lost.identity.signedIn, 'still signed in, with another session');
      await popup.click('[data-testid=watch-stop]');
      await collectSecrets();
      await popup.close();
      await page.close();
    });

    // ------------------------------------------------------------------ upgrades and secrets

    it('an extension update keeps the check history, the watch and the settings of 0.1.0', async () => {
      const fixtures = await import('node:fs').then((fs) => ({
        checks: JSON.parse(fs.readFileSync(new URL('../fixtures/stored/0.1.0/checks.json', import.meta.url), 'utf8')),
        watch: JSON.parse(fs.readFileSync(new URL('../fixtures/stored/0.1.0/watch.json', import.meta.url), 'utf8')),
        settings: JSON.parse(fs.readFileSync(new URL('../fixtures/stored/0.1.0/settings.json', import.meta.url), 'utf8')),
      }));
      fixtures.watch.stoppedMs = fixtures.watch.startedMs + 180_000;
      await env.driver.extEval(async (f) => {
        await chrome.storage.local.set({ checks: f.checks, watch: f.watch, settings: f.settings });
        return true;
      }, fixtures);
      // A new version's background starts: it migrates what it finds.
      await env.driver.stopServiceWorker();
      await env.driver.extEval(() => chrome.runtime.sendMessage({ wake: true }).then(() => true, () => true));
      const migrated = await waitUntil(async () => {
        const { local } = await extensionStorage(env.driver);
        return local.checks?.[0]?.version === 2 && local.watch?.version === 2 ? local : false;
      }, { what: 'the stored shapes to be migrated' });
      assert.equal(migrated.checks.length, 1);
      assert.equal(migrated.checks[0].id, fixtures.checks[0].id, 'the old check is still there');
      const essentials = (c) => c.steps.map((st) => [st.kind, st.verdict, st.note, st.observation?.session?.fingerprint ?? null, st.observation?.detection?.pod ?? null]);
      assert.deepEqual(essentials(migrated.checks[0]), essentials(fixtures.checks[0]), 'with every step as it was');
      assert.equal(migrated.checks[0].verdict, fixtures.checks[0].verdict);
      assert.equal(migrated.watch.samples.length, 3);
      // A new check goes on top of it; the old one stays.
      const { page, tabId } = await signedInTab('/proof/upgrade');
      await runCheck(tabId);
      const after = await localValue(env.driver, 'checks');
      assert.equal(after.length, 2);
      assert.equal(after[1].id, fixtures.checks[0].id);
      await page.close();
    });

    it('no session or remember-me value appears in any note, report, storage or console', async () => {
      assert.ok(secrets.size >= 3, `secrets seen: ${secrets.size}`);
      const haystacks = [];
      const { local, session } = await extensionStorage(env.driver);
      haystacks.push(JSON.stringify(local), JSON.stringify(session));
      haystacks.push(JSON.stringify((await env.standin.request('GET', '/-/standin/notes')).body));
      haystacks.push(JSON.stringify(await env.standin.log(0)));
      for (const p of allPages) {
        haystacks.push(JSON.stringify(await p.consoleMessages()));
        try {
          haystacks.push(await p.evaluate(() => document.documentElement.outerHTML));
        } catch {
          // closed pages: their console was collected above
        }
      }
      for (const s of secrets) {
        assert.ok(s.length >= 16, 'a real cookie value');
        for (const h of haystacks) assert.ok(!h.includes(s), 'a cookie value leaked');
      }
      const errors = (await env.driver.extensionErrors()).filter((e) => !FIREFOX_UNLOAD_NOISE.test(e.text));
      assert.deepEqual(errors, []);
    });
  });
}
