// One reader, two places: the headless command's native page reader (cli/src/reader.rs, through
// its hidden `canary-switch read-page URL --html FILE --json`) returns exactly what
// extension/reader.js returns in a browser — completed with the peek results as the background
// fetches them (extension/peek.js) — on every kind of stand-in page the stage tests use.
//
// The native reader reads the HTML as the server sent it. A browser runs the page's scripts
// first (the stand-in's performance bar replaces `#js-peek`, pipeline pages swap the favicon),
// so the browser here runs with JavaScript off for the page: the document the reader sees is
// then the parsed server HTML, the very bytes handed to the native reader. The injected
// reader itself still runs (Playwright evaluates it as the extension's injection does).
// Chromium only: Firefox's WebDriver BiDi in puppeteer cannot turn a page's scripts off.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';
import { startStandin, REPO_ROOT, PAGE_KINDS } from '../lib/standin.mjs';
import { chromiumArgs } from '../lib/browsers.mjs';
import { startTrap } from '../lib/trap.mjs';

const run = promisify(execFile);

/** The command: CANARY_SWITCH_BIN, else the release build in dist/, else the debug build. */
function cliBin() {
  if (process.env.CANARY_SWITCH_BIN) return process.env.CANARY_SWITCH_BIN;
  for (const p of [path.join(REPO_ROOT, 'dist', 'cli', 'canary-switch'), path.join(REPO_ROOT, 'target', 'debug', 'canary-switch')]) {
    if (fs.existsSync(p)) return p;
  }
  return null;
}

const bin = cliBin();
const skip = !bin ? 'needs the headless command (./build.sh, or cargo build -p canary-switch-cli)' : !fs.existsSync('/usr/bin/chromium') ? 'needs Chromium' : false;

describe('reader: native and in the browser', { timeout: 180_000, skip }, () => {
  let standin;
  let trap;
  let browser;
  let tmp;
  const reader = fs.readFileSync(path.join(REPO_ROOT, 'extension', 'reader.js'), 'utf8');
  // The peek results: fetched by the background with peek.js (a reader that fetched them
  // itself has them in its reading already).
  const peekFile = path.join(REPO_ROOT, 'extension', 'peek.js');
  const peek = fs.existsSync(peekFile) ? fs.readFileSync(peekFile, 'utf8') : null;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'reader-native-'));
    const cert = path.join(tmp, 'standin.pem');
    standin = await startStandin({ seed: 29, args: ['--canary-weight', '0', '--cert-out', cert] });
    trap = await startTrap();
    browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      headless: true,
      args: chromiumArgs(standin.port, trap.port),
    });
  });

  after(async () => {
    await browser?.close();
    await trap?.stop?.();
    await standin?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  /** The browser's reading: reader.js, then the background's peek request (peek.js). */
  async function browserReading(page) {
    const reading = await page.evaluate(reader);
    const p = reading.peek;
    if (peek && p && !p.results && p.peekUrl !== null && p.requestId !== null && p.peekUrl.startsWith('/') && !p.peekUrl.startsWith('//') && !p.peekUrl.includes('\\')) {
      p.results = await page.evaluate(
        ([src, url, id]) => {
          (0, eval)(src); // defines globalThis.canaryPeekResults, as the background's injection does
          return globalThis.canaryPeekResults(url, id);
        },
        [peek, p.peekUrl, p.requestId],
      );
    }
    // Which browser document was read: the native reader has no document.
    delete reading.document;
    return reading;
  }

  async function nativeReading(url, htmlFile, perfBar) {
    const args = ['read-page', url, '--html', htmlFile, '--cookie', 'gitlab_canary=true'];
    if (perfBar) args.push('--cookie', 'perf_bar_enabled=true');
    args.push('--connect-to', `::127.0.0.1:${standin.port}`, '--ca-cert', path.join(tmp, 'standin.pem'), '--json');
    const { stdout } = await run(bin, args, { maxBuffer: 64 * 1024 * 1024 });
    const reading = JSON.parse(stdout);
    assert.equal(reading.document, undefined, 'the native reader names no browser document');
    return reading;
  }

  for (const [url, perfBar] of PAGE_KINDS) {
    it(`the same PageReading: ${url.replace(/^https:\/\//, '')}${perfBar ? ' (perf bar on)' : ''}`, async () => {
      const context = await browser.newContext({ ignoreHTTPSErrors: true, javaScriptEnabled: false });
      try {
        const host = new URL(url).hostname;
        const cookies = [{ name: 'gitlab_canary', value: 'true', domain: host, path: '/', secure: true }];
        if (perfBar) cookies.push({ name: 'perf_bar_enabled', value: 'true', domain: host, path: '/', secure: true });
        await context.addCookies(cookies);
        const page = await context.newPage();
        const response = await page.goto(url, { waitUntil: 'load' });
        assert.equal(response.status(), 200, url);
        const html = await response.text();
        const file = path.join(tmp, 'page.html');
        fs.writeFileSync(file, html);
        const inBrowser = await browserReading(page);
        const native = await nativeReading(url, file, perfBar);
        assert.deepEqual(native, inBrowser, url);
        // And the stand-in holds both to the extension's shape.
        assert.deepEqual(await standin.checkReading(native), { ok: true });
        if (perfBar) assert.equal(native.peek?.results?.status, 200, `${url}: the peek results were fetched`);
      } finally {
        await context.close();
      }
    });
  }
});
