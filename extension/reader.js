// The page reader. The background injects this file into a GitLab page with
// scripting.executeScript once the document is parsed; its completion value (the object below,
// or a promise of it when the peek results are fetched) is the injection's result. It copies
// raw strings from GitLab's own elements at their known places and judges nothing: the shape is
// `PageReading` (src/reading.rs), which the background deserialises, unknown fields refused,
// before Rust decides the stage. No wasm, no extension API, no listener, nothing left behind.
//
// The page is untrusted: user content (issues, comments, wikis) can imitate every signal, so
// only elements outside it are read — `body > #js-peek`, `head > link#favicon`, inline scripts
// of `<head>`, and the sidebar and Next badge outside `main` and rendered Markdown.
(() => {
  const MAX = 256 * 1024;
  const USER_CONTENT = 'main, #content-body, .md, .content-wrapper, .note-body, .description';
  const bounded = (s) => (typeof s === 'string' && s.length <= MAX ? s : null);
  const attr = (el, name) => (el ? bounded(el.getAttribute(name)) : null);
  const own = (selector) => {
    for (const el of document.querySelectorAll(selector)) if (!el.closest(USER_CONTENT)) return el;
    return null;
  };
  const head = document.head;
  const body = document.body;

  // GitLab 18's info modal: static inside the bar, or moved to the end of <body> once opened.
  const readModal = (mount) => {
    const modal = mount.querySelector('#environment-info') || (body && body.querySelector(':scope > #environment-info'));
    if (!modal) return null;
    const emoji = modal.querySelector('[data-testid="host-emoji"]');
    const span = emoji && emoji.nextElementSibling;
    return {
      host: span ? bounded(span.textContent) : null,
      canaryEmoji: modal.querySelector('[data-testid="canary-emoji"]') !== null,
    };
  };
  // GitLab <= 17's bar.
  const readCurrentHost = (mount) => {
    const el = mount.querySelector('#peek-view-host .current-host');
    const text = el && bounded(el.textContent);
    return text === null || text === undefined ? null : { text, canaryClass: el.classList.contains('canary') };
  };

  const mount = body && body.querySelector(':scope > #js-peek');
  const peek = mount && {
    // Only the server's mount element carries these; Vue's replacement does not.
    requestId: attr(mount, 'data-request-id'),
    peekUrl: attr(mount, 'data-peek-url'),
    results: null,
    modal: readModal(mount),
    currentHost: readCurrentHost(mount),
  };

  const favicon = head && head.querySelector(':scope > link#favicon');
  let snowplow = null;
  if (head) {
    for (const s of head.querySelectorAll(':scope > script:not([src])')) {
      const t = s.text;
      if (t.includes('snowplowStandardContext')) {
        snowplow = bounded(t);
        break;
      }
    }
  }
  const reading = {
    peek: peek || null,
    favicon: favicon ? { href: attr(favicon, 'href'), originalHref: attr(favicon, 'data-original-href') } : null,
    sidebar: attr(own('aside.js-super-sidebar[data-sidebar]'), 'data-sidebar'),
    // GitLab <= 17 put the badge in the top bar: looked for there only.
    nextBadge: own('header.super-topbar [data-testid="canary-badge-link"], .user-bar [data-testid="canary-badge-link"], header.top-bar-container [data-testid="canary-badge-link"]') !== null,
    snowplow,
  };

  // The peek results of this very request, from the page's own origin (a path, never another
  // host), as GitLab's bar asks for them.
  const url = peek && peek.peekUrl;
  const id = peek && peek.requestId;
  if (!url || !id || !url.startsWith('/') || url.startsWith('//') || url.includes('\\')) return reading;
  return fetch(`${url}?request_id=${encodeURIComponent(id)}`, {
    credentials: 'include',
    cache: 'no-store',
    signal: AbortSignal.timeout(10000),
  })
    .then(async (r) => ({ status: r.status, body: r.status === 200 ? bounded(await r.text()) : null, error: null }))
    .catch((e) => ({ status: 0, body: null, error: String((e && e.message) || e) }))
    .then((results) => {
      peek.results = results;
      return reading;
    });
})();
