// Driving the extension's popup (CONTRACT.md hooks), opened as a tab: popup.html?tab=<tabId>.

import { waitUntil } from './browsers.mjs';

export const SEL = {
  environment: '[data-testid=environment]',
  preference: '[data-testid=preference]',
  scopeThisEnv: '[data-testid=scope-this-env]',
  message: '[data-testid=switch-message]',
  error: '[data-testid=error]',
  choose: {
    current: '[data-testid=choose-current]',
    next: '[data-testid=choose-next]',
    auto: '[data-testid=choose-auto]',
  },
  served: {
    stage: '[data-testid=served-stage]',
    host: '[data-testid=served-host]',
    signal: '[data-testid=served-signal]',
    signals: '[data-testid=served-signals]',
    explanations: '[data-testid=explanations]',
    share: '[data-testid=share]',
    shareReset: '[data-testid=share-reset]',
    logs: '[data-testid=logs-link]',
    dashboard: '[data-testid=dashboard-link]',
  },
  check: {
    guided: '[data-testid=session-check-guided]',
    start: '[data-testid=session-check-start]',
    cancel: '[data-testid=session-check-cancel]',
    status: '[data-testid=session-check-status]',
    prompt: '[data-testid=session-check-prompt]',
    report: '[data-testid=session-check-report]',
    copy: '[data-testid=session-check-copy]',
    export: '[data-testid=session-check-export]',
  },
  watch: {
    hosts: '[data-testid=watch-hosts]',
    host: (h) => `[data-testid="watch-host-${h}"]`,
    interval: '[data-testid=watch-interval-secs]',
    limit: '[data-testid=watch-limit-minutes]',
    start: '[data-testid=watch-start]',
    stop: '[data-testid=watch-stop]',
    status: '[data-testid=watch-status]',
    report: '[data-testid=watch-report]',
  },
};

/** Open the popup for a tab and wait until it has rendered its state (body[data-ready]). */
export async function openPopup(driver, tabId, { timeout = 15_000 } = {}) {
  // expand=1 (CONTRACT.md): every collapsible section open, so that each control is reachable.
  const popup = await driver.openExtensionPage(`popup.html?tab=${tabId}&expand=1`);
  // data-ready is present once rendered (its value may be empty), "error" when start-up failed.
  const ready = await popup.waitForFunction(() => (document.body.hasAttribute('data-ready') ? document.body.dataset.ready || 'ready' : false), null, {
    timeout,
    what: 'body[data-ready]',
  });
  if (ready === 'error') {
    throw new Error(`popup failed to start: ${await popup.text(SEL.error)}`);
  }
  // Choices are enabled once the state is known.
  await popup.waitForFunction((sel) => !!document.querySelector(sel) && !document.querySelector(sel).disabled, SEL.choose.next, {
    timeout,
    what: 'the choices to be enabled',
  });
  return popup;
}

/** Tick or untick "this environment only". */
export async function setScopeThisEnv(popup, wanted) {
  const checked = await popup.evaluate((sel) => document.querySelector(sel).checked, SEL.scopeThisEnv);
  if (checked !== wanted) await popup.click(SEL.scopeThisEnv);
  await popup.waitForFunction(([sel, w]) => document.querySelector(sel).checked === w, [SEL.scopeThisEnv, wanted], {
    what: `scope-this-env to be ${wanted}`,
  });
}

/**
 * Click a choice and wait for body[data-switch] to leave "pending": resolves
 * {state: 'done'|'error', message, error}. Throws on time-out.
 */
export async function choose(popup, choice, { timeout = 20_000 } = {}) {
  const sel = SEL.choose[choice];
  if (!sel) throw new Error(`unknown choice ${choice}`);
  // Clear a previous run's marker so that a stale "done" is not read as this one's.
  await popup.evaluate(() => {
    delete document.body.dataset.switch;
  });
  await popup.click(sel);
  const state = await popup.waitForFunction(
    () => {
      const s = document.body.dataset.switch;
      return s === 'done' || s === 'error' ? s : false;
    },
    null,
    { timeout, what: `body[data-switch] done|error after choosing ${choice}` },
  );
  return {
    state,
    message: await popup.text(SEL.message),
    error: await popup.evaluate((s) => {
      const el = document.querySelector(s);
      return el && !el.hidden ? el.textContent.trim() : '';
    }, SEL.error),
  };
}

/**
 * The popup's "Served by" section as rendered now: {stage, host, signal, explanations[], share,
 * shareResetVisible, logs, dashboard} (links: their href, or null when hidden).
 */
