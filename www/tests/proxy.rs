//! Proxy mode over real sockets: `www --upstream main=… --upstream canary=…` in front of two
//! tiny std-only upstreams that answer like the Rails stages (tests/rails) and echo what they
//! received.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use common::{admin, get, last_log, request, start, TestServer};
use serde_json::{json, Value};

/// A stage stand-in: answers every request with a JSON echo of it, the `x-standin-*` report
/// headers, and (when the request asks with `x-test-set-session: VALUE`) a `_gitlab_session`
/// cookie. Stops accepting when dropped.
struct Upstream {
    port: u16,
    done: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn upstream(pod: &'static str) -> Upstream {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind upstream");
    let port = listener.local_addr().expect("addr").port();
    let done = Arc::new(AtomicBool::new(false));
    let stop = done.clone();
    let thread = std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            if let Ok(s) = stream {
                answer(s, pod);
            }
        }
    });
    Upstream {
        port,
        done,
        thread: Some(thread),
    }
}

/// The request line, the headers (names in lower case) and the body.
type Received = (String, Vec<(String, String)>, String);

fn read_request(stream: &mut TcpStream) -> Option<Received> {
    let mut raw = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(buf.get(..n)?);
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
    };
    let head = String::from_utf8_lossy(raw.get(..end)?).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = raw.get(end + 4..)?.to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        body.extend_from_slice(buf.get(..n)?);
    }
    Some((
        request_line,
        headers,
        String::from_utf8_lossy(&body).into_owned(),
    ))
}

