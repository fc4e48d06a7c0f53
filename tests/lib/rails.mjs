// The GitLab-like Rails stack (tests/rails/) from node: one Redis, one users database, two
// stage processes (main and canary, puma in single mode) and the www router in proxy mode in
// front of them, all on 127.0.0.1. See tests/rails/README.md.
//
//   const stack = await startRailsStack({
//     seed: 1,
//     main: { store: 'redis_store', keys: 'gitlab', coder: 'none' },
//     canary: { store: 'cache_store', keys: 'gitlab', coder: 'none' },
//   });
//   stack.port, stack.log(since), stack.lastSeq(), stack.waitForLog(pred, opts),
//   stack.request(method, path, body, opts), stack.config(partial)      // as startStandin's
//   await stack.restartStage('canary', { store: 'cache_store' });       // a deploy of one stage
//   await stack.change(settings) / stack.rollback(settings)             // canary then main / the reverse
//   await stack.stopStage('canary'); await stack.startStage('canary');  // 502 while stopped
//   stack.settings(), stack.stageLog('main'), await stack.redisKeys('session:*')
//   await stack.stop()
//
// Nothing is left behind: every process is stopped by stop() and killed if node exits first;
// the temporary directory (database, logs) goes with stop() unless RAILS_KEEP=1.

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { REPO_ROOT, startStandin } from './standin.mjs';

export const RAILS_DIR = path.join(REPO_ROOT, 'tests', 'rails');

export const STAGES = ['main', 'canary'];
const STORES = ['redis_store', 'cache_store'];
const KEYS = ['gitlab', 'rails'];
const CODERS = ['none', 'compat'];

/** The default stage settings: today's store, GitLab's keys, no coder. */
export const DEFAULT_SETTINGS = Object.freeze({ store: 'redis_store', keys: 'gitlab', coder: 'none' });

/** Full, checked stage settings from a partial object. */
export function stageSettings(partial = {}) {
  const s = { ...DEFAULT_SETTINGS, ...partial };
  for (const key of Object.keys(s)) {
    if (!(key in DEFAULT_SETTINGS)) throw new Error(`rails stage settings: unknown key ${key}`);
  }
  if (!STORES.includes(s.store)) throw new Error(`rails stage settings: store ${s.store} (${STORES.join(' or ')})`);
  if (!KEYS.includes(s.keys)) throw new Error(`rails stage settings: keys ${s.keys} (${KEYS.join(' or ')})`);
  if (!CODERS.includes(s.coder)) throw new Error(`rails stage settings: coder ${s.coder} (${CODERS.join(' or ')})`);
  return s;
}

// Every process this module started, killed if node exits without stop() (normally, on an
// uncaught error, or on SIGINT/SIGTERM). Even a node killed outright leaves nothing behind: the
// stages and Redis's shell exit when their stdin (a pipe from node) closes, the router
// (`--exit-with-parent`) when it is re-parented.
const children = new Set();
let exitHookInstalled = false;
function killAll() {
  for (const c of children) {
    try {
      // Redis runs under a shell that stops it when its stdin closes, as it does when node
      // exits: killing the shell first would leave Redis behind.
      if (c.stopsWithStdin) c.stdin.destroy();
      else c.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}
function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', killAll);
    for (const sig of ['SIGINT', 'SIGTERM']) {
      process.once(sig, () => {
        killAll();
        process.kill(process.pid, sig);
      });
    }
  }
  return child;
}

/** Tracks a process this module did not spawn itself (the router), by pid. */
function trackPid(pid) {
  const handle = { kill: (sig) => process.kill(pid, sig), once() {} };
  children.add(handle);
  return () => children.delete(handle);
}

