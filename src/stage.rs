//! Which stage served a page: pod names and page signals → [`Stage`] plus the evidence.
//!
//! Signals, most trusted first (GITLAB-FACTS.md): the performance bar's host (pod name, class
//! `canary`, a chick), the peek results JSON (`host.hostname`, `host.canary`), then the super
//! sidebar's `gitlab_com_and_canary` / `gitlab_com_but_not_canary` and the Next badge. The most
//! trusted signal that knows decides; signals that say otherwise are listed, never averaged.
//! Pod names are classified by documented prefix and never guessed. Pure: no DOM, no clock.

use serde::{Deserialize, Serialize};

/// A GitLab stage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    Canary,
    Main,
    Unknown,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Canary => "canary",
            Stage::Main => "main",
            Stage::Unknown => "unknown",
        }
    }

    /// The value of the `stage` label in GitLab's logs and metrics (`cny` / `main`).
    pub fn label(self) -> Option<&'static str> {
        match self {
            Stage::Canary => Some("cny"),
            Stage::Main => Some("main"),
            Stage::Unknown => None,
        }
    }
}

/// Where a stage was read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Signal {
    /// `#js-peek #peek-view-host .current-host`: pod name, class `canary`, chick.
    PerfBar,
    /// `GET <data-peek-url>?request_id=…` → `host`.
    PeekJson,
    /// `aside.js-super-sidebar[data-sidebar]` flags.
    Sidebar,
    /// The top bar's Next badge (`data-testid="canary-badge-link"`).
    NextBadge,
}

impl Signal {
    /// How the signal is named in sentences and tooltips.
    pub fn name(self) -> &'static str {
        match self {
            Signal::PerfBar => "performance bar",
            Signal::PeekJson => "peek results",
            Signal::Sidebar => "sidebar",
            Signal::NextBadge => "Next badge",
        }
    }
}

/// A pod (or host) name, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pod {
    pub name: String,
    pub stage: Stage,
    /// `web`, `api`, `git`, `websockets`… when the name shows it.
    pub service: Option<String>,
}

/// The main stage's Kubernetes deployments are `gitlab-webservice-<service>`; canary's are
/// `gitlab-cny-webservice-<service>`. Older VM hosts read `<service>-cny-NN-…` on canary.
const MAIN_PREFIX: &str = "gitlab-webservice-";
const CANARY_PREFIX: &str = "gitlab-cny-";
const SERVICES: &[&str] = &["web", "api", "git", "websockets"];

/// Strips what the performance bar puts around the pod name: whitespace and the chick.
pub fn pod_name_from_text(text: &str) -> &str {
    text.trim()
        .trim_start_matches('\u{1F424}')
        .trim_start_matches(['\u{FE0F}', ' ', '\u{A0}'])
        .trim()
}

/// Classifies a pod or host name. Canary: the documented `gitlab-cny-` prefix, or a `cny`
/// component. Main: GitLab's main deployment names. Anything else: unknown.
pub fn classify_pod(name: &str) -> Pod {
    let name = pod_name_from_text(name);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    let unknown = || Pod {
        name: name.to_string(),
        stage: Stage::Unknown,
        service: None,
    };
    if !valid {
        return unknown();
    }
    let service_after = |rest: &str| {
        let word = rest.split('-').next().unwrap_or_default();
        SERVICES.contains(&word).then(|| word.to_string())
    };
    if let Some(rest) = name.strip_prefix(CANARY_PREFIX) {
        return Pod {
            name: name.to_string(),
            stage: Stage::Canary,
            service: rest.strip_prefix("webservice-").and_then(service_after),
        };
    }
    if let Some(rest) = name.strip_prefix(MAIN_PREFIX) {
        // `gitlab-webservice-` followed by a known service; anything else is not documented.
        return match service_after(rest) {
            Some(service) => Pod {
                name: name.to_string(),
                stage: Stage::Main,
                service: Some(service),
            },
            None => unknown(),
        };
    }
    let first_label = name.split('.').next().unwrap_or_default();
    let mut parts = first_label.split('-');
    if parts.any(|p| p == "cny") {
        let first = first_label.split('-').next().unwrap_or_default();
        return Pod {
            name: name.to_string(),
            stage: Stage::Canary,
            service: SERVICES.contains(&first).then(|| first.to_string()),
        };
    }
    unknown()
}

