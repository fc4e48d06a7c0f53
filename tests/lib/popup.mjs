// Driving the extension's popup (CONTRACT.md hooks), opened as a tab: popup.html?tab=<tabId>.

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
};

/** Open the popup for a tab and wait until it has rendered its state (body[data-ready]). */
export async function openPopup(driver, tabId, { timeout = 15_000 } = {}) {
  const popup = await driver.openExtensionPage(`popup.html?tab=${tabId}`);
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
