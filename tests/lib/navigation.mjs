// Every kind of navigation a GitLab tab goes through, against the stand-in, each ending with a
// verdict: do the badge and the stored detection (`storage.session` `tab:<id>`) belong to the
// document the tab shows, with the stage that the stand-in's log says served it? Shared by
// e2e/navigation.test.mjs (which asserts every verdict) and bench.mjs (which counts them: the
// "right document" row).
//
//   const kit = navigationKit({ driver, standin });
//   await kit.install();                       // recorders; the perf bar cookie on
//   for (const c of NAVIGATION_CASES) { const verdicts = await c.run(kit); ... }
//
// Pages: main is `staging.gitlab.com` without a `gitlab_canary` cookie (the stand-in must run with
// canary_weight 0), canary is a forced path of `gitlab.com` (`/gitlab-org/…`), so a link from one
// to the other changes the stage by route alone. Every page has `perf=stuck`: the server's
// `#js-peek` keeps its `data-request-id`, so the document names its own request, and that request's
// log line names the stage and pod that served it. Slow pages use stand-in faults (`delay_ms` on a
// stage: every request that stage serves waits); a canary page's deferred `/assets/perf_bar.js` is
// served by main (not a forced path), so a delay on main holds the canary document between its
// commit and DOMContentLoaded.
//
// Two recorders watch the extension without changing what it does: the helper extension page
// keeps every `tab:<id>` write (`storage.onChanged`, with the time it saw it: all of them, even
// a restarted background's), and the background's `ext.scripting.executeScript`,
// `ext.storage.session.set` and `ext.action.setBadgeText` are wrapped to keep every reading that
// came back (its `document`), every write and every badge set, with epoch times (the Chromium
// service worker through Playwright; Firefox's event page through `runtime.getBackgroundPage()`
// from the helper page). A write's time is the background's own when it recorded it. A stopped
// background loses its wrapper: `ensureRecorder()` puts it back.
//
// A verdict is right when, once the tab has loaded: the stored `document` is the shown
// document's (`performance.timeOrigin`, `location.href`) and its detection is final (not
// `refining`), the stored stage and request id are those of the shown document's own request in
// the stand-in's log, the badge says that stage and its title that pod; no write after the
// navigation began names a document accepted before it (Firefox's bare `loading` at navigation
// start comes while the old document is shown), and no write after the shown document
// committed names another one.

import { setTimeout as delay } from 'node:timers/promises';
import { waitUntil } from './browsers.mjs';
import { BADGE, badge, tabState } from './served.mjs';

export const STAGING = 'https://staging.gitlab.com';
export const PROD = 'https://gitlab.com';

/** A page served by main (staging, no cookie, weight 0). */
export const mainPage = (slug, query = '') => `${STAGING}/nav/${slug}?perf=stuck${query}`;
/** A page served by canary (gitlab.com's forced path). */
export const canaryPage = (slug, query = '') => `${PROD}/gitlab-org/nav/${slug}?perf=stuck${query}`;

/** How long the slow cases hold a page (ms). */
export const SLOW_MS = 1000;

const same = (a, b) => !!a && !!b && a.timeOrigin === b.timeOrigin && a.url === b.url;
const docName = (d) => (d ? `${d.url} @${d.timeOrigin}` : 'none');

/**
 * Runs fn(globalThis of the background, arg) in the background: the Chromium service worker, or
 * Firefox's event page (woken when stopped). fn must be self-contained; arg and result are JSON.
 */
export async function bgEval(driver, fn, arg) {
  if (driver.name === 'chromium') {
    const worker = await waitUntil(
      async () => {
        const w = driver.raw.context.serviceWorkers().find((x) => x.url().startsWith(driver.extensionBase));
        if (w) return w;
        // A stopped worker: any event starts it again.
        await driver.extEval(() => chrome.runtime.sendMessage({ wake: true }).then(() => true, () => true));
        return null;
      },
      { timeout: 10_000, what: "the extension's service worker" },
    );
    // eslint-disable-next-line no-new-func -- the source travels to the worker as text anyway
    return worker.evaluate(new Function('arg', `return (${fn})(globalThis, arg);`), arg);
  }
  // eslint-disable-next-line no-new-func
  return driver.extEval(new Function('arg', `return (async () => (${fn})(await browser.runtime.getBackgroundPage(), arg))();`), arg);
}

