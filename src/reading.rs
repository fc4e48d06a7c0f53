//! What the page reader (`extension/reader.js`) returns: the one definition of its shape.
//!
//! The reader runs in a GitLab page, injected by the background with `scripting.executeScript`
//! once the document is parsed. It judges nothing: it copies raw strings from GitLab's own
//! elements at their known places, fetches the peek results from the page's own origin when the
//! server's performance-bar mount still names its request, and completes with a plain object of
//! this shape. The background deserialises it ([`PageReading`], unknown fields refused), parses
//! the page's JSON with the browser's own `JSON.parse` ([`Json`]) and hands the result to
//! [`crate::stage::detect`]. Pure: no DOM, no clock.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::stage::{
    favicon_stage, snowplow_context_json, PageSignals, PeekResults, PerfBar, PerfBarHost,
    SidebarFlags, SnowplowContext,
};

/// The longest string the reader copies from a page (UTF-16 units): a page cannot make the
/// background parse megabytes. GitLab's `data-sidebar` is a few KiB.
pub const MAX_TEXT: usize = 256 * 1024;

/// Everything the reader copied from one page. Every field is always there (`null` when the
/// page had nothing at that place), so the shape is exact: see `www`'s reading check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PageReading {
    /// `body > #js-peek`, the performance bar: as the server rendered it or as Vue replaced it.
    pub peek: Option<PeekMount>,
    /// `head > link#favicon`.
    pub favicon: Option<FaviconLink>,
    /// `aside.js-super-sidebar[data-sidebar]` outside user content: the attribute, raw.
    pub sidebar: Option<String>,
    /// The Next badge (`[data-testid=canary-badge-link]`) outside user content (GitLab ≤ 17).
    pub next_badge: bool,
    /// The text of the inline `<head>` script that sets `gl.snowplowStandardContext`.
    pub snowplow: Option<String>,
    /// Which document was read. The reader runs as soon as a new document commits, and in
    /// Firefox also into the document being navigated away from: the background accepts a
    /// reading only for the document the tab shows now. Absent in readings made elsewhere
    /// (the native reader).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<DocumentRef>,
}

/// One document: `performance.timeOrigin` (new for every document, kept by a back/forward
/// cache restore) and `location.href` (changed by same-document navigations).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentRef {
    pub time_origin: f64,
    pub url: String,
}

impl DocumentRef {
    /// Whether a reading of this document says nothing new after `accepted` was read: the
    /// very same document at the very same URL (Firefox's injection at navigation start lands
    /// in the old document).
    pub fn is_stale(&self, accepted: Option<&DocumentRef>) -> bool {
        accepted.is_some_and(|a| a == self)
    }
}

/// The performance bar's element and what it holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PeekMount {
    /// `data-request-id`: only the server's mount element has it (Vue's replacement does not).
    pub request_id: Option<String>,
    /// `data-peek-url`.
    pub peek_url: Option<String>,
    /// `GET <peekUrl>?request_id=<requestId>` from the page's origin, when both were there.
    pub results: Option<Fetched>,
    /// GitLab 18: the info modal `#environment-info`, when it is in the DOM.
    pub modal: Option<ModalHost>,
    /// GitLab ≤ 17: `#peek-view-host .current-host`.
    pub current_host: Option<CurrentHost>,
}

/// A request the reader made from the page: the status (0 when no answer came) and the body
/// text of a 200, or why no answer came.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fetched {
    pub status: u16,
    pub body: Option<String>,
    pub error: Option<String>,
}

/// GitLab 18's info modal: the text beside `gl-emoji[data-testid=host-emoji]`, and whether
/// `gl-emoji[data-testid=canary-emoji]` ("Request made from Canary") is there.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ModalHost {
    pub host: Option<String>,
    pub canary_emoji: bool,
}

/// GitLab ≤ 17's `span.current-host`: its text (a chick, then the pod) and class `canary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CurrentHost {
    pub text: String,
    pub canary_class: bool,
}

/// `link#favicon`'s `href` and `data-original-href` (pipeline pages swap `href` at run time).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaviconLink {
    pub href: Option<String>,
    pub original_href: Option<String>,
}

impl FaviconLink {
    /// The server's choice: `data-original-href` before `href`.
    pub fn server_href(&self) -> Option<&str> {
        self.original_href
            .as_deref()
            .filter(|h| !h.is_empty())
            .or(self.href.as_deref())
    }
}

/// A JSON parser for the page's JSON strings: the browser's `JSON.parse` in the extension,
/// `serde_json` in native tests. `None` for anything that does not parse into `T`.
pub trait Json {
    fn parse<T: DeserializeOwned>(&self, text: &str) -> Option<T>;
}

fn bounded(s: &Option<String>) -> Option<&str> {
    s.as_deref().filter(|s| s.len() <= MAX_TEXT * 3)
}

