// The headless command (`canary-switch`, cli/) against the real Rails session stack
// (tests/rails, lib/rails.mjs): no browser, the built binary run as a pipeline job runs it,
// prepare → a change of the stages (`stack.change`, `restartStage`, `stopStage`) → verify, and
// a watch through a change. The verdicts are the core's sentences, so the extension's.
//
// The binary, by one rule: CANARY_SWITCH_BIN when set; else dist/cli/canary-switch when it
// exists (`./build.sh` writes it, and `./build.sh test` builds it before the e2e tests); else
// `cargo build --release -p canary-switch-cli` and target/release/canary-switch (CARGO_TARGET_DIR
// respected). A dist binary older than the command's or the core's sources is used all the same,
// with a warning on stderr: run ./build.sh, or point CANARY_SWITCH_BIN at a fresh build.
//
// The command reaches the router on GitLab's real host name with
// `--connect-to staging.gitlab.com:443:127.0.0.1:PORT` and trusts its self-signed certificate
// (`www --cert-out FILE`) with `--ca-cert`. One stack for the file; each test sets the stages
// it needs. The session and remember-me values the stack set are read from the jar files in
// this process only, and every output (stdout, stderr, report, JUnit, JSON) is searched for them.

import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../lib/standin.mjs';
import { railsAvailable, startRailsStack, DEFAULT_SETTINGS } from '../lib/rails.mjs';

const HOST = 'staging.gitlab.com';
const PASSWORD = 'correct-horse-battery';
const SKIP = railsAvailable() ? false : 'the Rails stack is not installed (./build.sh test installs it)';

/** The newest modification time under `dir` (files whose name passes `keep`). */
function newest(dir, keep) {
  let best = { ms: 0, file: null };
  if (!fs.existsSync(dir)) return best;
  for (const e of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !keep(e.name)) continue;
    const file = path.join(e.parentPath ?? e.path, e.name);
    const ms = fs.statSync(file).mtimeMs;
    if (ms > best.ms) best = { ms, file };
  }
  return best;
}

/** The command's binary (see the rule at the top). */
function cliBinary() {
  if (process.env.CANARY_SWITCH_BIN) return process.env.CANARY_SWITCH_BIN;
  const dist = path.join(REPO_ROOT, 'dist', 'cli', 'canary-switch');
  if (fs.existsSync(dist)) {
    const built = fs.statSync(dist).mtimeMs;
    const rs = (n) => n.endsWith('.rs') || n === 'Cargo.toml' || n === 'messages.json';
    for (const dir of ['cli/src', 'src', 'extension/_locales/en']) {
      const n = newest(path.join(REPO_ROOT, dir), rs);
      if (n.ms > built) {
        process.stderr.write(`cli-rails: ${path.relative(REPO_ROOT, dist)} is older than ${path.relative(REPO_ROOT, n.file)}: testing it all the same (run ./build.sh, or set CANARY_SWITCH_BIN)\n`);
        break;
      }
    }
    return dist;
  }
  const r = spawnSync('cargo', ['build', '--release', '--quiet', '-p', 'canary-switch-cli'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (r.status !== 0) throw new Error('cargo build --release -p canary-switch-cli failed');
  return path.join(process.env.CARGO_TARGET_DIR || path.join(REPO_ROOT, 'target'), 'release', 'canary-switch');
}

// ------------------------------------------------------------------ JUnit, parsed back

const ENTITIES = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
function unescapeXml(s, where) {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);|&/g, (m, e) => {
    if (!e) throw new Error(`a bare & in ${where}`);
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : Number(e.slice(1)));
    if (!(e in ENTITIES)) throw new Error(`unknown entity &${e}; in ${where}`);
    return ENTITIES[e];
  });
}