/**
 * The background's recorder: every page reading that came back (tab, the injection's start and
 * end, the `document` read, or the error), every `tab:<id>` write and every badge set (epoch ms,
 * the clock of `performance.timeOrigin` in pages). Installed once per background start. In
 * Firefox the wrappers are functions of the helper extension page (bgEval runs there), which
 * stays open for the driver's life.
 */
export function backgroundRecorder(g) {
  if (g.__navRecorder) return false;
  const rec = (g.__navRecorder = []);
  const now = () => g.performance.timeOrigin + g.performance.now();
  const scripting = g.ext.scripting;
  const inject = scripting.executeScript;
  scripting.executeScript = function (details, ...rest) {
    const p = inject.call(this, details, ...rest);
    if (details && Array.isArray(details.files) && details.files.includes('reader.js')) {
      const tabId = details.target && details.target.tabId;
      const at = now();
      p.then(
        (r) => {
          const d = r && r[0] && r[0].result && r[0].result.document;
          rec.push({ kind: 'reading', tabId, at, doneAt: now(), document: d ? { timeOrigin: d.timeOrigin, url: d.url } : null });
        },
        (e) => rec.push({ kind: 'reading', tabId, at, doneAt: now(), document: null, error: String((e && e.message) || e) }),
      );
    }
    return p;
  };
  const session = g.ext.storage.session;
  const write = session.set;
  session.set = function (items, ...rest) {
    for (const [key, v] of Object.entries(items || {})) {
      if (key.startsWith('tab:') && v) rec.push({ kind: 'write', tabId: Number(key.slice(4)), at: now(), document: v.document ? { timeOrigin: v.document.timeOrigin, url: v.document.url } : null, stage: v.detection ? v.detection.stage : null, refining: !!v.refining });
    }
    return write.call(this, items, ...rest);
  };
  const action = g.ext.action;
  const setText = action.setBadgeText;
  action.setBadgeText = function (details, ...rest) {
    rec.push({ kind: 'badge', tabId: details.tabId, text: details.text, at: now() });
    return setText.call(this, details, ...rest);
  };
  return true;
}

/** What the tab shows: its document, its own request id, and what the test marked in it. */
function shownDocument(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    return {
      timeOrigin: performance.timeOrigin,
      url: location.href,
      requestId: document.querySelector('body > #js-peek')?.getAttribute('data-request-id') ?? null,
      // ≈ the commit of this document (epoch ms): performance.timing is deprecated, not gone.
      committedAt: performance.timing.domLoading || performance.timeOrigin + (nav ? nav.responseStart : 0),
      mark: window.__navMark ?? null,
      shows: window.__navShows ?? null,
    };
  });
}

/** Marks the document (a name, and every `pageshow` with its `persisted` and epoch time). */
function markDocument(page, mark) {
  return page.evaluate((m) => {
    window.__navMark = m;
    window.__navShows = [];
    addEventListener('pageshow', (e) => window.__navShows.push({ persisted: e.persisted, at: Date.now() }));
    return true;
  }, mark);
}

/** Adds a visible link (one per `slot`, stacked) to the page, for a real click. */
function addLink(page, id, href, slot = 0) {
  return page.evaluate(
    ([i, h, s]) => {
      const a = document.createElement('a');
      a.id = i;
      a.href = h;
      a.textContent = i;
      a.style.cssText = `position:fixed;left:8px;top:${8 + 44 * s}px;z-index:2147483647;display:block;padding:8px 12px;background:#fff;color:#00f;font:16px sans-serif`;
      document.body.append(a);
      return true;
    },
    [id, href, slot],
  );
}

