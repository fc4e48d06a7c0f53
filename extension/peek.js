// The peek results of the very request that rendered a page, as page script. The background
// loads this file and injects `canaryPeekResults` with scripting.executeScript({func, args})
// into the page once the page reader has answered (extension/crates/background/src/background.rs,
// `refine`), with the `data-peek-url` path (checked there: a path of the page's own origin) and
// `data-request-id` the reader copied: `GET <peekUrl>?request_id=<id>` from the page's origin with
// the browser's cookies, as GitLab's own bar asks for them. Its value — a promise of `Fetched`
// (src/reading.rs): {status, body of a 200 (256 KiB at most), error} — is the injection's result.
globalThis.canaryPeekResults = (url, id) =>
  fetch(`${url}?request_id=${encodeURIComponent(id)}`, {
    credentials: 'include',
    cache: 'no-store',
    signal: AbortSignal.timeout(10000),
  })
    .then(async (r) => {
      const text = r.status === 200 ? await r.text() : null;
      return { status: r.status, body: typeof text === 'string' && text.length <= 256 * 1024 ? text : null, error: null };
    })
    .catch((e) => ({ status: 0, body: null, error: String((e && e.message) || e) }));
