//! The stand-in over real sockets: a server on port 0 (plain HTTP) in a thread, and a tiny
//! std-only HTTP/1.1 client (both in `common`).

mod common;

use std::collections::BTreeMap;

use common::{admin, get, last_log, launch, log, request, start, Reply, TestServer};
use serde_json::{json, Value};

/// A client with a cookie jar, for one host.
struct Browser<'a> {
    server: &'a TestServer,
    host: String,
    cookies: BTreeMap<String, String>,
}

impl<'a> Browser<'a> {
    fn new(server: &'a TestServer, host: &str) -> Self {
        Self {
            server,
            host: host.to_string(),
            cookies: BTreeMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn send(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Reply {
        let cookie = self.cookie_header();
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !cookie.is_empty() {
            all.push(("Cookie", &cookie));
        }
        if method == "POST" && !headers.iter().any(|(k, _)| *k == "Content-Type") {
            all.push(("Content-Type", "application/x-www-form-urlencoded"));
        }
        let reply = request(self.server.port, method, &self.host, path, &all, body);
        for name in ["_gitlab_session", "remember_user_token"] {
            match (reply.set_cookie(name), reply.cookie_value(name)) {
                (Some(header), _) if header.contains("max-age=0") => {
                    self.cookies.remove(name);
                }
                (_, Some(value)) => {
                    self.cookies.insert(name.into(), value);
                }
                _ => {}
            }
        }
        reply
    }

    fn get(&mut self, path: &str) -> Reply {
        self.send("GET", path, &[], "")
    }

    fn post(&mut self, path: &str, body: &str) -> Reply {
        self.send("POST", path, &[], body)
    }

    fn set_stage(&mut self, canary: Option<bool>) {
        match canary {
            Some(v) => self.cookies.insert("gitlab_canary".into(), v.to_string()),
            None => self.cookies.remove("gitlab_canary"),
        };
    }

    fn sign_in(&mut self, login: &str, password: &str) -> Reply {
        self.sign_in_with(login, password, "")
    }

    /// Signs in with "Remember me" ticked (the hidden `0`, then the checkbox's `1`).
    fn sign_in_remembered(&mut self, login: &str, password: &str) -> Reply {
        self.sign_in_with(
            login,
            password,
            "&user%5Bremember_me%5D=0&user%5Bremember_me%5D=1",
        )
    }

    fn sign_in_with(&mut self, login: &str, password: &str, extra: &str) -> Reply {
        let form = self.get("/users/sign_in");
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf();
        self.post(
            "/users/sign_in",
            &format!(
                "authenticity_token={}&user%5Blogin%5D={login}&user%5Bpassword%5D={password}{extra}",
                urlencode(&token)
            ),
        )
    }

    /// Signs out with the CSRF token of a fresh page.
    fn sign_out(&mut self) -> Reply {
        let token = self.get("/").csrf();
        self.send("POST", "/users/sign_out", &[("X-CSRF-Token", &token)], "")
    }

    fn api_user(&mut self) -> Reply {
        self.get("/api/v4/user")
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn each_route_reason_over_http() {
    let s = start(&["--canary-weight", "0"]);
    let cases = [
        (
            "staging.gitlab.com",
            "/",
            "gitlab_canary=true",
            "canary",
            "cookie-true",
        ),
        (
            "gitlab.com",
            "/gitlab-org/gitlab",
            "gitlab_canary=false",
            "main",
            "cookie-false",
        ),
        (
            "gitlab.com",
            "/gitlab-org/gitlab",
            "",
            "canary",
            "forced-path",
        ),
        (
            "gitlab.com",
            "/charts",
            "gitlab_canary=maybe",
            "canary",
            "forced-path",
        ),
        (
            "staging.gitlab.com",
            "/gitlab-org/gitlab",
            "",
            "main",
            "weighted",
        ),
        ("gitlab.com", "/", "", "main", "weighted"),
    ];
    for (host, path, cookie, stage, reason) in cases {
        let r = get(&s, host, path, cookie);
        assert_eq!(r.status, 200);
        let e = last_log(&s);
        assert_eq!(e["stage"], stage, "{host}{path} {cookie}");
        assert_eq!(e["route_reason"], reason, "{host}{path} {cookie}");
        let pod = e["pod"].as_str().expect("pod");
        let (prefix, sv) = if stage == "canary" {
            ("gitlab-cny-webservice-web-", "web-cny-gke-us-east1-b")
        } else {
            ("gitlab-webservice-web-", "web-gke-us-east1-b")
        };
        assert!(pod.starts_with(prefix), "{pod}");
        assert_eq!(r.header("gitlab-sv"), Some(sv));
        assert_eq!(r.header("x-request-id"), e["request_id"].as_str());
        assert_eq!(r.header("x-request-id").map(str::len), Some(26));
        let lb = r.header("gitlab-lb").expect("gitlab-lb");
        let short = if host == "gitlab.com" { "gprd" } else { "gstg" };
        assert!(
            lb.starts_with("haproxy-main-") && lb.ends_with(&format!("-lb-{short}")),
            "{lb}"
        );
    }
    let api = get(
        &s,
        "staging.gitlab.com",
        "/api/v4/user",
        "gitlab_canary=true",
    );
    assert_eq!(api.status, 401);
    let e = last_log(&s);
    assert_eq!(
        (e["service"].as_str(), e["stage"].as_str()),
        (Some("api"), Some("canary"))
    );
    assert!(e["pod"]
        .as_str()
        .is_some_and(|p| p.starts_with("gitlab-cny-webservice-api-")));
    assert_eq!(api.header("gitlab-sv"), Some("api-cny-gke-us-east1-b"));

    let disabled = start(&["--canary-disabled", "--canary-weight", "1"]);
    get(
        &disabled,
        "gitlab.com",
        "/gitlab-org/gitlab",
        "gitlab_canary=true",
    );
    let e = last_log(&disabled);
    assert_eq!(
        (e["stage"].as_str(), e["route_reason"].as_str()),
        (Some("main"), Some("canary-disabled"))
    );
}

#[test]
fn last_gitlab_canary_cookie_wins_and_all_values_are_logged() {
    let s = start(&[]);
    get(
        &s,
        "staging.gitlab.com",
        "/",
        "gitlab_canary=true; x=1; gitlab_canary=false",
    );
    let e = last_log(&s);
    assert_eq!(e["stage"], "main");
    assert_eq!(e["route_reason"], "cookie-false");
    assert_eq!(e["gitlab_canary"], json!(["true", "false"]));
    assert_eq!(e["cookies"], json!(["gitlab_canary", "x", "gitlab_canary"]));
    get(
        &s,
        "staging.gitlab.com",
        "/",
        "gitlab_canary=false; gitlab_canary=true",
    );
    assert_eq!(last_log(&s)["route_reason"], "cookie-true");
}

#[test]
fn seeded_routing_is_reproducible() {
    let run = |seed: &str| {
        let s = start(&["--seed", seed, "--canary-weight", "0.5"]);
        (0..30)
            .map(|i| {
                let path = if i % 3 == 0 { "/api/v4/user" } else { "/p" };
                get(&s, "staging.gitlab.com", path, "");
                let e = last_log(&s);
                format!("{} {}", e["stage"], e["pod"])
            })
            .collect::<Vec<_>>()
    };
    let a = run("7");
    assert_eq!(a, run("7"));
    assert_ne!(a, run("8"));
    assert!(a.iter().any(|l| l.contains("canary")) && a.iter().any(|l| l.contains("main")));
}

#[test]
fn hosts_outside_gitlab_and_the_next_page() {
    let s = start(&[]);
    let r = get(&s, "example.com", "/", "");
    assert_eq!((r.status, r.body.as_str()), (404, "unknown host\n"));
    assert!(log(&s).is_empty(), "unknown hosts are not logged");

    let r = get(&s, "next.gitlab.com", "/", "gitlab_canary=true");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(">Next</strong>"));
    assert!(r.body.contains("domain=.gitlab.com;path=/;expires="));
    assert!(r.session_cookie().is_none());
    let e = last_log(&s);
    assert_eq!(e["stage"], Value::Null);
    assert_eq!(e["host"], "next.gitlab.com");
    assert!(get(&s, "next.gitlab.com", "/", "")
        .body
        .contains(">Current</strong>"));
}

/// The `data-sidebar` JSON of the real (server-rendered) super sidebar.
fn sidebar(body: &str) -> Value {
    www::pages::sidebar_json_of(body).expect("real aside")
}

/// `gl.snowplowStandardContext` of the page's `<head>`.
fn snowplow(body: &str) -> Value {
    let head = body.split("</head>").next().unwrap_or_default();
    let raw = head
        .split("gl.snowplowStandardContext = ")
        .nth(1)
        .and_then(|r| r.split("; gl.snowplowPseudonymizedPageUrl").next())
        .expect("snowplow context in head");
    serde_json::from_str(raw).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

/// `(href, data-original-href)` of `<link id="favicon">` in `<head>`.
fn favicon(body: &str) -> (String, String) {
    let head = body.split("</head>").next().unwrap_or_default();
    let link = head
        .split("<link rel=\"icon\" type=\"image/png\" href=\"")
        .nth(1)
        .and_then(|r| r.split('>').next())
        .expect("favicon link in head");
    let href = link.split('"').next().unwrap_or_default().to_string();
    assert!(link.contains("id=\"favicon\""), "{link}");
    let original = link
        .split("data-original-href=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_default()
        .to_string();
    (href, original)
}

const FAVICON_MAIN: &str =
    "/assets/favicon-32a692c22f840557b511bdb2ddf2a504ddae7c3fcd1a535269f7b321931b8284.png";
const FAVICON_CANARY: &str =
    "/assets/favicon-yellow-84482a3d2d1bc5bfac60276055771fb9a3ca8513a6c0817a00ad85980d45b3c0.png";
const FAVICON_CI_RUNNING: &str = "/assets/ci_favicons/favicon_status_running-d897a229ec5b8074720cff9081e26feddfb6661228e963027aea791fc1a4537c.png";
const FAVICON_CUSTOM: &str = "/uploads/-/system/appearance/favicon/1/custom.png";

#[test]
fn perf_bar_markup_and_peek_results() {
    let s = start(&[]);
    let r = get(
        &s,
        "staging.gitlab.com",
        "/group/project",
        "gitlab_canary=true; perf_bar_enabled=true",
    );
    let rid = r.header("x-request-id").expect("request id").to_string();
    let body_start = r
        .body
        .split("data-page=\"projects:show\">\n")
        .nth(1)
        .expect("body");
    assert!(body_start.starts_with(&format!(
        "<div id=\"js-peek\" class=\"staging\" data-env=\"staging\" data-request-id=\"{rid}\" data-request-method=\"GET\" data-peek-url=\"/-/peek/results\" data-stats-url=\""
    )));
    assert!(r.body.contains("<title>/group/project · GitLab</title>"));
    let pod = last_log(&s)["pod"].as_str().expect("pod").to_string();

    // The peek request is routed (to main here) but describes the page's request; it is
    // answered to perf-bar users only.
    let peek_path = format!("/-/peek/results?request_id={rid}");
    let peek = get(
        &s,
        "staging.gitlab.com",
        &peek_path,
        "gitlab_canary=false; perf_bar_enabled=true",
    );
    assert_eq!(peek.status, 200);
    let peek = peek.json();
    assert_eq!(
        peek["data"]["host"],
        json!({"hostname": pod, "canary": true})
    );
    assert!(peek["data"]["active-record"]["calls"].as_u64().is_some());
    assert_eq!(
        (&peek["context"], &peek["has_warnings"]),
        (&json!({}), &json!(false))
    );
    assert!(peek.get("host").is_none(), "no top-level host any more");
    assert_eq!(last_log(&s)["stage"], "main");
    let without_cookie = get(&s, "staging.gitlab.com", &peek_path, "gitlab_canary=false");
    assert_eq!(without_cookie.status, 404);
    assert!(without_cookie.json().get("message").is_some());
    let missing = get(
        &s,
        "staging.gitlab.com",
        "/-/peek/results?request_id=nope",
        "perf_bar_enabled=true",
    );
    assert_eq!(missing.status, 404);
    assert!(missing.json().get("message").is_some());

    let main = get(
        &s,
        "staging.gitlab.com",
        "/",
        "gitlab_canary=false; perf_bar_enabled=true",
    );
    assert!(main.body.contains("id=\"js-peek\""));
    let main_rid = main.header("x-request-id").expect("request id");
    let main_peek = get(
        &s,
        "staging.gitlab.com",
        &format!("/-/peek/results?request_id={main_rid}"),
        "perf_bar_enabled=true",
    )
    .json();
    assert_eq!(main_peek["data"]["host"]["canary"], Value::Null);
    assert!(main_peek["data"]["host"]["hostname"]
        .as_str()
        .is_some_and(|p| p.starts_with("gitlab-webservice-web-")));

    let none = get(
        &s,
        "staging.gitlab.com",
        "/?perf=none&sidebar=none",
        "perf_bar_enabled=true",
    );
    assert!(!none.body.contains("id=\"js-peek\""));
    assert!(!none.body.contains("js-super-sidebar"));
    assert!(!get(&s, "staging.gitlab.com", "/", "")
        .body
        .contains("id=\"js-peek\""));
    // The server's element is the same in both generations.
    let legacy = get(
        &s,
        "staging.gitlab.com",
        "/?markup=legacy",
        "perf_bar_enabled=true",
    );
    assert!(legacy
        .body
        .contains("<div id=\"js-peek\" class=\"staging\" data-env=\"staging\" data-request-id=\""));

    // peek_delay=N on the page: its peek results answer N ms late (others do not).
    let slow = get(
        &s,
        "staging.gitlab.com",
        "/p/q?perf=stuck&peek_delay=300",
        "perf_bar_enabled=true",
    );
    let slow_rid = slow.header("x-request-id").expect("request id");
    let started = std::time::Instant::now();
    let late = get(
        &s,
        "staging.gitlab.com",
        &format!("/-/peek/results?request_id={slow_rid}"),
        "perf_bar_enabled=true",
    );
    assert_eq!(late.status, 200);
    assert!(started.elapsed().as_millis() >= 300);
    let started = std::time::Instant::now();
    let quick = get(
        &s,
        "staging.gitlab.com",
        &format!("/-/peek/results?request_id={main_rid}"),
        "perf_bar_enabled=true",
    );
    assert_eq!(quick.status, 200);
    assert!(started.elapsed().as_millis() < 300);

    let js = get(&s, "staging.gitlab.com", "/assets/perf_bar.js", "");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/javascript")));
    assert!(js.session_cookie().is_none());
    for needle in [
        "setTimeout(function () { load(false); }, delay)",
        "x.open('GET', url, false)",
        "delay = 150;",
        "replaceChild(root, serverPeek)",
        "'peek-view-host'",
        "'current-host canary'",
        "'environment-info'",
        "'performance-bar-info-button'",
        "'Environment information'",
        "'host-emoji'",
        "'canary-emoji'",
        "'Request made from Canary'",
        "params.get('modal') === 'lazy'",
        "params.get('perf') === 'stuck'",
        "data.host.canary === true",
        "major < 18",
    ] {
        assert!(js.body.contains(needle), "perf_bar.js lacks {needle}");
    }
}

#[test]
fn markup_generation_from_flag_config_and_query() {
    let s = start(&[]);
    let cfg = admin(&s, "GET", "/-/standin/config", "").json();
    assert_eq!(cfg["markup"], "current");
    let page = |s: &TestServer, path: &str| {
        get(
            s,
            "staging.gitlab.com",
            path,
            "gitlab_canary=true; perf_bar_enabled=true",
        )
    };
    let version = |r: &Reply| {
        r.body
            .split("\"version\":\"")
            .nth(1)
            .and_then(|v| v.split('"').next())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(version(&page(&s, "/")), "18.6.0-pre");
    assert_eq!(version(&page(&s, "/?markup=legacy")), "17.7.0-pre");
    assert_eq!(version(&page(&s, "/big?markup=legacy")), "17.7.0-pre");
    assert_eq!(version(&page(&s, "/lookalike?markup=legacy")), "17.7.0-pre");
    assert_eq!(
        version(&page(&s, "/users/sign_in?markup=legacy")),
        "17.7.0-pre"
    );
    assert_eq!(version(&page(&s, "/?markup=bogus")), "18.6.0-pre");

    let cfg = admin(&s, "POST", "/-/standin/config", r#"{"markup":"legacy"}"#);
    assert_eq!(cfg.json()["markup"], "legacy");
    assert_eq!(version(&page(&s, "/")), "17.7.0-pre");
    assert_eq!(
        version(&page(&s, "/?markup=current")),
        "18.6.0-pre",
        "the query wins"
    );
    assert_eq!(
        admin(&s, "POST", "/-/standin/config", r#"{"markup":"17"}"#).status,
        400
    );
    assert_eq!(
        admin(&s, "GET", "/-/standin/state", "").json()["config"]["markup"],
        "legacy"
    );

    let flagged = start(&["--markup", "legacy"]);
    assert_eq!(version(&page(&flagged, "/")), "17.7.0-pre");
    assert_eq!(
        admin(&flagged, "GET", "/-/standin/config", "").json()["markup"],
        "legacy"
    );
}

#[test]
fn favicons_per_stage_host_and_page() {
    let s = start(&[]);
    for markup in ["current", "legacy"] {
        for (host, cookie, expected) in [
            ("staging.gitlab.com", "gitlab_canary=true", FAVICON_CANARY),
            ("staging.gitlab.com", "gitlab_canary=false", FAVICON_MAIN),
            ("gitlab.com", "gitlab_canary=true", FAVICON_CANARY),
            ("gitlab.com", "gitlab_canary=false", FAVICON_MAIN),
            ("gitlab.example.test", "gitlab_canary=true", FAVICON_MAIN),
            ("gitlab.example.test", "gitlab_canary=false", FAVICON_MAIN),
        ] {
            for path in [
                "/",
                "/big",
                "/lookalike",
                "/users/sign_in",
                "/a/b/-/pipelines/3",
            ] {
                let r = get(&s, host, &format!("{path}?markup={markup}"), cookie);
                let (href, original) = favicon(&r.body);
                assert_eq!(
                    (href.as_str(), original.as_str()),
                    (expected, expected),
                    "{markup} {host} {path} {cookie}"
                );
            }
            for (query, icon) in [
                ("custom", FAVICON_CUSTOM),
                ("yellow", FAVICON_CANARY),
                ("plain", FAVICON_MAIN),
            ] {
                let r = get(
                    &s,
                    host,
                    &format!("/x/y?favicon={query}&markup={markup}"),
                    cookie,
                );
                assert_eq!(favicon(&r.body), (icon.to_string(), icon.to_string()));
            }
        }
    }
    for path in [
        FAVICON_MAIN,
        FAVICON_CANARY,
        FAVICON_CI_RUNNING,
        FAVICON_CUSTOM,
    ] {
        let r = get(&s, "staging.gitlab.com", path, "gitlab_canary=true");
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("image/png"));
        assert!(r.bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "{path}");
        assert!(r.header("set-cookie").is_none(), "{path} sets no cookie");
    }
    assert_eq!(
        get(&s, "staging.gitlab.com", "/assets/favicon.gif", "").status,
        200,
        "not an icon: the catch-all page"
    );
}

#[test]
fn pipeline_pages_swap_the_favicon() {
    let s = start(&[]);
    let r = get(
        &s,
        "staging.gitlab.com",
        "/gitlab-org/gitlab/-/pipelines/1234",
        "gitlab_canary=true",
    );
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-page=\"projects:pipelines:show\""));
    assert_eq!(
        favicon(&r.body),
        (FAVICON_CANARY.to_string(), FAVICON_CANARY.to_string()),
        "the server renders the stage's icon"
    );
    let script = r
        .body
        .split("<script>window.addEventListener('load',")
        .nth(1)
        .expect("the load-time swap");
    assert!(script.contains(&format!("f.setAttribute('href','{FAVICON_CI_RUNNING}')")));
    assert!(!get(&s, "staging.gitlab.com", "/gitlab-org/gitlab", "")
        .body
        .contains(FAVICON_CI_RUNNING));
}

#[test]
fn snowplow_context_per_generation() {
    let s = start(&[]);
    for (host, env) in [
        ("gitlab.com", "production"),
        ("staging.gitlab.com", "staging"),
    ] {
        let r = get(&s, host, "/a/b", "gitlab_canary=true");
        let rid = r.header("x-request-id").expect("request id");
        let ctx = snowplow(&r.body);
        assert_eq!(
            ctx,
            json!({"schema": "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-7", "data": {
                "environment": env, "source": "gitlab-rails", "plan": "free", "extra": {},
                "user_id": null, "is_gitlab_team_member": null, "namespace_id": null,
                "project_id": null, "feature_enabled_by_namespace_ids": null, "realm": "saas",
                "instance_id": null, "host_name": host, "correlation_id": rid}})
        );
        assert!(r.body.contains("<script>window.snowplowOptions = {"));
        assert!(r
            .body
            .contains("gl.snowplowPseudonymizedPageUrl = \"https://"));

        let legacy = get(&s, host, "/a/b?markup=legacy", "gitlab_canary=false");
        let pod = last_log(&s)["pod"].as_str().expect("pod").to_string();
        let ctx = snowplow(&legacy.body);
        assert_eq!(
            ctx["schema"],
            "iglu:com.gitlab/gitlab_standard/jsonschema/1-1-1"
        );
        assert_eq!(ctx["data"]["host_name"], json!(pod));
        assert_eq!(
            ctx["data"]["correlation_id"],
            json!(legacy.header("x-request-id"))
        );
    }
}

#[test]
fn sidebar_badge_and_next_item_per_generation() {
    let s = start(&[]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    for markup in ["current", "legacy"] {
        for canary in [true, false] {
            b.set_stage(Some(canary));
            let r = b.get(&format!("/p/q?markup={markup}"));
            let sb = sidebar(&r.body);
            assert_eq!(sb["is_logged_in"], false);
            for key in [
                "gitlab_com_and_canary",
                "gitlab_com_but_not_canary",
                "canary_toggle_com_url",
            ] {
                assert!(sb.get(key).is_none(), "signed out: {key}");
            }
            assert!(!r.body.contains("data-testid=\"canary-badge-link\""));
            assert!(!r.body.contains("data-testid=\"gitlab-next-item\""));
        }
    }
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    for markup in ["current", "legacy"] {
        for canary in [true, false] {
            b.set_stage(Some(canary));
            let r = b.get(&format!("/p/q?markup={markup}"));
            let sb = sidebar(&r.body);
            assert_eq!(sb["is_logged_in"], true);
            assert_eq!(
                sb["gitlab_com_and_canary"],
                if canary { json!(true) } else { json!(null) }
            );
            assert_eq!(
                sb["gitlab_com_but_not_canary"],
                if canary { json!(null) } else { json!(true) }
            );
            assert_eq!(sb["canary_toggle_com_url"], "https://next.gitlab.com");
            let badge = r.body.contains("<a data-testid=\"canary-badge-link\" class=\"gl-badge badge badge-pill badge-success gl-badge-sm\" href=\"https://next.gitlab.com\">Next</a>");
            assert_eq!(badge, markup == "legacy" && canary, "{markup} {canary}");
            let item = r.body.contains(
                "<a data-testid=\"gitlab-next-item\" href=\"#\">Switch to GitLab Next</a>",
            );
            assert_eq!(item, markup == "current" && !canary, "{markup} {canary}");
        }
    }

    // Self-managed: both flags null, no badge, no item, the plain favicon.
    let mut own = Browser::new(&s, "gitlab.example.test");
    assert_eq!(own.sign_in("qa-user", "correct-horse-battery").status, 302);
    for markup in ["current", "legacy"] {
        for canary in [true, false] {
            own.set_stage(Some(canary));
            let r = own.get(&format!("/p/q?markup={markup}"));
            let sb = sidebar(&r.body);
            assert_eq!(sb["is_logged_in"], true);
            assert_eq!(sb["gitlab_com_and_canary"], Value::Null);
            assert_eq!(sb["gitlab_com_but_not_canary"], Value::Null);
            assert!(!r.body.contains("data-testid=\"canary-badge-link\""));
            assert!(!r.body.contains("data-testid=\"gitlab-next-item\""));
            assert_eq!(favicon(&r.body).0, FAVICON_MAIN);
            assert_eq!(snowplow(&r.body)["data"]["realm"], "self-managed");
        }
    }
}

#[test]
fn big_and_lookalike_pages() {
    let s = start(&[]);
    for markup in ["current", "legacy"] {
        let big = get(
            &s,
            "gitlab.com",
            &format!("/big?markup={markup}"),
            "gitlab_canary=false",
        );
        let elements = big.body.matches('<').count() - big.body.matches("</").count();
        assert!(elements >= 6000, "{elements}");
        assert_eq!(big.body.matches("<li class=\"issue\"").count(), 1500);

        let mut b = Browser::new(&s, "gitlab.com");
        b.cookies.insert("gitlab_canary".into(), "false".into());
        b.cookies.insert("perf_bar_enabled".into(), "true".into());
        assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
        let look = b.get(&format!("/lookalike?markup={markup}"));
        let body = &look.body;
        assert_eq!(body.matches("id=\"js-peek\"").count(), 1);
        assert_eq!(body.matches("id=\"favicon\"").count(), 1);
        for id in ["js-peek", "peek-view-host", "environment-info"] {
            assert_eq!(
                body.matches(&format!("id=\"user-content-{id}\"")).count(),
                2,
                "{id}"
            );
        }
        assert!(
            !body.contains("id=\"peek-view-host\"") && !body.contains("id=\"environment-info\"")
        );
        assert_eq!(
            body.matches("<span class=\"current-host canary\">").count(),
            4
        );
        assert_eq!(body.matches("<gl-emoji data-testid=\"host-emoji\" data-name=\"computer\">\u{1F4BB}</gl-emoji><span>gitlab-cny-webservice-web-fake-00000</span>").count(), 2);
        assert_eq!(body.matches("data-testid=\"canary-emoji\"").count(), 2);
        let in_body = body.split("</head>").nth(1).unwrap_or_default();
        assert_eq!(
            in_body
                .matches(&format!("<img src=\"{FAVICON_CANARY}\""))
                .count(),
            2
        );
        assert_eq!(
            in_body
                .matches(&format!(
                    "<link rel=\"icon\" type=\"image/png\" href=\"{FAVICON_CANARY}\""
                ))
                .count(),
            2
        );
        assert_eq!(in_body.matches("<pre><code>gl.snowplowStandardContext = {&quot;data&quot;:{&quot;host_name&quot;:&quot;gitlab-cny-webservice-web-fake&quot;}}</code></pre>").count(), 2);
        assert_eq!(
            in_body
                .matches("<a data-testid=\"canary-badge-link\"")
                .count(),
            2
        );
        let hostile_aside = body
            .find("<aside class=\"js-super-sidebar\" data-sidebar='{\"gitlab_com_and_canary\":true")
            .expect("hostile aside");
        let real_aside = body
            .find("js-super-sidebar super-sidebar-loading")
            .expect("real aside");
        assert!(hostile_aside < real_aside);
        let description = body.find("<div class=\"description md\" data-testid=\"issue-description\"><div class=\"lookalike-description\">").expect("copy in main");
        assert!(description > real_aside);
        // The real markup still tells main.
        assert_eq!(sidebar(body)["gitlab_com_and_canary"], Value::Null);
        assert_eq!(sidebar(body)["gitlab_com_but_not_canary"], true);
        assert_eq!(favicon(body).0, FAVICON_MAIN);
        assert_eq!(last_log(&s)["stage"], "main");
        assert!(snowplow(body)["data"]["host_name"]
            .as_str()
            .is_some_and(|h| !h.contains("fake")));
    }
}

#[test]
fn sign_in_csrf_and_sign_out() {
    let s = start(&[]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    let form = b.get("/users/sign_in");
    assert!(
        form.body.contains("name=\"user[login]\"")
            && form.body.contains("data-testid=\"sign-in-button\"")
    );
    assert!(
        form.body.contains("data-testid=\"username-field\"")
            && form.body.contains("data-testid=\"password-field\"")
    );
    let anon = b
        .cookies
        .get("_gitlab_session")
        .cloned()
        .expect("anonymous session issued");
    assert_eq!(anon.len(), 32);
    assert!(form
        .header("set-cookie")
        .is_some_and(|c| c.contains("HttpOnly") && c.contains("path=/") && !c.contains("secure")));

    let bad_token = b.post(
        "/users/sign_in",
        "authenticity_token=nope&user%5Blogin%5D=qa-user&user%5Bpassword%5D=correct-horse-battery",
    );
    assert_eq!(bad_token.status, 422);
    let no_token = b.post(
        "/users/sign_in",
        "user%5Blogin%5D=qa-user&user%5Bpassword%5D=correct-horse-battery",
    );
    assert_eq!(no_token.status, 422);
    let wrong = b.sign_in("qa-user", "staple-horse-battery");
    assert_eq!(wrong.status, 200);
    assert!(wrong.body.contains("Invalid login or password."));
    assert_eq!(b.api_user().status, 401);

    let ok = b.sign_in("qa-user", "correct-horse-battery");
    assert_eq!(ok.status, 302);
    assert_eq!(ok.header("location"), Some("/"));
    let signed_in = b.cookies.get("_gitlab_session").cloned().expect("session");
    assert_ne!(signed_in, anon, "the session id rotates on sign-in");
    assert!(last_log(&s)["session_rotated"].as_bool().unwrap_or(false));

    let me = b.api_user();
    assert_eq!(me.status, 200);
    assert_eq!(
        me.json(),
        json!({"id": 101, "username": "qa-user", "name": "QA User", "state": "active", "avatar_url": "/uploads/-/system/user/avatar/101/avatar.png", "web_url": "https://staging.gitlab.com/qa-user"})
    );
    let page = b.get("/");
    assert!(page
        .body
        .contains("\"current_username\":\"qa-user\",\"current_user_id\":101"));
    assert!(page.body.contains("&quot;is_logged_in&quot;:true"));
    assert!(page.body.contains("data-testid=\"sign-out-link\""));
    assert_eq!(last_log(&s)["user"], "qa-user");
    assert_eq!(
        b.get("/users/sign_in").status,
        302,
        "signed-in users are sent home"
    );

    let refused = b.send("POST", "/users/sign_out", &[("X-CSRF-Token", "wrong")], "");
    assert_eq!(refused.status, 422);
    assert_eq!(b.api_user().status, 200);
    let token = b.get("/").csrf();
    let out = b.send("POST", "/users/sign_out", &[("X-CSRF-Token", &token)], "");
    assert_eq!(out.status, 302);
    assert_eq!(out.header("location"), Some("/users/sign_in"));
    assert_ne!(b.cookies.get("_gitlab_session"), Some(&signed_in));
    assert_eq!(b.api_user().status, 401);

    // Sign in again, as the other user, and sign out with the form field.
    assert_eq!(b.sign_in("other-user", "staple-horse-battery").status, 302);
    assert_eq!(b.api_user().json()["username"], "other-user");
    let token = b.get("/").csrf();
    let out = b.post(
        "/users/sign_out",
        &format!("authenticity_token={}", urlencode(&token)),
    );
    assert_eq!(out.status, 302);
    assert_eq!(b.api_user().status, 401);
}

#[test]
fn compatible_sessions_survive_stage_switches() {
    let s = start(&[]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(false));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    for stage in [Some(true), Some(false), Some(true), None, Some(false)] {
        b.set_stage(stage);
        assert_eq!(b.api_user().status, 200, "{stage:?}");
        let page = b.get("/");
        assert!(page.session_cookie().is_none());
        let e = last_log(&s);
        assert_eq!(
            (e["session"].as_str(), e["user"].as_str()),
            (Some("valid"), Some("qa-user"))
        );
    }
}

#[test]
fn canary_new_format_signs_users_out_on_main() {
    let s = start(&["--session-format", "canary-new-format"]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(false));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    let first = b.cookies.get("_gitlab_session").cloned();
    assert_eq!(b.get("/").status, 200);
    assert_eq!(
        last_log(&s)["user"],
        "qa-user",
        "main reads what main wrote"
    );

    b.set_stage(Some(true));
    assert_eq!(
        b.api_user().status,
        200,
        "canary reads the old format (and rewrites it)"
    );
    let state = admin(&s, "GET", "/-/standin/state", "").json();
    assert_eq!(state["sessions_by_format"]["new"], 1);

    b.set_stage(Some(false));
    let page = b.get("/");
    assert!(page.body.contains("\"current_username\":null"));
    let fresh = page.session_cookie().expect("a fresh session cookie");
    assert_ne!(Some(&fresh), first.as_ref());
    let e = last_log(&s);
    assert_eq!(e["session"], "unreadable");
    assert_eq!(e["session_rotated"], true);
    assert_eq!(e["user"], Value::Null);
    assert_eq!(b.api_user().status, 401, "signed out for good");

    // The API says the same, with a fresh cookie, when it meets a new-format session.
    b.set_stage(Some(true));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    assert_eq!(b.api_user().status, 200);
    b.set_stage(Some(false));
    let api = b.api_user();
    assert_eq!(api.status, 401);
    assert!(api.session_cookie().is_some());
    assert_eq!(last_log(&s)["session"], "unreadable");

    // Switching the mode at run time heals new sign-ins.
    let cfg = admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"session_format":"compatible"}"#,
    );
    assert_eq!(cfg.json()["session_format"], "compatible");
    b.set_stage(Some(true));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    b.set_stage(Some(false));
    assert_eq!(b.api_user().status, 200);
}

fn change(server: &TestServer, body: &str) -> Reply {
    admin(server, "POST", "/-/standin/change", body)
}

#[test]
fn remember_me_signs_users_back_in_with_a_new_session() {
    let s = start(&[]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(false));
    let form = b.get("/users/sign_in");
    assert!(form.body.contains("<input name=\"user[remember_me]\" type=\"hidden\" value=\"0\" autocomplete=\"off\"><input class=\"custom-control-input\" type=\"checkbox\" value=\"1\" name=\"user[remember_me]\" id=\"user_remember_me\" data-testid=\"remember-me-checkbox\">"));

    // Without the tick: no remember cookie, and a lost session stays lost.
    let plain = b.sign_in_with(
        "qa-user",
        "correct-horse-battery",
        "&user%5Bremember_me%5D=0",
    );
    assert_eq!(plain.status, 302);
    assert!(plain.set_cookie("remember_user_token").is_none());
    assert_eq!(last_log(&s)["remember_me"], false);
    b.cookies.remove("_gitlab_session");
    assert_eq!(b.api_user().status, 401);

    let ok = b.sign_in_remembered("qa-user", "correct-horse-battery");
    assert_eq!(ok.status, 302);
    assert_eq!(last_log(&s)["remember_me"], true);
    let header = ok
        .set_cookie("remember_user_token")
        .expect("remember cookie");
    assert!(
        header.contains("; path=/; expires=") && header.contains("HttpOnly"),
        "{header}"
    );
    assert!(!header.contains("secure") && !header.to_ascii_lowercase().contains("domain="));
    let token = b
        .cookies
        .get("remember_user_token")
        .cloned()
        .expect("token");
    assert!(token.len() >= 32);
    let first_session = b.cookies.get("_gitlab_session").cloned().expect("session");
    let first_csrf = b.get("/").csrf();

    // The session cookie is deleted: remember-me signs the user in with a new session.
    b.cookies.remove("_gitlab_session");
    let me = b.api_user();
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["username"], "qa-user");
    let second_session = me.session_cookie().expect("a new session cookie");
    assert_ne!(second_session, first_session);
    assert!(me.set_cookie("remember_user_token").is_none(), "not re-set");
    let e = last_log(&s);
    assert_eq!(
        (
            e["session"].as_str(),
            e["session_rotated"].as_bool(),
            e["user"].as_str()
        ),
        (Some("remembered"), Some(true), Some("qa-user"))
    );
    let page = b.get("/");
    assert_eq!(last_log(&s)["session"], "valid");
    assert_ne!(page.csrf(), first_csrf, "a new CSRF token");
    assert!(page.session_cookie().is_none());

    // An unknown (flushed) session id and a session on the other stage work the same way.
    admin(&s, "POST", "/-/standin/flush-sessions", "");
    b.set_stage(Some(true));
    let page = b.get("/");
    assert!(page.body.contains("\"current_username\":\"qa-user\""));
    let e = last_log(&s);
    assert_eq!(
        (
            e["session"].as_str(),
            e["session_rotated"].as_bool(),
            e["stage"].as_str()
        ),
        (Some("remembered"), Some(true), Some("canary"))
    );
    assert_ne!(b.cookies.get("_gitlab_session"), Some(&second_session));

    // An unreadable session (canary-new-format, main) is replaced the same way.
    admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"session_format":"canary-new-format"}"#,
    );
    assert_eq!(b.api_user().status, 200, "canary writes the new format");
    b.set_stage(Some(false));
    let before = b.cookies.get("_gitlab_session").cloned();
    assert_eq!(b.api_user().status, 200);
    assert_eq!(last_log(&s)["session"], "remembered");
    assert_ne!(b.cookies.get("_gitlab_session").cloned(), before);
    admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"session_format":"compatible"}"#,
    );

    // A signed-out (anonymous) session with a remember cookie is signed in too (Devise).
    let mut other = Browser::new(&s, "staging.gitlab.com");
    other.get("/");
    other
        .cookies
        .insert("remember_user_token".into(), token.clone());
    assert_eq!(other.api_user().status, 200);
    assert_eq!(last_log(&s)["session"], "remembered");

    // Sign-out deletes the cookie and forgets the user's tokens server-side.
    let out = b.sign_out();
    assert_eq!(out.status, 302);
    let deleted = out.set_cookie("remember_user_token").expect("deleted");
    assert!(deleted.starts_with("remember_user_token=;") && deleted.contains("max-age=0"));
    assert!(!b.cookies.contains_key("remember_user_token"));
    assert_eq!(b.api_user().status, 401);
    let mut replay = Browser::new(&s, "staging.gitlab.com");
    replay.cookies.insert("remember_user_token".into(), token);
    assert_eq!(
        replay.api_user().status,
        401,
        "a forgotten token signs nobody in"
    );
    assert_eq!(last_log(&s)["session"], "none");
    assert_eq!(
        admin(&s, "GET", "/-/standin/state", "").json()["remember_tokens"],
        0
    );
    let mut junk = Browser::new(&s, "staging.gitlab.com");
    junk.cookies
        .insert("remember_user_token".into(), "not-a-token".into());
    assert_eq!(junk.api_user().status, 401);
}

#[test]
fn change_apply_and_rollback() {
    let s = start(&[]);
    let state = admin(&s, "GET", "/-/standin/change", "").json();
    assert_eq!(
        state,
        json!({"change": "before", "kind": null, "applied_at": null, "rolled_back_at": null,
               "writes": {"canary": 0, "main": 0}, "reads": {"canary": [0, 1], "main": [0, 1]},
               "sessions_by_generation": {"0": 0, "1": 0}})
    );
    assert_eq!(change(&s, r#"{"action":"rollback"}"#).status, 409);
    assert_eq!(change(&s, r#"{"action":"apply"}"#).status, 400);
    assert_eq!(change(&s, r#"{"action":"apply","kind":"x"}"#).status, 400);
    assert_eq!(change(&s, "nope").status, 400);

    // compatible: signed in before, during and after.
    let mut b = Browser::new(&s, "staging.gitlab.com");
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    b.get("/");
    assert_eq!(last_log(&s)["change"], "before");
    let applied = change(&s, r#"{"action":"apply","kind":"compatible"}"#);
    assert_eq!(applied.status, 200);
    let applied = applied.json();
    assert_eq!(
        (&applied["change"], &applied["kind"]),
        (&json!("applied"), &json!("compatible"))
    );
    assert!(applied["applied_at"].is_string());
    assert_eq!(applied["writes"], json!({"canary": 1, "main": 1}));
    assert_eq!(
        change(&s, r#"{"action":"apply","kind":"compatible"}"#).status,
        409
    );
    for stage in [Some(true), Some(false)] {
        b.set_stage(stage);
        assert_eq!(b.api_user().status, 200);
        let e = last_log(&s);
        assert_eq!(
            (e["session"].as_str(), e["change"].as_str()),
            (Some("valid"), Some("applied"))
        );
    }
    let rolled = change(&s, r#"{"action":"rollback"}"#).json();
    assert_eq!(rolled["change"], "rolled-back");
    assert_eq!(rolled["sessions_by_generation"]["1"], 1);
    assert_eq!(b.api_user().status, 200);
    assert_eq!(last_log(&s)["change"], "rolled-back");
    assert_eq!(
        admin(&s, "GET", "/-/standin/state", "").json()["sessions_by_generation"]["1"],
        0,
        "rewritten by the old code"
    );

    // unreadable-before: sessions from before are lost; new sign-ins work; rollback reads all.
    let s = start(&[]);
    let mut b = Browser::new(&s, "gitlab.com");
    let mut kept = Browser::new(&s, "gitlab.com");
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    assert_eq!(
        kept.sign_in_remembered("other-user", "staple-horse-battery")
            .status,
        302
    );
    change(&s, r#"{"action":"apply","kind":"unreadable-before"}"#);
    let page = b.get("/");
    assert!(page.body.contains("\"current_username\":null"));
    assert!(page.session_cookie().is_some());
    let e = last_log(&s);
    assert_eq!(
        (
            e["session"].as_str(),
            e["session_rotated"].as_bool(),
            e["change"].as_str()
        ),
        (Some("unreadable"), Some(true), Some("applied"))
    );
    assert_eq!(b.api_user().status, 401);
    // Remember-me hides the loss: signed in again, with a new session.
    let before = kept.cookies.get("_gitlab_session").cloned();
    assert_eq!(kept.api_user().status, 200);
    assert_eq!(last_log(&s)["session"], "remembered");
    assert_ne!(kept.cookies.get("_gitlab_session").cloned(), before);
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    assert_eq!(b.api_user().status, 200);
    change(&s, r#"{"action":"rollback"}"#);
    assert_eq!(b.api_user().status, 200, "a rollback reads everything");

    // unreadable-after-on-rollback: what was written after the change is lost on rollback;
    // a session nobody touched while it was applied survives.
    let s = start(&[]);
    let mut touched = Browser::new(&s, "staging.gitlab.com");
    let mut idle = Browser::new(&s, "staging.gitlab.com");
    assert_eq!(
        touched.sign_in("qa-user", "correct-horse-battery").status,
        302
    );
    assert_eq!(
        idle.sign_in("other-user", "staple-horse-battery").status,
        302
    );
    change(
        &s,
        r#"{"action":"apply","kind":"unreadable-after-on-rollback"}"#,
    );
    assert_eq!(touched.api_user().status, 200);
    let rolled = change(&s, r#"{"action":"rollback"}"#).json();
    assert_eq!(rolled["reads"], json!({"canary": [0], "main": [0]}));
    assert_eq!(touched.api_user().status, 401);
    assert_eq!(last_log(&s)["session"], "unreadable");
    assert_eq!(idle.api_user().status, 200);
    // Applying again after a rollback is allowed.
    assert_eq!(
        change(&s, r#"{"action":"apply","kind":"compatible"}"#).status,
        200
    );

    // canary-new-format as a change: only canary runs the new code.
    let s = start(&[]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(false));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    let st = change(&s, r#"{"action":"apply","kind":"canary-new-format"}"#).json();
    assert_eq!(st["writes"], json!({"canary": 1, "main": 0}));
    assert_eq!(b.api_user().status, 200, "main reads its own");
    b.set_stage(Some(true));
    assert_eq!(
        b.api_user().status,
        200,
        "canary reads the old and writes the new"
    );
    b.set_stage(Some(false));
    assert_eq!(b.api_user().status, 401);
    assert_eq!(last_log(&s)["session"], "unreadable");
}

/// Signs in and returns the browser with a page's CSRF token.
fn signed_in<'a>(s: &'a TestServer, login: &str, password: &str) -> (Browser<'a>, String) {
    let mut b = Browser::new(s, "gitlab.com");
    b.set_stage(Some(false));
    assert_eq!(b.sign_in(login, password).status, 302);
    let token = b
        .get("/gitlab-com/gl-infra/production/-/issues/19142")
        .csrf();
    (b, token)
}

#[test]
fn issue_notes_api() {
    let s = start(&[]);
    let (mut b, token) = signed_in(&s, "qa-user", "correct-horse-battery");
    let path = "/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/19142/notes";
    let json_headers = |t: &str| {
        vec![
            ("Content-Type", "application/json".to_string()),
            ("X-CSRF-Token", t.to_string()),
        ]
    };
    let post = |b: &mut Browser, path: &str, headers: &[(&str, String)], body: &str| {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        b.send("POST", path, &h, body)
    };

    let secret_body = "Session check: still signed in on canary and main (qa-7f3a)";
    let created = post(
        &mut b,
        path,
        &json_headers(&token),
        &json!({"body": secret_body}).to_string(),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let note = created.json();
    let first_id = note["id"].as_u64().expect("id");
    assert_eq!(note["body"], secret_body);
    assert_eq!(note["author"]["id"], 101);
    assert_eq!(note["author"]["username"], "qa-user");
    assert_eq!(note["noteable_iid"], 19142);
    assert_eq!(note["project_id"], 7444821);
    assert!(created.session_cookie().is_none());
    let e = last_log(&s);
    assert_eq!(e["note_body_length"], secret_body.chars().count());
    assert_eq!(e["status"], 201);

    // A form body, and the numeric project id.
    let form = post(
        &mut b,
        "/api/v4/projects/7444821/issues/19142/notes",
        &[
            ("Content-Type", "application/x-www-form-urlencoded".into()),
            ("X-CSRF-Token", token.clone()),
        ],
        "body=second+note",
    );
    assert_eq!(form.status, 201);
    assert_eq!(form.json()["body"], "second note");
    assert!(form.json()["id"].as_u64().is_some_and(|id| id > first_id));

    // Session cookies without (or with a wrong) CSRF token are not authenticated.
    let unauthorized = json!({"message": "401 Unauthorized"});
    let no_token = post(
        &mut b,
        path,
        &[("Content-Type", "application/json".into())],
        r#"{"body":"x"}"#,
    );
    assert_eq!(
        (no_token.status, no_token.json()),
        (401, unauthorized.clone())
    );
    let wrong = post(&mut b, path, &json_headers("wrong"), r#"{"body":"x"}"#);
    assert_eq!((wrong.status, wrong.json()), (401, unauthorized.clone()));

    for (target, status, message) in [
        (
            "/api/v4/projects/private-group%2Fsecret-project/issues/1/notes",
            404,
            "404 Project Not Found",
        ),
        (
            "/api/v4/projects/1000001/issues/1/notes",
            404,
            "404 Project Not Found",
        ),
        (
            "/api/v4/projects/999/issues/1/notes",
            404,
            "404 Project Not Found",
        ),
        (
            "/api/v4/projects/gitlab-com%2Fgl-infra%2Freadonly/issues/1/notes",
            403,
            "403 Forbidden",
        ),
        (
            "/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/100001/notes",
            404,
            "404 Issue Not Found",
        ),
    ] {
        let r = post(&mut b, target, &json_headers(&token), r#"{"body":"x"}"#);
        assert_eq!(
            (r.status, r.json()),
            (status, json!({"message": message})),
            "{target}"
        );
    }
    let missing = post(&mut b, path, &json_headers(&token), r#"{"note":"x"}"#);
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json(), json!({"error": "body is missing"}));
    let blank = post(&mut b, path, &json_headers(&token), r#"{"body":"  "}"#);
    assert_eq!(blank.status, 400);

    // other-user may comment on the read-only project.
    let (mut other, other_token) = signed_in(&s, "other-user", "staple-horse-battery");
    let r = post(
        &mut other,
        "/api/v4/projects/gitlab-com%2Fgl-infra%2Freadonly/issues/1/notes",
        &json_headers(&other_token),
        r#"{"body":"allowed"}"#,
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json()["author"]["username"], "other-user");

    // Signed out (an anonymous session with its valid token): 401.
    let mut anon = Browser::new(&s, "gitlab.com");
    let anon_token = anon.get("/").csrf();
    let r = post(
        &mut anon,
        path,
        &json_headers(&anon_token),
        r#"{"body":"x"}"#,
    );
    assert_eq!(r.status, 401);
    let r = request(
        s.port,
        "POST",
        "gitlab.com",
        path,
        &[("Content-Type", "application/json")],
        r#"{"body":"x"}"#,
    );
    assert_eq!(r.status, 401);

    // The notes are listed by the admin API and on the issue page; bodies never in the log.
    let listed = admin(&s, "GET", "/-/standin/notes", "").json();
    let listed = listed.as_array().expect("array");
    assert_eq!(listed.len(), 3);
    assert_eq!(listed[0]["id"], first_id);
    assert_eq!(listed[0]["project"], "gitlab-com/gl-infra/production");
    assert_eq!(listed[0]["iid"], 19142);
    assert_eq!(listed[0]["body"], secret_body);
    assert_eq!(listed[0]["author"], "qa-user");
    assert!(listed[0]["at"].as_str().is_some_and(|t| t.ends_with('Z')));
    assert!(!admin(&s, "GET", "/-/standin/log", "")
        .body
        .contains("qa-7f3a"));
    let api_list = b.get("/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/19142/notes");
    assert_eq!(api_list.json().as_array().map(Vec::len), Some(2));

    let page = b.get("/gitlab-com/gl-infra/production/-/issues/19142");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("data-page=\"projects:issues:show\""));
    assert!(page.body.contains(&format!("<li id=\"note_{first_id}\" class=\"note\" data-note-id=\"{first_id}\"><span class=\"note-author\">@qa-user</span> <div class=\"note-text md\">{secret_body}</div></li>")));
    assert!(page.body.contains(
        "data-notes-url=\"/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/19142/notes\""
    ));
    assert!(
        page.body.contains("data-testid=\"comment-field\"")
            && page.body.contains("data-testid=\"comment-button\"")
    );
    assert!(page
        .body
        .contains("'X-CSRF-Token':meta?meta.getAttribute('content'):''"));
    let signed_out = anon.get("/gitlab-com/gl-infra/production/-/issues/19142");
    assert!(signed_out
        .body
        .contains("data-testid=\"sign-in-to-comment\""));
    assert!(!signed_out.body.contains("data-testid=\"comment-form\""));
    assert_eq!(
        anon.get("/private-group/secret-project/-/issues/1").status,
        404
    );
    assert_eq!(anon.get("/gitlab-org/gitlab/-/issues/100001").status, 404);
    assert_eq!(anon.get("/gitlab-org/gitlab/-/issues/7").status, 200);

    // Remember-me after a lost session issues a new CSRF token: the old one no longer works.
    let mut r = Browser::new(&s, "gitlab.com");
    r.set_stage(Some(false));
    assert_eq!(
        r.sign_in_remembered("qa-user", "correct-horse-battery")
            .status,
        302
    );
    let old = r.get("/gitlab-org/gitlab/-/issues/1").csrf();
    r.cookies.remove("_gitlab_session");
    let stale = post(
        &mut r,
        "/api/v4/projects/gitlab-org%2Fgitlab/issues/1/notes",
        &json_headers(&old),
        r#"{"body":"x"}"#,
    );
    assert_eq!(stale.status, 401);
    assert_eq!(last_log(&s)["session"], "remembered");
    let fresh = r.get("/gitlab-org/gitlab/-/issues/1").csrf();
    let ok = post(
        &mut r,
        "/api/v4/projects/gitlab-org%2Fgitlab/issues/1/notes",
        &json_headers(&fresh),
        r#"{"body":"x"}"#,
    );
    assert_eq!(ok.status, 201);
}

#[test]
fn secrets_never_reach_the_log() {
    let dir = std::env::temp_dir().join(format!("www-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let log_path = dir.join("requests.log");
    let log_arg = log_path.to_string_lossy().into_owned();
    let s = start(&["--log", &log_arg, "--session-format", "canary-new-format"]);
    let mut secrets = Vec::new();
    let mut b = Browser::new(&s, "staging.gitlab.com");
    let form = b.get("/users/sign_in?authenticity_token=leaky-query-token");
    secrets.push(form.csrf());
    secrets.extend(b.cookies.get("_gitlab_session").cloned());
    // On main only: a weighted draw to canary would write a session main cannot read here.
    b.set_stage(Some(false));
    b.sign_in_remembered("qa-user", "correct-horse-battery");
    secrets.extend(b.cookies.get("_gitlab_session").cloned());
    secrets.extend(b.cookies.get("remember_user_token").cloned());
    let token = b.get("/g/p/-/issues/3").csrf();
    secrets.push(token.clone());
    let note = "a-note-body-that-must-not-be-logged";
    let created = b.send(
        "POST",
        "/api/v4/projects/g%2Fp/issues/3/notes",
        &[("X-CSRF-Token", &token)],
        &format!("body={note}"),
    );
    assert_eq!(created.status, 201);
    secrets.push(note.into());
    // Remember-me signs the user back in: the new session is a secret too.
    b.cookies.remove("_gitlab_session");
    b.get("/");
    secrets.extend(b.cookies.get("_gitlab_session").cloned());
    b.set_stage(Some(true));
    let page = b.get("/");
    secrets.push(page.csrf());
    b.set_stage(Some(false));
    b.get("/");
    secrets.extend(b.cookies.get("_gitlab_session").cloned());
    let token = b.get("/").csrf();
    secrets.push(token.clone());
    b.send("POST", "/users/sign_out", &[("X-CSRF-Token", &token)], "");
    secrets.extend(b.cookies.get("_gitlab_session").cloned());
    secrets.push("correct-horse-battery".into());
    secrets.push("leaky-query-token".into());

    let in_memory = admin(&s, "GET", "/-/standin/log", "").body;
    drop(s);
    let on_disk = std::fs::read_to_string(&log_path).expect("log file");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(in_memory.contains("_gitlab_session"), "names are logged");
    let entries: Value = serde_json::from_str(&in_memory).expect("log JSON");
    assert_eq!(
        entries.as_array().map(Vec::len),
        Some(on_disk.lines().count())
    );
    assert!(on_disk.lines().count() >= 7);
    for secret in secrets.iter().filter(|s| !s.is_empty()) {
        assert!(!in_memory.contains(secret.as_str()), "secret in memory log");
        assert!(!on_disk.contains(secret.as_str()), "secret in log file");
    }
}

#[test]
fn admin_config_faults_flush_and_state() {
    let s = start(&[]);
    let cfg = admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"fault":{"stage":"canary","status":502,"delay_ms":20},"perf_delay_ms":5}"#,
    );
    assert_eq!(cfg.status, 200);
    assert_eq!(
        cfg.json()["faults"]["canary"],
        json!({"status": 502, "delay_ms": 20})
    );
    let started = std::time::Instant::now();
    let r = get(&s, "staging.gitlab.com", "/", "gitlab_canary=true");
    assert!(started.elapsed().as_millis() >= 20);
    assert_eq!(r.status, 502);
    assert!(
        r.body
            .contains("502 Whoops, GitLab is taking too much time to respond.")
            || (r.body.contains("502")
                && r.body
                    .contains("Whoops, GitLab is taking too much time to respond."))
    );
    let e = last_log(&s);
    assert_eq!(
        (e["status"].as_u64(), e["stage"].as_str()),
        (Some(502), Some("canary"))
    );
    assert_eq!(
        get(&s, "staging.gitlab.com", "/", "gitlab_canary=false").status,
        200
    );
    assert!(get(&s, "staging.gitlab.com", "/assets/perf_bar.js", "")
        .body
        .contains("delay = 5;"));
    admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"fault":{"stage":"canary","status":null,"delay_ms":0}}"#,
    );
    assert_eq!(
        get(&s, "staging.gitlab.com", "/", "gitlab_canary=true").status,
        200
    );

    let bad = admin(&s, "POST", "/-/standin/config", r#"{"canary_weight":3}"#);
    assert_eq!(bad.status, 400);
    assert_eq!(
        admin(&s, "POST", "/-/standin/config", "not json").status,
        400
    );

    let seen = log(&s);
    let since = seen.last().and_then(|e| e["seq"].as_u64()).expect("seq");
    let state = admin(&s, "GET", "/-/standin/state", "").json();
    assert_eq!(state["requests"].as_u64(), Some(since));
    assert!(state["sessions"].as_u64().is_some_and(|n| n >= 2));
    assert_eq!(
        state["pods"]["canary"]["web"].as_array().map(Vec::len),
        Some(3)
    );
    assert_eq!(state["config"]["canary_weight"], 0.05);
    let flushed = admin(&s, "POST", "/-/standin/flush-sessions", "").json();
    assert_eq!(flushed["flushed"], state["sessions"]);
    assert_eq!(
        admin(&s, "GET", "/-/standin/state", "").json()["sessions"],
        0
    );
    assert!(log(&s).len() == seen.len(), "admin requests are not logged");
    get(&s, "gitlab.com", "/x?a=b", "");
    let newer = admin(&s, "GET", &format!("/-/standin/log?since={since}"), "").json();
    assert_eq!(newer.as_array().map(Vec::len), Some(1));
    assert_eq!(
        (newer[0]["path"].as_str(), newer[0]["query"].as_str()),
        (Some("/x"), Some("a=b"))
    );
    assert_eq!(newer[0]["host"], "gitlab.com");
    assert_eq!(newer[0]["seq"].as_u64(), Some(since + 1));
}

/// HTTPS with the certificate made at start, trusted through `--cert-out`: the SANs must
/// cover gitlab.com and its subdomains, and the session cookie gets `secure`.
#[test]
fn https_with_the_self_signed_certificate() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::sync::Arc;

    let dir = std::env::temp_dir().join(format!("www-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let pem = dir.join("cert.pem");
    let pem_arg = pem.to_string_lossy().into_owned();
    // `start` adds --http; this one runs the TLS listener.
    let s = launch(&["--port", "0", "--quiet", "--cert-out", &pem_arg]);
    assert_eq!(s.scheme, "https");

    let cert = CertificateDer::from_pem_file(&pem).expect("PEM certificate");
    let _ = std::fs::remove_dir_all(&dir);
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let config = Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth(),
    );
    let exchange = |host: &str, req: &str| -> String {
        let name = ServerName::try_from(host.to_string()).expect("server name");
        let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
        let tcp = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(req.as_bytes()).expect("write");
        let mut raw = Vec::new();
        // The server may close without close_notify; what was read is enough.
        let _ = tls.read_to_end(&mut raw);
        String::from_utf8_lossy(&raw).into_owned()
    };
    for host in [
        "gitlab.com",
        "staging.gitlab.com",
        "next.gitlab.com",
        "localhost",
    ] {
        let text = exchange(
            host,
            &format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        );
        let expected = if host == "localhost" { "404" } else { "200" };
        assert!(
            text.starts_with(&format!("HTTP/1.1 {expected}")),
            "{host}: {text}"
        );
        if host == "staging.gitlab.com" {
            assert!(text.contains("; secure; HttpOnly; SameSite=Lax"), "{text}");
        }
    }

    // remember_user_token is secure under https too.
    let form = exchange(
        "staging.gitlab.com",
        "GET /users/sign_in HTTP/1.1\r\nHost: staging.gitlab.com\r\nConnection: close\r\n\r\n",
    );
    let session = form
        .split("_gitlab_session=")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .expect("session cookie");
    let csrf = form
        .split("<meta name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("csrf");
    let body = format!(
        "authenticity_token={}&user%5Blogin%5D=qa-user&user%5Bpassword%5D=correct-horse-battery&user%5Bremember_me%5D=1",
        urlencode(csrf)
    );
    let signed_in = exchange(
        "staging.gitlab.com",
        &format!(
            "POST /users/sign_in HTTP/1.1\r\nHost: staging.gitlab.com\r\nConnection: close\r\nCookie: _gitlab_session={session}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(signed_in.starts_with("HTTP/1.1 302"), "{signed_in}");
    let remember = signed_in
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: remember_user_token=")
        })
        .expect("remember cookie");
    assert!(
        remember.contains("; path=/; expires=") && remember.contains("; secure; HttpOnly"),
        "{remember}"
    );
}

#[test]
fn reading_check_accepts_exactly_the_extension_s_shape() {
    let s = start(&[]);
    let verdict = |body: &str| admin(&s, "POST", "/-/standin/check-reading", body).json();
    let exact = r#"{"peek":{"requestId":"01H","peekUrl":"/-/peek/results","results":{"status":200,"body":"{}","error":null},"modal":{"host":"gitlab-cny-webservice-web-1-a","canaryEmoji":true},"currentHost":null},"favicon":{"href":"/assets/favicon.png","originalHref":null},"sidebar":null,"nextBadge":false,"snowplow":null}"#;
    assert_eq!(verdict(exact), json!({"ok": true}));
    // A field left out, one too many, one of the wrong type: each refused, with the reason.
    for bad in [
        r#"{"peek":null,"favicon":null,"sidebar":null,"nextBadge":false}"#,
        r#"{"peek":null,"favicon":null,"sidebar":null,"nextBadge":false,"snowplow":null,"extra":1}"#,
        r#"{"peek":null,"favicon":null,"sidebar":null,"nextBadge":"no","snowplow":null}"#,
        r#"{"peek":{"requestId":null},"favicon":null,"sidebar":null,"nextBadge":false,"snowplow":null}"#,
    ] {
        let v = verdict(bad);
        assert_eq!(v["ok"], json!(false), "{bad}");
        assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    }
    assert_eq!(
        admin(&s, "POST", "/-/standin/check-reading", "{").status,
        400
    );
}

/// Like Rails with two stores that share GitLab's keys and lack the compatibility coders:
/// every request that carries an unreadable session fails with 500, remember-me or not;
/// requests without it (and assets) work.
#[test]
fn unreadable_sessions_can_fail_with_500() {
    let s = start(&[
        "--session-format",
        "canary-new-format",
        "--unreadable",
        "error-500",
    ]);
    let cfg = admin(&s, "GET", "/-/standin/config", "").json();
    assert_eq!(cfg["unreadable"], "error-500");
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(true));
    assert_eq!(
        b.sign_in_remembered("qa-user", "correct-horse-battery")
            .status,
        302
    );
    let session = b.cookies.get("_gitlab_session").cloned();
    b.set_stage(Some(false));
    for path in [
        "/",
        "/users/sign_in",
        "/some/project",
        "/api/v4/user",
        "/-/peek/results?request_id=x",
    ] {
        let reply = b.get(path);
        assert_eq!(reply.status, 500, "{path}");
        assert!(
            reply.set_cookie("_gitlab_session").is_none(),
            "{path}: no new session"
        );
        assert!(reply.set_cookie("remember_user_token").is_none(), "{path}");
        let e = last_log(&s);
        assert_eq!(e["session"], "unreadable", "{path}");
        assert_eq!(e["user"], Value::Null, "{path}");
        assert_eq!(e["session_rotated"], false, "{path}");
    }
    assert_eq!(b.api_user().json()["message"], "500 Internal Server Error");
    assert!(b
        .get("/")
        .body
        .contains("Whoops, something went wrong on our end."));
    assert_eq!(
        b.cookies.get("_gitlab_session"),
        session.as_ref(),
        "the cookie stays"
    );
    // Assets never read the session.
    assert_eq!(b.get("/assets/perf_bar.js").status, 200);
    assert_eq!(b.get("/favicon.ico").status, 200);
    // Without the cookie, main works.
    assert_eq!(
        get(
            &s,
            "staging.gitlab.com",
            "/users/sign_in",
            "gitlab_canary=false"
        )
        .status,
        200
    );
    assert_eq!(
        get(
            &s,
            "staging.gitlab.com",
            "/api/v4/user",
            "gitlab_canary=false"
        )
        .status,
        401
    );
    // Canary still reads it.
    b.set_stage(Some(true));
    assert_eq!(b.api_user().status, 200);

    // The change modes too, and the config switches back to signing out.
    let s = start(&["--unreadable", "error-500"]);
    let mut b = Browser::new(&s, "gitlab.com");
    b.set_stage(Some(false));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    assert_eq!(
        change(&s, r#"{"action":"apply","kind":"unreadable-before"}"#).status,
        200
    );
    assert_eq!(b.api_user().status, 500);
    let cfg = admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"unreadable":"sign-out"}"#,
    );
    assert_eq!(cfg.json()["unreadable"], "sign-out");
    let api = b.api_user();
    assert_eq!(api.status, 401);
    assert!(
        api.session_cookie().is_some(),
        "a fresh, signed-out session"
    );
    assert_eq!(
        admin(&s, "POST", "/-/standin/config", r#"{"unreadable":"never"}"#).status,
        400
    );
}

/// `session_cookie: per-store`: the old store (main) sets `_gitlab_session` without Expires;
/// the new store (canary) with Expires one week ahead, again on every answer.
#[test]
fn session_cookie_lifetime_per_store() {
    let s = start(&["--session-cookie", "per-store"]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(false));
    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    let set = admin(&s, "GET", "/-/standin/log", "").json();
    assert!(set.as_array().is_some_and(|a| !a.is_empty()));
    let page = b.get("/");
    assert_eq!(page.status, 200);
    assert!(
        page.set_cookie("_gitlab_session").is_none(),
        "main sends it once"
    );
    let value = b
        .cookies
        .get("_gitlab_session")
        .cloned()
        .expect("signed in");

    let reply = b.sign_out();
    let header = reply
        .set_cookie("_gitlab_session")
        .expect("a new anonymous session");
    assert!(!header.contains("expires="), "main: no Expires: {header}");

    assert_eq!(b.sign_in("qa-user", "correct-horse-battery").status, 302);
    b.set_stage(Some(true));
    for path in ["/", "/api/v4/user"] {
        let reply = b.get(path);
        assert_eq!(reply.status, 200, "{path}");
        let header = reply
            .set_cookie("_gitlab_session")
            .unwrap_or_else(|| panic!("{path}: re-sent"));
        assert!(header.contains("expires="), "canary: Expires: {header}");
        assert!(
            header.contains("HttpOnly") && header.contains("path=/"),
            "{header}"
        );
        let e = last_log(&s);
        assert_eq!(e["session_rotated"], false, "{path}: the same session");
        assert_eq!(e["user"], "qa-user");
    }
    assert_ne!(
        b.cookies.get("_gitlab_session"),
        Some(&value),
        "signed in again"
    );
    assert_eq!(b.get("/favicon.ico").set_cookie("_gitlab_session"), None);

    // The default keeps one week, set only with a new id.
    let s = start(&[]);
    let mut b = Browser::new(&s, "staging.gitlab.com");
    b.set_stage(Some(true));
    let form = b.get("/users/sign_in");
    assert!(form
        .set_cookie("_gitlab_session")
        .is_some_and(|h| h.contains("expires=")));
    assert!(b.get("/").set_cookie("_gitlab_session").is_none());
    let cfg = admin(
        &s,
        "POST",
        "/-/standin/config",
        r#"{"session_cookie":"per-store"}"#,
    )
    .json();
    assert_eq!(cfg["session_cookie"], "per-store");
    assert!(b.get("/").set_cookie("_gitlab_session").is_some());
}

/// Rails loads the session to find the user: an id it does not know gets a fresh cookie even
/// on a 401; a request without a cookie gets none from the API.
#[test]
fn api_401_for_an_unknown_session_sets_a_fresh_cookie() {
    let s = start(&[]);
    let reply = get(
        &s,
        "gitlab.com",
        "/api/v4/user",
        "_gitlab_session=0123456789abcdef0123456789abcdef",
    );
    assert_eq!(reply.status, 401);
    let fresh = reply.session_cookie().expect("a fresh session");
    assert_ne!(fresh, "0123456789abcdef0123456789abcdef");
    let e = last_log(&s);
    assert_eq!(
        (e["session"].as_str(), e["session_rotated"].as_bool()),
        (Some("none"), Some(true))
    );
    let reply = get(&s, "gitlab.com", "/api/v4/user", "");
    assert_eq!(reply.status, 401);
    assert!(reply.session_cookie().is_none());
    // A known anonymous session keeps its cookie.
    let again = get(
        &s,
        "gitlab.com",
        "/api/v4/user",
        &format!("_gitlab_session={fresh}"),
    );
    assert_eq!(again.status, 401);
    assert!(again.session_cookie().is_none());
}

/// Devise answers a sign-out that is not a page navigation (fetch, XHR) with 204.
#[test]
fn sign_out_by_fetch_is_204() {
    let s = start(&[]);
    for (headers, status) in [
        (vec![("Accept", "*/*"), ("Sec-Fetch-Mode", "cors")], 204),
        (vec![("Accept", "application/json")], 204),
        (vec![("X-Requested-With", "XMLHttpRequest")], 204),
        (
            vec![
                ("X-Requested-With", "XMLHttpRequest"),
                ("Accept", "application/json, text/plain, */*"),
            ],
            204,
        ),
        (
            vec![
                ("Accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
                ("Sec-Fetch-Mode", "navigate"),
            ],
            302,
        ),
        (vec![], 302),
    ] {
        let mut b = Browser::new(&s, "gitlab.com");
        b.set_stage(Some(false));
        assert_eq!(
            b.sign_in_remembered("qa-user", "correct-horse-battery")
                .status,
            302
        );
        let token = b.get("/").csrf();
        let mut all = headers.clone();
        all.push(("X-CSRF-Token", &token));
        let reply = b.send("POST", "/users/sign_out", &all, "");
        assert_eq!(reply.status, status, "{headers:?}");
        assert!(reply
            .set_cookie("remember_user_token")
            .is_some_and(|h| h.contains("max-age=0")));
        assert!(reply.session_cookie().is_some(), "a new anonymous session");
        assert_eq!(b.api_user().status, 401, "{headers:?}: signed out");
        if status == 302 {
            assert_eq!(reply.header("location"), Some("/users/sign_in"));
        } else {
            assert!(reply.body.is_empty());
        }
    }
}