/** A click that returns at once, whatever the navigation it starts does. */
async function clickNoWait(kit, page, sel) {
  await page.waitFor(sel, { state: 'visible' });
  // Playwright would wait for the navigation to start; puppeteer's click never waits.
  if (kit.driver.name === 'chromium') await page.adapter.raw.click(sel, { noWaitAfter: true });
  else await page.adapter.raw.click(sel);
}

/** history.back() or history.forward() in the page, after this evaluation has returned. */
function inPageSoon(page, what) {
  return page.evaluate((w) => {
    setTimeout(() => {
      if (w === 'back') history.back();
      else if (w === 'forward') history.forward();
    }, 0);
    return true;
  }, what);
}

/** Waits until the tab shows `url` (committed), optionally loaded. */
function waitForUrl(page, url, { loaded = true, timeout = 15_000 } = {}) {
  return page.waitForFunction(([u, l]) => location.href === u && (!l || document.readyState === 'complete'), [url, loaded], {
    timeout,
    what: `the tab at ${url}${loaded ? ', loaded' : ''}`,
  });
}

/** Waits until the tab shows `url`, committed but before DOMContentLoaded. */
function waitForCommittedOnly(page, url, { timeout = 15_000 } = {}) {
  return page.waitForFunction(
    (u) => {
      if (location.href !== u) return false;
      const nav = performance.getEntriesByType('navigation')[0];
      return !!nav && nav.domContentLoadedEventStart === 0;
    },
    url,
    { timeout, what: `${url} committed, before DOMContentLoaded` },
  );
}