/** A small strict XML parser (elements, attributes, text; no DTD): the root element. */
function parseXml(text) {
  let i = 0;
  const fail = (why) => {
    throw new Error(`JUnit XML at ${i}: ${why}: ${JSON.stringify(text.slice(i, i + 60))}`);
  };
  const skipMisc = () => {
    for (;;) {
      const ws = /^\s*/.exec(text.slice(i))[0].length;
      i += ws;
      if (text.startsWith('<?', i)) {
        const end = text.indexOf('?>', i);
        if (end < 0) fail('unterminated declaration');
        i = end + 2;
      } else if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else return;
    }
  };
  const element = () => {
    const open = /^<([A-Za-z_][\w.-]*)/.exec(text.slice(i));
    if (!open) fail('expected an element');
    i += open[0].length;
    const node = { name: open[1], attrs: {}, children: [], text: '' };
    for (;;) {
      const attr = /^\s+([A-Za-z_][\w.:-]*)="([^"<]*)"/.exec(text.slice(i));
      if (!attr) break;
      if (attr[1] in node.attrs) fail(`attribute ${attr[1]} twice`);
      node.attrs[attr[1]] = unescapeXml(attr[2], `${node.name}@${attr[1]}`);
      i += attr[0].length;
    }
    const close = /^\s*(\/?)>/.exec(text.slice(i));
    if (!close) fail(`a malformed <${node.name}> tag`);
    i += close[0].length;
    if (close[1]) return node;
    for (;;) {
      if (text.startsWith('</', i)) {
        const end = /^<\/([A-Za-z_][\w.-]*)\s*>/.exec(text.slice(i));
        if (!end || end[1] !== node.name) fail(`</${node.name}> expected`);
        i += end[0].length;
        return node;
      }
      if (text.startsWith('<![CDATA[', i)) {
        const end = text.indexOf(']]>', i);
        if (end < 0) fail('unterminated CDATA');
        node.text += text.slice(i + 9, end);
        i = end + 3;
      } else if (text.startsWith('<!--', i)) {
        const end = text.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
      } else if (text[i] === '<') {
        node.children.push(element());
      } else {
        const next = text.indexOf('<', i);
        if (next < 0) fail(`unterminated <${node.name}>`);
        node.text += unescapeXml(text.slice(i, next), `<${node.name}>`);
        i = next;
      }
    }
  };
  skipMisc();
  const root = element();
  skipMisc();
  if (i !== text.length) fail('content after the root element');
  return root;
}

/**
 * The JUnit file as GitLab reads it: <testsuites> → one <testsuite> → <testcase name classname
 * time> with at most one <failure> or <error>, and counts that match the cases.
 */
function readJunit(file) {
  const root = parseXml(fs.readFileSync(file, 'utf8'));
  assert.equal(root.name, 'testsuites');
  assert.equal(root.children.length, 1);
  const suite = root.children[0];
  assert.equal(suite.name, 'testsuite');
  const cases = suite.children.map((c) => {
    assert.equal(c.name, 'testcase');
    assert.ok(c.attrs.name && c.attrs.classname, 'testcase name and classname');
    assert.ok(Number.isFinite(Number(c.attrs.time)), 'testcase time');
    const kinds = c.children.map((x) => x.name);
    for (const k of kinds) assert.ok(['failure', 'error', 'skipped', 'system-out', 'system-err'].includes(k), k);
    assert.ok(kinds.filter((k) => k === 'failure' || k === 'error').length <= 1);
    const result = c.children.find((x) => x.name === 'failure' || x.name === 'error');
    return { name: c.attrs.name, result: result?.name ?? 'pass', message: result?.attrs.message ?? null };
  });
  const count = (r) => String(cases.filter((c) => c.result === r).length);
  for (const node of [root, suite]) {
    assert.equal(node.attrs.tests, String(cases.length));
    assert.equal(node.attrs.failures, count('failure'));
    assert.equal(node.attrs.errors, count('error'));
  }
  return cases;
}

// ------------------------------------------------------------------ the tests

