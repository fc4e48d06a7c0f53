// The control request of the identity probe. When every try of `/api/v4/user` with the session
// answered 5xx (user.js), the background takes `_gitlab_session` out of the tab's cookie store
// for this one request and injects this file: the same request, from the same origin and to the
// same stage (`gitlab_canary` is still sent), as a visitor without a session. Its completion
// value, `{status}` or `{error}` (`UserReport` in src/messages.rs), tells a session that breaks
// every request (GitLab answers 401 without it) from GitLab failing for everyone.
fetch('/api/v4/user', { credentials: 'include', cache: 'no-store', signal: AbortSignal.timeout(10000) }).then(
  (r) => ({ status: r.status }),
  (e) => ({ error: String((e && e.message) || e) }),
);
