// What a GitLab user does in the tab, on the stand-in: sign in through the form, sign out through
// the user menu's link, turn the performance bar on. Real requests and real cookies: the browser
// receives `_gitlab_session` from the stand-in, exactly as from GitLab.com.
//
//   await signIn(env, page, { host: 'staging.gitlab.com' });        // qa-user by default
//   await signOut(env, page);
//   await setPerfBar(env.driver, true);
//   await setCanaryCookie(env.driver, 'true');                       // .gitlab.com, like Next

export const USERS = {
  'qa-user': { id: 101, password: 'correct-horse-battery' },
  'other-user': { id: 102, password: 'staple-horse-battery' },
};

const YEAR_S = 365 * 24 * 3600;

/** perf_bar_enabled=true for every GitLab host (the `p b` shortcut's cookie), or removes it. */
export async function setPerfBar(driver, on) {
  await driver.clearBrowserCookies('perf_bar_enabled');
  if (!on) return;
  await driver.setCookie({
    url: 'https://gitlab.com/',
    domain: '.gitlab.com',
    name: 'perf_bar_enabled',
    value: 'true',
    path: '/',
    secure: true,
    expirationDate: Math.floor(Date.now() / 1000) + YEAR_S,
  });
}

/**
 * gitlab_canary on .gitlab.com ('true' | 'false'), as next.gitlab.com writes it; null removes
 * every gitlab_canary (Auto).
 */
export async function setCanaryCookie(driver, value) {
  await driver.clearBrowserCookies('gitlab_canary');
  if (value === null || value === undefined) return;
  await driver.setCookie({
    url: 'https://gitlab.com/',
    domain: '.gitlab.com',
    name: 'gitlab_canary',
    value: String(value),
    path: '/',
    secure: true,
    expirationDate: Math.floor(Date.now() / 1000) + YEAR_S,
  });
}

/** Waits until the page shows `pathname` and has finished loading (after a form's redirect). */
export async function waitForPath(page, pathname, { timeout = 15_000 } = {}) {
  await page.waitForFunction((p) => location.pathname === p && document.readyState === 'complete', pathname, {
    timeout,
    what: `the page at ${pathname}, loaded`,
  });
}

/**
 * Signs in through the stand-in's form in `page` (navigates it to /users/sign_in first, unless
 * it is there already), and waits for the redirect to `/` to be logged and loaded. Fields are
 * filled in the page ("Remember me" ticked with `remember: true`), the button is clicked with a
 * real click.
 */
export async function signIn(env, page, { host = 'staging.gitlab.com', user = 'qa-user', remember = false, timeout = 15_000 } = {}) {
  const { standin } = env;
  const password = USERS[user]?.password;
  if (!password) throw new Error(`unknown stand-in user ${user}`);
  const formUrl = `https://${host}/users/sign_in`;
  if ((await page.url()) !== formUrl) await page.goto(formUrl);
  await page.waitFor('[data-testid=sign-in-button]', { timeout });
  await page.evaluate(([login, pw, rememberMe]) => {
    const set = (sel, v) => {
      const el = document.querySelector(sel);
      el.value = v;
      el.dispatchEvent(new Event('input', { bubbles: true }));
    };
    set('[data-testid=username-field]', login);
    set('[data-testid=password-field]', pw);
    const box = document.querySelector('[data-testid=remember-me-checkbox]');
    if (box) box.checked = rememberMe;
    return true;
  }, [user, password, remember]);
  const since = await standin.lastSeq();
  await page.click('[data-testid=sign-in-button]');
  const post = await standin.waitForLog((e) => e.method === 'POST' && e.host === host && e.path === '/users/sign_in', {
    since,
    timeoutMs: timeout,
    what: `POST ${host}/users/sign_in`,
  });
  if (post.status !== 302) throw new Error(`sign-in as ${user} answered ${post.status}, not 302`);
  await standin.waitForLog((e) => e.method === 'GET' && e.host === host && e.path === '/' && e.user === user, {
    since: post.seq,
    timeoutMs: timeout,
    what: `GET ${host}/ as ${user} after signing in`,
  });
  await waitForPath(page, '/', { timeout });
  return post;
}

/**
 * Signs out with the user menu's link (data-method=post: the page's rails-ujs stand-in posts a
 * form with the CSRF token), and waits for the redirect to the sign-in form.
 */
export async function signOut(env, page, { timeout = 15_000 } = {}) {
  const { standin } = env;
  const host = new URL(await page.url()).hostname;
  const since = await standin.lastSeq();
  await page.click('[data-testid=sign-out-link]');
  const post = await standin.waitForLog((e) => e.method === 'POST' && e.host === host && e.path === '/users/sign_out', {
    since,
    timeoutMs: timeout,
    what: `POST ${host}/users/sign_out`,
  });
  if (post.status !== 302) throw new Error(`sign-out answered ${post.status}, not 302`);
  await waitForPath(page, '/users/sign_in', { timeout });
  return post;
}