export function navigationKit({ driver, standin }) {
  const kit = {
    driver,
    standin,
    /** The helper page's record of every `tab:<id>` write, and the background's recorder. */
    async install() {
      await driver.extEval(() => {
        if (globalThis.__navWrites) return true;
        const writes = (globalThis.__navWrites = []);
        chrome.storage.onChanged.addListener((changes, area) => {
          if (area !== 'session') return;
          for (const [key, c] of Object.entries(changes)) {
            if (!key.startsWith('tab:') || !c.newValue) continue;
            const v = c.newValue;
            writes.push({ key, at: Date.now(), document: v.document ?? null, url: v.url, stage: v.detection?.stage ?? null, requestId: v.detection?.requestId ?? null, refining: !!v.refining });
          }
        });
        return true;
      });
      await kit.ensureRecorder();
    },
    async ensureRecorder() {
      await bgEval(driver, backgroundRecorder);
    },
    async writes(tabId, since = 0) {
      return driver.extEval(([key, t]) => globalThis.__navWrites.filter((w) => w.key === key && w.at >= t), [`tab:${tabId}`, since]);
    },
    async recorded(tabId, since = 0) {
      return (await bgEval(driver, (g, [id, t]) => (g.__navRecorder || []).filter((r) => r.tabId === id && r.at >= t), [tabId, since])) || [];
    },
    async fault(stage, delayMs) {
      await standin.config({ fault: { stage, status: null, delay_ms: delayMs } });
    },
    async clearFaults() {
      await standin.config({ fault: [{ stage: 'main', status: null, delay_ms: 0 }, { stage: 'canary', status: null, delay_ms: 0 }] });
    },
    /** Opens a tab at url and settles it (the start of a case; not a verdict of its own). */
    async open(url, mark) {
      const page = await driver.openPage(url);
      const tabId = await driver.tabIdFor(url, { exact: true });
      if (mark) await markDocument(page, mark);
      const v = await kit.settle({ page, tabId, step: `open ${url}`, since: 0 });
      if (!v.ok) throw new Error(`the first page of the case is not right: ${v.problems.join('; ')}`);
      return { page, tabId, doc: v.shown };
    },

    /**
     * The verdict on what the tab shows now. `navStart`: epoch ms when the navigation began;
     * `old`: documents accepted before it, which no later write may name; `cutoff`: when the
     * shown document became the shown one (default: its commit), after which every write must
     * name it; `seq`: the stand-in log position before the case.
     */
    async settle({ page, tabId, step, navStart = Date.now(), old = [], cutoff, seq = 0, timeout = 10_000 }) {
      const end = [];
      const way = [];
      await page.waitForFunction(() => document.readyState === 'complete', null, { timeout: 15_000, what: 'the page to load' });
      const shown = await shownDocument(page);
      const entry = shown.requestId
        ? await standin
            .waitForLog((e) => e.method === 'GET' && e.request_id === shown.requestId, { since: seq, timeoutMs: 5_000, what: `the request ${shown.requestId}` })
            .catch(() => null)
        : null;
      if (!entry) end.push(`no log line for the shown document's request ${shown.requestId}`);
      let stored = null;
      try {
        stored = await waitUntil(
          async () => {
            const s = await tabState(driver, tabId);
            stored = s;
            return s && !s.refining && same(s.document, shown) ? s : false;
          },
          { timeout, interval: 50, what: 'the stored detection of the shown document' },
        );
      } catch {
        end.push(`stored: ${stored ? `${docName(stored.document)}${stored.refining ? ' (refining)' : ''}` : 'nothing'}, shown: ${docName(shown)}`);
      }
      if (stored && entry) {
        if (stored.detection.stage !== entry.stage) end.push(`stored stage ${stored.detection.stage}, the stand-in served ${entry.stage}`);
        if (stored.detection.requestId !== shown.requestId) end.push(`stored request ${stored.detection.requestId}, shown ${shown.requestId}`);
      }
      let b = null;
      if (entry) {
        const want = BADGE[entry.stage];
        try {
          b = await waitUntil(
            async () => {
              const x = await badge(driver, tabId);
              b = x;
              return x.text === want && new RegExp(`served by ${entry.stage}\\b`).test(x.title) && x.title.includes(entry.pod) ? x : false;
            },
            { timeout: Math.min(5_000, timeout), interval: 50, what: 'the badge' },
          );
        } catch {
          end.push(`badge ${JSON.stringify(b)}, expected "${want}" served by ${entry.stage} on ${entry.pod}`);
        }
      }
      // On the way: the helper page sees each write a little after the background made it, so
      // this judges the background's own record of its writes when it has them (a background
      // stopped meanwhile has none until install() wraps the new one).
      const after = cutoff ?? shown.committedAt;
      const seen = await kit.writes(tabId, navStart);
      const made = (await kit.recorded(tabId, navStart - 1_000).catch(() => [])).filter((r) => r.kind === 'write');
      const writes = seen.map((w) => {
        const m = made.filter((x) => same(x.document, w.document) && x.refining === w.refining && x.at <= w.at + 2 && w.at - x.at < 1_000).pop();
        return m ? { ...w, at: m.at } : w;
      });
      for (const w of writes) {
        if (old.some((o) => same(o, w.document))) way.push(`a reading of the old document ${docName(w.document)} was stored ${Math.round(w.at - navStart)} ms after the navigation began`);
        else if (w.at > after && !same(w.document, shown)) way.push(`${docName(w.document)} was stored ${Math.round(w.at - after)} ms after ${docName(shown)} was shown`);
      }
      return { step, ok: end.length + way.length === 0, end, way, problems: [...end, ...way], shown, stored, entry, badge: b, writes: seen.length };
    },
  };
  return kit;
}

// ---------------------------------------------------------------------------------------------
// The cases. Each run(kit) opens its own tab, navigates, and resolves {verdicts, facts}: one
// verdict per navigation, and what the case observed on the way (for the test's own checks).

/** The verdict `v`, failed when the case's timing did not hold (`held`): not the case under test. */
function setUpAsMeant(v, held, what) {
  if (!held) {
    v.ok = false;
    v.problems.push(`${what}: not the case under test`);
  }
  return v;
}

