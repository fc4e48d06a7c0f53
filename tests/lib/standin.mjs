// Start and talk to the local GitLab stand-in (`www`, the Rust binary built from /www).
//
//   const standin = await startStandin({ seed: 1 });
//   standin.port                      -> the HTTPS port it listens on (127.0.0.1)
//   await standin.log(since)          -> request entries with seq > since (default: all)
//   await standin.waitForLog(pred, { since, timeoutMs })
//                                     -> polls the log until pred(entry) holds for some entry
//   await standin.config({ canary_disabled: true })
//   await standin.flushSessions()
//   await standin.stop()
//
// Everything goes to 127.0.0.1 only. The stand-in's certificate is self-signed, hence
// rejectUnauthorized: false on the admin calls (and ignore-certificate flags in the browsers).

import { spawn } from 'node:child_process';
import https from 'node:https';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * One page of each kind the stand-in serves (perf bar, modal, lazy and late peek, legacy markup,
 * no signals, pipelines, lookalikes, a big page, sign-in, production): `[url, perf bar on]`.
 * The pages the reader tests read (e2e/stage.test.mjs, e2e/reader-native.test.mjs).
 */
export const PAGE_KINDS = Object.freeze(
  [
    ['https://staging.gitlab.com/shape/plain', false],
    ['https://staging.gitlab.com/shape/modal?perf_delay=0', true],
    ['https://staging.gitlab.com/shape/lazy?perf_delay=0&modal=lazy', true],
    ['https://staging.gitlab.com/shape/late?perf_delay=60000', true],
    ['https://staging.gitlab.com/shape/legacy?markup=legacy&perf_delay=0', true],
    ['https://staging.gitlab.com/shape/none?sidebar=none&favicon=custom', false],
    ['https://staging.gitlab.com/group/project/-/pipelines/8', false],
    ['https://staging.gitlab.com/lookalike', true],
    ['https://staging.gitlab.com/lookalike?markup=legacy', true],
    ['https://staging.gitlab.com/big', true],
    ['https://staging.gitlab.com/users/sign_in', false],
    ['https://gitlab.com/gitlab-org/gitlab', true],
    ['https://gitlab.com/gitlab-org/gitlab?markup=legacy', true],
  ].map((kind) => Object.freeze(kind)),
);

/** Path of the stand-in binary: env STANDIN_BIN, else <repo>/target/debug/www. */
export function standinBin() {
  return process.env.STANDIN_BIN || path.join(REPO_ROOT, 'target', 'debug', 'www');
}

