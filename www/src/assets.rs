//! Static assets: the fingerprinted favicons (as tiny real PNGs) and the performance bar's JS.
//!
//! `Gitlab::Favicon.main` serves `favicon-yellow` when `ENV['CANARY']` is true, else `favicon`;
//! the asset pipeline fingerprints both with a 64-hex digest. The digests here are fixed
//! constants (SHA-256 of made-up names), so tests can name the exact paths.

/// The main stage's favicon (and every stage of the self-managed host).
pub const FAVICON_MAIN: &str =
    "/assets/favicon-32a692c22f840557b511bdb2ddf2a504ddae7c3fcd1a535269f7b321931b8284.png";
/// The canary stage's favicon on GitLab.com hosts.
pub const FAVICON_CANARY: &str =
    "/assets/favicon-yellow-84482a3d2d1bc5bfac60276055771fb9a3ca8513a6c0817a00ad85980d45b3c0.png";
/// What pipeline pages swap the favicon to at run time.
pub const FAVICON_CI_RUNNING: &str = "/assets/ci_favicons/favicon_status_running-d897a229ec5b8074720cff9081e26feddfb6661228e963027aea791fc1a4537c.png";
/// A self-managed instance's custom appearance favicon (page query `favicon=custom`).
pub const FAVICON_CUSTOM: &str = "/uploads/-/system/appearance/favicon/1/custom.png";

/// The PNG served for `path`, if `path` is one of the icon paths: `/assets/favicon*.png`,
/// `/assets/ci_favicons/*.png` or the custom appearance favicon. Any name matching the
/// pattern is served (browsers keep old fingerprints cached), each family in its colour.
pub fn png_for(path: &str) -> Option<Vec<u8>> {
    let name = |prefix: &str| {
        path.strip_prefix(prefix)
            .filter(|rest| rest.ends_with(".png") && !rest.contains('/'))
            .is_some()
    };
    let rgb = if path == FAVICON_CUSTOM {
        [0x6b, 0x4f, 0xbb]
    } else if name("/assets/ci_favicons/") {
        [0x1f, 0x75, 0xcb]
    } else if name("/assets/favicon-yellow") {
        [0xfc, 0xa3, 0x26]
    } else if name("/assets/favicon") {
        [0xe2, 0x43, 0x29]
    } else {
        return None;
    };
    Some(solid_png(16, rgb))
}

/// CRC-32 (ISO 3309, as PNG chunks use), bit by bit: the icons are tiny.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn adler32(bytes: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in bytes {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(out.get(start..).unwrap_or_default());
    out.extend_from_slice(&crc.to_be_bytes());
}

/// A `size`×`size` RGB PNG of one colour (zlib with one stored block; `size` ≤ 64).
pub fn solid_png(size: u32, rgb: [u8; 3]) -> Vec<u8> {
    let size = size.clamp(1, 64);
    // Each scanline: filter type 0 (none), then the pixels.
    let mut line = vec![0u8];
    for _ in 0..size {
        line.extend_from_slice(&rgb);
    }
    let raw = line.repeat(size as usize);
    let len = raw.len() as u16;
    let mut zlib = vec![0x78, 0x01, 0x01];
    zlib.extend_from_slice(&len.to_le_bytes());
    zlib.extend_from_slice(&(!len).to_le_bytes());
    zlib.extend_from_slice(&raw);
    zlib.extend_from_slice(&adler32(&raw).to_be_bytes());
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&size.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]); // 8-bit RGB, deflate, no filter, no interlace
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib);
    chunk(&mut out, b"IEND", &[]);
    out
}

/// The inline script of pipeline pages: at `load`, the favicon shows the pipeline's status
/// (GitLab's pipeline pages do this at run time; `data-original-href` keeps the server's icon).
pub fn pipeline_favicon_script() -> String {
    format!(
        "<script>window.addEventListener('load',function(){{var f=document.getElementById('favicon');if(f){{f.setAttribute('href','{FAVICON_CI_RUNNING}');}}}});</script>"
    )
}

