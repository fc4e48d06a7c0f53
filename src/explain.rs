//! Why the stage that served a page differs from the one chosen; the canary share observed on
//! Auto; links to the request's logs and its stage's dashboard. Pure.

use serde::{Deserialize, Serialize};

use crate::environment::{Environment, Kind};
use crate::preference::InForce;
use crate::stage::{Detection, PerfBar, Reading, Signal, Stage};

/// Paths that production's HAProxy sends to canary when there is no opt-out cookie
/// (GitLab-operated groups).
const FORCED_CANARY_GROUPS: &[&str] = &["gitlab-org", "gitlab-com", "charts"];

/// One reason, shown as one sentence (`messages.json` key from [`Explanation::message`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Explanation {
    /// Next chosen, main served: canary may be disabled here or the service has no canary.
    #[serde(rename_all = "camelCase")]
    NextButMain { chatops: String },
    /// Auto on production, a GitLab-operated group's path: forced to canary.
    #[serde(rename_all = "camelCase")]
    AutoForcedPath { group: String },
    /// Auto and canary: the load balancer's small canary share.
    AutoShare,
    /// Current chosen but canary served: not expected at all.
    CurrentButCanary,
    /// The host receives contradicting `gitlab_canary` cookies.
    ConflictingCookies,
    /// The perf bar is off; a weaker signal was used (or none).
    #[serde(rename_all = "camelCase")]
    PerfBarOff { used: Option<Signal> },
    /// The perf bar is on but did not render its host in time.
    #[serde(rename_all = "camelCase")]
    PerfBarNotRendered { used: Option<Signal> },
    /// Signals that contradict the deciding one.
    #[serde(rename_all = "camelCase")]
    Disagreement { readings: Vec<Reading> },
}

fn signal_name(s: Option<Signal>) -> &'static str {
    s.map_or("none", Signal::name)
}

impl Explanation {
    /// The `messages.json` key and substitutions.
    pub fn message(&self) -> (&'static str, Vec<String>) {
        match self {
            Explanation::NextButMain { chatops } => ("whyNextButMain", vec![chatops.clone()]),
            Explanation::AutoForcedPath { group } => ("whyAutoForcedPath", vec![group.clone()]),
            Explanation::AutoShare => ("whyAutoShare", vec![]),
            Explanation::CurrentButCanary => ("whyCurrentButCanary", vec![]),
            Explanation::ConflictingCookies => ("whyConflict", vec![]),
            Explanation::PerfBarOff { used } => ("whyPerfBarOff", vec![signal_name(*used).into()]),
            Explanation::PerfBarNotRendered { used } => {
                ("whyPerfBarNotRendered", vec![signal_name(*used).into()])
            }
            Explanation::Disagreement { readings } => {
                let list = readings
                    .iter()
                    .map(|r| format!("{} says {}", signal_name(Some(r.signal)), r.stage.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ");
                ("whyDisagreement", vec![list])
            }
        }
    }
}

/// The GitLab-operated group a production path is forced to canary for, if any.
pub fn forced_group(env: &Environment, path: &str) -> Option<&'static str> {
    if env.kind != Kind::Production {
        return None;
    }
    let first = path.trim_start_matches('/').split(['/', '?', '#']).next()?;
    FORCED_CANARY_GROUPS.iter().copied().find(|g| *g == first)
}

/// The chatops command that shows whether canary is enabled for this environment
/// (GitLab QA docs: each canary server reports connections `UP` when it is).
pub fn chatops_status(env: &Environment) -> String {
    match env.kind {
        Kind::Production => "/chatops run canary --production".into(),
        _ => "/chatops run canary --staging".into(),
    }
}

/// Everything worth saying about one page, given what was chosen and what served it.
pub fn explain(chosen: &InForce, d: &Detection, env: &Environment, path: &str) -> Vec<Explanation> {
    let mut out = Vec::new();
    match (chosen, d.stage) {
        (InForce::Next, Stage::Main) => out.push(Explanation::NextButMain {
            chatops: chatops_status(env),
        }),
        (InForce::Current, Stage::Canary) => out.push(Explanation::CurrentButCanary),
        (InForce::Auto, Stage::Canary) => out.push(match forced_group(env, path) {
            Some(group) => Explanation::AutoForcedPath {
                group: group.into(),
            },
            None => Explanation::AutoShare,
        }),
        (InForce::Conflict { .. }, _) => out.push(Explanation::ConflictingCookies),
        _ => {}
    }
    match d.perf_bar {
        PerfBar::Off => out.push(Explanation::PerfBarOff { used: d.signal }),
        PerfBar::NotRendered => out.push(Explanation::PerfBarNotRendered { used: d.signal }),
        PerfBar::Rendered => {}
    }
    if !d.disagreements.is_empty() {
        out.push(Explanation::Disagreement {
            readings: d.disagreements.clone(),
        });
    }
    out
}

/// Pages served by canary while on Auto, for one environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub canary: u32,
    pub total: u32,
}

