// The page reader. The background injects this file into a GitLab tab with
// scripting.executeScript({injectImmediately}) as soon as the tab starts loading a new document;
// its completion value is the injection's result: the object below at once when the document
// is parsed already, else a promise of it settled by a one-shot DOMContentLoaded listener (a
// prerendered page waits until it is shown). It copies raw strings from GitLab's own elements
// at their known places and judges nothing: the shape is `PageReading` (src/reading.rs), which
// the background deserialises, unknown fields refused, before Rust decides the stage. No wasm,
// no extension API, nothing left behind: the listener goes once it fired. `document` names the
// document read (`performance.timeOrigin`, `location.href`), so that a reading of the document
// being navigated away from is never taken for the new one's. The peek results of the request
// are fetched afterwards by the background (peek.js), so the badge does not wait for them.
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

  // GitLab 18's info modal: static inside the bar, or moved to the end of <body> once opened.
  const readModal = (mount, body) => {
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

  const read = () => {
    const head = document.head;
    const body = document.body;
    const mount = body && body.querySelector(':scope > #js-peek');
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
    return {
      peek: mount
        ? {
            // Only the server's mount element carries these; Vue's replacement does not.
            requestId: attr(mount, 'data-request-id'),
            peekUrl: attr(mount, 'data-peek-url'),
            results: null,
            modal: readModal(mount, body),
            currentHost: readCurrentHost(mount),
          }
        : null,
      favicon: favicon ? { href: attr(favicon, 'href'), originalHref: attr(favicon, 'data-original-href') } : null,
      sidebar: attr(own('aside.js-super-sidebar[data-sidebar]'), 'data-sidebar'),
      // GitLab <= 17 put the badge in the top bar: looked for there only.
      nextBadge: own('header.super-topbar [data-testid="canary-badge-link"], .user-bar [data-testid="canary-badge-link"], header.top-bar-container [data-testid="canary-badge-link"]') !== null,
      snowplow,
      document: { timeOrigin: performance.timeOrigin, url: location.href },
    };
  };

  // Parsed means DOMContentLoaded has fired: `interactive` comes before the deferred scripts
  // and DOMContentLoaded, which the navigation entry tells.
  const nav = performance.getEntriesByType('navigation')[0];
  const parsed = () =>
    document.readyState !== 'loading' && !(nav && nav.domContentLoadedEventStart === 0)
      ? read()
      : new Promise((done) => document.addEventListener('DOMContentLoaded', () => done(read()), { once: true }));
  // A prerendered page is read when it is shown, never before (only the page the user sees may
  // set the badge).
  return document.prerendering
    ? new Promise((done) => document.addEventListener('prerenderingchange', () => done(parsed()), { once: true }))
    : parsed();
})();
