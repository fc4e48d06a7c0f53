// The identity probe, for the session check. The background injects this file into the checked
// GitLab tab with scripting.executeScript; its completion value — a promise of
// `{status, id, username}` or `{error}` (`UserReport` and `ApiUser` in src/messages.rs) — is the
// injection's result. `GET /api/v4/user` is asked from the page's own origin with the browser's
// cookies, as GitLab's own pages do; only the user's id and name leave the page.
fetch('/api/v4/user', { credentials: 'include', cache: 'no-store', signal: AbortSignal.timeout(10000) })
  .then(async (r) => {
    // A 200 whose body is not JSON answers no user: the background calls that unreadable.
    const user = r.status === 200 ? await r.json().catch(() => null) : null;
    const ok = user !== null && typeof user === 'object';
    return { status: r.status, id: ok ? user.id : null, username: ok ? user.username : null };
  })
  .catch((e) => ({ error: String((e && e.message) || e) }));