/** One HTTPS request to the stand-in on 127.0.0.1; resolves { status, body } (body parsed if JSON). */
export function request(port, method, urlPath, body, { host = 'gitlab.com', timeoutMs = 10_000 } = {}) {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = https.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        servername: host,
        rejectUnauthorized: false,
        timeout: timeoutMs,
        headers: {
          host,
          accept: 'application/json',
          ...(payload !== undefined
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }
            : {}),
        },
      },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed = text;
          if ((res.headers['content-type'] || '').includes('json') || /^\s*[[{]/.test(text)) {
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = text; // not JSON after all: hand back the text, the caller decides
            }
          }
          resolve({ status: res.statusCode, headers: res.headers, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`stand-in ${method} ${urlPath}: timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

/**
 * Spawn the stand-in and wait for its `{"event":"listening",...}` line.
 * @param {{seed?: number, args?: string[], bin?: string, startTimeoutMs?: number, echo?: boolean}} opts
 */
export async function startStandin({ seed = 1, args = [], bin = standinBin(), startTimeoutMs = 15_000, echo = !!process.env.STANDIN_ECHO } = {}) {
  const child = spawn(bin, ['--port', '0', '--seed', String(seed), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RUST_BACKTRACE: '1' },
  });
  const stdoutLines = [];
  const stderrTail = [];
  let exited = null;
  let onListening;
  let onFail;
  const listening = new Promise((res, rej) => {
    onListening = res;
    onFail = rej;
  });

  // Keep draining both pipes for the whole life of the child, otherwise a chatty stand-in
  // blocks on a full pipe.
  let buf = '';
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk) => {
    if (echo) process.stderr.write(`[www] ${chunk}`);
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      stdoutLines.push(line);
      if (stdoutLines.length > 2000) stdoutLines.shift();
      try {
        const ev = JSON.parse(line);
        if (ev && ev.event === 'listening' && Number.isInteger(ev.port)) onListening(ev);
      } catch {
        // not JSON: an ordinary log line
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk) => {
    if (echo) process.stderr.write(`[www!] ${chunk}`);
    stderrTail.push(chunk);
    if (stderrTail.length > 200) stderrTail.shift();
  });
  child.on('error', (err) => onFail(new Error(`cannot start stand-in ${bin}: ${err.message}`)));
  child.on('exit', (code, signal) => {
    exited = { code, signal };
    onFail(new Error(`stand-in exited (code ${code}, signal ${signal}) before listening.\n${stderrTail.join('')}`));
  });

  let timer;
  const ev = await Promise.race([
    listening,
    new Promise((_, rej) => {
      timer = setTimeout(() => rej(new Error(`stand-in did not report listening within ${startTimeoutMs} ms`)), startTimeoutMs);
    }),
  ]).catch((err) => {
    child.kill('SIGKILL');
    throw err;
  }).finally(() => clearTimeout(timer));

  const port = ev.port;
  if (ev.scheme && ev.scheme !== 'https') throw new Error(`stand-in scheme ${ev.scheme}, expected https`);

  async function admin(method, p, body) {
    const r = await request(port, method, p, body);
    if (r.status < 200 || r.status >= 300) {
      throw new Error(`stand-in ${method} ${p} -> ${r.status}: ${typeof r.body === 'string' ? r.body : JSON.stringify(r.body)}`);
    }
    return r.body;
  }

  /** Request entries with seq > since. */
  async function log(since = 0) {
    const body = await admin('GET', `/-/standin/log?since=${encodeURIComponent(since)}`);
    if (!Array.isArray(body)) throw new Error(`stand-in log is not an array: ${JSON.stringify(body).slice(0, 200)}`);
    return body;
  }

  /** The highest seq logged so far (0 when empty): take it before an action, pass it as `since`. */
  async function lastSeq() {
    const entries = await log(0);
    return entries.reduce((m, e) => Math.max(m, e.seq), 0);
  }

  /**
   * Poll the log until some entry with seq > since satisfies predicate; resolves that entry.
   * On time-out the error lists what was logged, which is usually the whole diagnosis.
   */
  async function waitForLog(predicate, { since = 0, timeoutMs = 15_000, intervalMs = 100, what = 'log entry' } = {}) {
    const deadline = Date.now() + timeoutMs;
    let entries = [];
    for (;;) {
      entries = await log(since);
      const hit = entries.find(predicate);
      if (hit) return hit;
      if (Date.now() > deadline) {
        const summary = entries
          .slice(-20)
          .map((e) => `  #${e.seq} ${e.method} ${e.host}${e.path} stage=${e.stage} reason=${e.route_reason} gitlab_canary=${JSON.stringify(e.gitlab_canary)}`)
          .join('\n');
        throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; log since #${since}:\n${summary || '  (empty)'}`);
      }
      await delay(intervalMs);
    }
  }

  async function config(partial) {
    return admin('POST', '/-/standin/config', partial);
  }

  /**
   * The stand-in's verdict on a page reader's result: `{ok: true}` when it is exactly the
   * extension's `PageReading` (src/reading.rs), else `{ok: false, message}`.
   */
  async function checkReading(reading) {
    return admin('POST', '/-/standin/check-reading', reading);
  }

  async function flushSessions() {
    return admin('POST', '/-/standin/flush-sessions', {});
  }

  async function stop() {
    if (exited) return;
    const gone = new Promise((res) => child.once('exit', res));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await gone;
    clearTimeout(t);
  }

  return {
    port,
    pid: child.pid,
    log,
    lastSeq,
    waitForLog,
    config,
    checkReading,
    flushSessions,
    stop,
    request: (method, p, body, opts) => request(port, method, p, body, opts),
    stdout: () => stdoutLines.slice(),
    stderr: () => stderrTail.join(''),
  };
}