/// The performance bar's host element, as read from the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfBarHost {
    /// Its text: `🐤 gitlab-cny-webservice-web-…` or `gitlab-webservice-web-…`.
    pub text: String,
    /// It carries class `canary`.
    pub canary_class: bool,
}

/// The peek results JSON's `host` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeekHost {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub canary: Option<bool>,
}

/// The peek results JSON (only `host` is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeekResults {
    #[serde(default)]
    pub host: Option<PeekHost>,
}

/// The super sidebar's `data-sidebar` JSON (only the stage flags are read). On gitlab.com the
/// flag that does not apply is `null`, not `false`: anything but `true` means "not this one".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SidebarFlags {
    pub gitlab_com_and_canary: Option<serde_bool::Loose>,
    pub gitlab_com_but_not_canary: Option<serde_bool::Loose>,
    pub is_logged_in: Option<serde_bool::Loose>,
}

/// A lenient boolean for page JSON: `true` is true, every other value (null, strings, numbers)
/// is not — a page cannot make deserialisation fail by putting `"yes"` in a flag.
pub mod serde_bool {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    #[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
    pub struct Loose(pub bool);

    impl<'de> Deserialize<'de> for Loose {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            // A bool is read as such; any other value is consumed and read as "not true".
            struct V;
            impl<'de> serde::de::Visitor<'de> for V {
                type Value = Loose;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("any JSON value")
                }
                fn visit_bool<E>(self, b: bool) -> Result<Loose, E> {
                    Ok(Loose(b))
                }
                fn visit_i64<E>(self, _: i64) -> Result<Loose, E> {
                    Ok(Loose(false))
                }
                fn visit_u64<E>(self, _: u64) -> Result<Loose, E> {
                    Ok(Loose(false))
                }
                fn visit_f64<E>(self, _: f64) -> Result<Loose, E> {
                    Ok(Loose(false))
                }
                fn visit_str<E>(self, _: &str) -> Result<Loose, E> {
                    Ok(Loose(false))
                }
                fn visit_unit<E>(self) -> Result<Loose, E> {
                    Ok(Loose(false))
                }
                fn visit_none<E>(self) -> Result<Loose, E> {
                    Ok(Loose(false))
                }
                fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
                    d.deserialize_any(V)
                }
                fn visit_seq<A: serde::de::SeqAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<Loose, A::Error> {
                    while a.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                    Ok(Loose(false))
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(
                    self,
                    mut a: A,
                ) -> Result<Loose, A::Error> {
                    while a
                        .next_entry::<serde::de::IgnoredAny, serde::de::IgnoredAny>()?
                        .is_some()
                    {}
                    Ok(Loose(false))
                }
            }
            d.deserialize_any(V)
        }
    }

    impl Serialize for Loose {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bool(self.0)
        }
    }
}

impl SidebarFlags {
    fn flag(v: Option<serde_bool::Loose>) -> bool {
        v.is_some_and(|b| b.0)
    }

    /// The stage the sidebar claims.
    pub fn stage(&self) -> Stage {
        match (
            Self::flag(self.gitlab_com_and_canary),
            Self::flag(self.gitlab_com_but_not_canary),
        ) {
            (true, false) => Stage::Canary,
            (false, true) => Stage::Main,
            // Both or neither: the sidebar does not know (self-managed, or a broken page).
            _ => Stage::Unknown,
        }
    }

    pub fn signed_in(&self) -> Option<bool> {
        self.is_logged_in.map(|b| b.0)
    }
}

/// Whether the performance bar is on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerfBar {
    /// No `#js-peek`: the bar is off (`p b` turns it on) or the user may not see it.
    Off,
    /// `#js-peek` is there but its host did not render before the deadline.
    NotRendered,
    /// The host element rendered.
    Rendered,
}

