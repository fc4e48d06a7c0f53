//! Seeded mutation fuzzing of everything the extension reads from pages and messages: pod names
//! (the perf bar's text), the sidebar's `data-sidebar` JSON, the peek JSON, messages between
//! contexts, URLs. Over a million inputs in all, each must be handled without a panic, and the
//! classifier must never call a name canary or main unless it carries the documented prefix.
//!
//! Deterministic (a fixed seed, no clock), so a failure reproduces; set FUZZ_SEED to explore.

use canary_switch::environment::environment_for_url;
use canary_switch::messages::{ApiUser, Command, Identity, UserReport};
use canary_switch::reading::{Json, PageReading};
use canary_switch::stage::{
    classify_pod, detect, favicon_stage, snowplow_context_json, PageSignals, PeekHost, PeekResults,
    PerfBar, PerfBarHost, SidebarFlags, SnowplowContext, Stage,
};

/// The background parses page JSON with the browser's `JSON.parse`; natively, serde_json.
struct SerdeJson;
impl Json for SerdeJson {
    fn parse<T: serde::de::DeserializeOwned>(&self, text: &str) -> Option<T> {
        serde_json::from_str(text).ok()
    }
}

/// xorshift64*: small, fast, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const PODS: &[&str] = &[
    "gitlab-cny-webservice-web-7b9c5d8f4-x2k9q",
    "gitlab-webservice-api-5f6d7c8b9-abcde",
    "🐤 gitlab-cny-webservice-git-6c7d8e9f0-zz9zz",
    "web-cny-01-sv-gprd",
    "gitlab-webservice-websockets-1-a",
];

const JSON_SEEDS: &[&str] = &[
    r#"{"gitlab_com_but_not_canary":true,"gitlab_com_and_canary":null,"is_logged_in":true,"current_menu_items":[{"id":"a","items":[1,2.5e3,"x"]}]}"#,
    r#"{"context":{},"data":{"host":{"hostname":"gitlab-cny-webservice-web-1-a","canary":true},"active-record":{"calls":3}},"has_warnings":false}"#,
    r#"{"peek":{"requestId":"01HX-a_b","peekUrl":"/-/peek/results","results":{"status":200,"body":"{\"data\":{\"host\":{\"hostname\":\"gitlab-cny-x\",\"canary\":true}}}","error":null},"modal":{"host":"gitlab-cny-webservice-web-1-a","canaryEmoji":true},"currentHost":{"text":"🐤 gitlab-cny-webservice-web-1-a","canaryClass":true}},"favicon":{"href":"/assets/favicon-yellow-ab12cd3.png","originalHref":null},"sidebar":"{\"is_logged_in\":true,\"gitlab_com_and_canary\":true}","nextBadge":true,"snowplow":"gl.snowplowStandardContext = {\"data\":{\"host_name\":\"gitlab-webservice-web-1-a\"}};"}"#,
    r#"{"startCheck":{"tabId":3,"guided":false}}"#,
    r#"{"status":200,"id":101,"username":"qa-user","error":null}"#,
    r#"{"signedIn":{"id":101,"username":"qa-user"}}"#,
];

const URL_SEEDS: &[&str] = &[
    "https://staging.gitlab.com/gitlab-org/gitlab/-/issues/1",
    "https://user:pw@gitlab.com:443/x?y#z",
    "http://ops.gitlab.com\\path",
];

/// Interesting bytes: JSON syntax, separators, the chick, multi-byte and control characters.
const ALPHABET: &[&str] = &[
    "{", "}", "[", "]", "\"", ":", ",", "\\", "-", ".", "/", "@", "?", "#", "%", " ", "\n",
    "\u{0}", "true", "false", "null", "1e999", "-0", "cny", "gitlab", "🐤", "é", "\u{FEFF}",
    "\u{A0}", "a", "0",
];

fn mutate(rng: &mut Rng, seed: &str) -> String {
    let mut s: Vec<char> = seed.chars().collect();
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            // Delete a run.
            0 if !s.is_empty() => {
                let at = rng.below(s.len());
                let len = rng.below(8).min(s.len() - at);
                s.drain(at..at + len);
            }
            // Insert a token.
            1 => {
                let at = rng.below(s.len() + 1);
                let tok: Vec<char> = ALPHABET[rng.below(ALPHABET.len())].chars().collect();
                s.splice(at..at, tok);
            }
            // Replace one char with a random one (any Unicode scalar).
            2 if !s.is_empty() => {
                let at = rng.below(s.len());
                s[at] = char::from_u32((rng.next() % 0x11_0000) as u32).unwrap_or('?');
            }
            // Duplicate a slice (deep nesting, long names).
            3 if !s.is_empty() => {
                let at = rng.below(s.len());
                let len = rng.below(32).min(s.len() - at);
                let dup: Vec<char> = s[at..at + len].to_vec();
                s.splice(at..at, dup);
            }
            // Truncate.
            _ => {
                let keep = rng.below(s.len() + 1);
                s.truncate(keep);
            }
        }
    }
    s.into_iter().collect()
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_CA1A_2026_1122)
        | 1
}

