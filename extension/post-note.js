// Posting a report to a GitLab issue, as a page script. The background loads this file, and
// injects `canaryPostNote` with scripting.executeScript({func, args}) into a page of the issue's
// origin (src/checker.rs, post_report): the request goes out with the browser's own session for
// that origin and the CSRF token of that page, which is read here and never leaves the page.
// Its value — a promise of {status, id, noCsrf, error} — is the injection's result.
globalThis.canaryPostNote = (apiPath, body) => {
  const meta = document.querySelector('meta[name="csrf-token"]');
  const token = meta && meta.getAttribute('content');
  if (!token) return { status: 0, id: null, noCsrf: true, error: null };
  return fetch(apiPath, {
    method: 'POST',
    credentials: 'include',
    cache: 'no-store',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
    body: JSON.stringify({ body }),
    signal: AbortSignal.timeout(10000),
  })
    .then(async (r) => {
      // Only a created note's id is read back from the answer.
      const note = r.status === 201 ? await r.json().catch(() => null) : null;
      return { status: r.status, id: note && typeof note.id === 'number' ? note.id : null, noCsrf: false, error: null };
    })
    .catch((e) => ({ status: 0, id: null, noCsrf: false, error: String((e && e.message) || e) }));
};