impl PageReading {
    /// The peek results this reading still needs: the mount's `data-peek-url` (a path of the
    /// page's own origin, never another host) and `data-request-id`, when not fetched yet.
    pub fn peek_request(&self) -> Option<(&str, &str)> {
        let p = self.peek.as_ref().filter(|p| p.results.is_none())?;
        let url = p.peek_url.as_deref()?;
        let id = p.request_id.as_deref()?;
        let own_path = url.starts_with('/') && !url.starts_with("//") && !url.contains('\\');
        own_path.then_some((url, id))
    }

    /// The page's signals: each raw string parsed on its own, so a malformed one costs only
    /// that signal. `gitlab_com`: the page is on a GitLab.com environment, where GitLab's plain
    /// favicon means the main stage.
    pub fn signals(&self, json: &impl Json, gitlab_com: bool) -> PageSignals {
        let peek = self.peek.as_ref();
        let perf_host = peek.and_then(|p| {
            p.modal
                .as_ref()
                .and_then(|m| {
                    Some(PerfBarHost {
                        text: m.host.clone().filter(|h| !h.trim().is_empty())?,
                        canary_class: m.canary_emoji,
                        modal: true,
                    })
                })
                .or_else(|| {
                    p.current_host
                        .as_ref()
                        .filter(|h| !h.text.trim().is_empty())
                        .map(|h| PerfBarHost {
                            text: h.text.clone(),
                            canary_class: h.canary_class,
                            modal: false,
                        })
                })
        });
        let peek_host = peek
            .and_then(|p| p.results.as_ref())
            .filter(|r| r.status == 200)
            .and_then(|r| bounded(&r.body))
            .and_then(|body| json.parse::<PeekResults>(body))
            .and_then(PeekResults::host);
        let perf_bar = match (peek, &perf_host, &peek_host) {
            (None, _, _) => PerfBar::Off,
            (Some(_), None, None) => PerfBar::NotRendered,
            _ => PerfBar::Rendered,
        };
        let snowplow_host = bounded(&self.snowplow)
            .and_then(snowplow_context_json)
            .and_then(|j| json.parse::<SnowplowContext>(j))
            .and_then(SnowplowContext::host_name);
        PageSignals {
            perf_bar,
            perf_host,
            peek: peek_host,
            favicon: self
                .favicon
                .as_ref()
                .and_then(FaviconLink::server_href)
                .and_then(|h| favicon_stage(h, gitlab_com)),
            sidebar: bounded(&self.sidebar).and_then(|s| json.parse::<SidebarFlags>(s)),
            next_badge: self.next_badge,
            snowplow_host,
            request_id: peek.and_then(|p| p.request_id.clone()),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::stage::{detect, Signal, Stage};

    pub struct SerdeJson;
    impl Json for SerdeJson {
        fn parse<T: DeserializeOwned>(&self, text: &str) -> Option<T> {
            serde_json::from_str(text).ok()
        }
    }

    const CNY: &str = "gitlab-cny-webservice-web-7b9c5d8f4-x2k9q";

    fn peek_body(host: &str, canary: &str) -> String {
        format!(
            r#"{{"context":{{}},"data":{{"host":{{"hostname":"{host}","canary":{canary}}},"active-record":{{}}}},"has_warnings":false}}"#
        )
    }

    #[test]
    fn the_shape_is_exact() {
        let r: PageReading = serde_json::from_str(
            r#"{"peek":null,"favicon":null,"sidebar":null,"nextBadge":false,"snowplow":null}"#,
        )
        .unwrap();
        assert_eq!(r, PageReading::default());
        assert!(serde_json::from_str::<PageReading>(
            r#"{"peek":null,"favicon":null,"sidebar":null,"nextBadge":false,"snowplow":null,"x":1}"#
        )
        .is_err());
        assert!(serde_json::from_str::<PageReading>(r#"{"nextBadge":"yes"}"#).is_err());
    }

    #[test]
    fn today_s_markup_from_peek_results_and_favicon() {
        let r = PageReading {
            peek: Some(PeekMount {
                request_id: Some("01JD3K8X2V5Q7R9T0W4Y6Z8A1B".into()),
                peek_url: Some("/-/peek/results".into()),
                results: Some(Fetched {
                    status: 200,
                    body: Some(peek_body(CNY, "true")),
                    error: None,
                }),
                modal: None,
                current_host: None,
            }),
            favicon: Some(FaviconLink {
                href: Some("/assets/ci_favicons/favicon_status_running-ab12.png".into()),
                original_href: Some("/assets/favicon-yellow-0123456789abcdef0123456789abcdef.png".into()),
            }),
            sidebar: Some(r#"{"is_logged_in":false}"#.into()),
            next_badge: false,
            snowplow: Some(r#"gl = window.gl || {}; gl.snowplowStandardContext = {"schema":"x","data":{"host_name":"gitlab.com"}};"#.into()),
            document: None,
        };
        let d = detect(&r.signals(&SerdeJson, true), 1.0);
        assert_eq!((d.stage, d.signal), (Stage::Canary, Some(Signal::PeekJson)));
        assert_eq!(d.pod.as_deref(), Some(CNY));
        assert!(d.disagreements.is_empty());
        let seen: Vec<Signal> = d.signals.iter().map(|s| s.signal).collect();
        assert_eq!(
            seen,
            vec![Signal::PeekJson, Signal::Favicon, Signal::Sidebar]
        );
    }

    #[test]
    fn main_s_null_canary_flag_is_main() {
        let r = PageReading {
            peek: Some(PeekMount {
                results: Some(Fetched {
                    status: 200,
                    body: Some(peek_body("gitlab-webservice-web-1-a", "null")),
                    error: None,
                }),
                ..PeekMount::default()
            }),
            ..PageReading::default()
        };
        let d = detect(&r.signals(&SerdeJson, true), 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Main, Some(Signal::PeekJson)));
    }

    #[test]
    fn the_modal_and_the_legacy_host_are_the_rendered_bar() {
        let modal = PageReading {
            peek: Some(PeekMount {
                modal: Some(ModalHost {
                    host: Some(format!("  {CNY} ")),
                    canary_emoji: true,
                }),
                ..PeekMount::default()
            }),
            ..PageReading::default()
        };
        let d = detect(&modal.signals(&SerdeJson, true), 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Canary, Some(Signal::PerfBar)));
        assert_eq!(d.pod.as_deref(), Some(CNY));
        let legacy = PageReading {
            peek: Some(PeekMount {
                current_host: Some(CurrentHost {
                    text: "gitlab-webservice-web-1-a".into(),
                    canary_class: false,
                }),
                ..PeekMount::default()
            }),
            ..PageReading::default()
        };
        let d = detect(&legacy.signals(&SerdeJson, true), 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Main, Some(Signal::PerfBar)));
        // A mount with nothing in it yet: the bar is on, its host unknown.
        let empty = PageReading {
            peek: Some(PeekMount::default()),
            ..PageReading::default()
        };
        let s = empty.signals(&SerdeJson, true);
        assert_eq!(s.perf_bar, PerfBar::NotRendered);
        assert_eq!(detect(&s, 0.0).stage, Stage::Unknown);
    }

    #[test]
    fn malformed_json_costs_only_its_signal() {
        let r = PageReading {
            peek: Some(PeekMount {
                results: Some(Fetched {
                    status: 200,
                    body: Some("{not json".into()),
                    error: None,
                }),
                ..PeekMount::default()
            }),
            favicon: Some(FaviconLink {
                href: Some("/assets/favicon-0123456789abcdef0123456789abcdef.png".into()),
                original_href: None,
            }),
            sidebar: Some("[1,2".into()),
            next_badge: false,
            snowplow: Some("gl.snowplowStandardContext = {\"data\":".into()),
            document: None,
        };
        let d = detect(&r.signals(&SerdeJson, true), 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Main, Some(Signal::Favicon)));
        assert_eq!(d.perf_bar, PerfBar::NotRendered);
        // Off GitLab.com the plain favicon says nothing.
        let d = detect(&r.signals(&SerdeJson, false), 0.0);
        assert_eq!(d.stage, Stage::Unknown);
    }

    #[test]
    fn a_failed_or_refused_peek_request_is_no_signal() {
        for results in [
            Fetched {
                status: 404,
                body: Some(peek_body(CNY, "true")),
                error: None,
            },
            Fetched {
                status: 0,
                body: None,
                error: Some("TypeError: Failed to fetch".into()),
            },
        ] {
            let r = PageReading {
                peek: Some(PeekMount {
                    results: Some(results),
                    ..PeekMount::default()
                }),
                ..PageReading::default()
            };
            assert_eq!(
                detect(&r.signals(&SerdeJson, true), 0.0).stage,
                Stage::Unknown
            );
        }
    }

    #[test]
    fn a_reading_of_the_document_already_read_is_stale() {
        let a = DocumentRef {
            time_origin: 1_796_428_392_963.5,
            url: "https://gitlab.com/a".into(),
        };
        assert!(!a.is_stale(None));
        assert!(a.is_stale(Some(&a.clone())));
        // A new document (a reload, a new page, a bfcache restore of an earlier one).
        let reloaded = DocumentRef {
            time_origin: 1_796_428_399_000.0,
            ..a.clone()
        };
        assert!(!reloaded.is_stale(Some(&a)));
        // The same document at another URL: a same-document navigation.
        let pushed = DocumentRef {
            url: "https://gitlab.com/a#b".into(),
            ..a.clone()
        };
        assert!(!pushed.is_stale(Some(&a)));
        // With no document, the shape is the one without it.
        let r = PageReading::default();
        let text = serde_json::to_string(&r).unwrap_or_default();
        assert!(!text.contains("document"), "{text}");
    }
}