/// /assets/perf_bar.js: plays the Vue performance bar. After a delay it asks the peek
/// endpoint about this page's request (as the real bar does) and replaces the server's
/// `#js-peek` with the rendered bar of the page's markup generation (from `gon.version`).
pub fn perf_bar_js(default_delay_ms: u64) -> String {
    PERF_BAR_JS.replace("__DEFAULT_DELAY_MS__", &default_delay_ms.to_string())
}

const PERF_BAR_JS: &str = r#"// Stand-in for GitLab's performance bar. Like the Vue app, it REPLACES its mount element
// (the server's #js-peek) with a new <div id="js-peek" class="ENV"> without data attributes.
// GitLab 18 (gon.version >= 18): a bar without the host, an info button and a modal
//   #environment-info holding the pod (and, on canary, "Request made from Canary").
// GitLab <= 17: <div id="peek-view-host" class="view"><span class="current-host [canary]">...
(function () {
  'use strict';
  var params = new URLSearchParams(window.location.search);
  // perf=stuck: the server's markup is there but the bar never renders.
  if (params.get('perf') === 'stuck') { return; }
  var delay = parseInt(params.get('perf_delay'), 10);
  if (!(delay >= 0)) { delay = __DEFAULT_DELAY_MS__; }
  var lazyModal = params.get('modal') === 'lazy';
  var major = parseInt(String((window.gon && window.gon.version) || ''), 10);
  var legacy = major > 0 && major < 18;

  function el(tag, attrs, children) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    (children || []).forEach(function (c) {
      e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c);
    });
    return e;
  }
  function metrics(data) {
    var ar = data['active-record'] || {};
    return [
      el('div', { id: 'peek-view-active-record', class: 'view', 'data-testid': 'detailed-metric-content' }, [
        el('span', { class: 'gl-text-blue-200' }, [String(ar.duration || '0ms')]),
        ' / ', el('span', {}, [String(ar.calls || 0)]), ' pg'
      ]),
      el('div', { id: 'peek-view-total', class: 'view' }, [
        el('span', { class: 'gl-text-blue-200' }, [String(ar.total || '0ms')]), ' total'
      ])
    ];
  }
  function modal(host, canary, visible) {
    var body = [
      el('gl-emoji', { 'data-testid': 'host-emoji', 'data-name': 'computer' }, ['\uD83D\uDCBB']),
      el('span', {}, [host.hostname])
    ];
    if (canary) {
      body.push(el('gl-emoji', { 'data-testid': 'canary-emoji', 'data-name': 'baby_chick' }, ['\uD83D\uDC24']));
      body.push(el('span', {}, ['Request made from Canary']));
    }
    var m = el('div', { id: 'environment-info', class: 'gl-modal', role: 'dialog',
                        'aria-hidden': visible ? 'false' : 'true' },
               [el('div', { class: 'modal-body' }, body)]);
    m.hidden = !visible;
    return m;
  }
  function currentBar(root, host, canary, data) {
    var button = el('button', { type: 'button', class: 'gl-button btn-sm',
                                'data-testid': 'performance-bar-info-button',
                                'aria-label': 'Environment information' }, ['\u2139']);
    var items = metrics(data);
    items.push(el('div', { class: 'view' }, [button]));
    root.appendChild(el('div', { class: 'd-flex container-fluid container-limited',
                                 'data-testid': 'performance-bar' }, items));
    if (!lazyModal) { root.appendChild(modal(host, canary, false)); }
    button.addEventListener('click', function () {
      var m = document.getElementById('environment-info');
      if (!m) { root.appendChild(modal(host, canary, true)); return; }
      m.hidden = !m.hidden;
      m.setAttribute('aria-hidden', m.hidden ? 'true' : 'false');
    });
  }
  function legacyBar(root, host, canary, data) {
    var bird = canary
      ? el('span', {}, [el('gl-emoji', { 'data-name': 'baby_chick' }, ['\uD83D\uDC24'])])
      : el('span', {}, []);
    root.appendChild(el('div', { id: 'peek-view-host', class: 'view' }, [
      el('span', { class: canary ? 'current-host canary' : 'current-host' }, [bird, ' ' + host.hostname])
    ]));
    metrics(data).forEach(function (m) { root.appendChild(m); });
  }
  function render(serverPeek, result) {
    var data = result && result.data;
    if (!data || !data.host || !data.host.hostname) { return; }
    if (document.getElementById('js-peek') !== serverPeek || !serverPeek.parentNode) { return; }
    var root = el('div', { id: 'js-peek', class: serverPeek.getAttribute('data-env') || serverPeek.className });
    var canary = data.host.canary === true;
    (legacy ? legacyBar : currentBar)(root, data.host, canary, data);
    serverPeek.parentNode.replaceChild(root, serverPeek);
  }
  function load(now) {
    var peek = document.getElementById('js-peek');
    if (!peek || !peek.hasAttribute('data-request-id')) { return; }
    var url = peek.getAttribute('data-peek-url') + '?request_id=' +
      encodeURIComponent(peek.getAttribute('data-request-id') || '');
    if (now) {
      // A test device, not GitLab's behaviour: a synchronous request, so that the bar has
      // replaced its mount before DOMContentLoaded, deterministically.
      var x = new XMLHttpRequest();
      x.open('GET', url, false);
      x.setRequestHeader('Accept', 'application/json');
      try {
        x.send();
        render(peek, x.status === 200 ? JSON.parse(x.responseText) : null);
      } catch (err) {
        console.warn('performance bar: peek request failed', err);
      }
      return;
    }
    fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (result) { render(peek, result); })
      .catch(function (err) { console.warn('performance bar: peek request failed', err); });
  }
  // perf_delay=0: render from this deferred script itself, before DOMContentLoaded.
  if (delay === 0) { load(true); } else { setTimeout(function () { load(false); }, delay); }
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;

    fn be32(b: &[u8], at: usize) -> u32 {
        let mut word = [0u8; 4];
        word.copy_from_slice(b.get(at..at + 4).unwrap_or(&[0; 4]));
        u32::from_be_bytes(word)
    }

    #[test]
    fn crc_and_adler_known_values() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn pngs_are_well_formed() {
        let png = solid_png(16, [1, 2, 3]);
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
        // IHDR: length 13, 16x16, 8-bit RGB; every chunk's CRC checks.
        assert_eq!(be32(&png, 8), 13);
        assert_eq!(png.get(12..16), Some(&b"IHDR"[..]));
        assert_eq!((be32(&png, 16), be32(&png, 20)), (16, 16));
        let mut at = 8;
        let mut kinds = Vec::new();
        while at < png.len() {
            let len = be32(&png, at) as usize;
            let body = png.get(at + 4..at + 8 + len).unwrap_or_default();
            assert_eq!(crc32(body), be32(&png, at + 8 + len));
            kinds.push(String::from_utf8_lossy(body.get(..4).unwrap_or_default()).into_owned());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
        assert_eq!(at, png.len());
    }

    #[test]
    fn icon_paths() {
        for p in [
            FAVICON_MAIN,
            FAVICON_CANARY,
            FAVICON_CI_RUNNING,
            FAVICON_CUSTOM,
            "/assets/favicon.png",
            "/assets/ci_favicons/favicon_status_success-00.png",
        ] {
            assert!(png_for(p).is_some(), "{p}");
        }
        for p in [
            "/assets/favicon.ico",
            "/assets/favicons/x.png",
            "/assets/ci_favicons/a/b.png",
            "/uploads/-/system/appearance/favicon/2/custom.png",
            "/assets/perf_bar.js",
        ] {
            assert!(png_for(p).is_none(), "{p}");
        }
        assert_ne!(png_for(FAVICON_MAIN), png_for(FAVICON_CANARY));
        let digest = |p: &str, prefix: &str| {
            p.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".png"))
                .map(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit()))
        };
        assert_eq!(digest(FAVICON_MAIN, "/assets/favicon-"), Some(true));
        assert_eq!(
            digest(FAVICON_CANARY, "/assets/favicon-yellow-"),
            Some(true)
        );
        assert_eq!(
            digest(
                FAVICON_CI_RUNNING,
                "/assets/ci_favicons/favicon_status_running-"
            ),
            Some(true)
        );
    }
}