let available = null;
/** Whether the stack's programs and gems are installed (`./build.sh test` installs them). */
export function railsAvailable() {
  if (available === null) {
    available =
      ['puma', 'redis-server', 'ruby'].every((bin) => spawnSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' }).status === 0) &&
      spawnSync('ruby', ['-e', 'require "rails"; require "devise"; require "redis-actionpack"; require "sqlite3"'], { stdio: 'ignore' }).status === 0;
  }
  return available;
}

/** A free TCP port on 127.0.0.1 (the kernel's choice, released for the child to take). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * One Redis command over RESP on 127.0.0.1:port; resolves the reply (string, number, array or
 * null). Enough for PING, KEYS, DEL, FLUSHALL, TYPE, TTL.
 */
export function redisCommand(port, ...args) {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let buf = Buffer.alloc(0);
    const fail = (e) => {
      sock.destroy();
      reject(e);
    };
    sock.setTimeout(5000, () => fail(new Error(`redis ${args[0]}: timed out`)));
    sock.on('error', fail);
    sock.on('connect', () => {
      const parts = [`*${args.length}\r\n`];
      for (const a of args) {
        const s = String(a);
        parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
      }
      sock.write(parts.join(''));
    });
    sock.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const parsed = parseResp(buf, 0);
      if (!parsed) return;
      sock.end();
      if (parsed.value instanceof Error) reject(parsed.value);
      else resolve(parsed.value);
    });
  });
}

function parseResp(buf, at) {
  const nl = buf.indexOf('\r\n', at);
  if (nl < 0) return null;
  const type = String.fromCharCode(buf[at]);
  const line = buf.toString('utf8', at + 1, nl);
  const next = nl + 2;
  switch (type) {
    case '+':
      return { value: line, end: next };
    case '-':
      return { value: new Error(`redis: ${line}`), end: next };
    case ':':
      return { value: Number(line), end: next };
    case '$': {
      const len = Number(line);
      if (len < 0) return { value: null, end: next };
      if (buf.length < next + len + 2) return null;
      return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
    }
    case '*': {
      const n = Number(line);
      if (n < 0) return { value: null, end: next };
      const items = [];
      let pos = next;
      for (let i = 0; i < n; i += 1) {
        const item = parseResp(buf, pos);
        if (!item) return null;
        items.push(item.value);
        pos = item.end;
      }
      return { value: items, end: pos };
    }
    default:
      return { value: new Error(`redis: unexpected reply ${JSON.stringify(buf.toString('utf8', at, nl))}`), end: next };
  }
}

/** Kubernetes' SafeEncodeString alphabet (no vowels), as www's pod names use. */
const K8S = 'bcdfghjklmnpqrstvwxz2456789';

/** A small seeded PRNG (mulberry32) for pod names: same seed, same names. */
function prng(seed) {
  let a = (Number(seed) >>> 0) ^ 0x9e3779b9;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function k8s(rand, n) {
  let s = '';
  for (let i = 0; i < n; i += 1) s += K8S[Math.floor(rand() * K8S.length)];
  return s;
}

/** Sends `signal`, waits for the exit, SIGKILL after `graceMs`. */
async function stopChild(child, signal = 'SIGTERM', graceMs = 5000) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((res) => child.once('exit', res));
  child.kill(signal);
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(t);
}

/** Closes the wrapper's stdin (it stops Redis and exits); SIGKILL after 3 s. */
async function stopRedis(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((res) => child.once('exit', res));
  child.stdin.end();
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Keeps the last lines of a stream (the child's stdout/stderr), for error messages. */
function tail(stream, lines, echoPrefix) {
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    if (echoPrefix) process.stderr.write(`${echoPrefix} ${chunk}`);
    for (const l of chunk.split('\n')) if (l) lines.push(l);
    while (lines.length > 200) lines.shift();
  });
}

async function startRedis(dir, { echo }) {
  const port = await freePort();
  const started = Date.now();
  const out = [];
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no', '--protected-mode', 'yes'];
  // redis-server cannot watch its parent: a shell runs it and stops it when node's end of the
  // shell's stdin closes (stop() closes it; so does node's exit, however it happens), then
  // removes the stack's directory (unless RAILS_KEEP is set).
  const script = 'redis-server "$@" & r=$!; cat >/dev/null; kill "$r" 2>/dev/null; wait "$r"; [ -n "$RAILS_KEEP" ] || rm -rf "$STACK_DIR"';
  const child = spawn('sh', ['-c', script, 'sh', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, STACK_DIR: dir },
  });
  child.stopsWithStdin = true;
  track(child);
  tail(child.stdout, out, echo && '[redis]');
  tail(child.stderr, out, echo && '[redis!]');
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  for (;;) {
    if (exited) throw new Error(`redis-server exited before answering:\n${out.join('\n')}`);
    try {
      if ((await redisCommand(port, 'PING')) === 'PONG') break;
    } catch {
      // not listening yet
    }
    if (Date.now() - started > 10_000) {
      await stopRedis(child);
      throw new Error(`redis-server did not answer within 10 s:\n${out.join('\n')}`);
    }
    await delay(20);
  }
  return { port, child, ms: Date.now() - started };
}

