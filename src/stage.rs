//! Which stage served a page: pod names and page signals → [`Stage`] plus the evidence.
//!
//! Signals, most trusted first (GITLAB-FACTS.md, "Which stage served a page"): the peek results
//! (`data.host.hostname`, `data.host.canary`), the rendered performance bar (GitLab 18's info
//! modal, GitLab ≤ 17's `.current-host`), the favicon (`favicon-yellow` on canary), the super
//! sidebar's `gitlab_com_and_canary` / `gitlab_com_but_not_canary` (signed-in pages), the Next
//! badge (GitLab ≤ 17), and the snowplow context's `host_name` when it is a pod name. The most
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
    /// The rendered bar: GitLab 18's `#environment-info` modal (pod, canary emoji) or GitLab
    /// ≤ 17's `#peek-view-host .current-host` (pod, class `canary`, chick).
    PerfBar,
    /// `GET <data-peek-url>?request_id=…` → `data.host`.
    PeekJson,
    /// `link#favicon`'s server-chosen icon.
    Favicon,
    /// `aside.js-super-sidebar[data-sidebar]` flags.
    Sidebar,
    /// The top bar's Next badge (`data-testid="canary-badge-link"`).
    NextBadge,
    /// `gl.snowplowStandardContext.data.host_name`, when it is a pod name.
    Snowplow,
}

impl Signal {
    /// The `messages.json` key of its name in the popup.
    pub fn message_key(self) -> &'static str {
        match self {
            Signal::PerfBar => "signalPerfBar",
            Signal::PeekJson => "signalPeekJson",
            Signal::Favicon => "signalFavicon",
            Signal::Sidebar => "signalSidebar",
            Signal::NextBadge => "signalNextBadge",
            Signal::Snowplow => "signalSnowplow",
        }
    }

    /// How the signal is named in sentences and tooltips.
    pub fn name(self) -> &'static str {
        match self {
            Signal::PerfBar => "performance bar",
            Signal::PeekJson => "peek results",
            Signal::Favicon => "favicon",
            Signal::Sidebar => "sidebar",
            Signal::NextBadge => "Next badge",
            Signal::Snowplow => "snowplow context",
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

/// The performance bar's host, as rendered: GitLab 18's info modal or GitLab ≤ 17's
/// `span.current-host`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PerfBarHost {
    /// Its text: the pod (≤ 17: after a chick on canary).
    pub text: String,
    /// GitLab's own canary marker on the same element: class `canary` (≤ 17) or the canary
    /// emoji, "Request made from Canary" (18).
    pub canary_class: bool,
    /// Read from GitLab 18's info modal (else from ≤ 17's bar).
    #[serde(default)]
    pub modal: bool,
}

/// The peek results' `data.host` (`lib/peek/views/host.rb`): the pod, and `canary` — `true` on
/// canary, `null` on main (`Gitlab::Utils.to_boolean(ENV['CANARY'])`): anything but `true` is
/// "not canary".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeekHost {
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub canary: Option<serde_bool::Loose>,
}

/// The peek results JSON: `{"context":{},"data":{"host":{…},…},"has_warnings":false}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PeekResults {
    #[serde(default)]
    pub data: Option<PeekData>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct PeekData {
    #[serde(default)]
    pub host: Option<PeekHost>,
}

impl PeekResults {
    pub fn host(self) -> Option<PeekHost> {
        self.data?.host
    }
}

/// The snowplow standard context (`gl.snowplowStandardContext`): only `data.host_name` is read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SnowplowContext {
    #[serde(default)]
    pub data: Option<SnowplowData>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SnowplowData {
    #[serde(default)]
    pub host_name: Option<String>,
}

impl SnowplowContext {
    /// `host_name`, only when it is a pod name by the documented prefixes: newer GitLab sets it
    /// to the configured host (`gitlab.com`), 17.7 set it to the pod.
    pub fn host_name(self) -> Option<String> {
        let name = self.data?.host_name?;
        (classify_pod(&name).stage != Stage::Unknown).then_some(name)
    }
}

/// The JSON object assigned to `gl.snowplowStandardContext` in an inline script's text, as a
/// slice of it; `None` when there is no such assignment or the object does not close.
pub fn snowplow_context_json(script: &str) -> Option<&str> {
    const NAME: &str = "snowplowStandardContext";
    let mut from = 0;
    while let Some(at) = script.get(from..)?.find(NAME) {
        let after = from + at + NAME.len();
        let rest = script.get(after..)?.trim_start();
        if let Some(value) = rest.strip_prefix('=').map(str::trim_start) {
            if value.starts_with('{') {
                return json_object_prefix(value);
            }
        }
        from = after;
    }
    None
}

