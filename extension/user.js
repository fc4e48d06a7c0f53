// The identity probe, for the session check. The background injects this file into the checked
// GitLab tab with scripting.executeScript; its completion value — a promise of
// `{status, id, username}` or `{error}` (`UserReport` and `ApiUser` in src/messages.rs) — is the
// injection's result. `GET /api/v4/user` is asked from the page's own origin with the browser's
// cookies, as GitLab's own pages do; only the user's id and name leave the page.
//
// A 5xx is tried 3 times in all (pauses of 300 and 600 ms: `PROBE_ATTEMPTS`, `PROBE_RETRY_MS`
// in src/messages.rs); when it persists, the background makes the control request (control.js).
(async () => {
  const ask = () => fetch('/api/v4/user', { credentials: 'include', cache: 'no-store', signal: AbortSignal.timeout(10000) });
  try {
    let r = await ask();
    for (let attempt = 1; r.status >= 500 && attempt < 3; attempt++) {
      await new Promise((done) => setTimeout(done, 300 * attempt));
      r = await ask();
    }
    // A 200 whose body is not JSON answers no user: the background calls that unreadable.
    const user = r.status === 200 ? await r.json().catch(() => null) : null;
    const ok = user !== null && typeof user === 'object';
    return { status: r.status, id: ok ? user.id : null, username: ok ? user.username : null };
  } catch (e) {
    return { error: String((e && e.message) || e) };
  }
})();
