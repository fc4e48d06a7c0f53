//! The page reader, natively: what `extension/reader.js` returns for a page (and the peek
//! results the background then fetches with `extension/peek.js`), read from the server's HTML
//! with an HTML5 parser (html5ever, through scraper).
//!
//! It reads only GitLab's own elements at the places `reader.js` reads — `body > #js-peek`,
//! `head > link#favicon`, the inline scripts of `<head>`, the sidebar and the Next badge outside
//! user content — with the same selectors, bounds and order, and returns exactly
//! [`PageReading`]. A browser may run the page's scripts before its reader runs (GitLab's
//! performance bar replaces `#js-peek`); this reader sees the document as the server sent it,
//! which is what a browser with scripts off shows (`tests/e2e/reader-native.test.mjs` holds
//! both readers to the same answer).

use canary_switch::reading::{
    CurrentHost, FaviconLink, Fetched, ModalHost, PageReading, PeekMount, MAX_TEXT,
};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use scraper::{ElementRef, Html, Selector};
use url::Url;

/// Where user content lives (issues, comments, wikis): nothing inside it is read.
const USER_CONTENT: &str = "main, #content-body, .md, .content-wrapper, .note-body, .description";
const SIDEBAR: &str = "aside.js-super-sidebar[data-sidebar]";
const NEXT_BADGE: &str = r#"header.super-topbar [data-testid="canary-badge-link"], .user-bar [data-testid="canary-badge-link"], header.top-bar-container [data-testid="canary-badge-link"]"#;

/// What `encodeURIComponent` leaves as it is: `A-Z a-z 0-9 - _ . ! ~ * ' ( )`.
const URI_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

fn sel(s: &str) -> Selector {
    // The selectors are this file's constants, tested below.
    Selector::parse(s).unwrap_or_else(|e| panic!("selector {s:?}: {e}"))
}

/// A string as `reader.js` bounds it: at most [`MAX_TEXT`] UTF-16 units, else nothing.
fn bounded(s: &str) -> Option<String> {
    (s.encode_utf16().count() <= MAX_TEXT).then(|| s.to_string())
}

fn attr(el: Option<ElementRef>, name: &str) -> Option<String> {
    el?.value().attr(name).and_then(bounded)
}

fn text(el: ElementRef) -> String {
    el.text().collect()
}

/// A page read, and the peek request it still needs (`reader.js` fetches it from the page).
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    pub reading: PageReading,
    /// `<peekUrl>?request_id=<id>`, resolved against the page's URL, when the server's mount
    /// named both.
    pub peek_request: Option<Url>,
}

struct Doc<'a> {
    html: &'a Html,
    user_content: Selector,
}

impl<'a> Doc<'a> {
    fn in_user_content(&self, el: ElementRef) -> bool {
        std::iter::once(el)
            .chain(el.ancestors().filter_map(ElementRef::wrap))
            .any(|a| self.user_content.matches(&a))
    }

    /// `own(selector)`: the first element that matches, outside user content.
    fn own(&self, selector: &str) -> Option<ElementRef<'a>> {
        self.html
            .select(&sel(selector))
            .find(|el| !self.in_user_content(*el))
    }

    /// `document.head` / `document.body`: the `<html>` element's first such child.
    fn child_of_root(&self, name: &str) -> Option<ElementRef<'a>> {
        self.html
            .root_element()
            .children()
            .filter_map(ElementRef::wrap)
            .find(|e| e.value().name() == name)
    }
}