#[test]
fn pod_names_never_panic_and_never_guess() {
    let mut rng = Rng(seed());
    for i in 0..500_000 {
        let name = if i % 4 == 0 {
            // Pure noise, sometimes long.
            (0..rng.below(80))
                .map(|_| ALPHABET[rng.below(ALPHABET.len())])
                .collect::<String>()
        } else {
            let seed = PODS[rng.below(PODS.len())];
            mutate(&mut rng, seed)
        };
        let pod = classify_pod(&name);
        let bare = pod.name.as_str();
        match pod.stage {
            Stage::Canary => assert!(
                bare.starts_with("gitlab-cny-")
                    || bare
                        .split('.')
                        .next()
                        .unwrap_or("")
                        .split('-')
                        .any(|p| p == "cny"),
                "{name:?} called canary"
            ),
            Stage::Main => assert!(
                bare.starts_with("gitlab-webservice-"),
                "{name:?} called main"
            ),
            Stage::Unknown => {}
        }
        // The perf-bar signal built from the same text must not panic either.
        let mut s = PageSignals {
            perf_bar: PerfBar::Rendered,
            perf_host: Some(PerfBarHost {
                text: name.clone(),
                canary_class: i % 2 == 0,
                modal: i % 5 == 0,
            }),
            next_badge: i % 3 == 0,
            snowplow_host: Some(name.clone()),
            request_id: Some(name),
            ..PageSignals::default()
        };
        let d = detect(&s, 0.0);
        assert!(d.request_id.as_deref().is_none_or(|r| r
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')));
        s.perf_host = None;
        let _ = detect(&s, 0.0);
    }
}

#[test]
fn page_and_message_json_never_panics() {
    let mut rng = Rng(seed().rotate_left(17));
    let mut parsed = 0usize;
    for _ in 0..400_000 {
        let seed = JSON_SEEDS[rng.below(JSON_SEEDS.len())];
        let text = mutate(&mut rng, seed);
        // Every type the extension deserialises from a page or a message.
        parsed += usize::from(serde_json::from_str::<SidebarFlags>(&text).is_ok());
        parsed += usize::from(serde_json::from_str::<PeekResults>(&text).is_ok());
        parsed += usize::from(serde_json::from_str::<PeekHost>(&text).is_ok());
        parsed += usize::from(serde_json::from_str::<Command>(&text).is_ok());
        parsed += usize::from(serde_json::from_str::<UserReport>(&text).is_ok());
        parsed += usize::from(serde_json::from_str::<ApiUser>(&text).is_ok());
        if let Ok(reading) = serde_json::from_str::<PageReading>(&text) {
            parsed += 1;
            let _ = detect(&reading.signals(&SerdeJson, parsed % 2 == 0), 0.0);
        }
        parsed += usize::from(serde_json::from_str::<Identity>(&text).is_ok());
        if let Ok(flags) = serde_json::from_str::<SidebarFlags>(&text) {
            let _ = flags.stage();
        }
    }
    // The mutations keep a fair share valid, so the deserialisers' deep paths are exercised too.
    assert!(parsed > 10_000, "only {parsed} inputs parsed");
}

const FAVICONS: &[&str] = &[
    "/assets/favicon-yellow-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.png",
    "/assets/favicon-8b8b8f3b2ac8d42fc1bbc8c2b4dd4f2d3b7e2a4c1ba0b7e8f7a36f7f8e8d4f71.ico",
    "https://assets.gitlab-static.net/assets/favicon-72a2cad5025aa931d6ea56c3201d1f18e68a8cd39788c7c80d5b2b82aa5143ef.png?x=1#y",
    "/assets/ci_favicons/favicon_status_running-ab12cd3.png",
    "/uploads/-/system/appearance/favicon/1/favicon.png",
];

const SCRIPTS: &[&str] = &[
    r#"window.snowplowOptions = {"namespace":"gl","hostname":"snowplowprd.trx.gitlab.net"};
gl = window.gl || {};
gl.snowplowStandardContext = {"schema":"iglu:com.gitlab/gitlab_standard/jsonschema/1-1-1","data":{"environment":"production","source":"gitlab-rails","extra":{"s":"}\"{"},"host_name":"gitlab-webservice-web-79b9587846-ql6jg"}};
gl.snowplowPseudonymizedPageUrl = "https://gitlab.com/x";"#,
    r#"gl.snowplowStandardContext = {"data":{"host_name":"gitlab.com","realm":"saas"}}"#,
];

/// The favicon classifier calls a stage only for GitLab's own asset names, and the snowplow
/// cutter always returns a balanced slice of its input (or nothing).
#[test]
fn favicon_paths_and_snowplow_scripts_never_panic_and_never_guess() {
    let mut rng = Rng(seed().rotate_left(49));
    for i in 0..200_000 {
        let seed = FAVICONS[rng.below(FAVICONS.len())];
        let href = mutate(&mut rng, seed);
        for com in [true, false] {
            if let Some(stage) = favicon_stage(&href, com) {
                let file = href.split(['?', '#']).next().unwrap_or("");
                let file = file.rsplit('/').next().unwrap_or("");
                assert!(
                    href.contains("/assets/") && file.starts_with("favicon"),
                    "{href:?} called {stage:?}"
                );
                assert!(
                    stage == Stage::Canary || com,
                    "{href:?} main off GitLab.com"
                );
            }
        }
        let script = mutate(&mut rng, SCRIPTS[i % SCRIPTS.len()]);
        if let Some(json) = snowplow_context_json(&script) {
            assert!(json.starts_with('{') && json.ends_with('}') && script.contains(json));
            if let Ok(ctx) = serde_json::from_str::<SnowplowContext>(json) {
                if let Some(name) = ctx.host_name() {
                    assert_ne!(classify_pod(&name).stage, Stage::Unknown, "{name:?}");
                }
            }
        }
    }
}

#[test]
fn urls_never_panic() {
    let mut rng = Rng(seed().rotate_left(33));
    for _ in 0..200_000 {
        let seed = URL_SEEDS[rng.below(URL_SEEDS.len())];
        let url = mutate(&mut rng, seed);
        if let Ok(env) = environment_for_url(&url, &[]) {
            assert!(
                env.host == "gitlab.com" || env.host.ends_with(".gitlab.com"),
                "{url:?} -> {}",
                env.host
            );
        }
    }
}
