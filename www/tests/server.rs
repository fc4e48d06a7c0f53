//! The stand-in over real sockets: a server on port 0 (plain HTTP) in a thread, and a tiny
//! std-only HTTP/1.1 client.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;

use serde_json::{json, Value};
use www::{Command, Options, Server};

struct TestServer {
    port: u16,
    scheme: &'static str,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A plain-HTTP server with the given extra flags.
fn start(extra: &[&str]) -> TestServer {
    let mut args = vec!["--port", "0", "--http", "--quiet"];
    args.extend_from_slice(extra);
    launch(&args)
}

/// A server with exactly these flags, in a thread of its own; stopped when dropped.
fn launch(args: &[&str]) -> TestServer {
    let opts = match Options::parse(args.iter().copied()) {
        Ok(Command::Run(o)) => o,
        other => panic!("options: {other:?}"),
    };
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let server = Server::bind(opts).await.expect("bind");
            started_tx
                .send((server.local_addr().port(), server.scheme()))
                .expect("send port");
            server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    let (port, scheme) = started_rx.recv().expect("server started");
    TestServer {
        port,
        scheme,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `_gitlab_session` value this reply sets, if any.
    fn session_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .find_map(|(_, v)| v.strip_prefix("_gitlab_session="))
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    }

    /// `content` of `<meta name="csrf-token">`.
    fn csrf(&self) -> String {
        let after = self
            .body
            .split("<meta name=\"csrf-token\" content=\"")
            .nth(1)
            .expect("csrf meta");
        after.split('"').next().unwrap_or_default().to_string()
    }
}

fn request(
    port: u16,
    method: &str,
    host: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if method == "POST" {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Reply {
        status,
        headers,
        body: body.to_string(),
    }
}

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
        if let Some(s) = reply.session_cookie() {
            self.cookies.insert("_gitlab_session".into(), s);
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
        let form = self.get("/users/sign_in");
        assert_eq!(form.status, 200, "{}", form.body);
        let token = form.csrf();
        self.post(
            "/users/sign_in",
            &format!(
                "authenticity_token={}&user%5Blogin%5D={login}&user%5Bpassword%5D={password}",
                urlencode(&token)
            ),
        )
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

fn admin(server: &TestServer, method: &str, path: &str, body: &str) -> Reply {
    request(
        server.port,
        method,
        "localhost",
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

fn log(server: &TestServer) -> Vec<Value> {
    match admin(server, "GET", "/-/standin/log", "").json() {
        Value::Array(items) => items,
        other => panic!("log: {other}"),
    }
}

fn last_log(server: &TestServer) -> Value {
    log(server).pop().expect("a logged request")
}

fn get(server: &TestServer, host: &str, path: &str, cookie: &str) -> Reply {
    let headers: Vec<(&str, &str)> = if cookie.is_empty() {
        vec![]
    } else {
        vec![("Cookie", cookie)]
    };
    request(server.port, "GET", host, path, &headers, "")
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
        "<div id=\"js-peek\" class=\"staging\" data-env=\"staging\" data-request-id=\"{rid}\""
    )));
    assert!(r.body.contains("data-testid=\"canary-badge-link\""));
    assert!(r.body.contains("<title>/group/project · GitLab</title>"));
    let pod = last_log(&s)["pod"].as_str().expect("pod").to_string();

    // The peek request is routed (to main here) but describes the page's request.
    let peek = get(
        &s,
        "staging.gitlab.com",
        &format!("/-/peek/results?request_id={rid}"),
        "gitlab_canary=false",
    );
    assert_eq!(peek.status, 200);
    assert_eq!(
        peek.json()["host"],
        json!({"hostname": pod, "canary": true})
    );
    assert_eq!(last_log(&s)["stage"], "main");
    let missing = get(
        &s,
        "staging.gitlab.com",
        "/-/peek/results?request_id=nope",
        "",
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
    assert!(!main.body.contains("canary-badge-link"));
    assert!(main.body.contains("&quot;gitlab_com_and_canary&quot;:null"));
    assert!(main
        .body
        .contains("&quot;gitlab_com_but_not_canary&quot;:true"));

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

    let js = get(&s, "staging.gitlab.com", "/assets/perf_bar.js", "");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .is_some_and(|c| c.starts_with("text/javascript")));
    assert!(js.body.contains("peek-view-host") && js.body.contains("setTimeout(load, delay)"));
    assert!(js.body.contains("delay = 150;"));
}

#[test]
fn big_and_lookalike_pages() {
    let s = start(&[]);
    let big = get(&s, "gitlab.com", "/big", "gitlab_canary=false");
    let elements = big.body.matches('<').count() - big.body.matches("</").count();
    assert!(elements >= 6000, "{elements}");

    let look = get(
        &s,
        "gitlab.com",
        "/lookalike",
        "gitlab_canary=false; perf_bar_enabled=true",
    );
    assert_eq!(look.body.matches("id=\"js-peek\"").count(), 1);
    assert!(look.body.contains("id=\"user-content-js-peek\""));
    let hostile_aside = look
        .body
        .find("<aside class=\"js-super-sidebar\" data-sidebar='")
        .expect("hostile aside");
    let real_aside = look
        .body
        .find("js-super-sidebar super-sidebar-loading")
        .expect("real aside");
    assert!(hostile_aside < real_aside);
    assert!(look.body.contains("&quot;gitlab_com_and_canary&quot;:null"));
    assert_eq!(last_log(&s)["stage"], "main");
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
    b.sign_in("qa-user", "correct-horse-battery");
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
    for host in [
        "gitlab.com",
        "staging.gitlab.com",
        "next.gitlab.com",
        "localhost",
    ] {
        let name = ServerName::try_from(host.to_string()).expect("server name");
        let conn = rustls::ClientConnection::new(config.clone(), name).expect("client");
        let tcp = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        let req = format!("GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n");
        tls.write_all(req.as_bytes()).expect("write");
        let mut raw = Vec::new();
        // The server may close without close_notify; what was read is enough.
        let _ = tls.read_to_end(&mut raw);
        let text = String::from_utf8_lossy(&raw);
        let expected = if host == "localhost" { "404" } else { "200" };
        assert!(
            text.starts_with(&format!("HTTP/1.1 {expected}")),
            "{host}: {text}"
        );
        if host == "staging.gitlab.com" {
            assert!(text.contains("; secure; HttpOnly; SameSite=Lax"), "{text}");
        }
    }
}