describe('the headless command on the Rails stack', { skip: SKIP, timeout: 300_000 }, () => {
  let stack;
  let bin;
  let dir;
  let jarSeq = 0;
  /** Every output of every run (stdout, stderr, report, JUnit, JSON), searched at the end. */
  const outputs = [];
  /** Every _gitlab_session and remember_user_token value the jars held. */
  const secrets = new Set();
  const timings = {};

  before(async () => {
    bin = cliBinary();
    assert.ok(fs.existsSync(bin), `${bin} is missing`);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-rails-'));
    const t0 = Date.now();
    stack = await startRailsStack({
      seed: 18,
      routerArgs: ['--canary-weight', '0', '--cert-out', path.join(dir, 'router.pem')],
    });
    timings.stack_boot_ms = Date.now() - t0;
  });

  after(async () => {
    await stack?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    process.stderr.write(`cli-rails timings ${JSON.stringify(timings)}\n`);
  });

  /** The network flags that send GitLab's host to the router, trusting its certificate. */
  const net = () => ['--connect-to', `${HOST}:443:127.0.0.1:${stack.port}`, '--ca-cert', path.join(dir, 'router.pem')];

  /** Runs the command; resolves {code, stdout, stderr, ms}. `onLine(stream, line, ms)` per line. */
  function run(args, { onLine, env = {} } = {}) {
    return new Promise((resolve, reject) => {
      const t0 = Date.now();
      const child = spawn(bin, [...args, ...net()], {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, GITLAB_PASSWORD: PASSWORD, XDG_STATE_HOME: path.join(dir, 'state'), GITLAB_TOKEN: '', ...env },
      });
      const out = { stdout: '', stderr: '' };
      for (const name of ['stdout', 'stderr']) {
        let buf = '';
        child[name].setEncoding('utf8');
        child[name].on('data', (chunk) => {
          out[name] += chunk;
          buf += chunk;
          let nl;
          while ((nl = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, nl);
            buf = buf.slice(nl + 1);
            onLine?.(name, line, Date.now() - t0);
          }
        });
      }
      child.on('error', reject);
      child.on('close', (code) => {
        const r = { code, stdout: out.stdout, stderr: out.stderr, ms: Date.now() - t0 };
        outputs.push({ what: `${args.slice(0, 1)} stdout`, text: r.stdout }, { what: `${args.slice(0, 1)} stderr`, text: r.stderr });
        resolve(r);
      });
    });
  }

  /** A file the command wrote, kept for the leak check. */
  function written(file) {
    const text = fs.readFileSync(file, 'utf8');
    outputs.push({ what: path.basename(file), text });
    return text;
  }

  /** The cookie values of a session file (cookie_store's JSON: `name=value; …` per cookie). */
  function jarCookies(jar) {
    const file = JSON.parse(fs.readFileSync(jar, 'utf8'));
    const found = {};
    for (const c of file.cookies ?? []) {
      const pair = String(c.raw_cookie ?? '').split(';')[0];
      const at = pair.indexOf('=');
      if (at > 0) found[pair.slice(0, at)] = pair.slice(at + 1);
    }
    return found;
  }

  /** `prepare --json` into a new jar: {jar, prepared, run}; the jar's secrets remembered. */
  async function prepare({ remember = false } = {}) {
    jarSeq += 1;
    const jar = path.join(dir, `jar-${jarSeq}.json`);
    const r = await run(['prepare', '--env', HOST, '--user', 'qa-user', '--jar', jar, '--json', ...(remember ? ['--remember-me'] : [])]);
    assert.equal(r.code, 0, `prepare: ${r.stdout}${r.stderr}`);
    const json = JSON.parse(r.stdout);
    assert.equal(json.jar, jar);
    assert.equal(fs.statSync(jar).mode & 0o777, 0o600);
    const cookies = jarCookies(jar);
    assert.ok(cookies._gitlab_session, 'the jar holds the session');
    assert.equal(!!cookies.remember_user_token, remember, 'remember_user_token as asked');
    for (const n of ['_gitlab_session', 'remember_user_token']) if (cookies[n]) secrets.add(cookies[n]);
    return { jar, prepared: json.prepared, run: r };
  }

  /** `verify` with that jar; `--report` and `--junit` into files read back. */
  async function verify(jar, extra = [], { files = true, ctx } = {}) {
    const report = `${jar}.md`;
    const junit = `${jar}.xml`;
    const args = ['verify', '--env', HOST, '--jar', jar, ...extra];
    if (files) args.push('--report', report, '--junit', junit);
    const r = await run(args);
    if (files) {
      r.report = written(report);
      r.junit = readJunit(junit);
      written(junit);
    }
    r.line = r.stdout.split('\n')[0];
    ctx?.diagnostic(`verify ${r.ms} ms, exit ${r.code}: ${r.line}`);
    return r;
  }

  /** HH:MM UTC of a prepared baseline, as the sentences give it. */
  const hhmm = (prepared) => new Date(prepared.atMs).toISOString().slice(11, 16);

  /** Both stages with these settings (default: the seed's old store), running. */
  async function stagesAt(main = {}, canary = main) {
    const want = { main: { ...DEFAULT_SETTINGS, ...main }, canary: { ...DEFAULT_SETTINGS, ...canary } };
    const now = stack.settings();
    await Promise.all(
      ['main', 'canary'].map((s) => {
        const same = now[s].running && ['store', 'keys', 'coder'].every((k) => now[s][k] === want[s][k]);
        return same ? null : stack.restartStage(s, want[s]);
      }),
    );
  }

  it('PASS through a compatible change (redis_store → cache_store with the coders, shared keys), and after its rollback', async (t) => {
    await stagesAt();
    const before = await prepare();
    await stack.change({ store: 'cache_store', coder: 'compat' });
    const r = await verify(before.jar, [], { ctx: t });
    timings.verify_pass_ms = r.ms;
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(
      r.line,
      `PASS — the session prepared at ${hhmm(before.prepared)} UTC survived the change: after the change, the same user stayed signed in across refresh, both stages and back.`,
    );
    assert.equal(r.stderr.split('\n').filter((l) => / \d\/5 /.test(l)).length, 5, r.stderr);
    // The stage from the page's own signals (favicon, sidebar): no perf bar, so no pod.
    assert.match(r.stderr, /Other stage \(canary\) +PASS +canary; HTTP 200, @qa-user; _gitlab_session [0-9a-f]{8}\n/);
    assert.deepEqual(
      r.junit.map((c) => [c.name, c.result]),
      [
        ['1 Baseline', 'pass'],
        ['2 Refresh', 'pass'],
        ['3 Other stage (canary)', 'pass'],
        ['4 Back (main)', 'pass'],
        ['5 Restore cookies', 'pass'],
      ],
    );
    assert.match(r.report, /^### Session continuity check \(after the change\): ✅ PASS\n/);
    assert.ok(!fs.existsSync(before.jar), 'verify removes the prepared session');

    // Prepared while the change is applied (CacheStore wrote it), checked after the rollback.
    const during = await prepare({ remember: true });
    await stack.rollback({ store: 'redis_store', coder: 'compat' });
    const j = await run(['verify', '--env', HOST, '--jar', during.jar, '--after-rollback', '--json']);
    timings.verify_after_rollback_ms = j.ms;
    assert.equal(j.code, 0, j.stdout + j.stderr);
    const json = JSON.parse(j.stdout);
    t.diagnostic(`verify --after-rollback --json ${j.ms} ms, exit ${j.code}: ${json.verdict} — ${json.reason}`);
    outputs.push({ what: 'verify --json', text: j.stdout });
    assert.equal(json.verdict, 'PASS');
    assert.equal(json.reason, `the session prepared at ${hhmm(during.prepared)} UTC survived the rollback: after the rollback, the same user stayed signed in across refresh, both stages and back.`);
    assert.equal(json.jarRemoved, true);
    assert.equal(json.check.steps.length, 5);
    assert.equal(json.check.originalCookies, undefined);
  });

  it('FAIL when the new store does not find the sessions (keys: rails), without and with remember-me', async (t) => {
    await stagesAt();
    const plain = await prepare();
    const remembered = await prepare({ remember: true });
    await stack.change({ store: 'cache_store', keys: 'rails' });

    const r = await verify(plain.jar, [], { ctx: t });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(
      r.line,
      `FAIL — at step “Baseline”, served by main: the session prepared at ${hhmm(plain.prepared)} UTC did not survive: signed out at the first request after the change (on main).`,
    );
    assert.deepEqual(
      r.junit.map((c) => [c.name, c.result]),
      [
        ['1 Baseline', 'failure'],
        ['2 Restore cookies', 'pass'],
      ],
    );
    assert.match(r.report, /^### Session continuity check \(after the change\): ❌ FAIL\n/);

    const m = await verify(remembered.jar, [], { ctx: t });
    assert.equal(m.code, 1, m.stdout + m.stderr);
    assert.match(m.line, /^FAIL — at step “Baseline”, served by main/);
    assert.ok(
      m.line.includes(`the session prepared at ${hhmm(remembered.prepared)} UTC did not survive: the session was replaced on main`) &&
        m.line.includes('remember-me signed the user in again, so users without it were signed out'),
      m.line,
    );
    assert.equal(m.junit[0].result, 'failure');
  });

  it('FAIL when a store raises on the other store\'s session (cache_store, shared keys, no coder): HTTP 500 with the session, 401 without', async (t) => {
    await stagesAt();
    const p = await prepare({ remember: true });
    await stack.change({ store: 'cache_store' });
    const r = await verify(p.jar, [], { ctx: t });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    // The extension's sentence, from the core (src/session.rs `judge_prepared`).
    assert.equal(
      r.line,
      `FAIL — at step “Baseline”, served by an unknown stage: the session prepared at ${hhmm(p.prepared)} UTC did not survive: every request that carries it fails with HTTP 500 on a stage the error page does not name, while requests without it work: users whose session was written before the change cannot use GitLab until they clear their cookies.`,
    );
    assert.match(r.stderr, /Baseline +FAIL +an unknown stage; HTTP 500 \(401 without the session\)/);
    assert.equal(r.junit[0].name, '1 Baseline');
    assert.equal(r.junit[0].result, 'failure');
    assert.match(r.junit[0].message, /every request that carries it fails with HTTP 500/);
    assert.ok(!fs.existsSync(p.jar), 'a judged session is used up');
    assert.match(stack.stageLog('main'), /undefined method `expired\?' for \{.*\}:Hash/);
  });

  it('FAIL across mixed stages (only canary changed): "Other stage (canary)" fails; the verify used the session up', async (t) => {
    await stagesAt();
    const p = await prepare();
    await stack.restartStage('canary', { store: 'cache_store' });
    const r = await verify(p.jar, [], { ctx: t });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(
      r.line,
      'FAIL — at step “Other stage (canary)”, served by canary: every request that carries this session fails with HTTP 500 on canary (as asked; the error page names no stage), while requests without it work: users whose session was written by main cannot use canary until they clear their cookies.',
    );
    assert.deepEqual(
      r.junit.map((c) => [c.name, c.result]),
      [
        ['1 Baseline', 'pass'],
        ['2 Refresh', 'pass'],
        ['3 Other stage (canary)', 'failure'],
        ['4 Restore cookies', 'pass'],
      ],
    );
    // The baseline judged the prepared session: it is gone, and a second verify has nothing
    // to check (prepare again first).
    assert.ok(!fs.existsSync(p.jar));
    const again = await run(['verify', '--env', HOST, '--jar', p.jar]);
    assert.equal(again.code, 64, again.stderr);
    assert.match(again.stderr, /No session is prepared for staging\.gitlab\.com/);
  });

  it('INCONCLUSIVE when a stage is stopped (502 for everyone); a stopped main keeps the session for another verify', async (t) => {
    await stagesAt();
    const p = await prepare();
    await stack.stopStage('canary');
    const since = await stack.lastSeq();
    const r = await verify(p.jar, [], { ctx: t });
    assert.equal(r.code, 2, r.stdout + r.stderr);
    assert.equal(r.line, 'INCONCLUSIVE — step “Other stage (canary)”: GitLab answered HTTP 502 with and without the session.');
    assert.deepEqual(
      r.junit.map((c) => [c.name, c.result]),
      [
        ['1 Baseline', 'pass'],
        ['2 Refresh', 'pass'],
        ['3 Other stage (canary)', 'error'],
        ['4 Restore cookies', 'pass'],
      ],
    );
    // The control request went to the stopped stage: gitlab_canary sent, the session not.
    const api = (await stack.log(since)).filter((e) => e.path === '/api/v4/user' && e.stage === 'canary');
    assert.ok(api.length >= 2, JSON.stringify(api));
    const control = api.at(-1);
    assert.deepEqual(control.gitlab_canary, ['true']);
    assert.ok(!control.cookies.includes('_gitlab_session') && !control.cookies.includes('remember_user_token'), JSON.stringify(control.cookies));
    assert.equal(control.status, 502);
    for (const e of api.slice(0, -1)) assert.ok(e.cookies.includes('_gitlab_session'), JSON.stringify(e.cookies));
    await stack.startStage('canary');

    // Main down at the baseline: nothing judged, the session kept; judged once main is back.
    const q = await prepare();
    await stack.stopStage('main');
    const down = await verify(q.jar, [], { ctx: t });
    assert.equal(down.code, 2, down.stdout + down.stderr);
    assert.equal(down.line, 'INCONCLUSIVE — step “Baseline”: GitLab answered HTTP 502 with and without the session.');
    assert.match(down.stdout, /The prepared session is kept in /);
    assert.ok(fs.existsSync(q.jar), 'kept for another try');
    await stack.startStage('main');
    const back = await verify(q.jar, [], { ctx: t });
    assert.equal(back.code, 0, back.stdout + back.stderr);
    assert.ok(!fs.existsSync(q.jar));
  });

  it('watch --every 1s --for 20s reports the loss within a few intervals of a change whose store raises, and exits 1', async (t) => {
    await stagesAt();
    const report = path.join(dir, 'watch.md');
    const junit = path.join(dir, 'watch.xml');
    const samples = [];
    let changing = null;
    let changedAt = null;
    let lossAt = null;
    const t0 = Date.now();
    const r = await run(['watch', '--env', HOST, '--user', 'qa-user', '--every', '1s', '--for', '20s', '--report', report, '--junit', junit], {
      onLine: (stream, line) => {
        if (stream !== 'stderr') return;
        const at = Date.now() - t0;
        if (/^ +sample /.test(line)) samples.push({ at, line });
        if (line.startsWith('Session lost on ') && lossAt === null) lossAt = at;
        // Two samples signed in, then the change: canary, then main.
        if (samples.length === 2 && !changing) {
          changing = stack.change({ store: 'cache_store' }).then(() => {
            changedAt = Date.now() - t0;
          });
        }
      },
    });
    await changing;
    timings.watch_ms = r.ms;
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.ok(lossAt !== null, r.stderr);
    const lost = r.stderr.split('\n').find((l) => l.startsWith('Session lost on '));
    assert.match(
      lost,
      /^Session lost on staging\.gitlab\.com at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC: every request that carries the session fails with HTTP 500, while requests without it work: users with such a session cannot use GitLab until they clear their cookies\.$/,
    );
    // Within a few intervals of main serving the new store (each sample of a 5xx waits for
    // its retries and the control request: about 1 s more).
    const late = lossAt - changedAt;
    timings.watch_loss_after_change_ms = late;
    t.diagnostic(`watch ${r.ms} ms, exit ${r.code}; the loss ${late} ms after main served the new store: ${lost}`);
    assert.ok(late <= 5000, `the loss came ${late} ms after the change`);
    assert.ok(samples.filter((s) => s.at < lossAt).every((s) => !/HTTP 500/.test(s.line)), 'no sample over a 500 before the loss');
    assert.ok(r.stdout.startsWith('Session lost on staging.gitlab.com at '), r.stdout);
    assert.match(r.stdout, /\nFAIL — at step “Baseline”/);
    const md = written(report);
    assert.match(md, /^### Session watch: ❌ session lost/);
    const cases = readJunit(junit);
    written(junit);
    assert.deepEqual(cases.slice(0, 3).map((c) => [c.name, c.result]), [
      ['1 Sign in', 'pass'],
      ['2 Prepare', 'pass'],
      ['3 Watch', 'failure'],
    ]);
    assert.equal(cases[3].name, '4 Baseline');
    assert.equal(cases[3].result, 'failure');
  });

  it('nothing secret in any output: no session or remember-me value, no password', () => {
    assert.ok(secrets.size >= 8, `the jars' values: ${secrets.size}`);
    assert.ok(outputs.length >= 30, `outputs: ${outputs.length}`);
    for (const { what, text } of outputs) {
      for (const s of [...secrets, PASSWORD]) assert.ok(!text.includes(s), `a secret in ${what}`);
      // The in-memory sessions of the watch never reach a jar: their shapes then. A Rails
      // session id is 32 hex digits; Devise's remember cookie is signed (`…--<digest>`).
      assert.doesNotMatch(text, /(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/, `a session-id-like value in ${what}`);
      assert.doesNotMatch(text, /[A-Za-z0-9+/=%]{16,}--[0-9a-f]{40,}/, `a signed cookie in ${what}`);
      assert.doesNotMatch(text, /(_gitlab_session|remember_user_token)=/, `a cookie in ${what}`);
    }
  });
});