async function closeQuietly(page) {
  await page?.close().catch(() => {});
}

/** A link click from main to canary, then from canary to main. */
async function linkClicks(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`link-a-${id}`));
  const verdicts = [];
  try {
    for (const [to, step] of [
      [canaryPage(`link-b-${id}`), 'main → canary'],
      [mainPage(`link-c-${id}`), 'canary → main'],
    ]) {
      const seq = await kit.standin.lastSeq();
      const before = await shownDocument(a.page);
      await addLink(a.page, 'nav-next', to);
      const navStart = Date.now();
      await a.page.click('#nav-next');
      await waitForUrl(a.page, to);
      verdicts.push(await kit.settle({ page: a.page, tabId: a.tabId, step: `link click ${step}`, navStart, old: [before], seq }));
    }
    return { verdicts };
  } finally {
    await closeQuietly(a.page);
  }
}

function uid(kit) {
  kit.__n = (kit.__n || 0) + 1;
  return `${kit.__n}-${Date.now().toString(36)}`;
}

/** A reload after the stage changed (the cookie): same URL, a new document, the other stage. */
async function reloadOtherStage(kit) {
  const { driver } = kit;
  const url = mainPage(`reload-${uid(kit)}`);
  await setCanary(driver, 'true');
  let a;
  try {
    a = await kit.open(url);
    if ((await tabState(driver, a.tabId)).detection.stage !== 'canary') throw new Error('reload: the first load was not served by canary');
    await setCanary(driver, 'false');
    const seq = await kit.standin.lastSeq();
    const navStart = Date.now();
    await a.page.reload();
    return { verdicts: [await kit.settle({ page: a.page, tabId: a.tabId, step: 'reload (canary → main)', navStart, old: [a.doc], seq })] };
  } finally {
    await setCanary(driver, null);
    await closeQuietly(a?.page);
  }
}

async function setCanary(driver, value) {
  await driver.clearBrowserCookies('gitlab_canary');
  if (value === null) return;
  await driver.setCookie({ url: 'https://gitlab.com/', domain: '.gitlab.com', name: 'gitlab_canary', value, path: '/', secure: true, expirationDate: Math.floor(Date.now() / 1000) + 86400 });
}

/**
 * Back and forward, each a real back/forward-cache restore: the restored document is the very
 * one marked before leaving, its `pageshow` says `persisted`, and the stand-in saw no request.
 */
async function backForward(kit) {
  const id = uid(kit);
  const urlA = mainPage(`bf-a-${id}`);
  const urlB = canaryPage(`bf-b-${id}`);
  const caseSeq = await kit.standin.lastSeq();
  const a = await kit.open(urlA, 'A');
  const verdicts = [];
  const facts = { restores: [] };
  try {
    let seq = await kit.standin.lastSeq();
    const docA = a.doc;
    await addLink(a.page, 'nav-next', urlB);
    let navStart = Date.now();
    await a.page.click('#nav-next');
    await waitForUrl(a.page, urlB);
    await markDocument(a.page, 'B');
    const vB = await kit.settle({ page: a.page, tabId: a.tabId, step: 'link click main → canary (before back)', navStart, old: [docA], seq });
    verdicts.push(vB);
    const docB = vB.shown;
    for (const [dir, url, mark, old] of [
      ['back', urlA, 'A', docB],
      ['forward', urlB, 'B', docA],
    ]) {
      seq = await kit.standin.lastSeq();
      navStart = Date.now();
      await inPageSoon(a.page, dir);
      const shows = await a.page.waitForFunction(
        ([u, m]) => location.href === u && document.readyState === 'complete' && window.__navMark === m && (window.__navShows || []).length > 0 && window.__navShows,
        [url, mark],
        { what: `${url} shown again by ${dir} (its pageshow)` },
      );
      const refetched = (await kit.standin.log(seq)).filter((e) => e.method === 'GET' && new URL(url).pathname === e.path);
      const restored = shows.length === 1 && shows[0].persisted === true && refetched.length === 0;
      facts.restores.push({ dir, shows, refetched: refetched.length, restored });
      const v = await kit.settle({ page: a.page, tabId: a.tabId, step: `${dir} (bfcache restore)`, navStart, old: [old], cutoff: shows[shows.length - 1].at, seq: caseSeq });
      if (!restored) {
        v.ok = false;
        v.problems.push(`not a back/forward-cache restore: pageshow ${JSON.stringify(shows)}, requests again: ${refetched.length}`);
      }
      verdicts.push(v);
      // The next restore needs a fresh record of pageshow events.
      await a.page.evaluate(() => {
        window.__navShows = [];
        return true;
      });
    }
    return { verdicts, facts };
  } finally {
    await closeQuietly(a.page);
  }
}

