//! What the socket tests share: a server on port 0 in a thread of its own, and a tiny std-only
//! HTTP/1.1 client. Each test binary uses part of it, hence the `dead_code` allowances.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;

use serde_json::Value;
use www::{Command, Options, Server};

pub struct TestServer {
    pub port: u16,
    #[allow(dead_code)]
    pub scheme: &'static str,
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
pub fn start(extra: &[&str]) -> TestServer {
    let mut args = vec!["--port", "0", "--http", "--quiet"];
    args.extend_from_slice(extra);
    launch(&args)
}

/// A server with exactly these flags, in a thread of its own; stopped when dropped.
pub fn launch(args: &[&str]) -> TestServer {
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
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// The body as text (de-chunked).
    pub body: String,
    /// The body as bytes (de-chunked).
    #[allow(dead_code)]
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// The `_gitlab_session` value this reply sets, if any.
    #[allow(dead_code)]
    pub fn session_cookie(&self) -> Option<String> {
        self.cookie_value("_gitlab_session")
    }

    /// The whole `Set-Cookie` header for cookie `name`.
    #[allow(dead_code)]
    pub fn set_cookie(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("set-cookie"))
            .map(|(_, v)| v.as_str())
            .find(|v| v.starts_with(&format!("{name}=")))
    }

    /// The value a `Set-Cookie` gives cookie `name`.
    #[allow(dead_code)]
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookie(name)
            .and_then(|v| v.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.split(';').next())
            .map(str::to_string)
    }

    /// `content` of `<meta name="csrf-token">`.
    #[allow(dead_code)]
    pub fn csrf(&self) -> String {
        let after = self
            .body
            .split("<meta name=\"csrf-token\" content=\"")
            .nth(1)
            .expect("csrf meta");
        after.split('"').next().unwrap_or_default().to_string()
    }
}

/// One request on a connection of its own (`Connection: close`), read to the end.
pub fn request(
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
        bytes,
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

/// A `/-/standin/…` call (any host reaches the admin routes) with a JSON body.
pub fn admin(server: &TestServer, method: &str, path: &str, body: &str) -> Reply {
    request(
        server.port,
        method,
        "localhost",
        path,
        &[("Content-Type", "application/json")],
        body,
    )
}

/// The request log, oldest first.
pub fn log(server: &TestServer) -> Vec<Value> {
    let reply = admin(server, "GET", "/-/standin/log", "");
    assert_eq!(reply.status, 200, "{}", reply.body);
    match reply.json() {
        Value::Array(items) => items,
        other => panic!("log: {other}"),
    }
}

/// The log line of the latest request.
pub fn last_log(server: &TestServer) -> Value {
    log(server).pop().expect("a logged request")
}

/// A GET with an optional `Cookie` header (`""`: none).
pub fn get(server: &TestServer, host: &str, path: &str, cookie: &str) -> Reply {
    let headers: Vec<(&str, &str)> = if cookie.is_empty() {
        vec![]
    } else {
        vec![("Cookie", cookie)]
    };
    request(server.port, "GET", host, path, &headers, "")
}
