// Glue for the e2e files: one stand-in and one browser per describe() block, screenshots of every
// tracked page when a test fails (tests/out/<browser>/), and the browsers to run.
//
//   for (const name of browsersUnderTest()) {
//     describe(name, () => {
//       const env = useBrowser(name, { seed: 7 });
//       it('...', async () => { const page = env.track(await env.driver.openPage(url)); ... });
//     });
//   }

import { before, after, afterEach } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { launch, BROWSERS } from './browsers.mjs';
import { extensionDir } from './extension.mjs';
import { startStandin, standinBin, REPO_ROOT } from './standin.mjs';
import { startRailsStack } from './rails.mjs';

export const OUT_DIR = path.join(REPO_ROOT, 'tests', 'out');

/** Browsers to run: env BROWSERS="chromium,firefox" (default both). */
export function browsersUnderTest() {
  const wanted = (process.env.BROWSERS || BROWSERS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const w of wanted) if (!BROWSERS.includes(w)) throw new Error(`BROWSERS: unknown browser ${w}`);
  return wanted;
}

/** Headed runs for debugging: HEADED=1 (needs a display). */
export const HEADLESS = !process.env.HEADED;

function slug(s) {
  return s.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase().slice(0, 80);
}

/**
 * Register before/after hooks that start a stand-in and a browser with the extension.
 * `prefs`: Firefox preferences for this block's browser (see launch()).
 * `rails: {main, canary}`: run the browser against the GitLab-like Rails stack (tests/rails,
 * lib/rails.mjs) instead, each stage with its settings ({store, keys, coder}); `standinArgs`
 * then go to its router. `env.standin` is the stack, with the stand-in's surface.
 * `launch`: more options for launch() (lib/browsers.mjs), e.g. `{permanent: true}` (Firefox) or
 * `{bfcache: true}` (Chromium).
 * `restartable: true`: the browser's profile is kept for the whole block (removed after it), and
 * `env.restart({restoreSession})` closes the browser and starts it again on that profile: its
 * cookies and the extension's storage.local stay, storage.session and every page handle go. In
 * Firefox the extension survives a restart only when installed permanently (`launch:
 * {permanent: true}`); a temporary add-on is uninstalled, with its storage, when Firefox quits.
 * Returns an object whose fields are filled in by the time the tests run:
 *   env.standin, env.driver, env.ext ({dir, fixture, manifest}), env.track(page) -> page,
 *   env.restart(opts) (restartable only), env.profileDir (restartable only)
 */
export function useBrowser(name, { seed = 1, standinArgs = [], prefs, rails = null, launch: launchOpts = {}, restartable = false } = {}) {
  const launchBrowser = (more = {}) =>
    launch(name, { extensionDir: env.ext.dir, standinPort: env.standin.port, headless: HEADLESS, prefs, ...launchOpts, profileDir: env.profileDir || undefined, ...more });
  const env = {
    name,
    standin: null,
    driver: null,
    ext: null,
    profileDir: null,
    pages: [],
    track(page) {
      env.pages.push(page);
      return page;
    },
    /**
     * Closes the browser (gracefully: it writes its session as on a user's quit) and launches it
     * again on the same profile. `restoreSession`: the new start restores the last session (its
     * tabs and session cookies), as "continue where you left off" does. Resolves the new driver
     * (also env.driver); page handles of the old browser are dead.
     */
    async restart({ restoreSession = false } = {}) {
      if (!restartable) throw new Error('env.restart() needs useBrowser(name, {restartable: true})');
      env.pages = [];
      const old = env.driver;
      env.driver = null;
      if (old) await old.close();
      env.driver = await launchBrowser({ restoreSession });
      return env.driver;
    },
  };

  before(async () => {
    const bin = standinBin();
    if (!fs.existsSync(bin)) {
      throw new Error(`no stand-in binary at ${bin}: run \`cargo build -p www\` (or set STANDIN_BIN)`);
    }
    env.ext = extensionDir(name);
    env.standin = rails
      ? await startRailsStack({ seed, main: rails.main, canary: rails.canary, routerArgs: standinArgs })
      : await startStandin({ seed, args: standinArgs });
    if (restartable) env.profileDir = fs.mkdtempSync(path.join(os.tmpdir(), `canary-switch-${name}-kept-`));
    env.driver = await launchBrowser();
  });

  afterEach(async (t) => {
    const pages = env.pages;
    env.pages = [];
    if (t.passed || !env.driver) return;
    const dir = path.join(OUT_DIR, name);
    fs.mkdirSync(dir, { recursive: true });
    let i = 0;
    for (const p of pages) {
      i += 1;
      try {
        await p.screenshot(path.join(dir, `${slug(t.name)}-${i}.png`));
      } catch {
        // the page may be closed already: nothing to show
      }
    }
    try {
      const log = await env.standin.log(0);
      fs.writeFileSync(path.join(dir, `${slug(t.name)}-standin-log.json`), JSON.stringify(log, null, 1));
      const errors = await env.driver.extensionErrors();
      fs.writeFileSync(path.join(dir, `${slug(t.name)}-extension-errors.json`), JSON.stringify(errors, null, 1));
      if (env.standin.rails) {
        for (const stage of ['main', 'canary']) {
          fs.writeFileSync(path.join(dir, `${slug(t.name)}-rails-${stage}.log`), env.standin.stageLog(stage));
        }
      }
    } catch {
      // best effort: the failure itself is what the report shows
    }
  });

  after(async () => {
    if (env.driver) await env.driver.close();
    if (env.standin) await env.standin.stop();
    if (env.ext?.fixture) fs.rmSync(env.ext.dir, { recursive: true, force: true });
    if (env.profileDir) fs.rmSync(env.profileDir, { recursive: true, force: true });
  });

  return env;
}