/**
 * A slow answer: the canary page waits SLOW_MS before the server answers, so the old (main)
 * document stays shown meanwhile. Firefox says a bare `loading` at navigation start: no reader
 * may be injected then (it would read the old document, or one about to be abandoned).
 */
async function slowResponse(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`slow-resp-a-${id}`));
  const urlB = canaryPage(`slow-resp-b-${id}`);
  try {
    await kit.ensureRecorder();
    await kit.fault('canary', SLOW_MS);
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-next', urlB);
    const navStart = Date.now();
    await clickNoWait(kit, a.page, '#nav-next');
    await waitForUrl(a.page, urlB);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'slow answer (old document shown meanwhile)', navStart, old: [a.doc], seq });
    const readings = (await kit.recorded(a.tabId, navStart)).filter((r) => r.kind === 'reading');
    const oldReadings = readings.filter((r) => same(r.document, a.doc));
    return { verdicts: [v], facts: { oldReadings, readings, waitedMs: SLOW_MS } };
  } finally {
    await kit.clearFaults();
    await closeQuietly(a.page);
  }
}

/**
 * A slow body: the canary page commits at once, but its deferred script (served by main) is held
 * SLOW_MS, and DOMContentLoaded with it. Meanwhile the old page's badge must go away.
 */
async function slowDomContentLoaded(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`slow-dcl-a-${id}`));
  const urlB = canaryPage(`slow-dcl-b-${id}`);
  const facts = {};
  try {
    await kit.fault('main', SLOW_MS);
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-next', urlB);
    const navStart = Date.now();
    await clickNoWait(kit, a.page, '#nav-next');
    await waitForCommittedOnly(a.page, urlB);
    // Committed, not parsed yet: the old page's badge (CUR) must be gone before DOMContentLoaded.
    facts.badgeWhileLoading = await waitUntil(
      async () => {
        const b = await badge(kit.driver, a.tabId);
        return b.text === '' ? b : false;
      },
      { timeout: SLOW_MS, interval: 25, what: 'the old badge to go' },
    ).catch(async () => badge(kit.driver, a.tabId));
    facts.stillBeforeDcl = await a.page.evaluate(() => performance.getEntriesByType('navigation')[0].domContentLoadedEventStart === 0);
    await kit.clearFaults();
    await waitForUrl(a.page, urlB);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'slow body (DOMContentLoaded held)', navStart, old: [a.doc], seq });
    if (facts.badgeWhileLoading.text !== '') {
      v.ok = false;
      v.problems.push(`while the new page loaded, the badge still said "${facts.badgeWhileLoading.text}"`);
    }
    return { verdicts: [v], facts };
  } finally {
    await kit.clearFaults();
    await closeQuietly(a.page);
  }
}

