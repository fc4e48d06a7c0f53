//! The HAProxy part: which environment a Host names, which stage serves a request and why,
//! and the pods of each stage.

use crate::rng::Rng;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Stage {
    Canary,
    Main,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Canary => "canary",
            Stage::Main => "main",
        }
    }

    pub fn parse(s: &str) -> Option<Stage> {
        match s {
            "canary" | "cny" => Some(Stage::Canary),
            "main" => Some(Stage::Main),
            _ => None,
        }
    }

    pub fn index(self) -> usize {
        match self {
            Stage::Canary => 0,
            Stage::Main => 1,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Web,
    Api,
}

impl Service {
    pub fn for_path(path: &str) -> Service {
        if path.starts_with("/api/") || path == "/api" {
            Service::Api
        } else {
            Service::Web
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Web => "web",
            Service::Api => "api",
        }
    }
}

/// A GitLab environment behind the router: `production`/`gprd`, `staging`/`gstg`, or `X`/`X`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Environment {
    pub name: String,
    pub short: String,
    /// The host it is served on, normalised.
    pub host: String,
}

impl Environment {
    /// The host is exactly `gitlab.com` (only there are GitLab-operated groups forced to canary).
    pub fn is_gitlab_com(&self) -> bool {
        self.host == "gitlab.com"
    }

    /// The self-managed host: not GitLab.com, no canary ENV, no Next.
    pub fn is_self_managed(&self) -> bool {
        self.host == SELF_MANAGED_HOST
    }
}

/// A self-managed GitLab for the extension's custom environments (outside `*.gitlab.com`),
/// served like the GitLab.com environments.
pub const SELF_MANAGED_HOST: &str = "gitlab.example.test";

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostKind {
    Routed(Environment),
    /// `next.gitlab.com`: the Current/Next switch page, outside the stages.
    NextSwitch,
    Unknown,
}

/// Lowercases and strips the port (`staging.gitlab.com:8443` → `staging.gitlab.com`).
pub fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('.');
    let bare = if host.starts_with('[') {
        host.split_once(']').map(|(h, _)| &h[1..]).unwrap_or(host)
    } else {
        host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host)
    };
    bare.trim_end_matches('.').to_ascii_lowercase()
}

pub fn classify_host(raw: &str) -> HostKind {
    let host = normalize_host(raw);
    if host == "next.gitlab.com" {
        return HostKind::NextSwitch;
    }
    let env = |name: &str, short: &str| {
        HostKind::Routed(Environment {
            name: name.into(),
            short: short.into(),
            host: host.clone(),
        })
    };
    if host == "gitlab.com" {
        return env("production", "gprd");
    }
    if host == SELF_MANAGED_HOST {
        return env("self-managed", "self");
    }
    match host.strip_suffix(".gitlab.com") {
        Some("staging") => env("staging", "gstg"),
        Some(prefix) if !prefix.is_empty() => env(prefix, prefix),
        _ => HostKind::Unknown,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteReason {
    CanaryDisabled,
    CookieTrue,
    CookieFalse,
    ForcedPath,
    Weighted,
}

impl RouteReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RouteReason::CanaryDisabled => "canary-disabled",
            RouteReason::CookieTrue => "cookie-true",
            RouteReason::CookieFalse => "cookie-false",
            RouteReason::ForcedPath => "forced-path",
            RouteReason::Weighted => "weighted",
        }
    }
}

/// Paths of GitLab-operated groups that production forces to canary.
pub fn is_forced_path(path: &str) -> bool {
    ["/gitlab-org", "/gitlab-com", "/charts"]
        .iter()
        .any(|group| path == *group || path.starts_with(&format!("{group}/")))
}

