// "Session continuity check", end to end in each browser: a real sign-in through the stand-in's
// form (real `_gitlab_session` cookie), the check started from the popup and run by the
// background, verdicts for the stand-in's session modes and faults, the cookies put back, no
// secret anywhere, and the watch noticing a flush.
//
// Determinism: the stand-in is seeded and runs with --canary-weight 0, so the signed-in tab's
// home stage is main and the check's "other stage" is canary. Every test signs in afresh in a tab
// of its own (or makes sure nobody is), and resets the stand-in's session mode and faults. Waits
// are on the stand-in log, storage.local `check`/`watch`, the popup's text and the badge; each
// has a time-out.

import { describe, it, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as delay } from 'node:timers/promises';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { waitUntil } from '../lib/browsers.mjs';
import { openPopup, startCheck, waitForStoredCheck, waitForVerdictInPopup, checkView, SEL } from '../lib/popup.mjs';
import { badge, waitForBadge, extensionStorage, localValue, removeLocal, waitForDetection } from '../lib/served.mjs';
import { signIn, signOut, setPerfBar, setCanaryCookie, waitForPath } from '../lib/gitlab.mjs';

const STAGING = 'https://staging.gitlab.com';
const HOST = 'staging.gitlab.com';
const skip = realExtensionAvailable() && process.env.EXT_FIXTURE !== '1' ? false : 'needs the built extension (dist/chrome, dist/firefox)';
// Firefox reports an extension API promise still pending when its context goes away: a content
// script's message when its page unloads (see switch.test.mjs), and here also the background's
// own calls when a test terminates it mid-check on purpose, or a guided step's page navigates.
const FIREFOX_UNLOAD_NOISE = /^Promise (rejected|resolved) after context unloaded\b/;
const NO_FAULTS = [
  { stage: 'canary', status: null, delay_ms: 0 },
  { stage: 'main', status: null, delay_ms: 0 },
];
const AUTOMATIC_STEPS = ['baseline', 'refresh', 'other-stage', 'back', 'restore'];