/// GitLab 18's info modal: static inside the bar, or moved to the end of `<body>` once opened.
fn read_modal(mount: ElementRef, body: Option<ElementRef>) -> Option<ModalHost> {
    let modal = mount
        .select(&sel("#environment-info"))
        .next()
        .or_else(|| body.and_then(|b| b.select(&sel(":scope > #environment-info")).next()))?;
    let emoji = modal.select(&sel(r#"[data-testid="host-emoji"]"#)).next();
    let span = emoji.and_then(|e| e.next_siblings().find_map(ElementRef::wrap));
    Some(ModalHost {
        host: span.and_then(|s| bounded(&text(s))),
        canary_emoji: modal
            .select(&sel(r#"[data-testid="canary-emoji"]"#))
            .next()
            .is_some(),
    })
}

/// GitLab ≤ 17's bar.
fn read_current_host(mount: ElementRef) -> Option<CurrentHost> {
    let el = mount.select(&sel("#peek-view-host .current-host")).next()?;
    let text = bounded(&text(el))?;
    Some(CurrentHost {
        text,
        canary_class: el.value().classes().any(|c| c == "canary"),
    })
}

/// Reads a page's HTML, served from `page_url`.
pub fn read(html: &str, page_url: &Url) -> Read {
    let html = Html::parse_document(html);
    let doc = Doc {
        html: &html,
        user_content: sel(USER_CONTENT),
    };
    let head = doc.child_of_root("head");
    let body = doc.child_of_root("body");

    let mount = body.and_then(|b| b.select(&sel(":scope > #js-peek")).next());
    let peek = mount.map(|m| PeekMount {
        // Only the server's mount element carries these; Vue's replacement does not.
        request_id: attr(Some(m), "data-request-id"),
        peek_url: attr(Some(m), "data-peek-url"),
        results: None,
        modal: read_modal(m, body),
        current_host: read_current_host(m),
    });

    let favicon = head.and_then(|h| h.select(&sel(":scope > link#favicon")).next());
    let snowplow = head.and_then(|h| {
        h.select(&sel(":scope > script:not([src])"))
            .map(text)
            .find(|t| t.contains("snowplowStandardContext"))
            .map(|t| bounded(&t))
    });
    let reading = PageReading {
        favicon: favicon.map(|f| FaviconLink {
            href: attr(Some(f), "href"),
            original_href: attr(Some(f), "data-original-href"),
        }),
        sidebar: attr(doc.own(SIDEBAR), "data-sidebar"),
        // GitLab <= 17 put the badge in the top bar: looked for there only.
        next_badge: doc.own(NEXT_BADGE).is_some(),
        snowplow: snowplow.flatten(),
        peek,
        // Which browser document was read: there is none here.
        document: None,
    };

    // The peek results of this very request, from the page's own origin (a path, never another
    // host), as GitLab's bar asks for them: the background's `refine` with `extension/peek.js`.
    let peek_request = reading.peek.as_ref().and_then(|p| {
        let url = p.peek_url.as_deref()?;
        let id = p.request_id.as_deref()?;
        if !url.starts_with('/') || url.starts_with("//") || url.contains('\\') {
            return None;
        }
        let path = format!(
            "{url}?request_id={}",
            utf8_percent_encode(id, URI_COMPONENT)
        );
        page_url
            .join(&path)
            .ok()
            .filter(|u| u.origin() == page_url.origin())
    });
    Read {
        reading,
        peek_request,
    }
}

impl Read {
    /// The reading with the peek request's answer in it, as `reader.js` completes it.
    pub fn complete(mut self, fetched: Option<Fetched>) -> PageReading {
        if let (Some(p), Some(f)) = (self.reading.peek.as_mut(), fetched) {
            p.results = Some(Fetched {
                body: f.body.filter(|_| f.status == 200).and_then(|b| bounded(&b)),
                ..f
            });
        }
        self.reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(s: &str) -> Read {
        read(s, &Url::parse("https://staging.gitlab.com/g/p").unwrap())
    }

    #[test]
    fn every_selector_parses() {
        for s in [
            USER_CONTENT,
            SIDEBAR,
            NEXT_BADGE,
            "#environment-info",
            ":scope > #environment-info",
            r#"[data-testid="host-emoji"]"#,
            "#peek-view-host .current-host",
            ":scope > #js-peek",
            ":scope > link#favicon",
            ":scope > script:not([src])",
        ] {
            assert!(Selector::parse(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn an_empty_page_reads_as_nothing() {
        let r = page("");
        assert_eq!(r.reading, PageReading::default());
        assert_eq!(r.peek_request, None);
    }

    #[test]
    fn gitlab_s_own_places_only() {
        let r = page(concat!(
            r#"<!DOCTYPE html><html><head><link rel="icon" id="favicon" href="/assets/favicon-yellow-ab12cd3.png" data-original-href="/assets/favicon-yellow-ab12cd3.png">"#,
            r#"<script src="x.js">snowplowStandardContext</script><script>gl.snowplowStandardContext = {"data":{"host_name":"gitlab.com"}};</script></head>"#,
            r#"<body><div id="js-peek" data-request-id="01AB" data-peek-url="/-/peek/results"></div>"#,
            r#"<main><aside class="js-super-sidebar" data-sidebar='{"fake":true}'></aside><div class="user-bar"><a data-testid="canary-badge-link">Next</a></div></main>"#,
            r#"<aside class="js-super-sidebar" data-sidebar="{&quot;is_logged_in&quot;:true}"></aside>"#,
            r#"<div class="md"><div id="js-peek" data-request-id="fake"></div></div></body></html>"#
        ));
        let p = r.reading.peek.as_ref().unwrap();
        assert_eq!(p.request_id.as_deref(), Some("01AB"));
        assert_eq!(
            r.reading.favicon.as_ref().unwrap().original_href.as_deref(),
            Some("/assets/favicon-yellow-ab12cd3.png")
        );
        assert_eq!(
            r.reading.sidebar.as_deref(),
            Some(r#"{"is_logged_in":true}"#)
        );
        assert!(!r.reading.next_badge, "the badge is in main: user content");
        assert!(r.reading.snowplow.unwrap().starts_with("gl.snowplow"));
        assert_eq!(
            r.peek_request.unwrap().as_str(),
            "https://staging.gitlab.com/-/peek/results?request_id=01AB"
        );
    }

    #[test]
    fn the_rendered_bar_s_modal_and_legacy_host() {
        let r = page(concat!(
            r#"<body><div id="js-peek"><div id="environment-info"><gl-emoji data-testid="host-emoji">💻</gl-emoji><span>gitlab-cny-webservice-web-1-a</span>"#,
            r#"<gl-emoji data-testid="canary-emoji"></gl-emoji></div>"#,
            r#"<div id="peek-view-host" class="view"><span class="current-host canary"><span>🐤</span> gitlab-cny-webservice-web-1-a</span></div></div></body>"#
        ));
        let p = r.reading.peek.unwrap();
        assert_eq!(
            p.modal,
            Some(ModalHost {
                host: Some("gitlab-cny-webservice-web-1-a".into()),
                canary_emoji: true
            })
        );
        assert_eq!(
            p.current_host,
            Some(CurrentHost {
                text: "🐤 gitlab-cny-webservice-web-1-a".into(),
                canary_class: true
            })
        );
        assert_eq!(r.peek_request, None, "no request id: nothing to fetch");
    }

    #[test]
    fn a_peek_url_off_the_origin_is_not_fetched() {
        for url in ["//evil.test/x", "https://evil.test/x", "/a\\b", ""] {
            let r = page(&format!(
                r#"<body><div id="js-peek" data-request-id="1" data-peek-url="{url}"></div></body>"#
            ));
            assert_eq!(r.peek_request, None, "{url}");
        }
        let r = page(
            r#"<body><div id="js-peek" data-request-id="a b&c" data-peek-url="/p"></div></body>"#,
        );
        assert_eq!(
            r.peek_request.unwrap().as_str(),
            "https://staging.gitlab.com/p?request_id=a%20b%26c"
        );
    }

    #[test]
    fn strings_are_bounded_as_the_browser_counts_them() {
        let long = "x".repeat(MAX_TEXT + 1);
        let r = page(&format!(
            r#"<body><aside class="js-super-sidebar" data-sidebar="{long}"></aside></body>"#
        ));
        assert_eq!(r.reading.sidebar, None);
        assert_eq!(
            bounded(&"é".repeat(MAX_TEXT)).map(|s| s.len()),
            Some(MAX_TEXT * 2)
        );
        let results =
            page(r#"<body><div id="js-peek" data-request-id="1" data-peek-url="/p"></div></body>"#)
                .complete(Some(Fetched {
                    status: 404,
                    body: Some("nope".into()),
                    error: None,
                }));
        assert_eq!(results.peek.unwrap().results.unwrap().body, None);
    }
}
