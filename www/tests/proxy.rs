//! Proxy mode over real sockets: `www --upstream main=… --upstream canary=…` in front of two
//! tiny std-only upstreams that answer like the Rails stages (tests/rails) and echo what they
//! received.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::{json, Value};
use www::{Command, Options, Server};

struct TestServer {
    port: u16,
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
                .send(server.local_addr().port())
                .expect("send port");
            server
                .run(async {
                    let _ = stop_rx.await;
                })
                .await;
        });
    });
    let port = started_rx.recv().expect("server started");
    TestServer {
        port,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

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
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(raw.get(..end).unwrap_or_default()).into_owned();
    let rest = raw.get(end + 4..).unwrap_or_default().to_vec();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let bytes = if chunked { dechunk(&rest) } else { rest };
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size_line =
            String::from_utf8_lossy(raw.get(..line_end).unwrap_or_default()).into_owned();
        let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        out.extend_from_slice(raw.get(start..start + size).unwrap_or_default());
        raw = raw.get(start + size + 2..).unwrap_or_default();
    }
    out
}

fn log(port: u16) -> Vec<Value> {
    let reply = request(port, "GET", "127.0.0.1", "/-/standin/log", &[], "");
    assert_eq!(reply.status, 200);
    match reply.json() {
        Value::Array(entries) => entries,
        other => panic!("log: {other}"),
    }
}

fn last_entry(port: u16) -> Value {
    log(port).pop().expect("a logged request")
}

/// A router in proxy mode in front of `main` and `canary` (plain HTTP for the std client).
fn router(main: u16, canary: u16, extra: &[&str]) -> TestServer {
    let main = format!("main=127.0.0.1:{main}");
    let canary = format!("canary=127.0.0.1:{canary}");
    let mut args = vec![
        "--port",
        "0",
        "--http",
        "--quiet",
        "--upstream",
        &main,
        "--upstream",
        &canary,
    ];
    args.extend_from_slice(extra);
    launch(&args)
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

    let e = last_entry(www.port);
    assert_eq!(e["stage"], "canary");
    assert_eq!(e["route_reason"], "cookie-true");
    assert_eq!(e["pod"], "gitlab-cny-webservice-web-5b4c-fghij");
    assert_eq!(e["user"], "qa-user");
    assert_eq!(e["session"], "valid");
    assert_eq!(e["status"], 200);
    assert_eq!(e["host"], "staging.gitlab.com");
    assert_eq!(e["path"], "/some/project");
    assert_eq!(e["query"], "x=1&private_token=[FILTERED]");
    assert_eq!(e["request_id"], "up-gitlab-cny-webservice-web-5b4c-fghij");
    assert_eq!(e["cookies"], json!(["gitlab_canary", "_gitlab_session"]));
    assert_eq!(e["session_rotated"], false);
    assert_eq!(e["upstream"], format!("127.0.0.1:{}", canary.port));
    assert!(
        !e.to_string().contains("old-value"),
        "no cookie value in the log: {e}"
    );

    // gitlab_canary=false: main; an anonymous answer has no user.
    let reply = request(
        www.port,
        "GET",
        "gitlab.com",
        "/",
        &[("Cookie", "gitlab_canary=false")],
        "",
    );
    assert_eq!(reply.status, 200);
    let e = last_entry(www.port);
    assert_eq!(
        (e["stage"].as_str(), e["pod"].as_str(), e["user"].as_str()),
        (Some("main"), Some("gitlab-webservice-web-7d9f-abcde"), None)
    );
    assert_eq!(e["session"], Value::Null);
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
    let e = last_entry(www.port);
    assert_eq!(
        (e["method"].as_str(), e["status"].as_u64()),
        (Some("POST"), Some(302))
    );
    assert_eq!(e["route_reason"], "weighted");

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
    let e = last_entry(www.port);
    assert_eq!(
        (e["service"].as_str(), e["status"].as_u64()),
        (Some("api"), Some(500))
    );
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
        let e = last_entry(www.port);
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

    let reply = request(
        www.port,
        "GET",
        "staging.gitlab.com",
        "/",
        &[("Cookie", "gitlab_canary=true")],
        "",
    );
    assert_eq!(reply.status, 502);
    assert!(reply
        .body
        .contains("Whoops, GitLab is taking too much time to respond."));
    let e = last_entry(www.port);
    assert_eq!(
        (e["stage"].as_str(), e["status"].as_u64()),
        (Some("canary"), Some(502))
    );
    assert_eq!(e["pod"], Value::Null);
    assert!(
        e["upstream_error"]
            .as_str()
            .is_some_and(|m| m.contains(&canary_port.to_string())),
        "{e}"
    );
    let reply = request(
        www.port,
        "GET",
        "staging.gitlab.com",
        "/api/v4/user",
        &[("Cookie", "gitlab_canary=true")],
        "",
    );
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["message"], "502 Whoops");

    // Canary disabled (chatops): main serves the cookie's request.
    let reply = request(
        www.port,
        "POST",
        "127.0.0.1",
        "/-/standin/config",
        &[("Content-Type", "application/json")],
        r#"{"canary_disabled":true}"#,
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    let reply = request(
        www.port,
        "GET",
        "staging.gitlab.com",
        "/",
        &[("Cookie", "gitlab_canary=true")],
        "",
    );
    assert_eq!(reply.status, 200);
    let e = last_entry(www.port);
    assert_eq!(
        (e["stage"].as_str(), e["route_reason"].as_str()),
        (Some("main"), Some("canary-disabled"))
    );
    assert_eq!(e["pod"], "main-pod");

    // A fault answers for the stage without forwarding.
    let reply = request(
        www.port,
        "POST",
        "127.0.0.1",
        "/-/standin/config",
        &[("Content-Type", "application/json")],
        r#"{"canary_disabled":false,"fault":{"stage":"main","status":503}}"#,
    );
    assert_eq!(reply.status, 200);
    let reply = request(
        www.port,
        "GET",
        "gitlab.com",
        "/",
        &[("Cookie", "gitlab_canary=false")],
        "",
    );
    assert_eq!(reply.status, 503);
    assert_eq!(last_entry(www.port)["pod"], Value::Null);

    let state = request(www.port, "GET", "127.0.0.1", "/-/standin/state", &[], "").json();
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
    let reply = request(www.port, "GET", "example.org", "/", &[], "");
    assert_eq!(reply.status, 404);
    let reply = request(www.port, "GET", "next.gitlab.com", "/", &[], "");
    assert_eq!(reply.status, 200);
    assert!(reply.body.contains("GitLab Next"));
    assert_eq!(last_entry(www.port)["route_reason"], "next-switch-page");
}