/// The stage decision, in HAProxy's order. `canary_cookie` is the LAST `gitlab_canary`
/// value sent (HAProxy `req.cook`). The random stream is drawn from only for `weighted`.
pub fn decide(
    canary_disabled: bool,
    canary_cookie: Option<&str>,
    env: &Environment,
    path: &str,
    canary_weight: f64,
    rng: &mut Rng,
) -> (Stage, RouteReason) {
    if canary_disabled {
        return (Stage::Main, RouteReason::CanaryDisabled);
    }
    match canary_cookie {
        Some("true") => return (Stage::Canary, RouteReason::CookieTrue),
        Some("false") => return (Stage::Main, RouteReason::CookieFalse),
        _ => {}
    }
    if env.is_gitlab_com() && is_forced_path(path) {
        return (Stage::Canary, RouteReason::ForcedPath);
    }
    if rng.next_f64() < canary_weight {
        (Stage::Canary, RouteReason::Weighted)
    } else {
        (Stage::Main, RouteReason::Weighted)
    }
}

/// Kubernetes' `SafeEncodeString` alphabet (no vowels), used for ReplicaSet hashes and pod ids.
const K8S_ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// The pods of both stages, made from the seed: one ReplicaSet hash per deployment.
#[derive(Clone, Debug)]
pub struct Pods {
    canary_web: Vec<String>,
    canary_api: Vec<String>,
    main_web: Vec<String>,
    main_api: Vec<String>,
}

impl Pods {
    pub fn generate(seed: u64) -> Self {
        let mut rng = Rng::stream(seed, 4);
        let mut deployment = |name: &str, count: usize| -> Vec<String> {
            let rs_len = 9 + rng.below(2) as usize;
            let rs = rng.string_from(K8S_ALPHABET, rs_len);
            (0..count)
                .map(|_| format!("{name}-{rs}-{}", rng.string_from(K8S_ALPHABET, 5)))
                .collect()
        };
        Self {
            canary_web: deployment("gitlab-cny-webservice-web", 3),
            canary_api: deployment("gitlab-cny-webservice-api", 2),
            main_web: deployment("gitlab-webservice-web", 4),
            main_api: deployment("gitlab-webservice-api", 2),
        }
    }

    pub fn of(&self, stage: Stage, service: Service) -> &[String] {
        match (stage, service) {
            (Stage::Canary, Service::Web) => &self.canary_web,
            (Stage::Canary, Service::Api) => &self.canary_api,
            (Stage::Main, Service::Web) => &self.main_web,
            (Stage::Main, Service::Api) => &self.main_api,
        }
    }

    pub fn pick(&self, stage: Stage, service: Service, rng: &mut Rng) -> String {
        let pods = self.of(stage, service);
        let i = rng.below(pods.len() as u64) as usize;
        pods.get(i).cloned().unwrap_or_default()
    }

    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.canary_web
            .iter()
            .chain(&self.canary_api)
            .chain(&self.main_web)
            .chain(&self.main_api)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(host: &str) -> Environment {
        match classify_host(host) {
            HostKind::Routed(e) => e,
            other => panic!("{host} not routed: {other:?}"),
        }
    }

    #[test]
    fn hosts() {
        let prod = env("GitLab.com:8443");
        assert_eq!(
            (prod.name.as_str(), prod.short.as_str()),
            ("production", "gprd")
        );
        assert!(prod.is_gitlab_com());
        let stg = env("staging.gitlab.com");
        assert_eq!((stg.name.as_str(), stg.short.as_str()), ("staging", "gstg"));
        assert!(!stg.is_gitlab_com());
        assert_eq!(env("pre.gitlab.com:1").name, "pre");
        let own = env("GitLab.Example.Test:443");
        assert_eq!(
            (own.name.as_str(), own.host.as_str()),
            ("self-managed", SELF_MANAGED_HOST)
        );
        assert!(!own.is_gitlab_com() && own.is_self_managed());
        assert!(!stg.is_self_managed() && !prod.is_self_managed());
        assert_eq!(classify_host("next.gitlab.com:443"), HostKind::NextSwitch);
        for h in [
            "example.com",
            "evilgitlab.com",
            ".gitlab.com",
            "127.0.0.1:8443",
            "",
        ] {
            assert_eq!(classify_host(h), HostKind::Unknown, "{h}");
        }
    }