for (const name of browsersUnderTest()) {
  describe(`session: ${name}`, { timeout: 420_000, skip }, () => {
    const env = useBrowser(name, { seed: 31, standinArgs: ['--canary-weight', '0'] });
    /** Every page opened in this block (web and extension), for the secret and console checks. */
    const allPages = [];

    beforeEach(async () => {
      await env.standin.config({ session_format: 'compatible', fault: NO_FAULTS, canary_disabled: false, canary_weight: 0 });
      await setCanaryCookie(env.driver, null);
      // Signed out in the browser: each test signs in afresh (a signed-in user asking for the
      // form would be redirected away from it).
      await env.driver.clearBrowserCookies('_gitlab_session');
      // The perf bar makes the report name pods; the check works without it too.
      await setPerfBar(env.driver, true);
    });

    after(async () => {
      await env.standin?.config({ session_format: 'compatible', fault: NO_FAULTS }).catch(() => {});
    });

    function track(page) {
      allPages.push(page);
      return env.track(page);
    }

    /**
     * A tab signed in as qa-user through the form, then showing `path` (its own per test, so
     * that tabIdFor finds exactly one tab). Resolves {page, tabId, url}.
     */
    async function signedInTab(path) {
      const page = track(await env.driver.openPage(`${STAGING}/users/sign_in`));
      await signIn(env, page, { host: HOST });
      const url = `${STAGING}${path}`;
      await page.goto(url);
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      // The content script has read this page before the check asks it anything.
      await waitForDetection(env.driver, tabId, { url });
      return { page, tabId, url };
    }

    async function popupFor(tabId) {
      return track(await openPopup(env.driver, tabId));
    }

    /** Runs one automatic check from a fresh popup; resolves {check, view, ms, popup}. */
    async function runCheck(tabId, { guided = false, timeout = 90_000 } = {}) {
      const popup = await popupFor(tabId);
      const { id, clickedAt } = await startCheck(popup, env.driver, { guided });
      const check = await waitForStoredCheck(env.driver, (c) => c && c.id === id && c.verdict, { timeout, what: `check ${id} to finish` });
      const view = await waitForVerdictInPopup(popup);
      return { check, view, ms: Date.now() - clickedAt, popup };
    }

    function gitlabCanaryCookies() {
      return env.driver.extEval(async () =>
        (await chrome.cookies.getAll({ name: 'gitlab_canary' }))
          .map(({ name, value, domain, hostOnly, path, secure, httpOnly, sameSite, session, expirationDate, storeId }) => ({
            name,
            value,
            domain,
            hostOnly,
            path,
            secure,
            httpOnly,
            sameSite,
            session,
            expirationDate,
            storeId,
          }))
          .sort((a, b) => `${a.domain}|${a.path}|${a.value}`.localeCompare(`${b.domain}|${b.path}|${b.value}`)),
      );
    }

    function sessionCookieValues() {
      return env.driver.extEval(async () => (await chrome.cookies.getAll({ name: '_gitlab_session' })).map((c) => c.value));
    }

    // ------------------------------------------------------------------ verdicts

    it('PASS when sessions are compatible: 5 steps, the report names qa-user, and the cookies are put back exactly', async () => {
      const { page, tabId } = await signedInTab('/session/pass');
      // Plant what the check must put back: a host-only cookie (as GitLab's "g x" writes) and a
      // .gitlab.com one, both false (so the home stage is main), with their own attributes.
      const exp = Math.floor(Date.now() / 1000) + 30 * 24 * 3600;
      await env.driver.setCookie({ url: `${STAGING}/`, name: 'gitlab_canary', value: 'false', path: '/', secure: true, expirationDate: exp });
      await env.driver.setCookie({ url: 'https://gitlab.com/', domain: '.gitlab.com', name: 'gitlab_canary', value: 'false', path: '/', secure: false, sameSite: 'lax', expirationDate: exp + 3600 });
      const before = await gitlabCanaryCookies();
      assert.equal(before.length, 2, JSON.stringify(before));
      assert.ok(before.some((c) => c.hostOnly && c.domain === HOST), 'the host-only cookie is planted');

      const since = await env.standin.lastSeq();
      const { check, view, ms } = await runCheck(tabId);
      console.log(`session-check-duration-ms ${name} ${ms}`);
      const offsets = check.steps.map((st) => `${st.kind}=${st.observation ? Math.round(st.observation.atMs - check.startedMs) : '-'}`);
      console.log(`session-check-steps ${name} ${offsets.join(' ')} finished=${Math.round(check.finishedMs - check.startedMs)}`);

      assert.match(view.status, /^PASS — /, view.status);
      assert.equal(check.verdict, 'PASS');
      assert.deepEqual(check.steps.map((s) => s.kind), AUTOMATIC_STEPS);
      assert.deepEqual(check.steps.map((s) => s.verdict), ['PASS', 'PASS', 'PASS', 'PASS', 'PASS']);
      // The report: the Markdown table with its five rows, the user, the verdict.
      const report = view.report;
      assert.ok(report, 'the report is shown');
      assert.match(report, /^### Session continuity check: ✅ PASS/m);
      assert.match(report, /\| # \| Step \| Time \(UTC\) \| Stage \| Pod \| HTTP \| Signed in as \| `_gitlab_session` \| Result \|/);
      const rows = report.split('\n').filter((l) => /^\| [1-9] \| /.test(l));
      assert.equal(rows.length, 5, rows.join('\n'));
      assert.match(report, /`qa-user`/);
      for (const [i, title] of ['Baseline', 'Refresh', 'Other stage (canary)', 'Back (main)', 'Restore cookies'].entries()) {
        assert.ok(rows[i].startsWith(`| ${i + 1} | ${title} |`), rows[i]);
      }

      // The stages really changed at the stand-in: the other-stage reload went to canary with
      // gitlab_canary=true, and the one after it back to main.
      const reloads = (await env.standin.log(since)).filter((e) => e.method === 'GET' && e.host === HOST && e.path === '/session/pass');
      assert.ok(reloads.some((e) => e.stage === 'canary' && e.user === 'qa-user'), JSON.stringify(reloads.map((e) => [e.stage, e.user])));
      assert.equal(reloads.at(-1).stage, 'main');
      assert.equal(reloads.at(-1).user, 'qa-user');

      // Exactly as found: every attribute of both cookies.
      assert.deepEqual(await gitlabCanaryCookies(), before);
      await page.close();
    });

    it('FAIL when main cannot read sessions canary wrote (canary-new-format), naming the step, stage and pod', async () => {
      const { page, tabId } = await signedInTab('/session/new-format');
      await env.standin.config({ session_format: 'canary-new-format' });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'FAIL');
      const failed = check.steps.find((s) => s.verdict === 'FAIL');
      assert.equal(failed.kind, 'back', JSON.stringify(check.steps.map((s) => [s.kind, s.verdict, s.note])));
      const pod = failed.observation.detection.pod;
      assert.match(pod, /^gitlab-webservice-/, 'a main pod');
      for (const text of [view.status, view.report]) {
        assert.match(text, /FAIL/);
        assert.match(text, /Back \(main\)/);
        assert.match(text, /served by main/);
        assert.ok(text.includes(pod), `names the pod ${pod}: ${text.slice(0, 300)}`);
      }
      assert.match(view.status, /^FAIL — /);
      // The stand-in agrees: main could not read the session and rotated it.
      const rotated = await env.standin.waitForLog((e) => e.host === HOST && e.stage === 'main' && e.session === 'unreadable', {
        what: 'an unreadable session on main',
      });
      assert.equal(rotated.session_rotated, true);
      await page.close();
    });

    it('INCONCLUSIVE when a stage answers 502 (fault on canary)', async () => {
      const { page, tabId } = await signedInTab('/session/fault');
      await env.standin.config({ fault: { stage: 'canary', status: 502 } });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'INCONCLUSIVE');
      assert.match(view.status, /^INCONCLUSIVE — /);
      assert.match(view.status, /502/);
      assert.ok(!check.steps.some((s) => s.verdict === 'FAIL'), 'a 502 is not a sign-out');
      assert.match(view.report, /⚠️ INCONCLUSIVE/);
      assert.deepEqual(check.steps.at(-1).kind, 'restore', 'cookies are restored even so');
      await env.standin.config({ fault: NO_FAULTS });
      await page.close();
    });

    it('INCONCLUSIVE "sign in first" when nobody is signed in', async () => {
      await env.standin.flushSessions();
      await env.driver.clearBrowserCookies('_gitlab_session');
      const url = `${STAGING}/session/anonymous`;
      const page = track(await env.driver.openPage(url));
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      await waitForDetection(env.driver, tabId, { url });
      const { check, view } = await runCheck(tabId);
      assert.equal(check.verdict, 'INCONCLUSIVE');
      assert.match(view.status, /^INCONCLUSIVE — /);
      assert.match(view.status, /sign in first/);
      assert.equal(check.steps[0].kind, 'baseline');
      assert.equal(check.steps[0].verdict, 'INCONCLUSIVE');
      await page.close();
    });

    // ------------------------------------------------------------------ the check lives in the background

    it('completes after the background is stopped mid-run', async () => {
      const { page, tabId } = await signedInTab('/session/stopped');
      // Canary answers after 1.5 s, so the check is reliably inside step 3 (other stage) for a
      // while: enough to stop the background there.
      await env.standin.config({ fault: { stage: 'canary', status: null, delay_ms: 1500 } });
      const popup = await popupFor(tabId);
      const { id } = await startCheck(popup, env.driver);
      await popup.waitForFunction((sel) => /^Running: step [23],/.test(document.querySelector(sel).textContent.trim()), SEL.check.status, {
        timeout: 30_000,
        what: 'the status to show step 2 or 3 running',
      });
      // The badge counts the steps while the check runs on this tab.
      await waitUntil(async () => /^[2-5]\/5$/.test((await badge(env.driver, tabId)).text), { what: 'a step badge (n/5) on the checked tab' });
      // stopServiceWorker returns once the background is stopped. No check that it is still
      // stopped afterwards: the delayed canary page's load may wake it at once (Firefox, seen).
      await env.driver.stopServiceWorker();
      const atStop = await localValue(env.driver, 'check');
      assert.equal(atStop.id, id);
      assert.equal(atStop.verdict, null, 'still running when stopped');
      // Reopening the popup is allowed: it nudges a half-done check on open.
      await popup.close();
      const again = await popupFor(tabId);
      const check = await waitForStoredCheck(env.driver, (c) => c && c.id === id && c.verdict, { timeout: 90_000, what: `check ${id} to finish` });
      const view = await waitForVerdictInPopup(again);
      assert.equal(check.verdict, 'PASS', JSON.stringify(check.steps.map((s) => [s.kind, s.verdict, s.note])));
      assert.deepEqual(check.steps.map((s) => s.kind), AUTOMATIC_STEPS, 'each step once, none lost or repeated');
      assert.match(view.status, /^PASS — /);
      await waitForBadge(env.driver, tabId, 'CUR');
      await env.standin.config({ fault: NO_FAULTS });
      await again.close();
      await page.close();
    });

    it('closing the popup does not stop it: the verdict arrives, and the reopened popup shows it', async () => {
      const { page, tabId } = await signedInTab('/session/closed-popup');
      const popup = await popupFor(tabId);
      const { id } = await startCheck(popup, env.driver);
      await popup.close();
      const check = await waitForStoredCheck(env.driver, (c) => c && c.id === id && c.verdict, { timeout: 90_000, what: `check ${id} to finish without a popup` });
      assert.equal(check.verdict, 'PASS');
      const again = await popupFor(tabId);
      const view = await waitForVerdictInPopup(again);
      assert.match(view.status, /^PASS — /);
      assert.ok(view.report && view.report.includes('`qa-user`'), 'the reopened popup shows the report');
      const history = await localValue(env.driver, 'checks');
      assert.equal(history[0].id, id, 'newest first in the history');
      await again.close();
      await page.close();
    });

    // ------------------------------------------------------------------ no secret anywhere

    it('the real _gitlab_session value appears nowhere: report, export, storage, console', async () => {
      const { page, tabId } = await signedInTab('/session/secret');
      const values = new Set(await sessionCookieValues());
      assert.ok(values.size > 0, 'the browser holds a session cookie');
      const { view, popup } = await runCheck(tabId);
      for (const v of await sessionCookieValues()) values.add(v);
      for (const v of values) assert.match(v, /^[0-9a-f]{32}$/, 'the stand-in issues 32 hex digits');

      const exported = await checkView(popup);
      assert.ok(exported.exportHref && exported.exportHref.startsWith('data:application/json'), `export link: ${String(exported.exportHref).slice(0, 60)}`);
      const exportJson = decodeURIComponent(exported.exportHref.slice(exported.exportHref.indexOf(',') + 1));
      const history = JSON.parse(exportJson);
      assert.ok(Array.isArray(history) && history.length >= 1, 'the export is the JSON history');
      const storage = JSON.stringify(await extensionStorage(env.driver));
      const consoleText = [];
      for (const p of allPages) consoleText.push(...(await p.consoleMessages()).map((m) => `${m.type} ${m.text} ${m.url}`));
      consoleText.push(...(await env.driver.extensionErrors()).map((e) => `${e.type} ${e.text} ${e.url}`));
      const places = { report: view.report, export: exportJson, storage, console: consoleText.join('\n') };
      for (const v of values) {
        for (const [where, text] of Object.entries(places)) {
          assert.ok(!String(text).toLowerCase().includes(v), `the session value ${v.slice(0, 4)}… leaks into the ${where}`);
        }
      }
      // What is there instead: an 8-digit fingerprint.
      assert.match(view.report, /(same|present|changed) `[0-9a-f]{8}`/);
      await popup.close();
      await page.close();
    });

    // ------------------------------------------------------------------ guided

    it('guided: sign out and in again when asked, PASS with 7 steps', async () => {
      const { page, tabId } = await signedInTab('/session/guided');
      const popup = await popupFor(tabId);
      const { id } = await startCheck(popup, env.driver, { guided: true });
      await popup.waitForFunction((sel) => /Sign out of GitLab/.test(document.querySelector(sel)?.textContent || '') && !document.querySelector(sel).hidden, SEL.check.prompt, {
        timeout: 60_000,
        what: 'the prompt to sign out',
      });
      await waitForPath(page, '/session/guided');
      await signOut(env, page);
      await popup.waitForFunction((sel) => /sign in again as @qa-user/.test(document.querySelector(sel)?.textContent || ''), SEL.check.prompt, {
        timeout: 30_000,
        what: 'the prompt to sign in again',
      });
      await signIn(env, page, { host: HOST });
      const check = await waitForStoredCheck(env.driver, (c) => c && c.id === id && c.verdict, { timeout: 60_000, what: 'the guided check to finish' });
      const view = await waitForVerdictInPopup(popup);
      assert.equal(check.verdict, 'PASS', JSON.stringify(check.steps.map((s) => [s.kind, s.verdict, s.note])));
      assert.deepEqual(check.steps.map((s) => s.kind), [...AUTOMATIC_STEPS, 'sign-out', 'sign-in']);
      assert.match(view.status, /^PASS — /);
      assert.equal(view.prompt, null, 'no prompt once finished');
      assert.equal(view.report.split('\n').filter((l) => /^\| [1-9] \| /.test(l)).length, 7);
      await popup.close();
      await page.close();
    });

    // ------------------------------------------------------------------ watch (last: a loss marks every GitLab tab LOST)

    it('watch: a session flush is reported within one interval (status and LOST badge)', async () => {
      const { page, tabId } = await signedInTab('/session/watch');
      await removeLocal(env.driver, ['watch']);
      const popup = await popupFor(tabId);
      assert.equal(await popup.exists(SEL.watch.host(HOST)), true);
      const hosts = await popup.evaluate((sel) => [...document.querySelectorAll(`${sel} input[type=checkbox]`)].map((i) => [i.value, i.checked]), SEL.watch.hosts);
      assert.deepEqual(hosts[0], [HOST, true], `the tab's host first and checked: ${JSON.stringify(hosts)}`);
      assert.ok(hosts.slice(1).every(([, on]) => !on), 'only the tab host is checked');
      const intervalSecs = 2;
      await popup.evaluate(([sel, secs]) => {
        document.querySelector(sel.interval).value = String(secs);
        document.querySelector(sel.limit).value = '5';
        return true;
      }, [{ interval: SEL.watch.interval, limit: SEL.watch.limit }, intervalSecs]);
      await popup.click(SEL.watch.start);
      const signedIn = await waitUntil(
        async () => {
          const w = await localValue(env.driver, 'watch');
          return w && w.samples.some((s) => s.host === HOST && s.identity.signedIn?.username === 'qa-user') ? w : false;
        },
        { timeout: 15_000, what: 'one signed-in sample in storage.local watch' },
      );
      assert.equal(signedIn.intervalSecs, intervalSecs);
      const flushedAt = Date.now();
      await env.standin.flushSessions();
      // One interval, plus the time to take a sample and render: generous, still far below a
      // 30 s alarm minimum, so a clamped alarm would fail this (neither browser clamps here).
      await popup.waitForFunction((sel) => /^Session lost on staging\.gitlab\.com at .*: signed out\.$/.test(document.querySelector(sel).textContent.trim()), SEL.watch.status, {
        timeout: intervalSecs * 1000 + 10_000,
        what: 'watch-status "Session lost"',
      });
      const lostAfterMs = Date.now() - flushedAt;
      const w = await localValue(env.driver, 'watch');
      const loss = w.samples.find((s) => s.atMs >= flushedAt && s.identity === "signedOut");
      assert.ok(loss, 'a sample after the flush');
      await waitForBadge(env.driver, tabId, 'LOST');
      const report = await popup.text(SEL.watch.report);
      assert.match(report, /session lost/);
      console.log(`${name}: watch saw the flush after ${lostAfterMs} ms (interval ${intervalSecs} s)`);
      await popup.click(SEL.watch.stop);
      await waitUntil(async () => (await localValue(env.driver, 'watch'))?.stoppedMs, { what: 'the watch to stop' });
      await popup.close();
      await page.close();
    });

    // LOST marks only the lost host's tabs, and only while the watch runs: afterwards the stage
    // badge of CONTRACT.md (NEXT/CUR) is back.
    it('after a stopped watch, an unwatched host\'s tab shows its stage badge again (CONTRACT.md)', async () => {
      const w = await localValue(env.driver, 'watch');
      assert.ok(w && w.stoppedMs && w.samples.some((s) => s.identity === 'signedOut'), 'runs after the watch test: a stopped watch with a loss');
      const url = 'https://gitlab.com/gitlab-org/after-watch';
      const since = await env.standin.lastSeq();
      const page = track(await env.driver.openPage(url));
      const entry = await env.standin.waitForLog((e) => e.method === 'GET' && e.host === 'gitlab.com' && e.path === '/gitlab-org/after-watch', { since, what: url });
      assert.equal(entry.stage, 'canary');
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      await waitForDetection(env.driver, tabId, { url, requestId: entry.request_id });
      try {
        await waitForBadge(env.driver, tabId, 'NEXT', { timeout: 5_000 });
      } finally {
        await page.close();
      }
    });

    // A sample takes seconds (the probe from the tab, retries, the control request): a stop
    // made meanwhile must win over the sample's write, which would otherwise bring the watch
    // back to life — here with a loss, so every GitLab tab would read LOST again.
    it('watch: a stop while a sample is under way stays a stop', async () => {
      const { page, tabId } = await signedInTab('/session/watch-stop');
      await removeLocal(env.driver, ['watch']);
      const popup = await popupFor(tabId);
      await popup.evaluate(([sel, host]) => {
        for (const box of document.querySelectorAll(`${sel.hosts} input[type=checkbox]`)) box.checked = box.value === host;
        document.querySelector(sel.interval).value = '2';
        document.querySelector(sel.limit).value = '5';
        return true;
      }, [{ hosts: SEL.watch.hosts, interval: SEL.watch.interval, limit: SEL.watch.limit }, HOST]);
      await popup.click(SEL.watch.start);
      await waitUntil(
        async () => ((await localValue(env.driver, 'watch'))?.samples || []).some((s) => s.host === HOST && s.identity.signedIn?.username === 'qa-user'),
        { timeout: 15_000, what: 'one signed-in sample in storage.local watch' },
      );
      // The next sample is held 4 s by the stage and will find the session gone.
      const held = 4_000;
      const since = await env.standin.lastSeq();
      await env.standin.config({ fault: { stage: 'main', status: null, delay_ms: held } });
      await env.standin.flushSessions();
      const alarm = () => env.driver.extEval(() => chrome.alarms.get('session-watch').then((a) => (a ? a.scheduledTime : null)));
      const before = await alarm();
      assert.ok(before, 'the watch has its alarm');
      // The alarm fired (its next time moved on): a sample is under way, held by the stage.
      await waitUntil(async () => (await alarm()) > before, { timeout: 10_000, interval: 50, what: 'the next sample to start' });
      await popup.click(SEL.watch.stop);
      const stopped = await waitUntil(async () => (await localValue(env.driver, 'watch'))?.stoppedMs, { what: 'the watch to stop' });
      // The held sample ends: its request answers (signed out), and it would write at once.
      await env.standin.waitForLog((e) => e.path === '/api/v4/user' && e.duration_ms >= held - 100, { since, timeoutMs: held + 10_000, what: 'the held sample' });
      await env.standin.config({ fault: NO_FAULTS });
      // No event says "nothing was written": watch storage and badge for two intervals.
      const until = Date.now() + 4_000;
      while (Date.now() < until) {
        const w = await localValue(env.driver, 'watch');
        assert.equal(w?.stoppedMs, stopped, `the watch stays stopped: ${JSON.stringify(w && { stoppedMs: w.stoppedMs, samples: w.samples.length })}`);
        assert.notEqual((await badge(env.driver, tabId)).text, 'LOST');
        await delay(200);
      }
      await popup.close();
      await page.close();
    });

    it('the extension reported no errors', async () => {
      const errors = (await env.driver.extensionErrors()).filter((e) => !FIREFOX_UNLOAD_NOISE.test(e.text));
      assert.deepEqual(errors, []);
    });
  });
}