/** Slow peek results: the badge comes from the server-rendered signals, then the pod. */
async function slowPeek(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`slow-peek-a-${id}`));
  const urlB = canaryPage(`slow-peek-b-${id}`, `&peek_delay=${SLOW_MS * 1.5}`);
  const facts = {};
  try {
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-next', urlB);
    const navStart = Date.now();
    await a.page.click('#nav-next');
    await waitForUrl(a.page, urlB);
    // Before the peek results answer: NEXT already, from the favicon, the detection still refining.
    facts.early = await waitUntil(
      async () => {
        const s = await tabState(kit.driver, a.tabId);
        return s && s.url === urlB ? { state: s, badge: await badge(kit.driver, a.tabId) } : false;
      },
      { timeout: SLOW_MS * 2, interval: 25, what: 'the first detection of the slow-peek page' },
    ).catch(() => null);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'slow peek results', navStart, old: [a.doc], seq, timeout: SLOW_MS * 2 + 10_000 });
    return { verdicts: [v], facts };
  } finally {
    await closeQuietly(a.page);
  }
}

/**
 * Navigate, then navigate again before the first answer came (the first never commits). The
 * second click is a mouse click at the link's place, measured before: while a navigation is
 * pending, Playwright holds every evaluation for the coming document.
 */
async function interruptedBeforeCommit(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`int1-a-${id}`));
  const urlB = canaryPage(`int1-b-${id}`);
  const urlC = mainPage(`int1-c-${id}`);
  try {
    await kit.fault('canary', SLOW_MS * 2);
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-b', urlB, 0);
    await addLink(a.page, 'nav-c', urlC, 1);
    const second = await a.page.evaluate(() => {
      const r = document.querySelector('#nav-c').getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    });
    const navStart = Date.now();
    await clickNoWait(kit, a.page, '#nav-b');
    await delay(300);
    // The committed URL, as the browser knows it (no evaluation in the page: see above).
    const stillA = a.page.adapter.raw.url() === a.doc.url;
    await a.page.adapter.raw.mouse.click(second.x, second.y);
    await waitForUrl(a.page, urlC);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'interrupted before commit', navStart, old: [a.doc], seq });
    return { verdicts: [setUpAsMeant(v, stillA, 'the first navigation had committed before the second began')] };
  } finally {
    await kit.clearFaults();
    await closeQuietly(a.page);
  }
}

/**
 * Navigate; once the new document has committed but before its DOMContentLoaded (its deferred
 * script held), navigate again: the first document is abandoned half-loaded.
 */
async function interruptedAfterCommit(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`int2-a-${id}`));
  const urlB = canaryPage(`int2-b-${id}`);
  const urlC = mainPage(`int2-c-${id}`);
  try {
    await kit.fault('main', SLOW_MS * 2);
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-b', urlB);
    const navStart = Date.now();
    await clickNoWait(kit, a.page, '#nav-b');
    await waitForCommittedOnly(a.page, urlB);
    await kit.clearFaults(); // B's deferred script is on its way, held; C will not be
    await addLink(a.page, 'nav-c', urlC);
    const midB = await a.page.evaluate(() => performance.getEntriesByType('navigation')[0].domContentLoadedEventStart === 0);
    await clickNoWait(kit, a.page, '#nav-c');
    await waitForUrl(a.page, urlC);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'interrupted after commit, before DOMContentLoaded', navStart, old: [a.doc], seq });
    return { verdicts: [setUpAsMeant(v, midB, 'the first page had reached DOMContentLoaded before the second navigation')] };
  } finally {
    await kit.clearFaults();
    await closeQuietly(a.page);
  }
}

/** The background stopped, then a link click: the navigation's own event wakes it. */
async function stoppedBefore(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`stop1-a-${id}`));
  const urlB = canaryPage(`stop1-b-${id}`);
  try {
    await kit.driver.stopServiceWorker();
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-next', urlB);
    const navStart = Date.now();
    await a.page.click('#nav-next');
    await waitForUrl(a.page, urlB);
    return { verdicts: [await kit.settle({ page: a.page, tabId: a.tabId, step: 'background stopped before the click', navStart, old: [a.doc], seq })] };
  } finally {
    await closeQuietly(a.page);
    await kit.ensureRecorder();
  }
}