/// What the load balancer sends to canary without a cookie (runbooks: about 5%).
pub const EXPECTED_CANARY_PERCENT: f64 = 5.0;

impl Share {
    /// Counts a page served on Auto. Unknown stages and forced paths do not count: they say
    /// nothing about the weighted share.
    pub fn record(&mut self, d: &Detection, env: &Environment, path: &str) {
        if d.stage == Stage::Unknown || forced_group(env, path).is_some() {
            return;
        }
        self.total = self.total.saturating_add(1);
        if d.stage == Stage::Canary {
            self.canary = self.canary.saturating_add(1);
        }
    }

    pub fn percent(&self) -> Option<f64> {
        (self.total > 0).then(|| f64::from(self.canary) * 100.0 / f64::from(self.total))
    }

    /// The percentage with one decimal ("12.5"), in integer arithmetic: formatting an `f64`
    /// would pull Rust's float printing (~14 KiB) into the wasm.
    pub fn percent_text(&self) -> Option<String> {
        let tenths = (u64::from(self.canary) * 1000 + u64::from(self.total) / 2)
            .checked_div(u64::from(self.total))?;
        Some(format!("{}.{}", tenths / 10, tenths % 10))
    }
}

/// URL templates for a request's logs and its stage's dashboard. Placeholders: `{stage}`
/// (`cny` / `main`), `{request_id}`, `{env}` (`gprd` / `gstg` / host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkTemplates {
    pub logs: String,
    pub dashboard: String,
}

impl LinkTemplates {
    /// Defaults for GitLab.com's production and staging; none elsewhere.
    pub fn defaults(kind: Kind) -> Option<LinkTemplates> {
        let (logs_host, env) = match kind {
            Kind::Production => ("log.gprd.gitlab.net", "gprd"),
            Kind::Staging => ("nonprod-log.gitlab.net", "gstg"),
            Kind::Other | Kind::Custom => return None,
        };
        Some(LinkTemplates {
            logs: format!(
                "https://{logs_host}/app/discover#/?_a=(query:(language:kuery,query:'json.stage.keyword:\"{{stage}}\" and json.correlation_id:\"{{request_id}}\"'))"
            ),
            dashboard: format!(
                "https://dashboards.gitlab.net/d/web-main/web-overview?orgId=1&var-environment={env}&var-stage={{stage}}"
            ),
        })
    }
}