export async function servedView(popup) {
  return popup.evaluate((sel) => {
    const q = (s) => document.querySelector(s);
    const text = (s) => (q(s) ? q(s).textContent.replace(/\s+/g, ' ').trim() : null);
    const href = (s) => (q(s) && !q(s).hidden ? q(s).getAttribute('href') : null);
    return {
      stage: text(sel.stage),
      host: text(sel.host),
      signal: text(sel.signal),
      signals: text(sel.signals),
      explanations: [...document.querySelectorAll(`${sel.explanations} > li`)].map((li) => li.textContent.replace(/\s+/g, ' ').trim()),
      share: text(sel.share),
      shareResetVisible: !!q(sel.shareReset) && !q(sel.shareReset).hidden,
      logs: href(sel.logs),
      dashboard: href(sel.dashboard),
    };
  }, SEL.served);
}

/** Waits until the popup shows `stage` in served-stage (it re-renders on storage changes). */
export async function waitForServedStage(popup, stage, { timeout = 15_000 } = {}) {
  return popup.waitForFunction(([sel, want]) => {
    const el = document.querySelector(sel);
    return !!el && el.textContent.trim() === want;
  }, [SEL.served.stage, stage], { timeout, what: `served-stage "${stage}"` });
}

/** The session check's status line, prompt (null when hidden) and report (null when hidden). */
export async function checkView(popup) {
  return popup.evaluate((sel) => {
    const q = (s) => document.querySelector(s);
    const shown = (s) => (q(s) && !q(s).hidden ? q(s).textContent : null);
    return {
      status: q(sel.status) ? q(sel.status).textContent.trim() : null,
      prompt: shown(sel.prompt),
      report: shown(sel.report),
      exportHref: q(sel.export) && !q(sel.export).hidden ? q(sel.export).getAttribute('href') : null,
      startDisabled: !!q(sel.start) && q(sel.start).disabled,
      cancelVisible: !!q(sel.cancel) && !q(sel.cancel).hidden,
    };
  }, SEL.check);
}

/** A finished check's status line starts with its verdict and " — ". */
export const VERDICT_LINE = /^(PASS|FAIL|INCONCLUSIVE) — /;

/**
 * Ticks (or unticks) "guided", clicks Run session check once it is enabled, and waits until
 * the background has stored a new check (storage.local `check` with another id than before).
 * Resolves {id, clickedAt}: clickedAt is Date.now() just before the click.
 */
export async function startCheck(popup, driver, { guided = false, timeout = 15_000 } = {}) {
  const previous = await driver.extEval(async () => (await chrome.storage.local.get('check')).check?.id ?? null);
  const checked = await popup.evaluate((s) => document.querySelector(s).checked, SEL.check.guided);
  if (checked !== guided) await popup.click(SEL.check.guided);
  await popup.waitForFunction(
    ([g, w, s]) => document.querySelector(g).checked === w && !document.querySelector(s).disabled,
    [SEL.check.guided, guided, SEL.check.start],
    { timeout, what: 'session-check-start to be enabled (and guided set)' },
  );
  const clickedAt = Date.now();
  await popup.click(SEL.check.start);
  const started = await waitForStoredCheck(driver, (c) => c && c.id !== previous, { timeout, what: 'a new check in storage.local' });
  return { id: started.id, clickedAt };
}

/** Polls storage.local `check` until pred(check) holds; resolves the check. */
export async function waitForStoredCheck(driver, pred, { timeout = 60_000, what = 'the stored check' } = {}) {
  let last = null;
  try {
    return await waitUntil(
      async () => {
        last = await driver.extEval(async () => (await chrome.storage.local.get('check')).check ?? null);
        return pred(last) ? last : false;
      },
      { timeout, what, interval: 100 },
    );
  } catch (err) {
    const steps = last ? last.steps.map((s) => `${s.kind}:${s.verdict}${s.note ? ` (${s.note})` : ''}`).join(', ') : '';
    err.message += ` (last: id=${last?.id} position=${JSON.stringify(last?.position)} verdict=${last?.verdict} steps=[${steps}])`;
    throw err;
  }
}

/** Waits until the popup's status line shows a verdict; resolves checkView(popup). */
export async function waitForVerdictInPopup(popup, { timeout = 60_000 } = {}) {
  await popup.waitForFunction(
    ([sel, re]) => new RegExp(re).test((document.querySelector(sel)?.textContent || '').trim()),
    [SEL.check.status, VERDICT_LINE.source],
    { timeout, what: 'a verdict in session-check-status' },
  );
  return checkView(popup);
}