/**
 * The background stopped mid-way: after the new document committed (the reader injected and
 * waiting for DOMContentLoaded) and before DOMContentLoaded. Its answer has nowhere to go; the
 * `complete` event wakes a new background, which reads the page.
 */
async function stoppedMidway(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`stop2-a-${id}`));
  const urlB = canaryPage(`stop2-b-${id}`);
  try {
    await kit.fault('main', SLOW_MS * 2);
    const seq = await kit.standin.lastSeq();
    await addLink(a.page, 'nav-next', urlB);
    const navStart = Date.now();
    await clickNoWait(kit, a.page, '#nav-next');
    await waitForCommittedOnly(a.page, urlB);
    await kit.driver.stopServiceWorker();
    const stoppedAt = Date.now();
    await kit.clearFaults();
    await waitForUrl(a.page, urlB);
    const dcl = await a.page.evaluate(() => performance.timeOrigin + performance.getEntriesByType('navigation')[0].domContentLoadedEventStart);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'background stopped between commit and DOMContentLoaded', navStart, old: [a.doc], seq });
    return { verdicts: [setUpAsMeant(v, dcl > stoppedAt, `the stop ended ${Math.round(stoppedAt - dcl)} ms after DOMContentLoaded`)] };
  } finally {
    await kit.clearFaults();
    await closeQuietly(a.page);
    await kit.ensureRecorder();
  }
}

/** A same-document navigation (history.pushState): the URL changes, the document does not. */
async function urlChange(kit) {
  const id = uid(kit);
  const a = await kit.open(mainPage(`push-a-${id}`));
  try {
    const navStart = Date.now();
    const pushedAt = await a.page.evaluate((slug) => {
      history.pushState({}, '', `/nav/${slug}?perf=stuck`);
      return Date.now();
    }, `push-b-${id}`);
    const v = await kit.settle({ page: a.page, tabId: a.tabId, step: 'same-document URL change (pushState)', navStart, old: [a.doc], cutoff: pushedAt, timeout: 3_000 });
    return { verdicts: [v] };
  } finally {
    await closeQuietly(a.page);
  }
}

/**
 * Every case: `id` (for filters), `title`, how many `navigations` it judges, whether the bench
 * budgets it (`budgeted`: the kinds issue 17 lists), and run(kit).
 */
export const NAVIGATION_CASES = [
  { id: 'link', title: 'link clicks (main → canary → main)', navigations: 2, budgeted: true, run: linkClicks },
  { id: 'reload', title: 'reload after the stage changed', navigations: 1, budgeted: true, run: reloadOtherStage },
  { id: 'bfcache', title: 'back and forward, real back/forward-cache restores', navigations: 3, budgeted: true, run: backForward },
  { id: 'slow-response', title: "slow answer: the old page stays shown (Firefox's bare loading reads it)", navigations: 1, budgeted: true, run: slowResponse },
  { id: 'slow-body', title: 'slow body: DOMContentLoaded held after commit', navigations: 1, budgeted: true, run: slowDomContentLoaded },
  { id: 'slow-peek', title: 'slow peek results: server-rendered signals first, then the pod', navigations: 1, budgeted: true, run: slowPeek },
  { id: 'interrupted-before-commit', title: 'interrupted before the first page answered', navigations: 1, budgeted: true, run: interruptedBeforeCommit },
  { id: 'interrupted-after-commit', title: 'interrupted after commit, before DOMContentLoaded', navigations: 1, budgeted: true, run: interruptedAfterCommit },
  { id: 'stopped-before', title: 'background stopped, then a click', navigations: 1, budgeted: true, run: stoppedBefore },
  { id: 'stopped-midway', title: 'background stopped between commit and DOMContentLoaded', navigations: 1, budgeted: true, run: stoppedMidway },
  { id: 'url-change', title: 'same-document URL change', navigations: 1, budgeted: false, run: urlChange },
];