/// The balanced `{…}` at the start of `s` (strings and their escapes skipped; brackets are
/// left to the JSON parser).
fn json_object_prefix(s: &str) -> Option<&str> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, b) in s.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' => depth += 1,
            b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return s.get(..=i);
                }
            }
            _ => {}
        }
    }
    None
}

/// What GitLab's favicon says (`Gitlab::Favicon.main`, `lib/gitlab/favicon.rb`): the asset
/// pipeline's `favicon-yellow[-<digest>].png|ico` is canary's; its plain `favicon[-<digest>]`
/// is main's, on GitLab.com environments only (elsewhere it is every stage's). Anything else —
/// CI status icons, a custom appearance favicon, development's colours — says nothing.
pub fn favicon_stage(href: &str, gitlab_com: bool) -> Option<Stage> {
    let href = href.trim();
    // A path on this origin, or an absolute https URL (an asset host); never `//x`.
    let path = if let Some(rest) = href.strip_prefix("https://") {
        // The authority ends at the first `/`, `?`, `#` or `\\`; only a path may follow it.
        let end = rest.find(['/', '?', '#', '\\'])?;
        rest.get(end..).filter(|p| p.starts_with('/'))?
    } else if href.starts_with('/') && !href.starts_with("//") {
        href
    } else {
        return None;
    };
    let path = path.split(['?', '#']).next()?;
    let file = path.strip_prefix("/assets/")?;
    if file.contains('/') {
        return None;
    }
    let stem = file
        .strip_suffix(".png")
        .or_else(|| file.strip_suffix(".ico"))?;
    let digest_ok = |d: &str| {
        (7..=64).contains(&d.len())
            && d.bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    };
    let name = match stem.rsplit_once('-') {
        Some((name, digest)) if digest_ok(digest) => name,
        _ => stem,
    };
    match name {
        "favicon-yellow" => Some(Stage::Canary),
        "favicon" if gitlab_com => Some(Stage::Main),
        _ => None,
    }
}

/// The super sidebar's `data-sidebar` JSON (only the stage flags are read). On gitlab.com the
/// flag that does not apply is `null`, not `false`: anything but `true` means "not this one".
/// Signed-out pages carry neither flag (`sidebars_helper.rb`).
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerfBar {
    /// No `#js-peek`: the bar is off (`p b` turns it on) or the user may not see it.
    #[default]
    Off,
    /// `#js-peek` is there but neither its host nor the peek results were readable.
    NotRendered,
    /// Its host was read (rendered bar or peek results).
    Rendered,
}

/// Everything one page said, parsed ([`crate::reading::PageReading::signals`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageSignals {
    pub perf_bar: PerfBar,
    pub perf_host: Option<PerfBarHost>,
    pub peek: Option<PeekHost>,
    /// What the server's favicon says, if anything ([`favicon_stage`]).
    pub favicon: Option<Stage>,
    pub sidebar: Option<SidebarFlags>,
    pub next_badge: bool,
    /// The snowplow context's `host_name`, when it is a pod name.
    pub snowplow_host: Option<String>,
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
    /// The signal that named the pod, when one did.
    #[serde(default)]
    pub pod_signal: Option<Signal>,
    pub request_id: Option<String>,
    pub perf_bar: PerfBar,
    /// Every signal the page carried, most trusted first, with what it said (`unknown` too).
    #[serde(default)]
    pub signals: Vec<Reading>,
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

/// A named pod against GitLab's own canary marker for the same request: the name decides when
/// it is documented, and a marker that contradicts it makes the reading unknown (never picked);
/// an undocumented name leaves the marker to decide.
fn named_or_marked(named: Stage, marked_canary: bool) -> Stage {
    let marker = if marked_canary {
        Stage::Canary
    } else {
        Stage::Main
    };
    match named {
        Stage::Unknown => marker,
        n if n == marker => n,
        _ => Stage::Unknown,
    }
}