    #[test]
    fn each_reason() {
        let mut rng = Rng::new(1);
        let prod = env("gitlab.com");
        let stg = env("staging.gitlab.com");
        let d = |disabled, cookie, e: &Environment, path, w, rng: &mut Rng| {
            decide(disabled, cookie, e, path, w, rng)
        };
        assert_eq!(
            d(true, Some("true"), &prod, "/gitlab-org/x", 1.0, &mut rng),
            (Stage::Main, RouteReason::CanaryDisabled)
        );
        assert_eq!(
            d(false, Some("true"), &stg, "/", 0.0, &mut rng),
            (Stage::Canary, RouteReason::CookieTrue)
        );
        assert_eq!(
            d(
                false,
                Some("false"),
                &prod,
                "/gitlab-org/gitlab",
                1.0,
                &mut rng
            ),
            (Stage::Main, RouteReason::CookieFalse)
        );
        for path in [
            "/gitlab-org",
            "/gitlab-org/gitlab",
            "/gitlab-com/www",
            "/charts/x",
        ] {
            assert_eq!(
                d(false, None, &prod, path, 0.0, &mut rng),
                (Stage::Canary, RouteReason::ForcedPath),
                "{path}"
            );
            // Forced paths are a production rule only.
            assert_eq!(
                d(false, None, &stg, path, 0.0, &mut rng),
                (Stage::Main, RouteReason::Weighted)
            );
        }
        assert_eq!(
            d(false, Some("maybe"), &prod, "/gitlab-orgx", 0.0, &mut rng),
            (Stage::Main, RouteReason::Weighted)
        );
        assert_eq!(
            d(false, None, &stg, "/", 1.0, &mut rng),
            (Stage::Canary, RouteReason::Weighted)
        );
    }

    #[test]
    fn weighted_is_seeded_and_near_weight() {
        let stg = env("staging.gitlab.com");
        let run = |seed| {
            let mut rng = Rng::stream(seed, 9);
            (0..4000)
                .map(|_| decide(false, None, &stg, "/", 0.05, &mut rng).0)
                .collect::<Vec<_>>()
        };
        let a = run(3);
        assert_eq!(a, run(3));
        assert_ne!(a, run(4));
        let canary = a.iter().filter(|s| **s == Stage::Canary).count();
        assert!((120..=280).contains(&canary), "{canary} of 4000");
    }

    #[test]
    fn pod_shapes() {
        let pods = Pods::generate(1);
        assert_eq!(pods.of(Stage::Canary, Service::Web).len(), 3);
        assert_eq!(pods.of(Stage::Main, Service::Web).len(), 4);
        assert_eq!(pods.of(Stage::Canary, Service::Api).len(), 2);
        assert_eq!(pods.of(Stage::Main, Service::Api).len(), 2);
        for (stage, service, prefix) in [
            (Stage::Canary, Service::Web, "gitlab-cny-webservice-web-"),
            (Stage::Canary, Service::Api, "gitlab-cny-webservice-api-"),
            (Stage::Main, Service::Web, "gitlab-webservice-web-"),
            (Stage::Main, Service::Api, "gitlab-webservice-api-"),
        ] {
            for pod in pods.of(stage, service) {
                let rest = pod.strip_prefix(prefix).unwrap_or_else(|| panic!("{pod}"));
                let (rs, id) = rest.split_once('-').unwrap_or_else(|| panic!("{pod}"));
                assert!((9..=10).contains(&rs.len()), "{pod}");
                assert_eq!(id.len(), 5, "{pod}");
                let ok = |s: &str| {
                    s.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                };
                assert!(ok(rs) && ok(id), "{pod}");
            }
        }
        let again = Pods::generate(1);
        assert!(pods.all().eq(again.all()));
        assert!(!pods.all().eq(Pods::generate(2).all()));
        let mut rng = Rng::new(5);
        let picked = pods.pick(Stage::Main, Service::Api, &mut rng);
        assert!(pods.of(Stage::Main, Service::Api).contains(&picked));
    }
}
