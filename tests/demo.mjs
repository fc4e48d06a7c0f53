// ./build.sh demo: the stand-in plus Chromium with the built extension on
// https://staging.gitlab.com (mapped to the stand-in on loopback). With a display the window
// stays open until Ctrl-C; without one it runs headless and saves screenshots to demo-out/.
// No GitLab account is needed: the stand-in has a user qa-user / correct-horse-battery.
import fs from 'node:fs';
import path from 'node:path';
import { launch } from './lib/browsers.mjs';
import { startStandin, REPO_ROOT } from './lib/standin.mjs';
import { openPopup, choose } from './lib/popup.mjs';

const headed = !!process.env.DISPLAY && !process.env.DEMO_HEADLESS;
const out = path.join(REPO_ROOT, 'demo-out');
fs.mkdirSync(out, { recursive: true });

const standin = await startStandin({ seed: 7 });
const driver = await launch('chromium', {
  extensionDir: path.join(REPO_ROOT, 'dist', 'chrome'),
  standinPort: standin.port,
  headless: !headed,
});
const shot = async (page, name, { popup = false } = {}) => {
  const file = path.join(out, name);
  // A popup is shown at a popup's size, not as a whole tab.
  if (popup) await page.adapter.raw.setViewportSize({ width: 480, height: 860 });
  await page.screenshot(file);
  console.log(`  saved ${path.relative(REPO_ROOT, file)}`);
};
const served = (popup, stage) =>
  popup.waitForFunction((s) => document.querySelector('[data-testid=served-stage]')?.textContent === s, stage, {
    what: `served-stage ${stage}`,
  });

try {
  console.log(`stand-in on https://127.0.0.1:${standin.port}; staging.gitlab.com and gitlab.com map to it`);
  // An engineer has the performance bar on (p b): it names the pod that served each page.
  await driver.extEval(() =>
    chrome.cookies.set({ url: 'https://staging.gitlab.com/', name: 'perf_bar_enabled', value: 'true', secure: true }),
  );

  console.log('1. Sign in to staging.gitlab.com as qa-user');
  const page = await driver.openPage('https://staging.gitlab.com/users/sign_in');
  await page.waitFor('[data-testid=sign-in-button]');
  await page.evaluate(() => {
    document.querySelector('[data-testid=username-field]').value = 'qa-user';
    document.querySelector('[data-testid=password-field]').value = 'correct-horse-battery';
    document.querySelector('[data-testid=sign-in-button]').click();
  });
  await page.waitForFunction(() => location.pathname === '/' && document.readyState === 'complete', null, {
    what: 'the signed-in home page',
  });
  const tabId = await driver.tabIdFor('https://staging.gitlab.com/');

  console.log('2. The popup shows the environment, the stage in force and the pod that served the page');
  let popup = await openPopup(driver, tabId);
  await popup.waitForFunction(() => document.querySelector('[data-testid=served-stage]')?.textContent !== 'unknown', null, {
    what: 'a detection',
  });
  await shot(page, '1-staging-page.png');
  await shot(popup, '2-popup-auto.png', { popup: true });

  console.log('3. Choose Next: the cookie is written, the tab reloads once, canary serves it');
  await choose(popup, 'next');
  await served(popup, 'canary');
  await shot(page, '3-staging-on-next.png');
  await shot(popup, '4-popup-next.png', { popup: true });

  console.log('4. Run the session check (refresh, other stage, back, restore)');
  await popup.click('[data-testid=session-check-start]');
  await popup.waitForFunction(
    () => /^(PASS|FAIL|INCONCLUSIVE)/.test(document.querySelector('[data-testid=session-check-status]')?.textContent || ''),
    null,
    { timeout: 60_000, what: 'the check verdict' },
  );
  console.log(`   ${await popup.text('[data-testid=session-check-status]')}`);
  await shot(popup, '5-popup-session-check.png', { popup: true });
  // The Markdown as the report holds it, line by line (text() would collapse its white space).
  const markdown = await popup.evaluate(() => document.querySelector('[data-testid=session-check-report]').textContent);
  if (!markdown.includes('\n| # | Step |')) throw new Error('the saved report lost its lines');
  fs.writeFileSync(path.join(out, 'session-check.md'), markdown);
  console.log('  saved demo-out/session-check.md');

  console.log('5. On a tab that is no GitLab page, the popup lists every environment with its own choice');
  const blank = await driver.openPage('about:blank');
  const blankId = (await driver.extEval(async () => (await chrome.tabs.query({ url: undefined })).filter((t) => t.url === 'about:blank').map((t) => t.id))).pop();
  const anywhere = await openPopup(driver, blankId);
  await anywhere.waitFor('[data-testid=env-row]');
  await shot(anywhere, '6-popup-any-tab.png', { popup: true });
  await anywhere.close();
  await blank.close();

  if (headed) {
    console.log('The browser stays open: try the toolbar button on other pages. Ctrl-C to stop.');
    await new Promise((resolve) => process.once('SIGINT', resolve));
  }
} finally {
  await driver.close();
  await standin.stop();
}