/**
 * Starts the whole stack. `main` and `canary`: stage settings ({store, keys, coder}, defaults
 * redis_store / gitlab / none). `routerArgs`: extra www flags (e.g. ['--canary-weight', '0']).
 */
export async function startRailsStack({ seed = 1, main = {}, canary = {}, routerArgs = [], echo = !!process.env.STANDIN_ECHO, bootTimeoutMs = 30_000 } = {}) {
  if (!railsAvailable()) {
    throw new Error('the Rails stack needs ruby-rails ruby-devise ruby-redis-actionpack redis-server puma ruby-sqlite3: run `./build.sh test` once (ensure_rails) or apt-get install them');
  }
  const started = Date.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gitlab-rails-'));
  const rand = prng(seed);
  const stages = {
    main: { settings: stageSettings(main), canary: false, child: null, port: 0, pod: null, out: [], boots: [] },
    canary: { settings: stageSettings(canary), canary: true, child: null, port: 0, pod: null, out: [], boots: [] },
  };
  // One ReplicaSet hash per deployment (a restart with other settings is a new one), a new
  // pod id per start: like GitLab's pods.
  const replicaSets = new Map();
  const podName = (stage, settings) => {
    const key = `${stage}:${JSON.stringify(settings)}`;
    if (!replicaSets.has(key)) replicaSets.set(key, k8s(rand, 10));
    const prefix = stage === 'canary' ? 'gitlab-cny-webservice-web' : 'gitlab-webservice-web';
    return `${prefix}-${replicaSets.get(key)}-${k8s(rand, 5)}`;
  };

  let redis;
  let router;
  const stopped = { done: false };

  const logPath = (stage) => path.join(dir, `${stage}.log`);

  async function bootStage(stage) {
    const st = stages[stage];
    if (st.child) throw new Error(`the ${stage} stage is running already`);
    st.pod = podName(stage, st.settings);
    fs.appendFileSync(logPath(stage), `--- boot ${new Date().toISOString()} pod=${st.pod} store=${st.settings.store} keys=${st.settings.keys} coder=${st.settings.coder}\n`);
    const t0 = Date.now();
    const child = track(
      spawn('puma', ['-b', `tcp://127.0.0.1:${st.port}`, '-t', '1:2', '-e', 'production', path.join(RAILS_DIR, 'config.ru')], {
        cwd: RAILS_DIR,
        stdio: ['pipe', 'pipe', 'pipe'],
        env: {
          ...process.env,
          RAILS_ENV: 'production',
          RACK_ENV: 'production',
          CANARY: st.canary ? 'true' : 'false',
          HOSTNAME: st.pod,
          SESSION_STORE: st.settings.store,
          SESSION_KEYS: st.settings.keys,
          SESSION_CODER: st.settings.coder,
          REDIS_URL: `redis://127.0.0.1:${redis.port}/0`,
          DATABASE_PATH: path.join(dir, 'users.sqlite3'),
          ERROR_LOG: logPath(stage),
          EXIT_WITH_STDIN: '1',
        },
      }),
    );
    st.child = child;
    st.out = [];
    let listening;
    let failed;
    const ready = new Promise((res, rej) => {
      listening = res;
      failed = rej;
    });
    const watch = (stream, prefix) => {
      stream.setEncoding('utf8');
      stream.on('data', (chunk) => {
        if (echo) process.stderr.write(`[${stage}${prefix}] ${chunk}`);
        for (const l of chunk.split('\n')) {
          if (!l) continue;
          st.out.push(l);
          if (/Listening on/.test(l)) listening();
        }
        while (st.out.length > 200) st.out.shift();
      });
    };
    watch(child.stdout, '');
    watch(child.stderr, '!');
    child.once('exit', (code, signal) => {
      if (st.child === child) st.child = null;
      failed(new Error(`the ${stage} stage (puma) exited (code ${code}, signal ${signal}) before listening:\n${st.out.join('\n')}\n${stageLog(stage).slice(-2000)}`));
    });
    let timer;
    try {
      await Promise.race([
        ready,
        new Promise((_, rej) => {
          timer = setTimeout(() => rej(new Error(`the ${stage} stage did not listen within ${bootTimeoutMs} ms:\n${st.out.join('\n')}`)), bootTimeoutMs);
        }),
      ]);
    } catch (e) {
      await stopChild(child, 'SIGKILL');
      throw e;
    } finally {
      clearTimeout(timer);
    }
    const ms = Date.now() - t0;
    st.boots.push({ at: new Date().toISOString(), ms, pod: st.pod, ...st.settings });
    return ms;
  }

  async function stopStage(stage) {
    const st = stages[stage];
    if (!st) throw new Error(`unknown stage ${stage}`);
    const child = st.child;
    st.child = null;
    await stopChild(child, 'SIGTERM', 5000);
  }

  async function startStage(stage) {
    if (!stages[stage]) throw new Error(`unknown stage ${stage}`);
    return bootStage(stage);
  }

  /** Stops the stage and boots it again with `settings` (merged over its current ones). */
  async function restartStage(stage, settings = {}) {
    const st = stages[stage];
    if (!st) throw new Error(`unknown stage ${stage}`);
    const next = stageSettings({ ...st.settings, ...settings });
    await stopStage(stage);
    st.settings = next;
    return bootStage(stage);
  }

  function stageLog(stage) {
    try {
      return fs.readFileSync(logPath(stage), 'utf8');
    } catch {
      return '';
    }
  }

  function settings() {
    const view = (stage) => {
      const st = stages[stage];
      return { ...st.settings, pod: st.pod, port: st.port, running: !!st.child, boots: st.boots.slice() };
    };
    return { main: view('main'), canary: view('canary'), redisPort: redis?.port ?? null, dir };
  }

  async function stop() {
    if (stopped.done) return;
    stopped.done = true;
    await Promise.all([router?.stop(), stopStage('main'), stopStage('canary')]);
    if (redis) await stopRedis(redis.child);
    if (!process.env.RAILS_KEEP) fs.rmSync(dir, { recursive: true, force: true });
  }

  try {
    redis = await startRedis(dir, { echo });
    stages.main.port = await freePort();
    stages.canary.port = await freePort();
    const [mainMs, canaryMs] = await Promise.all([bootStage('main'), bootStage('canary')]);
    const r0 = Date.now();
    router = await startStandin({
      seed,
      args: ['--upstream', `main=127.0.0.1:${stages.main.port}`, '--upstream', `canary=127.0.0.1:${stages.canary.port}`, '--exit-with-parent', ...routerArgs],
      echo,
    });
    const routerMs = Date.now() - r0;
    const untrackRouter = trackPid(router.pid);
    const routerStop = router.stop;
    router.stop = async () => {
      await routerStop();
      untrackRouter();
    };
    const boot = { redis_ms: redis.ms, main_ms: mainMs, canary_ms: canaryMs, router_ms: routerMs, total_ms: Date.now() - started };
    if (process.env.RAILS_BOOT_TIMES) process.stderr.write(`rails-stack-boot ${JSON.stringify(boot)}\n`);
    return {
      ...router,
      rails: true,
      boot,
      dir,
      stop,
      stopStage,
      startStage,
      restartStage,
      /** The seed change: canary, then main, restarted with `to`. */
      async change(to) {
        await restartStage('canary', to);
        await restartStage('main', to);
      },
      /** Its rollback, the reverse order: main, then canary. */
      async rollback(to) {
        await restartStage('main', to);
        await restartStage('canary', to);
      },
      settings,
      stageLog,
      /** Redis keys matching `pattern` (e.g. `session:gitlab:*`). */
      redisKeys: (pattern = '*') => redisCommand(redis.port, 'KEYS', pattern),
      /** Deletes every session (not the peek data), like www's flush-sessions: `{flushed: N}`. */
      async flushSessions() {
        const keys = await redisCommand(redis.port, 'KEYS', 'session:*');
        if (keys.length) await redisCommand(redis.port, 'DEL', ...keys);
        return { flushed: keys.length };
      },
      redisCommand: (...args) => redisCommand(redis.port, ...args),
    };
  } catch (e) {
    await stop();
    throw e;
  }
}
