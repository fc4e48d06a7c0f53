// "See which stage served the page", end to end in each browser: for every way the stand-in's
// HAProxy can route a page, the toolbar badge and the popup's "Served by" section agree with the
// stand-in's own log line for that page (the HTML request, never the peek or API requests).
//
// Determinism: the stand-in is seeded and runs with --canary-weight 0; the weighted cases set
// canary_weight to exactly 0 or 1 through the admin API, so no draw is left to chance. Cookies
// are reset before each test, every test uses its own paths and closes its tabs, and every wait
// is on the stand-in log, extension storage, the badge or popup attributes, with a time-out.

import { describe, it, beforeEach, after } from 'node:test';
import assert from 'node:assert/strict';
import { browsersUnderTest, useBrowser } from '../lib/suite.mjs';
import { realExtensionAvailable } from '../lib/extension.mjs';
import { openPopup, servedView, waitForServedStage, SEL } from '../lib/popup.mjs';
import { BADGE, pageEntry, badge, waitForBadge, waitForDetection, tabState, localValue, removeLocal, activateTab, extensionConsoleErrors } from '../lib/served.mjs';
import { setPerfBar, setCanaryCookie, signIn } from '../lib/gitlab.mjs';
import { waitUntil } from '../lib/browsers.mjs';
import { PAGE_KINDS } from '../lib/standin.mjs';

const STAGING = 'https://staging.gitlab.com';
const PROD = 'https://gitlab.com';
const FAKE_POD = 'gitlab-cny-webservice-web-fake-00000';
const skip = realExtensionAvailable() && process.env.EXT_FIXTURE !== '1' ? false : 'needs the built extension (dist/chrome, dist/firefox)';

// Firefox reports an extension API promise still pending when its context goes away: a content
// script's runtime.sendMessage when its page unloads (see switch.test.mjs), or the background's
// own calls when a test terminates it on purpose. It says nothing about the extension.
const FIREFOX_UNLOAD_NOISE = /^Promise (rejected|resolved) after context unloaded\b/;