/// Combines a page's signals into one detection. Trust, highest first (GITLAB-FACTS.md): peek
/// results, the rendered bar, the favicon, the sidebar, the Next badge, the snowplow context.
pub fn detect(s: &PageSignals, at_ms: f64) -> Detection {
    let mut readings: Vec<Reading> = Vec::new();
    let mut pods: Vec<(Signal, Pod)> = Vec::new();
    if let Some(peek) = &s.peek {
        let by_name = peek.hostname.as_deref().map(classify_pod);
        let canary = peek.canary.is_some_and(|b| b.0);
        let stage = named_or_marked(by_name.as_ref().map_or(Stage::Unknown, |p| p.stage), canary);
        readings.push(Reading {
            signal: Signal::PeekJson,
            stage,
        });
        if let Some(p) = by_name {
            pods.push((Signal::PeekJson, p));
        }
    }
    if let Some(h) = &s.perf_host {
        let p = classify_pod(&h.text);
        let chick = h.text.trim_start().starts_with('\u{1F424}');
        readings.push(Reading {
            signal: Signal::PerfBar,
            stage: named_or_marked(p.stage, h.canary_class || chick),
        });
        pods.push((Signal::PerfBar, p));
    }
    if let Some(stage) = s.favicon {
        readings.push(Reading {
            signal: Signal::Favicon,
            stage,
        });
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
    if let Some(name) = &s.snowplow_host {
        let p = classify_pod(name);
        readings.push(Reading {
            signal: Signal::Snowplow,
            stage: p.stage,
        });
        pods.push((Signal::Snowplow, p));
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
    // The pod: the most trusted signal that named a documented pod, else any name read.
    let pod = pods
        .iter()
        .find(|(_, p)| p.stage != Stage::Unknown)
        .or_else(|| pods.iter().find(|(_, p)| !p.name.is_empty()))
        .cloned();
    let (pod_signal, pod_name, service) = match pod {
        Some((sig, p)) => (Some(sig), Some(p.name), p.service),
        None => (None, None, None),
    };
    Detection {
        stage,
        signal,
        pod: pod_name,
        service,
        pod_signal,
        request_id: s.request_id.as_deref().and_then(clean_request_id),
        perf_bar: s.perf_bar,
        signals: readings,
        disagreements,
        signed_in: s.sidebar.as_ref().and_then(SidebarFlags::signed_in),
        at_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals() -> PageSignals {
        PageSignals::default()
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
            modal: false,
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
            modal: true,
        });
        assert_eq!(detect(&s, 0.0).stage, Stage::Unknown);
    }

    #[test]
    fn disagreeing_signals_are_reported_not_averaged() {
        let mut s = signals();
        s.perf_host = Some(PerfBarHost {
            text: "gitlab-webservice-web-1-2".into(),
            canary_class: false,
            modal: false,
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
            canary: None,
        });
        let d = detect(&s, 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Main, Some(Signal::PeekJson)));
        assert_eq!(d.pod.as_deref(), Some("gitlab-webservice-web-1-2"));
        // The flag alone decides when the name is not a documented one.
        s.peek = Some(PeekHost {
            hostname: Some("box".into()),
            canary: Some(serde_bool::Loose(true)),
        });
        assert_eq!(detect(&s, 0.0).stage, Stage::Canary);
        // Flag and name in conflict: unknown.
        s.peek = Some(PeekHost {
            hostname: Some("gitlab-webservice-web-1-2".into()),
            canary: Some(serde_bool::Loose(true)),
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

    #[test]
    fn favicons_by_gitlab_s_names_only() {
        let d64 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let cases: &[(&str, bool, Option<Stage>)] = &[
            (
                &format!("/assets/favicon-yellow-{d64}.png"),
                true,
                Some(Stage::Canary),
            ),
            (
                &format!("/assets/favicon-yellow-{d64}.png"),
                false,
                Some(Stage::Canary),
            ),
            ("/assets/favicon-yellow.ico", true, Some(Stage::Canary)),
            (
                &format!("/assets/favicon-{d64}.png"),
                true,
                Some(Stage::Main),
            ),
            ("/assets/favicon.ico", true, Some(Stage::Main)),
            (
                &format!("https://assets.gitlab-static.net/assets/favicon-{d64}.ico?v=1"),
                true,
                Some(Stage::Main),
            ),
            // Main's favicon is every stage's off GitLab.com.
            (&format!("/assets/favicon-{d64}.png"), false, None),
            // CI status icons, custom appearance, development colours, elsewhere: nothing.
            (
                "/assets/ci_favicons/favicon_status_running-ab12cd3.png",
                true,
                None,
            ),
            (
                "/uploads/-/system/appearance/favicon/1/favicon.png",
                true,
                None,
            ),
            (
                "/uploads/-/system/appearance/favicon/1/favicon-yellow.png",
                true,
                None,
            ),
            ("/assets/favicon-blue-0123abc.png", true, None),
            ("//evil.example/assets/favicon-yellow.png", true, None),
            ("javascript:favicon-yellow.png", true, None),
            ("http://x/assets/favicon-yellow.png", true, None),
            ("https://x#/assets/favicon-yellow.png", true, None),
            ("https://x?/assets/favicon.png", true, None),
            ("/assets/favicon-yellow-XYZ.png", true, None),
            ("/assets/favicon-yellow.svg", true, None),
            ("", true, None),
        ];
        for (href, com, want) in cases {
            assert_eq!(favicon_stage(href, *com), *want, "{href} {com}");
        }
    }

    #[test]
    fn snowplow_context_is_cut_from_the_script() {
        let script = r#"window.snowplowOptions = {"a":"}"};
gl = window.gl || {};
gl.snowplowStandardContext = {"schema":"iglu:com.gitlab/gitlab_standard/jsonschema/1-1-1","data":{"extra":{"q":"\"}{"},"host_name":"gitlab-webservice-web-79b9587846-ql6jg"}};
gl.snowplowPseudonymizedPageUrl = "x";"#;
        let json = snowplow_context_json(script).unwrap();
        assert!(json.starts_with('{') && json.ends_with("}}"));
        let ctx: SnowplowContext = serde_json::from_str(json).unwrap();
        assert_eq!(
            ctx.host_name().as_deref(),
            Some("gitlab-webservice-web-79b9587846-ql6jg")
        );
        let today: SnowplowContext =
            serde_json::from_str(r#"{"data":{"host_name":"gitlab.com"}}"#).unwrap();
        assert_eq!(today.host_name(), None);
        for junk in [
            "",
            "gl.snowplowStandardContext",
            "gl.snowplowStandardContext = {\"data\":",
            "gl.snowplowStandardContext = null; x = {}",
            "gl.snowplowStandardContext == {}",
            "}}}} snowplowStandardContext = ]}",
        ] {
            assert_eq!(snowplow_context_json(junk), None, "{junk}");
        }
        assert_eq!(
            snowplow_context_json(
                "if (gl.snowplowStandardContext) {}; gl.snowplowStandardContext = {\"a\":1}"
            ),
            Some("{\"a\":1}")
        );
    }

    #[test]
    fn every_signal_is_listed_and_the_most_trusted_decides() {
        let mut s = signals();
        s.perf_bar = PerfBar::Rendered;
        s.peek = Some(PeekHost {
            hostname: Some("gitlab-cny-webservice-web-1-a".into()),
            canary: Some(serde_bool::Loose(true)),
        });
        s.favicon = Some(Stage::Main);
        s.snowplow_host = Some("gitlab-webservice-web-2-b".into());
        let d = detect(&s, 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Canary, Some(Signal::PeekJson)));
        assert_eq!(d.pod_signal, Some(Signal::PeekJson));
        assert_eq!(d.signals.len(), 3);
        assert_eq!(
            d.disagreements,
            vec![
                Reading {
                    signal: Signal::Favicon,
                    stage: Stage::Main
                },
                Reading {
                    signal: Signal::Snowplow,
                    stage: Stage::Main
                }
            ]
        );
        // Signed out with the bar off: the favicon alone, no pod.
        let mut s = signals();
        s.favicon = Some(Stage::Canary);
        s.sidebar = Some(SidebarFlags {
            is_logged_in: Some(serde_bool::Loose(false)),
            ..SidebarFlags::default()
        });
        let d = detect(&s, 0.0);
        assert_eq!((d.stage, d.signal), (Stage::Canary, Some(Signal::Favicon)));
        assert_eq!((d.pod, d.signed_in), (None, Some(false)));
        assert!(d.disagreements.is_empty());
    }

    #[test]
    fn old_stored_detections_still_read() {
        let old = r#"{"stage":"canary","signal":"perf-bar","pod":"gitlab-cny-webservice-web-1-a","service":"web","requestId":null,"perfBar":"rendered","disagreements":[],"signedIn":true,"atMs":5.0}"#;
        let d: Detection = serde_json::from_str(old).unwrap();
        assert_eq!(
            (d.stage, d.pod_signal, d.signals.len()),
            (Stage::Canary, None, 0)
        );
    }
}