/// Percent-encodes everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Fills a template. Only `https:` results are returned: a template is user input and must not
/// turn into a `javascript:` link.
pub fn fill(
    template: &str,
    stage: Stage,
    request_id: Option<&str>,
    env: &Environment,
) -> Option<String> {
    let label = stage.label()?;
    if template.contains("{request_id}") && request_id.is_none() {
        return None;
    }
    let env_label = match env.kind {
        Kind::Production => "gprd".to_string(),
        Kind::Staging => "gstg".to_string(),
        _ => env.host.clone(),
    };
    let url = template
        .replace("{stage}", &encode(label))
        .replace("{request_id}", &encode(request_id.unwrap_or_default()))
        .replace("{env}", &encode(&env_label));
    url.starts_with("https://").then_some(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environment::environment_for_url;
    use crate::stage::Signal;

    fn env(host: &str) -> Environment {
        environment_for_url(&format!("https://{host}/"), &[]).unwrap()
    }
    fn det(stage: Stage, perf_bar: PerfBar) -> Detection {
        Detection {
            stage,
            signal: Some(Signal::PerfBar),
            pod: None,
            service: None,
            request_id: Some("01ABC".into()),
            pod_signal: None,
            signals: vec![],
            perf_bar,
            disagreements: vec![],
            signed_in: None,
            at_ms: 0.0,
        }
    }

    #[test]
    fn each_mismatch_has_its_reason() {
        let prod = env("gitlab.com");
        let stg = env("staging.gitlab.com");
        let r = PerfBar::Rendered;
        assert_eq!(
            explain(&InForce::Next, &det(Stage::Main, r), &stg, "/"),
            vec![Explanation::NextButMain {
                chatops: "/chatops run canary --staging".into()
            }]
        );
        assert_eq!(
            explain(&InForce::Next, &det(Stage::Main, r), &prod, "/"),
            vec![Explanation::NextButMain {
                chatops: "/chatops run canary --production".into()
            }]
        );
        assert_eq!(
            explain(
                &InForce::Auto,
                &det(Stage::Canary, r),
                &prod,
                "/gitlab-org/gitlab/-/issues"
            ),
            vec![Explanation::AutoForcedPath {
                group: "gitlab-org".into()
            }]
        );
        // Forced paths are production's only.
        assert_eq!(
            explain(
                &InForce::Auto,
                &det(Stage::Canary, r),
                &stg,
                "/gitlab-org/gitlab"
            ),
            vec![Explanation::AutoShare]
        );
        assert_eq!(
            explain(&InForce::Current, &det(Stage::Canary, r), &prod, "/"),
            vec![Explanation::CurrentButCanary]
        );
        assert!(explain(&InForce::Next, &det(Stage::Canary, r), &prod, "/").is_empty());
        assert!(explain(&InForce::Auto, &det(Stage::Main, r), &prod, "/").is_empty());
        let conflict = InForce::Conflict {
            values: vec!["true".into(), "false".into()],
        };
        assert_eq!(
            explain(&conflict, &det(Stage::Main, r), &prod, "/"),
            vec![Explanation::ConflictingCookies]
        );
        let mut d = det(Stage::Canary, PerfBar::Off);
        d.signal = Some(Signal::Sidebar);
        assert_eq!(
            explain(&InForce::Next, &d, &prod, "/"),
            vec![Explanation::PerfBarOff {
                used: Some(Signal::Sidebar)
            }]
        );
    }

    #[test]
    fn forced_groups_match_whole_path_segments() {
        let prod = env("gitlab.com");
        assert_eq!(forced_group(&prod, "/gitlab-org"), Some("gitlab-org"));
        assert_eq!(forced_group(&prod, "/charts/gitlab"), Some("charts"));
        assert_eq!(forced_group(&prod, "/gitlab-org-fork/x"), None);
        assert_eq!(forced_group(&prod, "/x/gitlab-org"), None);
    }

    #[test]
    fn share_counts_only_weighted_pages() {
        let prod = env("gitlab.com");
        let mut s = Share::default();
        assert_eq!(s.percent(), None);
        s.record(&det(Stage::Canary, PerfBar::Rendered), &prod, "/a");
        s.record(&det(Stage::Main, PerfBar::Rendered), &prod, "/b");
        s.record(&det(Stage::Main, PerfBar::Rendered), &prod, "/c");
        s.record(&det(Stage::Main, PerfBar::Rendered), &prod, "/d");
        s.record(&det(Stage::Unknown, PerfBar::Off), &prod, "/e");
        s.record(
            &det(Stage::Canary, PerfBar::Rendered),
            &prod,
            "/gitlab-com/www",
        );
        assert_eq!(
            s,
            Share {
                canary: 1,
                total: 4
            }
        );
        assert_eq!(s.percent(), Some(25.0));
        assert_eq!(s.percent_text().as_deref(), Some("25.0"));
        assert_eq!(
            Share {
                canary: 1,
                total: 3
            }
            .percent_text()
            .as_deref(),
            Some("33.3")
        );
        assert_eq!(
            Share {
                canary: 2,
                total: 3
            }
            .percent_text()
            .as_deref(),
            Some("66.7")
        );
        assert_eq!(Share::default().percent_text(), None);
    }

    #[test]
    fn links_are_filled_encoded_and_https_only() {
        let stg = env("staging.gitlab.com");
        let t = LinkTemplates::defaults(Kind::Staging).unwrap();
        let logs = fill(&t.logs, Stage::Canary, Some("01JD3K"), &stg).unwrap();
        assert!(logs.starts_with("https://nonprod-log.gitlab.net/"));
        assert!(logs.contains("json.stage.keyword:\"cny\"") && logs.contains("\"01JD3K\""));
        let dash = fill(&t.dashboard, Stage::Main, None, &stg).unwrap();
        assert!(dash.ends_with("var-environment=gstg&var-stage=main"));
        assert_eq!(fill(&t.logs, Stage::Canary, None, &stg), None);
        assert_eq!(fill(&t.logs, Stage::Unknown, Some("x"), &stg), None);
        assert_eq!(
            fill("javascript:alert('{stage}')", Stage::Main, None, &stg),
            None
        );
        assert_eq!(
            fill(
                "https://x/?q={request_id}",
                Stage::Main,
                Some("a b&c"),
                &stg
            )
            .as_deref(),
            Some("https://x/?q=a%20b%26c")
        );
        assert!(LinkTemplates::defaults(Kind::Other).is_none());
    }

    #[test]
    fn every_explanation_has_a_sentence() {
        let cat = crate::errors::tests::catalogue();
        for e in [
            Explanation::NextButMain {
                chatops: "c".into(),
            },
            Explanation::AutoForcedPath { group: "g".into() },
            Explanation::AutoShare,
            Explanation::CurrentButCanary,
            Explanation::ConflictingCookies,
            Explanation::PerfBarOff { used: None },
            Explanation::PerfBarNotRendered {
                used: Some(Signal::PeekJson),
            },
            Explanation::Disagreement { readings: vec![] },
        ] {
            let (key, subs) = e.message();
            let m = cat[key]["message"]
                .as_str()
                .unwrap_or_else(|| panic!("{key} missing"));
            assert_eq!(crate::errors::tests::placeholders(m), subs.len(), "{key}");
        }
    }
}