fn answer(mut stream: TcpStream, pod: &str) {
    let Some((request_line, headers, body)) = read_request(&mut stream) else {
        return;
    };
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let echo = json!({
        "request_line": request_line,
        "host": header("host"),
        "forwarded_proto": header("x-forwarded-proto"),
        "forwarded_for": header("x-forwarded-for"),
        "cookie": header("cookie"),
        "connection": header("connection"),
        "body": body,
    })
    .to_string();
    let mut extra = String::new();
    if let Some(v) = header("x-test-set-session") {
        extra.push_str(&format!(
            "Set-Cookie: _gitlab_session={v}; path=/; secure; HttpOnly; SameSite=Lax\r\n"
        ));
    }
    if let Some(v) = header("x-test-user") {
        extra.push_str(&format!("x-standin-user: {v}\r\n"));
    }
    if let Some(v) = header("x-test-session") {
        extra.push_str(&format!("x-standin-session: {v}\r\n"));
    }
    let status = header("x-test-status").unwrap_or_else(|| "200".into());
    let reply = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\nX-Request-Id: up-{pod}\r\nx-standin-pod: {pod}\r\n{extra}\r\n{echo}",
        echo.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

/// A router in proxy mode in front of `main` and `canary` (plain HTTP for the std client).
fn router(main: u16, canary: u16, extra: &[&str]) -> TestServer {
    let main = format!("main=127.0.0.1:{main}");
    let canary = format!("canary=127.0.0.1:{canary}");
    let mut args = vec!["--upstream", &main, "--upstream", &canary];
    args.extend_from_slice(extra);
    start(&args)
}

/// The last log line, once each field of `expected` (an object) has been checked in it.
fn logged(www: &TestServer, expected: Value) -> Value {
    let e = last_log(www);
    for (key, value) in expected.as_object().expect("an object of fields") {
        assert_eq!(&e[key.as_str()], value, "{key}: {e}");
    }
    e
}

#[test]
fn forwards_by_stage_and_logs_what_the_stage_reports() {
    let main = upstream("gitlab-webservice-web-7d9f-abcde");
    let canary = upstream("gitlab-cny-webservice-web-5b4c-fghij");
    let www = router(main.port, canary.port, &[]);

    let reply = request(
        www.port,
        "GET",
        "staging.gitlab.com",
        "/some/project?x=1&private_token=secret",
        &[
            ("Cookie", "gitlab_canary=true; _gitlab_session=old-value"),
            ("x-test-user", "qa-user"),
            ("x-test-session", "valid"),
        ],
        "",
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let echo = reply.json();
    assert_eq!(
        echo["request_line"],
        "GET /some/project?x=1&private_token=secret HTTP/1.1"
    );
    assert_eq!(echo["host"], "staging.gitlab.com", "Host is kept");
    assert_eq!(
        echo["forwarded_proto"], "http",
        "the scheme the client used"
    );
    assert_eq!(echo["forwarded_for"], "127.0.0.1");
    assert_eq!(
        echo["cookie"],
        "gitlab_canary=true; _gitlab_session=old-value"
    );
    assert_eq!(
        echo["connection"],
        Value::Null,
        "hop-by-hop headers are dropped"
    );
    for name in ["x-standin-pod", "x-standin-user", "x-standin-session"] {
        assert_eq!(reply.header(name), None, "{name} is removed");
    }
    assert_eq!(
        reply.header("x-request-id"),
        Some("up-gitlab-cny-webservice-web-5b4c-fghij")
    );
    assert_eq!(reply.header("gitlab-sv"), Some("web-cny-gke-us-east1-b"));

    let e = logged(
        &www,
        json!({
            "stage": "canary",
            "route_reason": "cookie-true",
            "pod": "gitlab-cny-webservice-web-5b4c-fghij",
            "user": "qa-user",
            "session": "valid",
            "status": 200,
            "host": "staging.gitlab.com",
            "path": "/some/project",
            "query": "x=1&private_token=[FILTERED]",
            "request_id": "up-gitlab-cny-webservice-web-5b4c-fghij",
            "cookies": ["gitlab_canary", "_gitlab_session"],
            "session_rotated": false,
            "upstream": format!("127.0.0.1:{}", canary.port),
        }),
    );
    assert!(
        !e.to_string().contains("old-value"),
        "no cookie value in the log: {e}"
    );

    // gitlab_canary=false: main; an anonymous answer has no user.
    let reply = get(&www, "gitlab.com", "/", "gitlab_canary=false");
    assert_eq!(reply.status, 200);
    logged(
        &www,
        json!({
            "stage": "main",
            "pod": "gitlab-webservice-web-7d9f-abcde",
            "user": null,
            "session": null,
        }),
    );
}

#[test]
fn posts_bodies_and_statuses_through() {
    let main = upstream("main-pod");
    let canary = upstream("canary-pod");
    let www = router(main.port, canary.port, &["--canary-weight", "0"]);
    let body = "authenticity_token=abc&user%5Blogin%5D=qa-user";
    let reply = request(
        www.port,
        "POST",
        "gitlab.com",
        "/users/sign_in",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("x-test-status", "302"),
        ],
        body,
    );
    assert_eq!(reply.status, 302);
    assert_eq!(reply.json()["body"], body);
    logged(
        &www,
        json!({"method": "POST", "status": 302, "route_reason": "weighted"}),
    );

    // A 500 from the stage (an unreadable session) reaches the client as is.
    let reply = request(
        www.port,
        "GET",
        "gitlab.com",
        "/api/v4/user",
        &[("x-test-status", "500")],
        "",
    );
    assert_eq!(reply.status, 500);
    logged(&www, json!({"service": "api", "status": 500}));
}

#[test]
fn rotation_is_a_new_session_value() {
    let main = upstream("main-pod");
    let canary = upstream("canary-pod");
    let www = router(main.port, canary.port, &["--canary-weight", "0"]);
    type Case<'a> = (&'a [(&'a str, &'a str)], bool, &'a str);
    let cases: [Case; 4] = [
        // The new store sends the same value again: not a rotation.
        (
            &[
                ("Cookie", "_gitlab_session=aaa"),
                ("x-test-set-session", "aaa"),
            ],
            false,
            "same value again",
        ),
        (
            &[
                ("Cookie", "_gitlab_session=aaa"),
                ("x-test-set-session", "bbb"),
            ],
            true,
            "a new value",
        ),
        // A first session is not a rotation, unless remember-me replaced a lost one.
        (&[("x-test-set-session", "ccc")], false, "a first session"),
        (
            &[
                ("x-test-set-session", "ddd"),
                ("x-test-session", "remembered"),
                ("x-test-user", "qa-user"),
            ],
            true,
            "remembered",
        ),
    ];
    for (headers, rotated, what) in cases {
        let reply = request(www.port, "GET", "gitlab.com", "/", headers, "");
        assert_eq!(reply.status, 200);
        let e = last_log(&www);
        assert_eq!(e["session_rotated"], rotated, "{what}: {e}");
        assert_eq!(e["set_cookies"], json!(["_gitlab_session"]), "{what}");
    }
}

#[test]
fn a_stopped_stage_is_a_502_and_config_still_routes() {
    let main = upstream("main-pod");
    let canary = upstream("canary-pod");
    let canary_port = canary.port;
    let www = router(main.port, canary_port, &[]);
    drop(canary);

    let reply = get(&www, "staging.gitlab.com", "/", "gitlab_canary=true");
    assert_eq!(reply.status, 502);
    assert!(reply
        .body
        .contains("Whoops, GitLab is taking too much time to respond."));
    let e = logged(&www, json!({"stage": "canary", "status": 502, "pod": null}));
    assert!(
        e["upstream_error"]
            .as_str()
            .is_some_and(|m| m.contains(&canary_port.to_string())),
        "{e}"
    );
    let reply = get(
        &www,
        "staging.gitlab.com",
        "/api/v4/user",
        "gitlab_canary=true",
    );
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["message"], "502 Whoops");

    // Canary disabled (chatops): main serves the cookie's request.
    let reply = admin(
        &www,
        "POST",
        "/-/standin/config",
        r#"{"canary_disabled":true}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = get(&www, "staging.gitlab.com", "/", "gitlab_canary=true");
    assert_eq!(reply.status, 200);
    logged(
        &www,
        json!({"stage": "main", "route_reason": "canary-disabled", "pod": "main-pod"}),
    );

    // A fault answers for the stage without forwarding.
    let reply = admin(
        &www,
        "POST",
        "/-/standin/config",
        r#"{"canary_disabled":false,"fault":{"stage":"main","status":503}}"#,
    );
    assert_eq!(reply.status, 200);
    let reply = get(&www, "gitlab.com", "/", "gitlab_canary=false");
    assert_eq!(reply.status, 503);
    logged(&www, json!({"pod": null}));

    let state = admin(&www, "GET", "/-/standin/state", "").json();
    assert_eq!(
        state["upstreams"]["canary"],
        format!("127.0.0.1:{canary_port}")
    );
}

#[test]
fn unknown_hosts_and_the_switch_page_are_not_forwarded() {
    let main = upstream("main-pod");
    let canary = upstream("canary-pod");
    let www = router(main.port, canary.port, &[]);
    assert_eq!(get(&www, "example.org", "/", "").status, 404);
    let reply = get(&www, "next.gitlab.com", "/", "");
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("GitLab Next"));
    logged(&www, json!({"route_reason": "next-switch-page"}));
}