for (const name of browsersUnderTest()) {
  describe(`stage: ${name}`, { timeout: 240_000, skip }, () => {
    const env = useBrowser(name, { seed: 23, standinArgs: ['--canary-weight', '0'] });
    /** Every web page opened in this block, for the console check at the end. */
    const webPages = [];

    beforeEach(async () => {
      await env.standin.config({ canary_disabled: false, canary_weight: 0 });
      await setCanaryCookie(env.driver, null);
      await setPerfBar(env.driver, false);
    });

    after(async () => {
      // Leave the stand-in as the next file expects it even if a test failed half-way.
      await env.standin?.config({ canary_disabled: false, canary_weight: 0 }).catch(() => {});
    });

    async function open(url) {
      const page = env.track(await env.driver.openPage(url));
      webPages.push(page);
      return page;
    }

    /**
     * Loads `url` in a new tab (or `page`, when given), then waits for the stand-in's log line of
     * that HTML request and for the extension's detection of that very load. With the perf bar
     * on, "that very load" is its request id; otherwise a detection read after the load began.
     */
    async function load(url, { page, perfBar = true } = {}) {
      const since = await env.standin.lastSeq();
      const t0 = Date.now();
      if (page) await page.goto(url);
      else page = await open(url);
      const entry = await pageEntry(env.standin, url, { since });
      const tabId = await env.driver.tabIdFor(url, { exact: true });
      const state = await waitForDetection(env.driver, tabId, {
        url,
        after: t0,
        requestId: perfBar ? entry.request_id : undefined,
      });
      return { page, entry, tabId, detection: state.detection };
    }

    /**
     * The promise of the feature for one page: badge, tooltip, and popup agree with the log line
     * (stage and, when `pod`, the pod). Returns the popup's view for case-specific checks.
     */
    async function assertAgrees({ entry, tabId, detection }, { pod = true, pref } = {}) {
      assert.ok(['canary', 'main'].includes(entry.stage), `the stand-in logged a stage: ${JSON.stringify(entry)}`);
      assert.equal(detection.stage, entry.stage, 'stored detection');
      const b = await waitForBadge(env.driver, tabId, BADGE[entry.stage]);
      assert.match(b.title, new RegExp(`served by ${entry.stage}\\b`), `tooltip names the stage: ${b.title}`);
      if (pref) assert.ok(b.title.includes(`${entry.host}: ${pref}`), `tooltip names the preference ${pref}: ${b.title}`);
      if (pod) {
        assert.equal(detection.pod, entry.pod, 'stored pod');
        assert.ok(b.title.includes(entry.pod), `tooltip names the pod ${entry.pod}: ${b.title}`);
      }
      const popup = env.track(await openPopup(env.driver, tabId));
      const view = await servedView(popup);
      await popup.close();
      assert.equal(view.stage, entry.stage, 'popup served-stage');
      if (pod) assert.equal(view.host, entry.pod, 'popup served-host');
      return { view, badge: b };
    }

    // ---------------------------------------------------------------- routing, perf bar on

    it('cookie gitlab_canary=true: NEXT, canary, and the canary pod that served the page', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/stage/cookie-true?perf_delay=60000`);
      assert.equal(r.entry.route_reason, 'cookie-true');
      assert.equal(r.entry.stage, 'canary');
      const { view, badge: b } = await assertAgrees(r, { pref: 'Next' });
      // The reader came before the bar rendered: the peek results of this very request.
      assert.match(b.title, /from the peek results/, b.title);
      assert.equal(r.detection.signal, 'peek-json');
      assert.match(view.signal, /^Read from the peek results, \d+ s ago\./);
      assert.deepEqual(view.explanations, [], 'Next chosen and canary served: nothing to explain');
      assert.ok(view.logs && view.logs.includes(r.entry.request_id), `logs link for the request: ${view.logs}`);
      assert.ok(view.dashboard && view.dashboard.includes('var-stage=cny'), `dashboard link for canary: ${view.dashboard}`);
      await r.page.close();
    });

    it('cookie gitlab_canary=false: CUR, main, and the main pod that served the page', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'false');
      const r = await load(`${STAGING}/stage/cookie-false`);
      assert.equal(r.entry.route_reason, 'cookie-false');
      assert.equal(r.entry.stage, 'main');
      const { view } = await assertAgrees(r, { pref: 'Current' });
      assert.deepEqual(view.explanations, []);
      assert.ok(view.dashboard && view.dashboard.includes('var-stage=main'), view.dashboard);
      await r.page.close();
    });

    it('no cookie, a GitLab-operated path on gitlab.com: canary (forced), explained as the group rule', async () => {
      await setPerfBar(env.driver, true);
      const r = await load(`${PROD}/gitlab-org/gitlab`);
      assert.equal(r.entry.route_reason, 'forced-path');
      assert.equal(r.entry.stage, 'canary');
      const { view } = await assertAgrees(r, { pref: 'Auto' });
      assert.ok(
        view.explanations.some((e) => /gitlab-org group to canary/.test(e)),
        `explains the forced path: ${JSON.stringify(view.explanations)}`,
      );
      await r.page.close();
    });

    it('no cookie, weighted routing with canary_weight 1: canary, explained as the ~5% share', async () => {
      await setPerfBar(env.driver, true);
      await env.standin.config({ canary_weight: 1 });
      const r = await load(`${STAGING}/stage/weighted-canary`);
      assert.equal(r.entry.route_reason, 'weighted');
      assert.equal(r.entry.stage, 'canary');
      const { view } = await assertAgrees(r);
      assert.ok(view.explanations.some((e) => /about 5%/.test(e)), JSON.stringify(view.explanations));
      await r.page.close();
    });

    it('no cookie, weighted routing with canary_weight 0: main', async () => {
      await setPerfBar(env.driver, true);
      await env.standin.config({ canary_weight: 0 });
      const r = await load(`${STAGING}/stage/weighted-main`);
      assert.equal(r.entry.route_reason, 'weighted');
      assert.equal(r.entry.stage, 'main');
      const { view } = await assertAgrees(r);
      assert.deepEqual(view.explanations, []);
      await r.page.close();
    });

    it('canary disabled, cookie true: main serves, and the popup explains with the chatops command', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      await env.standin.config({ canary_disabled: true });
      const r = await load(`${STAGING}/stage/canary-disabled`);
      assert.equal(r.entry.route_reason, 'canary-disabled');
      assert.equal(r.entry.stage, 'main');
      const { view } = await assertAgrees(r, { pref: 'Next' });
      assert.ok(
        view.explanations.some((e) => e.includes('/chatops run canary --staging')),
        `Next chosen, main served: names the chatops command: ${JSON.stringify(view.explanations)}`,
      );
      await r.page.close();
    });

    // ---------------------------------------------------------------- weaker signals

    it('perf bar off, signed out: the favicon gives the stage, no pod, and the popup says how to turn the bar on', async () => {
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/stage/perf-off`, { perfBar: false });
      assert.equal(r.entry.stage, 'canary');
      const { view } = await assertAgrees(r, { pod: false });
      assert.equal(r.detection.signal, 'favicon');
      assert.equal(r.detection.perfBar, 'off');
      assert.equal(r.detection.signedIn, false, 'the signed-out sidebar says so');
      // Signed out, the sidebar carries no canary flags: seen, but it does not know.
      assert.deepEqual(r.detection.signals, [
        { signal: 'favicon', stage: 'canary' },
        { signal: 'sidebar', stage: 'unknown' },
      ]);
      assert.equal(view.host, '', 'no pod without the perf bar');
      assert.match(view.signal, /^Read from the favicon, /);
      assert.equal(view.signals, 'Signals on this page: favicon: canary, sidebar: unknown.');
      assert.ok(view.explanations.some((e) => e.includes('p then b')), JSON.stringify(view.explanations));
      assert.equal(view.logs, null, 'no logs link without a request id (it comes from the perf bar)');
      assert.ok(view.dashboard && view.dashboard.includes('var-stage=cny'), `the stage dashboard is still known: ${view.dashboard}`);
      await r.page.close();
    });

    it('perf bar off, signed out, on main: the favicon gives CUR', async () => {
      await setCanaryCookie(env.driver, 'false');
      const r = await load(`${STAGING}/stage/perf-off-main`, { perfBar: false });
      assert.equal(r.entry.stage, 'main');
      await assertAgrees(r, { pod: false });
      assert.equal(r.detection.signal, 'favicon');
      await r.page.close();
    });

    it('GitLab 18 bar already rendered: the pod comes from its info modal', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      // perf_delay=0: the stand-in's Vue stand-in replaces the mount before DOMContentLoaded.
      const r = await load(`${STAGING}/stage/modal?perf_delay=0`);
      assert.equal(r.entry.stage, 'canary');
      assert.equal(await r.page.exists('#js-peek[data-request-id]'), false, 'Vue replaced the mount');
      assert.equal(await r.page.exists('#js-peek #environment-info'), true);
      await assertAgrees(r);
      assert.equal(r.detection.signal, 'perf-bar');
      assert.equal(r.detection.podSignal, 'perf-bar');
      assert.equal(r.detection.requestId, null, 'Vue’s element names no request');
      assert.equal(r.detection.perfBar, 'rendered');
      assert.deepEqual(r.detection.disagreements, []);
      await r.page.close();
    });

    it('a late bar (the server mount still there): the peek results give the pod', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'false');
      const r = await load(`${STAGING}/stage/late-bar?perf_delay=60000`);
      assert.equal(r.entry.stage, 'main');
      assert.equal(await r.page.exists('#js-peek[data-request-id]'), true, 'the bar has not rendered');
      const { view } = await assertAgrees(r);
      assert.equal(r.detection.signal, 'peek-json');
      assert.equal(r.detection.requestId, r.entry.request_id);
      assert.match(view.signal, /^Read from the peek results, /);
      assert.ok(view.logs && view.logs.includes(r.entry.request_id), view.logs);
      await r.page.close();
    });

    it('perf bar stuck (?perf=stuck): the peek results give the right pod', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/stage/perf-stuck?perf=stuck`);
      assert.equal(r.entry.stage, 'canary');
      await assertAgrees(r);
      assert.equal(r.detection.signal, 'peek-json');
      // The page itself never rendered the bar: what the extension shows came from the JSON.
      assert.equal(await r.page.exists('#environment-info'), false);
      await r.page.close();
    });

    it('GitLab 18 bar whose modal is not in the DOM: stage from the favicon, pod unknown, and why', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/stage/lazy-modal?perf_delay=0&modal=lazy`, { perfBar: false });
      assert.equal(r.entry.stage, 'canary');
      const { view } = await assertAgrees(r, { pod: false });
      assert.equal(r.detection.signal, 'favicon');
      assert.equal(r.detection.perfBar, 'not-rendered');
      assert.equal(r.detection.pod, null, 'unknown rather than a guess');
      assert.equal(view.host, '');
      assert.ok(view.explanations.some((e) => /host could not be read/.test(e)), JSON.stringify(view.explanations));
      await r.page.close();
    });

    it('GitLab ≤ 17 markup, signed in on canary: .current-host names the pod; sidebar and Next badge agree', async () => {
      const signInPage = await open(`${STAGING}/users/sign_in`);
      await signIn(env, signInPage, { host: 'staging.gitlab.com' });
      await signInPage.close();
      try {
        await setPerfBar(env.driver, true);
        await setCanaryCookie(env.driver, 'true');
        const r = await load(`${STAGING}/stage/legacy?markup=legacy&perf_delay=0`);
        assert.equal(r.entry.stage, 'canary');
        assert.equal(await r.page.exists('#peek-view-host .current-host.canary'), true);
        await assertAgrees(r);
        assert.equal(r.detection.signal, 'perf-bar');
        assert.equal(r.detection.signedIn, true);
        const seen = Object.fromEntries(r.detection.signals.map((x) => [x.signal, x.stage]));
        assert.deepEqual(seen, { 'perf-bar': 'canary', favicon: 'canary', sidebar: 'canary', 'next-badge': 'canary', snowplow: 'canary' });
        assert.deepEqual(r.detection.disagreements, []);
        await r.page.close();
        // Today's markup for a signed-in user on main: the sidebar's flag agrees with the favicon.
        await setPerfBar(env.driver, false);
        await setCanaryCookie(env.driver, 'false');
        const m = await load(`${STAGING}/stage/signed-in-main`, { perfBar: false });
        assert.equal(m.entry.stage, 'main');
        await assertAgrees(m, { pod: false });
        assert.deepEqual(m.detection.signals, [
          { signal: 'favicon', stage: 'main' },
          { signal: 'sidebar', stage: 'main' },
        ]);
        await m.page.close();
      } finally {
        await env.driver.clearBrowserCookies('_gitlab_session');
      }
    });

    it('a pipeline page swaps its favicon at run time: data-original-href still gives the stage', async () => {
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/group/project/-/pipelines/7`, { perfBar: false });
      await r.page.waitForFunction(() => document.querySelector('link#favicon').getAttribute('href').includes('ci_favicons'), undefined, {
        what: 'the pipeline favicon',
      });
      assert.equal(r.entry.stage, 'canary');
      await assertAgrees(r, { pod: false });
      assert.equal(r.detection.signal, 'favicon');
      await r.page.close();
    });

    it('signals that disagree are listed, not averaged', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'false');
      // The stand-in's device: canary's favicon on a page main served.
      const r = await load(`${STAGING}/stage/disagree?perf=stuck&favicon=yellow`);
      assert.equal(r.entry.stage, 'main');
      const { view } = await assertAgrees(r);
      assert.equal(r.detection.signal, 'peek-json');
      assert.deepEqual(r.detection.disagreements, [{ signal: 'favicon', stage: 'canary' }]);
      assert.ok(view.explanations.some((e) => e === 'Signals disagree: favicon says canary.'), JSON.stringify(view.explanations));
      await r.page.close();
    });

    it('no perf bar, no sidebar and a custom favicon, on main: unknown, and the badge clears', async () => {
      await setCanaryCookie(env.driver, 'false');
      // First a page the extension knows (CUR), then the same tab loads one it cannot know.
      const first = await load(`${STAGING}/stage/known`, { perfBar: false });
      await waitForBadge(env.driver, first.tabId, 'CUR');
      const url = `${STAGING}/stage/no-signals?sidebar=none&favicon=custom`;
      const r = await load(url, { page: first.page, perfBar: false });
      assert.equal(r.tabId, first.tabId);
      assert.equal(r.entry.stage, 'main');
      assert.equal(r.detection.stage, 'unknown');
      assert.equal(r.detection.signal, null);
      assert.deepEqual(r.detection.signals, []);
      const b = await waitForBadge(env.driver, r.tabId, '');
      assert.doesNotMatch(b.title, /served by/, b.title);
      const popup = env.track(await openPopup(env.driver, r.tabId));
      const view = await servedView(popup);
      assert.equal(view.stage, 'unknown');
      assert.equal(view.host, '');
      assert.equal(view.logs, null, 'no logs link without a request id');
      await popup.close();
      await r.page.close();
    });

    it('the reader returns exactly the PageReading shape on every kind of stand-in page', async () => {
      await setCanaryCookie(env.driver, 'true');
      for (const [url, perfBar] of PAGE_KINDS) {
        await setPerfBar(env.driver, perfBar);
        const r = await load(url, { perfBar: false });
        const reading = await env.driver.extEval(
          async (id) => (await chrome.scripting.executeScript({ target: { tabId: id, frameIds: [0] }, files: ['reader.js'] }))[0].result,
          r.tabId,
        );
        const verdict = await env.standin.checkReading(reading);
        assert.deepEqual(verdict, { ok: true }, `${url}: ${JSON.stringify(reading).slice(0, 400)}`);
        await r.page.close();
      }
    });

    it('web pages cannot reach any extension file: nothing is web-accessible', async () => {
      assert.equal(env.driver.manifest.web_accessible_resources, undefined);
      const r = await load(`${STAGING}/stage/no-war`, { perfBar: false });
      for (const file of ['manifest.json', 'reader.js', 'canary_switch_pages_bg.wasm', 'popup.html']) {
        const fetched = await r.page.evaluate(
          (href) => fetch(href).then((x) => `status ${x.status}`, () => 'refused'),
          `${env.driver.extensionBase}${file}`,
        );
        assert.equal(fetched, 'refused', file);
      }
      // Firefox logs each refusal as a page error: this test's own doing, not the extension's.
      webPages.splice(webPages.indexOf(r.page), 1);
      await r.page.close();
    });

    // ---------------------------------------------------------------- hostile and big pages

    for (const markup of ['current', 'legacy']) {
      it(`/lookalike (${markup} markup) on main: CUR and the real pod, not the fake canary one in the issue text`, async () => {
        await setPerfBar(env.driver, true);
        await setCanaryCookie(env.driver, 'false');
        const r = await load(`${STAGING}/lookalike?markup=${markup}&perf_delay=0`);
        assert.equal(r.entry.stage, 'main');
        // The page really does carry the fake pod (in user content).
        assert.ok(await r.page.evaluate((fake) => document.body.textContent.includes(fake), FAKE_POD), 'the look-alike page carries the fake pod');
        const { view, badge: b } = await assertAgrees(r);
        assert.equal(b.text, 'CUR');
        assert.notEqual(view.host, FAKE_POD);
        assert.ok(!b.title.includes(FAKE_POD), b.title);
        assert.deepEqual(r.detection.disagreements, [], 'look-alike markup is not a signal');
        assert.ok(r.detection.signals.every((x) => x.stage !== 'canary'), JSON.stringify(r.detection.signals));
        await r.page.close();
      });
    }

    it('/big (over 5,000 elements): detected correctly', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/big`);
      const nodes = await r.page.evaluate(() => document.getElementsByTagName('*').length);
      assert.ok(nodes >= 5000, `the page has ${nodes} elements`);
      assert.equal(r.entry.stage, 'canary');
      await assertAgrees(r);
      await r.page.close();
    });

    // ---------------------------------------------------------------- the background stops

    it('stays right after the background is stopped: navigating and switching tabs', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const a = await load(`${STAGING}/stage/sw-a?perf_delay=60000`);
      await assertAgrees(a);
      // The cookie is changed before the stop: cookies.onChanged would wake it anyway.
      await setCanaryCookie(env.driver, 'false');

      // 1. Stopped, then the tab navigates: the new page's report wakes it.
      await env.driver.stopServiceWorker();
      assert.equal(await env.driver.serviceWorkerRunning(), false);
      const a2 = await load(`${STAGING}/stage/sw-a2?perf_delay=60000`, { page: a.page });
      assert.equal(a2.tabId, a.tabId);
      assert.equal(a2.entry.stage, 'main');
      await assertAgrees(a2);

      // 2. Stopped, then another tab opens: its badge is right too.
      await setCanaryCookie(env.driver, 'true');
      await env.driver.stopServiceWorker();
      const b = await load(`${STAGING}/stage/sw-b?perf_delay=60000`);
      assert.equal(b.entry.stage, 'canary');
      await assertAgrees(b);

      // 3. Stopped, then the first tab is activated again: still its own page's stage and pod,
      // read back from storage.session by a fresh background.
      await env.driver.stopServiceWorker();
      await activateTab(env.driver, a.tabId);
      const back = await waitForBadge(env.driver, a.tabId, 'CUR');
      assert.ok(back.title.includes(a2.entry.pod), back.title);
      const stored = await tabState(env.driver, a.tabId);
      assert.equal(stored.detection.requestId, a2.entry.request_id);
      assert.equal((await badge(env.driver, b.tabId)).text, 'NEXT');
      await a.page.close();
      await b.page.close();
    });

    it('tabs already open get their badge without a reload when the background starts again', async () => {
      await setCanaryCookie(env.driver, 'true');
      const r = await load(`${STAGING}/stage/restart`, { perfBar: false });
      await waitForBadge(env.driver, r.tabId, 'NEXT');
      // As after an install or update: no detection kept, no badge shown, the background stopped.
      await env.driver.extEval(async (id) => {
        await chrome.storage.session.remove(`tab:${id}`);
        await chrome.action.setBadgeText({ tabId: id, text: '' });
        return true;
      }, r.tabId);
      await env.driver.stopServiceWorker();
      const loadsBefore = await env.standin.lastSeq();
      // Any event starts it again; a message from an extension page is the simplest.
      await env.driver.extEval(() => chrome.runtime.sendMessage({ wake: true }).then(() => true, () => true));
      const b = await waitForBadge(env.driver, r.tabId, 'NEXT');
      assert.match(b.title, /served by canary/);
      const reloads = (await env.standin.log(loadsBefore)).filter((e) => e.path === '/stage/restart');
      assert.deepEqual(reloads, [], 'the page was read where it is, not reloaded');
      await r.page.close();
    });

    // ---------------------------------------------------------------- share on Auto

    it('observed share on Auto: counts canary pages, and Reset clears it', async () => {
      await setPerfBar(env.driver, true);
      const key = 'share:staging.gitlab.com';
      await removeLocal(env.driver, [key]);
      const expectShare = (canary, total) =>
        waitUntil(
          async () => {
            const s = await localValue(env.driver, key);
            return s && s.canary === canary && s.total === total ? s : false;
          },
          { timeout: 10_000, what: `${key} = ${canary}/${total}` },
        );

      await env.standin.config({ canary_weight: 1 });
      const p1 = await load(`${STAGING}/stage/share-1`);
      assert.equal(p1.entry.stage, 'canary');
      await expectShare(1, 1);
      const p2 = await load(`${STAGING}/stage/share-2`, { page: p1.page });
      assert.equal(p2.entry.stage, 'canary');
      await expectShare(2, 2);
      await env.standin.config({ canary_weight: 0 });
      const p3 = await load(`${STAGING}/stage/share-3`, { page: p1.page });
      assert.equal(p3.entry.stage, 'main');
      await expectShare(2, 3);
      const p4 = await load(`${STAGING}/stage/share-4`, { page: p1.page });
      assert.equal(p4.entry.stage, 'main');
      await expectShare(2, 4);

      const popup = env.track(await openPopup(env.driver, p4.tabId));
      const view = await servedView(popup);
      assert.match(view.share, /^On Auto: 2 of 4 pages served by canary \(50\.0%\)/, view.share);
      assert.equal(view.shareResetVisible, true);
      await popup.click(SEL.served.shareReset);
      await popup.waitForFunction((sel) => document.querySelector(sel).textContent.trim() === '', SEL.served.share, {
        what: 'the share text to clear',
      });
      assert.equal(await localValue(env.driver, key), null, 'the stored share is gone');
      assert.equal((await servedView(popup)).shareResetVisible, false);
      await popup.close();
      await p1.page.close();
    });

    // ---------------------------------------------------------------- popup follows the tab

    it('an open popup follows the tab: after the tab reloads on the other stage, served-stage updates by itself', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const url = `${STAGING}/stage/follow-reload`;
      const first = await load(url);
      const popup = env.track(await openPopup(env.driver, first.tabId));
      await waitForServedStage(popup, 'canary');
      await setCanaryCookie(env.driver, 'false');
      const again = await load(url, { page: first.page });
      assert.equal(again.entry.stage, 'main');
      await waitForServedStage(popup, 'main');
      assert.equal((await servedView(popup)).host, again.entry.pod);
      await popup.close();
      await first.page.close();
    });

    it('an open popup follows the tab: after the tab navigates to another URL, served-stage updates by itself', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      const first = await load(`${STAGING}/stage/follow-1`);
      const popup = env.track(await openPopup(env.driver, first.tabId));
      try {
        await waitForServedStage(popup, 'canary');
        await setCanaryCookie(env.driver, 'false');
        const other = await load(`${STAGING}/stage/follow-2`, { page: first.page });
        assert.equal(other.entry.stage, 'main');
        try {
          await waitForServedStage(popup, 'main', { timeout: 5_000 });
        } catch (err) {
          err.message += ` — the popup shows ${JSON.stringify(await servedView(popup))}`;
          throw err;
        }
        const view = await servedView(popup);
        assert.equal(view.host, other.entry.pod);
        assert.ok(!view.logs || view.logs.includes(other.entry.request_id), `no stale logs link: ${view.logs}`);
      } finally {
        await popup.close();
        await first.page.close();
      }
    });

    // When the popup re-renders while its tab's new page has no detection yet, nothing of the
    // previous page (explanations, request links) may stay next to "unknown".
    it('while the new page is not detected yet, the popup shows nothing left over from the previous page', async () => {
      await setPerfBar(env.driver, true);
      await setCanaryCookie(env.driver, 'true');
      await env.standin.config({ canary_disabled: true });
      const first = await load(`${STAGING}/stage/leftover-1?perf_delay=60000`);
      const popup = env.track(await openPopup(env.driver, first.tabId));
      let other;
      try {
        const before = await servedView(popup);
        assert.equal(before.stage, 'main');
        assert.ok(before.explanations.some((e) => e.includes('/chatops')), JSON.stringify(before.explanations));
        assert.ok(before.logs && before.logs.includes(first.entry.request_id));
        // The tab loads a page whose peek results take 4 s to answer: no detection meanwhile.
        // Another GitLab tab reports, which makes the open popup re-render.
        const since = await env.standin.lastSeq();
        const slow = `${STAGING}/stage/leftover-2?perf=stuck&peek_delay=4000`;
        await first.page.goto(slow);
        await pageEntry(env.standin, slow, { since });
        other = await load(`${STAGING}/stage/leftover-other`);
        // The new page is read at DOMContentLoaded, from what the server rendered (its peek
        // results are still pending): the popup shows that page, nothing of the previous one.
        const view = await waitUntil(
          async () => {
            const v = await servedView(popup);
            return v.logs && !v.logs.includes(first.entry.request_id) ? v : false;
          },
          { timeout: 3_000, what: 'the popup to show the new page' },
        );
        assert.equal(view.stage, 'main');
        assert.equal(view.signal.startsWith('Read from the peek results'), false, view.signal);
      } finally {
        await env.standin.config({ canary_disabled: false });
        await popup.close();
        await first.page.close();
        await other?.page.close();
      }
    });

    // ---------------------------------------------------------------- no errors

    it('no console errors caused by the extension on these pages, and none from the extension itself', async () => {
      assert.ok(webPages.length >= 10, `pages seen: ${webPages.length}`);
      const messages = [];
      for (const p of webPages) messages.push(...(await p.consoleMessages()));
      const ours = extensionConsoleErrors(messages, env.driver.extensionBase);
      assert.deepEqual(ours, [], 'page console errors attributable to the extension');
      const errors = (await env.driver.extensionErrors()).filter((e) => !FIREFOX_UNLOAD_NOISE.test(e.text));
      assert.deepEqual(errors, [], 'errors in the extension contexts');
      const other = messages.filter((m) => m.type === 'error' || m.type === 'pageerror');
      if (other.length) console.log(`${name}: page console errors not from the extension: ${JSON.stringify(other.slice(0, 5))}`);
    });
  });
}