/// Everything the content script read from one page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageSignals {
    pub perf_bar: PerfBar,
    pub perf_host: Option<PerfBarHost>,
    pub peek: Option<PeekHost>,
    pub sidebar: Option<SidebarFlags>,
    pub next_badge: bool,
    /// `#js-peek[data-request-id]`.
    pub request_id: Option<String>,
}

/// One signal's reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reading {
    pub signal: Signal,
    pub stage: Stage,
}

/// The result for one page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Detection {
    pub stage: Stage,
    /// The signal that decided; `None` when none knew.
    pub signal: Option<Signal>,
    pub pod: Option<String>,
    pub service: Option<String>,
    pub request_id: Option<String>,
    pub perf_bar: PerfBar,
    /// Signals that said another known stage than the deciding one.
    pub disagreements: Vec<Reading>,
    /// What the sidebar says about the session, if it is there.
    pub signed_in: Option<bool>,
    /// When it was read (ms since the epoch, from the caller).
    pub at_ms: f64,
}

/// A request id as GitLab issues them: short, `[A-Za-z0-9_-]`. Anything else is dropped.
fn clean_request_id(id: &str) -> Option<String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| id.to_string())
}

/// Combines a page's signals into one detection.
pub fn detect(s: &PageSignals, at_ms: f64) -> Detection {
    let mut readings: Vec<Reading> = Vec::new();
    let mut pod: Option<Pod> = None;
    if let Some(h) = &s.perf_host {
        let p = classify_pod(&h.text);
        let chick = h.text.trim_start().starts_with('\u{1F424}');
        // The name decides; class and chick are GitLab's own canary marker for the same element.
        let marker = if h.canary_class || chick {
            Stage::Canary
        } else {
            Stage::Main
        };
        let stage = match p.stage {
            Stage::Unknown => Stage::Unknown,
            named if named == marker => named,
            // Name and marker disagree inside one element: do not pick one.
            _ => Stage::Unknown,
        };
        readings.push(Reading {
            signal: Signal::PerfBar,
            stage,
        });
        pod = Some(p);
    }
    if let Some(peek) = &s.peek {
        let by_name = peek.hostname.as_deref().map(classify_pod);
        let by_flag = match peek.canary {
            Some(true) => Stage::Canary,
            Some(false) => Stage::Main,
            None => Stage::Unknown,
        };
        let stage = match by_name.as_ref().map(|p| p.stage) {
            Some(Stage::Unknown) | None => by_flag,
            Some(named) if by_flag == Stage::Unknown || by_flag == named => named,
            Some(_) => Stage::Unknown,
        };
        readings.push(Reading {
            signal: Signal::PeekJson,
            stage,
        });
        if pod.as_ref().is_none_or(|p| p.stage == Stage::Unknown) {
            if let Some(p) = by_name {
                pod = Some(p);
            }
        }
    }
    if let Some(sb) = &s.sidebar {
        readings.push(Reading {
            signal: Signal::Sidebar,
            stage: sb.stage(),
        });
    }
    if s.next_badge {
        readings.push(Reading {
            signal: Signal::NextBadge,
            stage: Stage::Canary,
        });
    }
    let decided = readings.iter().find(|r| r.stage != Stage::Unknown).cloned();
    let (stage, signal) = match &decided {
        Some(r) => (r.stage, Some(r.signal)),
        None => (Stage::Unknown, None),
    };
    let disagreements = readings
        .iter()
        .filter(|r| r.stage != Stage::Unknown && r.stage != stage)
        .cloned()
        .collect();
    let (pod_name, service) = match pod {
        Some(p) if p.stage != Stage::Unknown || !p.name.is_empty() => (Some(p.name), p.service),
        _ => (None, None),
    };
    Detection {
        stage,
        signal,
        pod: pod_name.filter(|n| !n.is_empty()),
        service,
        request_id: s.request_id.as_deref().and_then(clean_request_id),
        perf_bar: s.perf_bar,
        disagreements,
        signed_in: s.sidebar.as_ref().and_then(SidebarFlags::signed_in),
        at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> PageSignals {
        PageSignals {
            perf_bar: PerfBar::Off,
            perf_host: None,
            peek: None,
            sidebar: None,
            next_badge: false,
            request_id: None,
        }
    }

    #[test]
    fn pod_corpus() {
        let cases: &[(&str, Stage, Option<&str>)] = &[
            (
                "gitlab-cny-webservice-web-7b9c5d8f4-x2k9q",
                Stage::Canary,
                Some("web"),
            ),
            (
                "gitlab-cny-webservice-api-5f6d7c8b9-abcde",
                Stage::Canary,
                Some("api"),
            ),
            (
                "gitlab-cny-webservice-git-6c7d8e9f0-zz9zz",
                Stage::Canary,
                Some("git"),
            ),
            (
                "gitlab-cny-webservice-websockets-1-a",
                Stage::Canary,
                Some("websockets"),
            ),
            ("gitlab-cny-registry-1234-abc", Stage::Canary, None),
            (
                "🐤 gitlab-cny-webservice-web-7b9c5d8f4-x2k9q",
                Stage::Canary,
                Some("web"),
            ),
            (
                "  🐤\u{a0}gitlab-cny-webservice-web-1-2  ",
                Stage::Canary,
                Some("web"),
            ),
            (
                "gitlab-webservice-web-7b9c5d8f4-x2k9q",
                Stage::Main,
                Some("web"),
            ),
            (
                "gitlab-webservice-api-5f6d7c8b9-abcde",
                Stage::Main,
                Some("api"),
            ),
            (
                "gitlab-webservice-git-5f6d7c8b9-abcde",
                Stage::Main,
                Some("git"),
            ),
            (
                "gitlab-webservice-websockets-5f-ab",
                Stage::Main,
                Some("websockets"),
            ),
            ("web-cny-01-sv-gprd", Stage::Canary, Some("web")),
            (
                "api-cny-02-sv-gstg.c.gitlab-staging-1.internal",
                Stage::Canary,
                Some("api"),
            ),
            // Not documented main names: unknown, never guessed.
            ("web-01-sv-gprd", Stage::Unknown, None),
            ("gitlab-webservice-", Stage::Unknown, None),
            ("gitlab-webservice-sidekiq-1", Stage::Unknown, None),
            ("gitlab-sidekiq-all-1", Stage::Unknown, None),
            ("localhost", Stage::Unknown, None),
            ("my-laptop", Stage::Unknown, None),
            ("cnyweb-01", Stage::Unknown, None),
            ("web-cnyx-01", Stage::Unknown, None),
            ("GITLAB-CNY-WEBSERVICE-WEB-1", Stage::Unknown, None),
            ("gitlab-cny-<script>", Stage::Unknown, None),
            ("", Stage::Unknown, None),
            ("🐤", Stage::Unknown, None),
        ];
        for (name, stage, service) in cases {
            let p = classify_pod(name);
            assert_eq!(p.stage, *stage, "{name}");
            assert_eq!(p.service.as_deref(), *service, "{name}");
        }
        assert_eq!(
            classify_pod("🐤 gitlab-cny-webservice-web-1-2").name,
            "gitlab-cny-webservice-web-1-2"
        );
    }

    #[test]
    fn perf_bar_decides_with_its_pod() {
        let mut s = signals();
        s.perf_bar = PerfBar::Rendered;
        s.perf_host = Some(PerfBarHost {
            text: "🐤 gitlab-cny-webservice-web-7b9c5d8f4-x2k9q".into(),
            canary_class: true,
        });
        s.request_id = Some("01JD3K8X2V5Q7R9T0W4Y6Z8A1B".into());
        let d = detect(&s, 5.0);
        assert_eq!(d.stage, Stage::Canary);
        assert_eq!(d.signal, Some(Signal::PerfBar));
        assert_eq!(
            d.pod.as_deref(),
            Some("gitlab-cny-webservice-web-7b9c5d8f4-x2k9q")
        );
        assert_eq!(d.service.as_deref(), Some("web"));
        assert_eq!(d.request_id.as_deref(), Some("01JD3K8X2V5Q7R9T0W4Y6Z8A1B"));
        assert_eq!(d.at_ms, 5.0);
        assert!(d.disagreements.is_empty());
    }

    #[test]
    fn a_pod_name_against_its_own_marker_is_unknown_not_picked() {
        let mut s = signals();
        s.perf_host = Some(PerfBarHost {
            text: "gitlab-webservice-web-1-2".into(),
            canary_class: true,
        });
        assert_eq!(detect(&s, 0.0).stage, Stage::Unknown);
    }

    #[test]
    fn disagreeing_signals_are_reported_not_averaged() {
        let mut s = signals();
        s.perf_host = Some(PerfBarHost {
            text: "gitlab-webservice-web-1-2".into(),
            canary_class: false,
        });
        s.sidebar = Some(SidebarFlags {
            gitlab_com_and_canary: Some(serde_bool::Loose(true)),
            ..SidebarFlags::default()
        });
        s.next_badge = true;
        let d = detect(&s, 0.0);
        assert_eq!(d.stage, Stage::Main);
        assert_eq!(
            d.disagreements,
            vec![
                Reading {
                    signal: Signal::Sidebar,
                    stage: Stage::Canary
                },
                Reading {
                    signal: Signal::NextBadge,
                    stage: Stage::Canary
                }
            ]
        );
    }

    #[test]
    fn peek_json_is_the_fallback_when_the_bar_does_not_render() {
        let mut s = signals();
        s.perf_bar = PerfBar::NotRendered;
        s.peek = Some(PeekHost {
            hostname: Some("gitlab-webservice-web-1-2".into()),
            canary: Some(false),
        });
        let d = detect(&s, 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Main, Some(Signal::PeekJson)));
        assert_eq!(d.pod.as_deref(), Some("gitlab-webservice-web-1-2"));
        // The flag alone decides when the name is not a documented one.
        s.peek = Some(PeekHost {
            hostname: Some("box".into()),
            canary: Some(true),
        });
        assert_eq!(detect(&s, 0.0).stage, Stage::Canary);
        // Flag and name in conflict: unknown.
        s.peek = Some(PeekHost {
            hostname: Some("gitlab-webservice-web-1-2".into()),
            canary: Some(true),
        });
        assert_eq!(detect(&s, 0.0).stage, Stage::Unknown);
    }

    #[test]
    fn sidebar_reads_null_as_not_set() {
        let real: SidebarFlags = serde_json::from_str(
            r#"{"gitlab_com_but_not_canary":true,"gitlab_com_and_canary":null,"is_logged_in":true,"other":[1,{"a":2}]}"#,
        )
        .unwrap();
        assert_eq!(real.stage(), Stage::Main);
        assert_eq!(real.signed_in(), Some(true));
        let canary: SidebarFlags = serde_json::from_str(
            r#"{"gitlab_com_and_canary":true,"gitlab_com_but_not_canary":null}"#,
        )
        .unwrap();
        assert_eq!(canary.stage(), Stage::Canary);
        for junk in [
            r#"{"gitlab_com_and_canary":"true"}"#,
            r#"{"gitlab_com_and_canary":1}"#,
            r#"{"gitlab_com_and_canary":{"x":true}}"#,
            r#"{"gitlab_com_and_canary":[true]}"#,
            r#"{"gitlab_com_and_canary":true,"gitlab_com_but_not_canary":true}"#,
            r#"{}"#,
        ] {
            let f: SidebarFlags = serde_json::from_str(junk).unwrap();
            assert_eq!(f.stage(), Stage::Unknown, "{junk}");
        }
        let mut s = signals();
        s.sidebar = Some(canary);
        let d = detect(&s, 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Canary, Some(Signal::Sidebar)));
    }

    #[test]
    fn nothing_known_is_unknown() {
        let d = detect(&signals(), 0.0);
        assert_eq!(d.stage, Stage::Unknown);
        assert_eq!(d.signal, None);
        assert_eq!(d.pod, None);
    }

    #[test]
    fn request_ids_are_sanitised() {
        let mut s = signals();
        s.request_id = Some("<img src=x>".into());
        assert_eq!(detect(&s, 0.0).request_id, None);
        s.request_id = Some("a".repeat(65));
        assert_eq!(detect(&s, 0.0).request_id, None);
    }
}
