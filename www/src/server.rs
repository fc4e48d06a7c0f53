//! The HTTP(S) server: connection handling, the router, the two stages' app, the request log
//! and the admin API.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

use crate::assets;
use crate::cli::{parse_weight, Options};
use crate::cookies::CookieJar;
use crate::notes::{self, Notes};
use crate::pages::{self, Content, Markup, PageCtx};
use crate::proxy;
use crate::rng::Rng;
use crate::routing::{self, Environment, HostKind, Pods, Service, Stage};
use crate::session::{
    self, Access, Change, ChangeKind, CookieLifetime, Format, Lookup, RememberTokens, SessionMode,
    Store, Unreadable, User,
};
use crate::timefmt;

pub type Resp = Response<Full<Bytes>>;
/// What the connection sends: a built page, or a stage's answer streamed through (proxy mode).
pub type Body = UnsyncBoxBody<Bytes, hyper::Error>;

fn boxed(resp: Resp) -> Response<Body> {
    resp.map(|full| full.map_err(|never| match never {}).boxed_unsync())
}

/// Largest request body read (sign-in forms and admin JSON are tiny).
const MAX_BODY: usize = 64 * 1024;
/// Request ids the peek endpoint remembers.
const PEEK_KEEP: usize = 2000;
/// Request log entries kept in memory.
const LOG_KEEP: usize = 100_000;
/// Server-side session lifetime, which is also the cookie's (GitLab: one week).
const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// Purposes of the seeded random streams (see [`Rng::stream`]).
const STREAM_ROUTE: u64 = 1;
const STREAM_POD_CHOICE: u64 = 2;
const STREAM_REVISION: u64 = 3;

pub const SESSION_COOKIE: &str = "_gitlab_session";
pub const REMEMBER_COOKIE: &str = "remember_user_token";
pub const CANARY_COOKIE: &str = "gitlab_canary";

/// A stage fault: answer with `status` and/or wait `delay_ms` first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fault {
    pub status: Option<u16>,
    pub delay_ms: u64,
}

/// What `/-/standin/config` reads and writes.
#[derive(Clone, Debug)]
pub struct Config {
    pub canary_disabled: bool,
    pub canary_weight: f64,
    pub session_mode: SessionMode,
    pub perf_delay_ms: u64,
    /// Page markup generation (a page's `markup=` query overrides it).
    pub markup: Markup,
    /// Indexed by [`Stage::index`].
    pub faults: [Fault; 2],
    /// What a stage does with a session it cannot read.
    pub unreadable: Unreadable,
    /// `_gitlab_session`'s lifetime.
    pub session_cookie: CookieLifetime,
}

impl Config {
    fn to_json(&self) -> Value {
        let fault = |f: &Fault| json!({"status": f.status, "delay_ms": f.delay_ms});
        json!({
            "canary_disabled": self.canary_disabled,
            "canary_weight": self.canary_weight,
            "session_format": self.session_mode.as_str(),
            "perf_delay_ms": self.perf_delay_ms,
            "markup": self.markup.as_str(),
            "unreadable": self.unreadable.as_str(),
            "session_cookie": self.session_cookie.as_str(),
            "faults": {
                "canary": fault(&self.faults[Stage::Canary.index()]),
                "main": fault(&self.faults[Stage::Main.index()]),
            },
        })
    }

    /// Applies a `/-/standin/config` body to a copy; all or nothing.
    fn updated(&self, body: &Value) -> Result<Config, String> {
        let obj = body.as_object().ok_or("the body must be a JSON object")?;
        let mut next = self.clone();
        for (key, v) in obj {
            match key.as_str() {
                "canary_disabled" => {
                    next.canary_disabled = v.as_bool().ok_or("canary_disabled: a boolean")?;
                }
                "canary_weight" => {
                    next.canary_weight = v
                        .as_f64()
                        .and_then(|w| parse_weight(&w.to_string()))
                        .ok_or("canary_weight: a number from 0 to 1")?;
                }
                "session_format" => {
                    next.session_mode = v
                        .as_str()
                        .and_then(SessionMode::parse)
                        .ok_or("session_format: \"compatible\" or \"canary-new-format\"")?;
                }
                "perf_delay_ms" => {
                    next.perf_delay_ms = v.as_u64().ok_or("perf_delay_ms: a whole number")?;
                }
                "markup" => {
                    next.markup = v
                        .as_str()
                        .and_then(Markup::parse)
                        .ok_or("markup: \"current\" or \"legacy\"")?;
                }
                "unreadable" => {
                    next.unreadable = v
                        .as_str()
                        .and_then(Unreadable::parse)
                        .ok_or("unreadable: \"sign-out\" or \"error-500\"")?;
                }
                "session_cookie" => {
                    next.session_cookie = v
                        .as_str()
                        .and_then(CookieLifetime::parse)
                        .ok_or("session_cookie: \"week\" or \"per-store\"")?;
                }
                "fault" | "faults" => {
                    let list = match v {
                        Value::Array(items) => items.iter().collect::<Vec<_>>(),
                        single => vec![single],
                    };
                    for f in list {
                        let (stage, fault) = parse_fault(f, &next.faults)?;
                        next.faults[stage.index()] = fault;
                    }
                }
                other => return Err(format!("unknown config key {other:?}")),
            }
        }
        Ok(next)
    }
}

fn parse_fault(v: &Value, current: &[Fault; 2]) -> Result<(Stage, Fault), String> {
    let obj = v
        .as_object()
        .ok_or("fault: an object {\"stage\",\"status\",\"delay_ms\"}")?;
    let stage = obj
        .get("stage")
        .and_then(Value::as_str)
        .and_then(Stage::parse)
        .ok_or("fault.stage: \"canary\" or \"main\"")?;
    let mut fault = current[stage.index()];
    for (key, v) in obj {
        match key.as_str() {
            "stage" => {}
            "status" => {
                fault.status = match v {
                    Value::Null => None,
                    n => Some(
                        n.as_u64()
                            .filter(|s| (400..=599).contains(s))
                            .map(|s| s as u16)
                            .ok_or("fault.status: null or an HTTP status from 400 to 599")?,
                    ),
                }
            }
            "delay_ms" => {
                fault.delay_ms = v.as_u64().ok_or("fault.delay_ms: a whole number")?;
            }
            other => return Err(format!("unknown fault key {other:?}")),
        }
    }
    Ok((stage, fault))
}

struct PeekEntry {
    pod: String,
    stage: Stage,
    /// The page's `peek_delay=N`: its peek results answer N ms late.
    delay_ms: u64,
}

/// Cap on `peek_delay` (ms).
const MAX_PEEK_DELAY_MS: u64 = 60_000;

/// Mutable state, behind one mutex (no lock is held across an await).
struct Inner {
    config: Config,
    /// Drawn from only by `weighted` decisions.
    route_rng: Rng,
    /// Pod and load-balancer choice.
    pod_rng: Rng,
    /// Session values, CSRF tokens, request ids: from the OS, different every run.
    ids: Rng,
    sessions: Store,
    /// `remember_user_token` values (Devise rememberable).
    remember: RememberTokens,
    /// The production change under test (`/-/standin/change`).
    change: Change,
    change_applied_at: Option<String>,
    change_rolled_back_at: Option<String>,
    notes: Notes,
    log: VecDeque<Value>,
    seq: u64,
    peek: HashMap<String, PeekEntry>,
    peek_order: VecDeque<String>,
}

impl Inner {
    /// The session rules for a request `stage` serves.
    fn access(&self, stage: Stage) -> Access {
        Access {
            stage,
            mode: self.config.session_mode,
            change: self.change,
        }
    }

    fn change_json(&self) -> Value {
        let stage_json = |f: &dyn Fn(Stage) -> Value| json!({"canary": f(Stage::Canary), "main": f(Stage::Main)});
        let change = self.change;
        json!({
            "change": change.phase(),
            "kind": change.kind().map(ChangeKind::as_str),
            "applied_at": self.change_applied_at,
            "rolled_back_at": self.change_rolled_back_at,
            "writes": stage_json(&|s| json!(change.writes(s))),
            "reads": stage_json(&|s| json!((0..=1u8).filter(|g| change.reads(s, *g)).collect::<Vec<_>>())),
            "sessions_by_generation": {
                "0": self.sessions.count_by_generation(0),
                "1": self.sessions.count_by_generation(1),
            },
        })
    }

    /// The stage that serves a request and why (canary disabled, the `gitlab_canary` cookie,
    /// the path, the weight): the same decision whether the stages are in-process or proxied.
    fn route(
        &mut self,
        env: &Environment,
        jar: &CookieJar,
        path: &str,
    ) -> (Stage, routing::RouteReason) {
        routing::decide(
            self.config.canary_disabled,
            jar.last(CANARY_COOKIE),
            env,
            path,
            self.config.canary_weight,
            &mut self.route_rng,
        )
    }

    /// The `gitlab-lb` header: one of the environment's HAProxy nodes (48 on gprd, 3 elsewhere).
    fn pick_lb(&mut self, env: &Environment) -> String {
        let count = if env.short == "gprd" { 48 } else { 3 };
        let lb = 1 + self.pod_rng.below(count);
        format!("haproxy-main-{lb}-lb-{}", env.short)
    }

    fn remember_peek(&mut self, request_id: &str, pod: &str, stage: Stage, delay_ms: u64) {
        self.peek.insert(
            request_id.to_string(),
            PeekEntry {
                pod: pod.to_string(),
                stage,
                delay_ms,
            },
        );
        self.peek_order.push_back(request_id.to_string());
        while self.peek_order.len() > PEEK_KEEP {
            if let Some(old) = self.peek_order.pop_front() {
                self.peek.remove(&old);
            }
        }
    }
}

/// Where the JSON lines go: stdout (unless quiet) and the `--log` file.
struct Sink {
    stdout: bool,
    file: Mutex<Option<File>>,
}

impl Sink {
    fn emit(&self, line: &str, to_stdout: bool) {
        if to_stdout {
            let mut out = std::io::stdout().lock();
            // A closed stdout must not take the server down.
            let _ = writeln!(out, "{line}").and_then(|_| out.flush());
        }
        if let Ok(mut guard) = self.file.lock() {
            if let Some(f) = guard.as_mut() {
                let _ = writeln!(f, "{line}").and_then(|_| f.flush());
            }
        }
    }
}

struct Shared {
    https: bool,
    /// Proxy mode: each stage's upstream, indexed by [`Stage::index`].
    upstreams: Option<[SocketAddr; 2]>,
    pods: Pods,
    /// `gon.revision` per stage, indexed by [`Stage::index`].
    revisions: [String; 2],
    inner: Mutex<Inner>,
    sink: Sink,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent-enough data for a test server.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self, mut entry: Value) {
        let line = {
            let mut inner = self.lock();
            inner.seq += 1;
            let seq = inner.seq;
            if let Some(obj) = entry.as_object_mut() {
                obj.insert("seq".into(), json!(seq));
            }
            let line = entry.to_string();
            inner.log.push_back(entry);
            while inner.log.len() > LOG_KEEP {
                inner.log.pop_front();
            }
            line
        };
        self.sink.emit(&line, self.sink.stdout);
    }
}

/// A bound, not yet running server.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
}

impl Server {
    pub async fn bind(opts: Options) -> Result<Server, String> {
        let tls = if opts.http {
            None
        } else {
            let tls = crate::tls::self_signed()?;
            if let Some(path) = &opts.cert_out {
                std::fs::write(path, &tls.cert_pem)
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
            Some(tls.acceptor)
        };
        let file = match &opts.log {
            Some(path) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("cannot open {}: {e}", path.display()))?,
            ),
            None => None,
        };
        let listener = TcpListener::bind((opts.bind, opts.port))
            .await
            .map_err(|e| format!("cannot listen on {}:{}: {e}", opts.bind, opts.port))?;
        let addr = listener
            .local_addr()
            .map_err(|e| format!("no local address: {e}"))?;
        let mut rev = Rng::stream(opts.seed, STREAM_REVISION);
        let canary_rev = rev.hex(7);
        let mut main_rev = rev.hex(7);
        while main_rev == canary_rev {
            main_rev = rev.hex(7);
        }
        let shared = Shared {
            https: !opts.http,
            upstreams: opts.upstreams,
            pods: Pods::generate(opts.seed),
            revisions: [canary_rev, main_rev],
            inner: Mutex::new(Inner {
                config: Config {
                    canary_disabled: opts.canary_disabled,
                    canary_weight: opts.canary_weight,
                    session_mode: opts.session_mode,
                    perf_delay_ms: opts.perf_delay_ms,
                    markup: opts.markup,
                    faults: [Fault::default(); 2],
                    unreadable: opts.unreadable,
                    session_cookie: opts.session_cookie,
                },
                route_rng: Rng::stream(opts.seed, STREAM_ROUTE),
                pod_rng: Rng::stream(opts.seed, STREAM_POD_CHOICE),
                ids: Rng::from_entropy(),
                sessions: Store::default(),
                remember: RememberTokens::default(),
                change: Change::Before,
                change_applied_at: None,
                change_rolled_back_at: None,
                notes: Notes::default(),
                log: VecDeque::new(),
                seq: 0,
                peek: HashMap::new(),
                peek_order: VecDeque::new(),
            }),
            sink: Sink {
                stdout: !opts.quiet,
                file: Mutex::new(file),
            },
        };
        Ok(Server {
            listener,
            addr,
            tls,
            shared: Arc::new(shared),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Prints (and logs to `--log`) the `listening` line. Always on stdout, even when quiet.
    pub fn announce(&self) {
        let line = json!({"event": "listening", "port": self.addr.port(), "scheme": self.scheme()});
        self.shared.sink.emit(&line.to_string(), true);
    }

    /// Serves until `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        let Server {
            listener,
            tls,
            shared,
            ..
        } = self;
        let accept = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, peer)) => {
                        tokio::spawn(serve_connection(stream, peer, tls.clone(), shared.clone()));
                    }
                    // Out of file descriptors and the like: back off instead of spinning.
                    Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                }
            }
        });
        shutdown.await;
        accept.abort();
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    shared: Arc<Shared>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |req| handle(shared.clone(), peer, req));
    let http = hyper::server::conn::http1::Builder::new();
    // Connection errors (client went away, TLS alert for the self-signed cert) are routine.
    match tls {
        Some(acceptor) => {
            if let Ok(tls_stream) = acceptor.accept(stream).await {
                let _ = http
                    .serve_connection(TokioIo::new(tls_stream), service)
                    .await;
            }
        }
        None => {
            let _ = http.serve_connection(TokioIo::new(stream), service).await;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Small response helpers

fn set_header(resp: &mut Resp, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().append(HeaderName::from_static(name), v);
    }
}

const FAVICON_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 16 16\"><rect width=\"16\" height=\"16\" rx=\"3\" fill=\"#e24329\"/></svg>";

fn respond(status: u16, content_type: &str, body: impl Into<Bytes>) -> Resp {
    let mut resp = Response::new(Full::new(body.into()));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    set_header(&mut resp, "content-type", content_type);
    resp
}

fn html(status: u16, body: String) -> Resp {
    let mut resp = respond(status, "text/html; charset=utf-8", body);
    set_header(
        &mut resp,
        "cache-control",
        "max-age=0, private, must-revalidate",
    );
    set_header(&mut resp, "x-frame-options", "SAMEORIGIN");
    resp
}

fn json_resp(status: u16, v: &Value) -> Resp {
    let mut resp = respond(status, "application/json", v.to_string());
    set_header(&mut resp, "cache-control", "no-store");
    resp
}

fn redirect(location: &str) -> Resp {
    let mut resp = html(
        302,
        format!(
            "<html><body>You are being <a href=\"{}\">redirected</a>.</body></html>",
            pages::escape(location)
        ),
    );
    set_header(&mut resp, "location", location);
    resp
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

async fn read_body(body: Incoming) -> Result<Bytes, ()> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(_) => Err(()),
    }
}

/// Decodes `application/x-www-form-urlencoded` (also query strings).
pub fn parse_form(s: &str) -> Vec<(String, String)> {
    s.split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => match s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                Some(decoded) => {
                    out.push(decoded);
                    i += 2;
                }
                None => out.push(b'%'),
            },
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn form_value<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Query string for the log, with secret-looking parameters filtered as Rails does.
fn filtered_query(query: &str) -> String {
    const SECRET: [&str; 5] = [
        "authenticity_token",
        "password",
        "token",
        "secret",
        "session",
    ];
    query
        .split('&')
        .map(|pair| {
            let key = pair.split_once('=').map(|(k, _)| k).unwrap_or(pair);
            let lower = percent_decode(key).to_ascii_lowercase();
            if pair.contains('=') && SECRET.iter().any(|s| lower.contains(s)) {
                format!("{key}=[FILTERED]")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// The `gitlab-sv` header: the service and the stage's cluster.
fn gitlab_sv(stage: Stage, service: Service) -> String {
    match stage {
        Stage::Canary => format!("{}-cny-gke-us-east1-b", service.as_str()),
        Stage::Main => format!("{}-gke-us-east1-b", service.as_str()),
    }
}

/// A ULID-shaped request id: 48-bit milliseconds and 80 random bits, Crockford base32.
fn new_request_id(ids: &mut Rng) -> String {
    const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    let t = timefmt::now_millis();
    let mut s = String::with_capacity(26);
    for i in (0..10).rev() {
        s.push(char::from(CROCKFORD[((t >> (i * 5)) & 31) as usize]));
    }
    s.push_str(&ids.string_from(CROCKFORD, 16));
    s
}

// ---------------------------------------------------------------------------------------------
// The front door

async fn handle(
    shared: Arc<Shared>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    if path == "/-/standin" || path.starts_with("/-/standin/") {
        if !is_loopback(peer.ip()) {
            return Ok(boxed(json_resp(403, &json!({"message": "403 Forbidden"}))));
        }
        let body = match read_body(body).await {
            Ok(b) => b,
            Err(()) => return Ok(boxed(json_resp(413, &json!({"message": "body too large"})))),
        };
        return Ok(boxed(admin(&shared, &parts, &body)));
    }
    let raw_host = parts
        .headers
        .get(hyper::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| parts.uri.authority().map(|a| a.to_string()))
        .unwrap_or_default();
    match routing::classify_host(&raw_host) {
        HostKind::Unknown => Ok(boxed(respond(
            404,
            "text/plain; charset=utf-8",
            "unknown host\n",
        ))),
        HostKind::NextSwitch => Ok(boxed(next_switch(&shared, &parts))),
        HostKind::Routed(env) => match shared.upstreams {
            Some(upstreams) => Ok(proxied(&shared, env, parts, body, peer, upstreams).await),
            None => Ok(boxed(routed(&shared, env, parts, body).await)),
        },
    }
}

fn cookie_jar(parts: &Parts) -> CookieJar {
    CookieJar::parse(
        parts
            .headers
            .get_all(hyper::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

fn next_switch(shared: &Shared, parts: &Parts) -> Resp {
    let started = Instant::now();
    let jar = cookie_jar(parts);
    let (request_id, change) = {
        let mut inner = shared.lock();
        (new_request_id(&mut inner.ids), inner.change.phase())
    };
    let on_next = jar.last(CANARY_COOKIE) == Some("true");
    let mut resp = if parts.method == Method::GET || parts.method == Method::HEAD {
        html(200, pages::next_switch_page(on_next))
    } else {
        respond(405, "text/plain; charset=utf-8", "method not allowed\n")
    };
    set_header(&mut resp, "x-request-id", &request_id);
    shared.log(json!({
        "event": "request",
        "seq": 0,
        "ts": timefmt::now_iso8601(),
        "host": "next.gitlab.com",
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": filtered_query(parts.uri.query().unwrap_or("")),
        "stage": null,
        "pod": null,
        "service": null,
        "request_id": request_id,
        "status": resp.status().as_u16(),
        "route_reason": "next-switch-page",
        "cookies": jar.names(),
        "gitlab_canary": jar.values(CANARY_COOKIE),
        "user": null,
        "session": "none",
        "session_rotated": false,
        "change": change,
        "duration_ms": started.elapsed().as_millis() as u64,
    }));
    resp
}

/// One routed request, as the stage that serves it sees it.
struct Rq<'a> {
    env: &'a Environment,
    method: &'a Method,
    path: &'a str,
    query: &'a str,
    stage: Stage,
    service: Service,
    pod: &'a str,
    request_id: &'a str,
    jar: &'a CookieJar,
    headers: &'a hyper::HeaderMap,
}

/// What the app did with the session, for the log and the `Set-Cookie` header.
struct Outcome {
    resp: Resp,
    lookup: Lookup,
    user: Option<&'static User>,
    /// A new `_gitlab_session` value to set.
    issued: Option<String>,
    /// The current `_gitlab_session` value to set again (not a rotation): the new store
    /// re-sends its cookie, with a later Expires, on every answer that reads the session.
    resend: Option<String>,
    /// Whether the `_gitlab_session` cookie set gets an Expires (one week ahead).
    cookie_expires: bool,
    /// A `remember_user_token` to set or delete.
    remember: Option<RememberCookie>,
    /// Extra fields for the log line (never secrets).
    log_extra: Vec<(&'static str, Value)>,
    /// The change phase the request was served under.
    change: &'static str,
    /// Wait this long (outside the lock) before answering.
    answer_after: Option<Duration>,
}

/// What the response does with `remember_user_token`.
enum RememberCookie {
    Set(String),
    Delete,
}

async fn routed(shared: &Shared, env: Environment, parts: Parts, body: Incoming) -> Resp {
    let started = Instant::now();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let jar = cookie_jar(&parts);
    let service = Service::for_path(&path);
    let (stage, reason, pod, request_id, fault, lb) = {
        let mut inner = shared.lock();
        let inner = &mut *inner;
        let (stage, reason) = inner.route(&env, &jar, &path);
        let pod = shared.pods.pick(stage, service, &mut inner.pod_rng);
        let lb = inner.pick_lb(&env);
        let request_id = new_request_id(&mut inner.ids);
        let peek_delay = query_value(&query, "peek_delay")
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |ms| ms.min(MAX_PEEK_DELAY_MS));
        inner.remember_peek(&request_id, &pod, stage, peek_delay);
        (
            stage,
            reason,
            pod,
            request_id,
            inner.config.faults[stage.index()],
            lb,
        )
    };
    if fault.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
    }
    let body = if parts.method == Method::POST {
        read_body(body).await
    } else {
        Ok(Bytes::new())
    };
    let rq = Rq {
        env: &env,
        method: &parts.method,
        path: &path,
        query: &query,
        stage,
        service,
        pod: &pod,
        request_id: &request_id,
        jar: &jar,
        headers: &parts.headers,
    };
    let outcome = match (fault.status, body) {
        (Some(status), _) => fault_outcome(shared, &rq, status),
        (None, Err(())) => Outcome {
            resp: respond(413, "text/plain; charset=utf-8", "request body too large\n"),
            lookup: Lookup::None,
            user: None,
            issued: None,
            resend: None,
            cookie_expires: true,
            remember: None,
            log_extra: Vec::new(),
            change: shared.lock().change.phase(),
            answer_after: None,
        },
        (None, Ok(body)) => {
            let mut inner = shared.lock();
            app(shared, &mut inner, &rq, &body)
        }
    };
    let Outcome {
        mut resp,
        lookup,
        user,
        issued,
        resend,
        cookie_expires,
        remember,
        log_extra,
        change,
        answer_after,
    } = outcome;
    if let Some(wait) = answer_after {
        tokio::time::sleep(wait).await;
    }
    // A session the request sent is replaced, or remember-me replaced a lost one.
    let rotated =
        issued.is_some() && (jar.first(SESSION_COOKIE).is_some() || lookup == Lookup::Remembered);
    let secure = if shared.https { " secure;" } else { "" };
    match &remember {
        Some(RememberCookie::Set(token)) => {
            let expires = timefmt::http_date(SystemTime::now() + session::REMEMBER_FOR);
            set_header(
                &mut resp,
                "set-cookie",
                &format!("{REMEMBER_COOKIE}={token}; path=/; expires={expires};{secure} HttpOnly; SameSite=Lax"),
            );
        }
        Some(RememberCookie::Delete) => set_header(
            &mut resp,
            "set-cookie",
            &format!("{REMEMBER_COOKIE}=; path=/; max-age=0; expires=Thu, 01 Jan 1970 00:00:00 GMT;{secure} HttpOnly; SameSite=Lax"),
        ),
        None => {}
    }
    if let Some(id) = issued.as_ref().or(resend.as_ref()) {
        let expires = if cookie_expires {
            let date = timefmt::http_date(SystemTime::now() + SESSION_TTL);
            format!(" expires={date};")
        } else {
            String::new()
        };
        set_header(
            &mut resp,
            "set-cookie",
            &format!("{SESSION_COOKIE}={id}; path=/;{expires}{secure} HttpOnly; SameSite=Lax"),
        );
    }
    set_header(&mut resp, "x-request-id", &request_id);
    set_header(
        &mut resp,
        "x-gitlab-meta",
        &json!({"correlation_id": request_id, "version": "1"}).to_string(),
    );
    set_header(&mut resp, "gitlab-lb", &lb);
    set_header(&mut resp, "gitlab-sv", &gitlab_sv(stage, service));
    let mut entry = json!({
        "event": "request",
        "seq": 0,
        "ts": timefmt::now_iso8601(),
        "host": env.host,
        "method": parts.method.as_str(),
        "path": path,
        "query": filtered_query(&query),
        "stage": stage.as_str(),
        "pod": pod,
        "service": service.as_str(),
        "request_id": request_id,
        "status": resp.status().as_u16(),
        "route_reason": reason.as_str(),
        "cookies": jar.names(),
        "gitlab_canary": jar.values(CANARY_COOKIE),
        "user": user.map(|u| u.username),
        "session": lookup.as_str(),
        "session_rotated": rotated,
        "change": change,
        "duration_ms": started.elapsed().as_millis() as u64,
    });
    if let Some(obj) = entry.as_object_mut() {
        for (key, value) in log_extra {
            obj.insert(key.into(), value);
        }
    }
    shared.log(entry);
    resp
}

/// The stage failed before Rails: nothing touches the session, but the log still says
/// what the session would have been.
fn fault_outcome(shared: &Shared, rq: &Rq, status: u16) -> Outcome {
    let inner = shared.lock();
    let cookie = rq.jar.first(SESSION_COOKIE);
    let lookup = inner.sessions.peek(cookie, inner.access(rq.stage));
    let user = match &lookup {
        Lookup::Valid(id) => inner
            .sessions
            .get(id)
            .and_then(|s| s.user_id)
            .and_then(session::user_by_id),
        _ => None,
    };
    let resp = if rq.service == Service::Api {
        json_resp(status, &json!({"message": format!("{status} Whoops")}))
    } else {
        html(status, pages::fault_page(status))
    };
    Outcome {
        resp,
        lookup,
        user,
        issued: None,
        resend: None,
        cookie_expires: true,
        remember: None,
        log_extra: Vec::new(),
        change: inner.change.phase(),
        answer_after: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Proxy mode: the stages are real processes (tests/rails), the router is this server

/// One routed request in proxy mode: the same stage decision, faults and log line as
/// [`routed`], but the chosen stage's upstream answers. Its `x-standin-pod`, `x-standin-user`
/// and `x-standin-session` headers fill the log line and are removed from the answer. A stage
/// that cannot be reached (stopped) gets GitLab's 502 page.
async fn proxied(
    shared: &Shared,
    env: Environment,
    parts: Parts,
    body: Incoming,
    peer: SocketAddr,
    upstreams: [SocketAddr; 2],
) -> Response<Body> {
    let started = Instant::now();
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let method = parts.method.clone();
    let jar = cookie_jar(&parts);
    let service = Service::for_path(&path);
    let (stage, reason, router_request_id, fault, lb) = {
        let mut inner = shared.lock();
        let inner = &mut *inner;
        let (stage, reason) = inner.route(&env, &jar, &path);
        let lb = inner.pick_lb(&env);
        let request_id = new_request_id(&mut inner.ids);
        (
            stage,
            reason,
            request_id,
            inner.config.faults[stage.index()],
            lb,
        )
    };
    if fault.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(fault.delay_ms)).await;
    }
    let upstream = upstreams[stage.index()];
    let gitlab_error = |status: u16| {
        if service == Service::Api {
            api_error(status, &format!("{status} Whoops"))
        } else {
            html(status, pages::fault_page(status))
        }
    };
    let mut upstream_error = None;
    let mut resp = match fault.status {
        Some(status) => boxed(gitlab_error(status)),
        None => match proxy::forward(upstream, parts, body, peer, shared.https).await {
            Ok(r) => r.map(|b| b.boxed_unsync()),
            Err(proxy::ForwardError(message)) => {
                upstream_error = Some(message);
                boxed(gitlab_error(502))
            }
        },
    };
    let report = proxy::take_report(resp.headers_mut());
    let set_cookies = proxy::set_cookie_names(resp.headers());
    // Rotated: the answer gives the session cookie a new value (a cookie the new store only
    // sends again is not), and the request had one, or remember-me replaced a lost one.
    let new_value = proxy::set_cookie_value(resp.headers(), SESSION_COOKIE)
        .filter(|v| !v.is_empty() && jar.first(SESSION_COOKIE) != Some(v.as_str()));
    let rotated = new_value.is_some()
        && (jar.first(SESSION_COOKIE).is_some() || report.session.as_deref() == Some("remembered"));
    let request_id = match resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
    {
        Some(id) => id.to_string(),
        None => {
            if let Ok(v) = HeaderValue::from_str(&router_request_id) {
                resp.headers_mut()
                    .insert(HeaderName::from_static("x-request-id"), v);
            }
            router_request_id
        }
    };
    for (name, value) in [("gitlab-lb", lb), ("gitlab-sv", gitlab_sv(stage, service))] {
        if let Ok(v) = HeaderValue::from_str(&value) {
            resp.headers_mut().insert(HeaderName::from_static(name), v);
        }
    }
    let mut entry = json!({
        "event": "request",
        "seq": 0,
        "ts": timefmt::now_iso8601(),
        "host": env.host,
        "method": method.as_str(),
        "path": path,
        "query": filtered_query(&query),
        "stage": stage.as_str(),
        "pod": report.pod,
        "service": service.as_str(),
        "request_id": request_id,
        "status": resp.status().as_u16(),
        "route_reason": reason.as_str(),
        "cookies": jar.names(),
        "gitlab_canary": jar.values(CANARY_COOKIE),
        "user": report.user,
        "session": report.session,
        "session_rotated": rotated,
        "set_cookies": set_cookies,
        "change": null,
        "upstream": upstream.to_string(),
        "duration_ms": started.elapsed().as_millis() as u64,
    });
    if let (Some(obj), Some(message)) = (entry.as_object_mut(), upstream_error) {
        obj.insert("upstream_error".into(), json!(message));
    }
    shared.log(entry);
    resp
}

// ---------------------------------------------------------------------------------------------
// The app both stages run

/// Session state during one request.
struct SessionState {
    /// The readable session in effect, if any.
    current: Option<String>,
    issued: Option<String>,
    remember: Option<RememberCookie>,
    log_extra: Vec<(&'static str, Value)>,
    answer_after: Option<Duration>,
}

impl SessionState {
    /// Rails writes a session (and its cookie) for any HTML response that has none.
    fn ensure(&mut self, inner: &mut Inner, stage: Stage) -> String {
        match &self.current {
            Some(id) => id.clone(),
            None => {
                let access = inner.access(stage);
                let id = inner.sessions.create(None, access, &mut inner.ids);
                self.current = Some(id.clone());
                self.issued = Some(id.clone());
                id
            }
        }
    }

    /// A new session for `user` (sign-in, remember-me): the old one is destroyed.
    fn start_for(&mut self, inner: &mut Inner, stage: Stage, user: &User) {
        if let Some(old) = self.current.take() {
            inner.sessions.destroy(&old);
        }
        let access = inner.access(stage);
        let id = inner.sessions.create(Some(user.id), access, &mut inner.ids);
        self.current = Some(id.clone());
        self.issued = Some(id);
    }

    fn csrf(&self, inner: &Inner) -> String {
        self.current
            .as_deref()
            .and_then(|id| inner.sessions.get(id))
            .map(|s| s.csrf_token.clone())
            .unwrap_or_default()
    }
}

fn app(shared: &Shared, inner: &mut Inner, rq: &Rq, body: &[u8]) -> Outcome {
    let cookie = rq.jar.first(SESSION_COOKIE);
    let access = inner.access(rq.stage);
    let mut lookup = inner.sessions.lookup(cookie, access);
    let mut state = SessionState {
        current: None,
        issued: None,
        remember: None,
        log_extra: Vec::new(),
        answer_after: None,
    };
    // The stores share GitLab's keys and this one raises on the other's format: the request
    // fails before anything else happens (remember-me cannot help). Assets never read it.
    if lookup == Lookup::Unreadable
        && inner.config.unreadable == Unreadable::Error500
        && !is_asset(rq.path)
    {
        let resp = if rq.service == Service::Api {
            api_error(500, "500 Internal Server Error")
        } else {
            html(500, pages::fault_page(500))
        };
        return Outcome {
            resp,
            lookup,
            user: None,
            issued: None,
            resend: None,
            cookie_expires: true,
            remember: None,
            log_extra: vec![("session_error", json!("unreadable session"))],
            change: inner.change.phase(),
            answer_after: None,
        };
    }
    let mut user = match &lookup {
        Lookup::Valid(id) => {
            state.current = Some(id.clone());
            inner
                .sessions
                .get(id)
                .and_then(|s| s.user_id)
                .and_then(session::user_by_id)
        }
        Lookup::None | Lookup::Unreadable | Lookup::Remembered => None,
    };
    // Devise rememberable: no user from the session (missing, unreadable or anonymous), but
    // a valid remember cookie signs the user in with a new session and CSRF token.
    if user.is_none() {
        let now = SystemTime::now();
        let remembered = rq
            .jar
            .first(REMEMBER_COOKIE)
            .and_then(|t| inner.remember.user(t, now))
            .and_then(session::user_by_id);
        if let Some(u) = remembered {
            state.start_for(inner, rq.stage, u);
            user = Some(u);
            lookup = Lookup::Remembered;
        }
    }
    if lookup == Lookup::Unreadable {
        // The stage cannot decode the session: Rails starts a fresh one, signed out.
        state.ensure(inner, rq.stage);
    }
    let resp = dispatch(shared, inner, rq, body, &mut state, user);
    let per_store = inner.config.session_cookie == CookieLifetime::PerStore;
    let new_store = access.new_store();
    let resend = match &state.current {
        Some(id) if per_store && new_store && state.issued.is_none() && !is_asset(rq.path) => {
            Some(id.clone())
        }
        _ => None,
    };
    Outcome {
        resp,
        lookup,
        user,
        issued: state.issued,
        resend,
        cookie_expires: !per_store || new_store,
        remember: state.remember,
        log_extra: state.log_extra,
        change: inner.change.phase(),
        answer_after: state.answer_after,
    }
}

fn dispatch(
    shared: &Shared,
    inner: &mut Inner,
    rq: &Rq,
    body: &[u8],
    state: &mut SessionState,
    user: Option<&'static User>,
) -> Resp {
    let get = rq.method == Method::GET || rq.method == Method::HEAD;
    let post = rq.method == Method::POST;
    if rq.service == Service::Api {
        return match (get, rq.path) {
            (true, "/api/v4/user") => match user {
                Some(u) => json_resp(
                    200,
                    &json!({
                        "id": u.id,
                        "username": u.username,
                        "name": u.name,
                        "state": "active",
                        "avatar_url": format!("/uploads/-/system/user/avatar/{}/avatar.png", u.id),
                        "web_url": format!("https://{}/{}", rq.env.host, u.username),
                    }),
                ),
                None => {
                    // Rails loads the session to find the user: an id it does not know gets
                    // a fresh session (and cookie), even on a 401.
                    if rq.jar.first(SESSION_COOKIE).is_some() {
                        state.ensure(inner, rq.stage);
                    }
                    json_resp(401, &json!({"message": "401 Unauthorized"}))
                }
            },
            (_, path) => match notes_route(path) {
                Some((project, iid)) if post => {
                    create_note(inner, rq, body, state, user, &project, &iid)
                }
                Some((project, iid)) if get => list_notes(inner, rq, &project, &iid),
                _ => json_resp(404, &json!({"message": "404 Not Found"})),
            },
        };
    }
    match rq.path {
        "/assets/perf_bar.js" if get => {
            let mut resp = respond(
                200,
                "text/javascript; charset=utf-8",
                assets::perf_bar_js(inner.config.perf_delay_ms),
            );
            set_header(&mut resp, "cache-control", "no-cache");
            return resp;
        }
        "/-/peek/results" if get => return peek_results(inner, rq, state),
        // An icon (never a session cookie, so it cannot race the page for one); a 404 here would
        // put a console error on every page the tests read for errors.
        "/favicon.ico" => {
            let mut resp = respond(200, "image/svg+xml", FAVICON_SVG);
            set_header(&mut resp, "cache-control", "max-age=3600");
            return resp;
        }
        // Fingerprinted favicons, CI status icons and the custom appearance favicon: real
        // PNGs, no session cookie.
        path if get && assets::png_for(path).is_some() => {
            let png = assets::png_for(path).unwrap_or_default();
            let mut resp = respond(200, "image/png", png);
            set_header(&mut resp, "cache-control", "max-age=31536000, public");
            return resp;
        }
        "/users/sign_in" if post => return sign_in(shared, inner, rq, body, state),
        "/users/sign_out" if post => return sign_out(inner, rq, body, state, user),
        _ => {}
    }
    if !get {
        state.ensure(inner, rq.stage);
        return html(404, pages::not_found_page());
    }
    if rq.path == "/users/sign_in" {
        if user.is_some() {
            return redirect("/");
        }
        state.ensure(inner, rq.stage);
        let token = state.csrf(inner);
        let content = pages::sign_in_page(&token, None);
        return render(shared, inner, rq, state, None, &content, 200);
    }
    state.ensure(inner, rq.stage);
    if let Some((path, iid)) = pages::project_sub_page(rq.path, "issues") {
        let found = notes::find_project(path)
            .filter(notes::Project::visible)
            .zip(notes::issue_exists(iid));
        let Some((project, iid)) = found else {
            return html(404, pages::not_found_page());
        };
        let on_issue: Vec<&notes::Note> = inner.notes.on_issue(&project.path, iid).collect();
        let content = pages::issue_page(&project, iid, &on_issue, user.is_some());
        return render(shared, inner, rq, state, user, &content, 200);
    }
    let content = match rq.path {
        "/big" => pages::big_page(),
        "/lookalike" => pages::lookalike_page(),
        path => match pages::project_sub_page(path, "pipelines") {
            Some((project, id)) => pages::pipeline_page(project, id),
            None => pages::project_page(path),
        },
    };
    render(shared, inner, rq, state, user, &content, 200)
}

fn query_value(query: &str, name: &str) -> Option<String> {
    parse_form(query)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

fn render(
    shared: &Shared,
    inner: &Inner,
    rq: &Rq,
    state: &SessionState,
    user: Option<&'static User>,
    content: &Content,
    status: u16,
) -> Resp {
    let token = state.csrf(inner);
    let markup = query_value(rq.query, "markup")
        .as_deref()
        .and_then(Markup::parse)
        .unwrap_or(inner.config.markup);
    let ctx = PageCtx {
        path: rq.path,
        stage: rq.stage,
        env: rq.env,
        request_id: rq.request_id,
        method: rq.method.as_str(),
        pod: rq.pod,
        user,
        csrf_token: &token,
        revision: &shared.revisions[rq.stage.index()],
        markup,
        perf_bar: perf_bar_user(rq) && query_value(rq.query, "perf").as_deref() != Some("none"),
        sidebar: query_value(rq.query, "sidebar").as_deref() != Some("none"),
        favicon_override: pages::favicon_override(query_value(rq.query, "favicon").as_deref()),
    };
    html(status, pages::layout(&ctx, content))
}

/// The request comes from a user who turned the performance bar on (`p b`).
fn perf_bar_user(rq: &Rq) -> bool {
    rq.jar.first("perf_bar_enabled") == Some("true")
}

/// A small, stable `active-record` entry for a request id.
fn active_record_stats(request_id: &str) -> Value {
    let h = request_id
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let calls = 3 + h % 18;
    let duration = 2 + (h >> 8) % 40;
    json!({
        "duration": format!("{duration}ms"),
        "calls": calls,
        "total": format!("{}ms", duration * 4 + 17),
        "details": [],
        "warnings": [],
    })
}

/// `lib/peek/views/host.rb`: `canary` is `Gitlab::Utils.to_boolean(ENV['CANARY'])`, so
/// `null` (not `false`) on main. Only perf-bar users get an answer.
fn peek_results(inner: &Inner, rq: &Rq, state: &mut SessionState) -> Resp {
    let id = query_value(rq.query, "request_id").unwrap_or_default();
    if let Some(entry) = inner.peek.get(&id).filter(|e| e.delay_ms > 0) {
        state.answer_after = Some(Duration::from_millis(entry.delay_ms));
    }
    match inner.peek.get(&id) {
        Some(entry) if perf_bar_user(rq) => json_resp(
            200,
            &json!({
                "context": {},
                "data": {
                    "host": {
                        "hostname": entry.pod,
                        "canary": if entry.stage == Stage::Canary { json!(true) } else { json!(null) },
                    },
                    "active-record": active_record_stats(&id),
                },
                "has_warnings": false,
            }),
        ),
        _ => json_resp(404, &json!({"message": "404 Not Found"})),
    }
}

fn token_matches(inner: &Inner, state: &SessionState, given: Option<&str>) -> bool {
    let expected = state.csrf(inner);
    match given {
        Some(g) => !expected.is_empty() && session::secure_eq(&expected, g),
        None => false,
    }
}

fn sign_in(
    shared: &Shared,
    inner: &mut Inner,
    rq: &Rq,
    body: &[u8],
    state: &mut SessionState,
) -> Resp {
    let form = parse_form(&String::from_utf8_lossy(body));
    if !token_matches(inner, state, form_value(&form, "authenticity_token")) {
        state.ensure(inner, rq.stage);
        return html(422, pages::rejected_page());
    }
    let login = form_value(&form, "user[login]").unwrap_or("");
    let password = form_value(&form, "user[password]").unwrap_or("");
    // The hidden "0" comes before the checkbox's "1": Rack keeps the last value.
    let remember_me = form
        .iter()
        .rev()
        .find(|(k, _)| k == "user[remember_me]")
        .is_some_and(|(_, v)| v == "1");
    match session::authenticate(login, password) {
        Some(user) => {
            // Rails resets the session on sign-in: a new id (and CSRF token) for the user.
            state.start_for(inner, rq.stage, user);
            if remember_me {
                let token = inner
                    .remember
                    .issue(user.id, SystemTime::now(), &mut inner.ids);
                state.remember = Some(RememberCookie::Set(token));
            }
            state.log_extra.push(("remember_me", json!(remember_me)));
            redirect("/")
        }
        None => {
            let token = state.csrf(inner);
            let content = pages::sign_in_page(&token, Some("Invalid login or password."));
            render(shared, inner, rq, state, None, &content, 200)
        }
    }
}

fn sign_out(
    inner: &mut Inner,
    rq: &Rq,
    body: &[u8],
    state: &mut SessionState,
    user: Option<&'static User>,
) -> Resp {
    let form = parse_form(&String::from_utf8_lossy(body));
    let header_token = rq.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    let given = form_value(&form, "authenticity_token").or(header_token);
    if !token_matches(inner, state, given) {
        state.ensure(inner, rq.stage);
        return html(422, pages::rejected_page());
    }
    if let Some(old) = state.current.take() {
        inner.sessions.destroy(&old);
    }
    // Devise's forget_me!: the cookie is deleted and the user's remember tokens forgotten.
    inner
        .remember
        .forget(rq.jar.first(REMEMBER_COOKIE), user.map(|u| u.id));
    state.remember = Some(RememberCookie::Delete);
    state.ensure(inner, rq.stage);
    if navigation(rq.headers) {
        redirect("/users/sign_in")
    } else {
        // Devise's `respond_to_on_destroy`: `format.all { head :no_content }`.
        let mut resp = respond(204, "text/html; charset=utf-8", Bytes::new());
        resp.headers_mut().remove(hyper::header::CONTENT_TYPE);
        set_header(&mut resp, "cache-control", "no-cache");
        resp
    }
}

/// Whether Rails would answer the request as a page (Devise's navigational formats), in
/// Rails' order: a browser navigation; `text/html` accepted; no `Accept`, or a browser's
/// `…, */*` list, unless it is an XHR (then `js`). A `fetch` (`Accept: */*`) is not.
fn navigation(headers: &hyper::HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if header("sec-fetch-mode") == Some("navigate") {
        return true;
    }
    let xhr = header("x-requested-with").is_some_and(|v| v.eq_ignore_ascii_case("xmlhttprequest"));
    match header("accept").map(str::trim) {
        None | Some("") => !xhr,
        Some(accept) if accept.contains("text/html") => true,
        Some(accept) if accept.contains("*/*") && accept.contains(',') => !xhr,
        Some(_) => false,
    }
}

/// Paths the stages serve without reading the session (Workhorse and the CDN in real life).
fn is_asset(path: &str) -> bool {
    path == "/assets/perf_bar.js" || path == "/favicon.ico" || assets::png_for(path).is_some()
}

// ---------------------------------------------------------------------------------------------
// Notes API

/// `/api/v4/projects/:id/issues/:iid/notes` → (`:id` URL-decoded, `:iid` as sent).
fn notes_route(path: &str) -> Option<(String, String)> {
    let rest = path.strip_prefix("/api/v4/projects/")?;
    let mut parts = rest.split('/');
    let (id, issues, iid, notes, end) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next(),
    );
    (issues == "issues" && notes == "notes" && end.is_none() && !id.is_empty())
        .then(|| (percent_decode(id), iid.to_string()))
}

fn api_error(status: u16, message: &str) -> Resp {
    json_resp(status, &json!({"message": message}))
}

/// The note body from a JSON or form request body: `None` when missing.
fn note_body(rq: &Rq, body: &[u8]) -> Option<String> {
    let json_body = rq
        .headers
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.trim_start().starts_with("application/json"));
    if json_body {
        let v: Value = serde_json::from_slice(body).ok()?;
        return v.get("body").and_then(Value::as_str).map(str::to_string);
    }
    let form = parse_form(&String::from_utf8_lossy(body));
    form_value(&form, "body").map(str::to_string)
}

/// GitLab's order: authentication (a session needs `X-CSRF-Token` on non-GET API requests,
/// else the request is anonymous) → 401; parameters → 400; project → 404; issue → 404;
/// `create_note` → 403; a blank note → 400; 201.
fn create_note(
    inner: &mut Inner,
    rq: &Rq,
    body: &[u8],
    state: &mut SessionState,
    user: Option<&'static User>,
    project_id: &str,
    iid: &str,
) -> Resp {
    let text = note_body(rq, body);
    if let Some(t) = &text {
        // The body itself is never logged.
        state
            .log_extra
            .push(("note_body_length", json!(t.chars().count())));
    }
    let header_token = rq.headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
    // A personal access token (`PRIVATE-TOKEN`) authenticates on its own; a wrong one is a 401
    // whatever the session says.
    let access = rq.headers.get("private-token").map(|v| {
        v.to_str()
            .ok()
            .and_then(crate::session::user_by_access_token)
    });
    let user = match access {
        Some(by_token) => by_token,
        None => user.filter(|_| token_matches(inner, state, header_token)),
    };
    let Some(user) = user else {
        return api_error(401, "401 Unauthorized");
    };
    let Some(text) = text else {
        return json_resp(400, &json!({"error": "body is missing"}));
    };
    let Some(project) = notes::find_project(project_id).filter(notes::Project::visible) else {
        return api_error(404, "404 Project Not Found");
    };
    let Some(iid) = notes::issue_exists(iid) else {
        return api_error(404, "404 Issue Not Found");
    };
    if !project.can_note(user) {
        return api_error(403, "403 Forbidden");
    }
    if text.trim().is_empty() {
        return json_resp(400, &json!({"message": {"note": ["can't be blank"]}}));
    }
    let note = inner
        .notes
        .add(&project, iid, &text, user, timefmt::now_iso8601());
    state.log_extra.push(("note_id", json!(note.id)));
    json_resp(201, &note.api_json(&rq.env.host))
}

fn list_notes(inner: &Inner, rq: &Rq, project_id: &str, iid: &str) -> Resp {
    let Some(project) = notes::find_project(project_id).filter(notes::Project::visible) else {
        return api_error(404, "404 Project Not Found");
    };
    let Some(iid) = notes::issue_exists(iid) else {
        return api_error(404, "404 Issue Not Found");
    };
    let list: Vec<Value> = inner
        .notes
        .on_issue(&project.path, iid)
        .map(|n| n.api_json(&rq.env.host))
        .collect();
    json_resp(200, &json!(list))
}

// ---------------------------------------------------------------------------------------------
// Admin

/// Whether a page reader's result is exactly the extension's `PageReading`: it deserialises (no
/// unknown field, every field of the right type) and serialises back to the same JSON, so no
/// field was left out either.
/// JSON equality where numbers compare by value (`1.0` is `1`: a browser's
/// `performance.timeOrigin` may be whole, and serde writes an `f64` back with its `.0`).
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_json(v, w)))
        }
        _ => a == b,
    }
}

fn check_reading(body: &[u8]) -> Resp {
    let sent: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return json_resp(400, &json!({"message": format!("bad JSON: {e}")})),
    };
    let verdict = match serde_json::from_value::<canary_switch::reading::PageReading>(sent.clone())
    {
        Err(e) => json!({"ok": false, "message": format!("not a PageReading: {e}")}),
        Ok(reading) => match serde_json::to_value(&reading) {
            Ok(back) if same_json(&back, &sent) => json!({"ok": true}),
            Ok(back) => {
                json!({"ok": false, "message": format!("fields missing or extra: sent {sent}, a PageReading is {back}")})
            }
            Err(e) => json!({"ok": false, "message": format!("{e}")}),
        },
    };
    json_resp(200, &verdict)
}

fn admin(shared: &Shared, parts: &Parts, body: &[u8]) -> Resp {
    let path = parts.uri.path();
    let query = parts.uri.query().unwrap_or("");
    let get = parts.method == Method::GET;
    let post = parts.method == Method::POST;
    match path {
        "/-/standin/log" if get => {
            let since = match query_value(query, "since") {
                None => 0,
                Some(s) => match s.parse::<u64>() {
                    Ok(n) => n,
                    Err(_) => return json_resp(400, &json!({"message": "since: a whole number"})),
                },
            };
            let inner = shared.lock();
            let entries: Vec<&Value> = inner
                .log
                .iter()
                .filter(|e| e.get("seq").and_then(Value::as_u64).unwrap_or(0) > since)
                .collect();
            json_resp(200, &json!(entries))
        }
        "/-/standin/config" if get => json_resp(200, &shared.lock().config.to_json()),
        "/-/standin/config" if post => {
            let parsed: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return json_resp(400, &json!({"message": format!("bad JSON: {e}")})),
            };
            let mut inner = shared.lock();
            match inner.config.updated(&parsed) {
                Ok(next) => {
                    inner.config = next;
                    json_resp(200, &inner.config.to_json())
                }
                Err(message) => json_resp(400, &json!({"message": message})),
            }
        }
        "/-/standin/change" if get => json_resp(200, &shared.lock().change_json()),
        "/-/standin/change" if post => {
            let parsed: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return json_resp(400, &json!({"message": format!("bad JSON: {e}")})),
            };
            let mut inner = shared.lock();
            match change_step(inner.change, &parsed) {
                Ok(next) => {
                    match next {
                        Change::Applied(_) => {
                            inner.change_applied_at = Some(timefmt::now_iso8601());
                            inner.change_rolled_back_at = None;
                        }
                        Change::RolledBack(_) => {
                            inner.change_rolled_back_at = Some(timefmt::now_iso8601());
                        }
                        Change::Before => {}
                    }
                    inner.change = next;
                    json_resp(200, &inner.change_json())
                }
                Err((status, message)) => json_resp(status, &json!({"message": message})),
            }
        }
        "/-/standin/check-reading" if post => check_reading(body),
        "/-/standin/notes" if get => {
            let inner = shared.lock();
            let list: Vec<Value> = inner.notes.all().map(notes::Note::admin_json).collect();
            json_resp(200, &json!(list))
        }
        "/-/standin/flush-sessions" if post => {
            let flushed = shared.lock().sessions.flush();
            json_resp(200, &json!({"flushed": flushed}))
        }
        "/-/standin/state" if get => {
            let inner = shared.lock();
            let pods = |stage, service| json!(shared.pods.of(stage, service));
            json_resp(
                200,
                &json!({
                    "config": inner.config.to_json(),
                    "sessions": inner.sessions.len(),
                    "sessions_signed_in": inner.sessions.count_signed_in(),
                    "sessions_by_format": {
                        "old": inner.sessions.count_by_format(Format::Old),
                        "new": inner.sessions.count_by_format(Format::New),
                    },
                    "sessions_by_generation": {
                        "0": inner.sessions.count_by_generation(0),
                        "1": inner.sessions.count_by_generation(1),
                    },
                    "remember_tokens": inner.remember.len(),
                    "change": inner.change.phase(),
                    "notes": inner.notes.len(),
                    "requests": inner.seq,
                    "scheme": if shared.https { "https" } else { "http" },
                    "upstreams": shared.upstreams.map(|u| json!({
                        "canary": u[Stage::Canary.index()].to_string(),
                        "main": u[Stage::Main.index()].to_string(),
                    })),
                    "revisions": {
                        "canary": shared.revisions[Stage::Canary.index()],
                        "main": shared.revisions[Stage::Main.index()],
                    },
                    "pods": {
                        "canary": {"web": pods(Stage::Canary, Service::Web), "api": pods(Stage::Canary, Service::Api)},
                        "main": {"web": pods(Stage::Main, Service::Web), "api": pods(Stage::Main, Service::Api)},
                    },
                }),
            )
        }
        _ => json_resp(404, &json!({"message": "404 Not Found"})),
    }
}

/// One `/-/standin/change` step: `apply` (from before or after a rollback) or `rollback`
/// (of an applied change). A step that does not fit the current phase is a 409.
fn change_step(current: Change, body: &Value) -> Result<Change, (u16, String)> {
    let bad = |m: &str| (400, m.to_string());
    let obj = body
        .as_object()
        .ok_or_else(|| bad("the body must be a JSON object"))?;
    if let Some(key) = obj.keys().find(|k| *k != "action" && *k != "kind") {
        return Err(bad(&format!("unknown change key {key:?}")));
    }
    match obj.get("action").and_then(Value::as_str) {
        Some("apply") => {
            let kind = obj
                .get("kind")
                .and_then(Value::as_str)
                .and_then(ChangeKind::parse)
                .ok_or_else(|| bad("kind: \"compatible\", \"unreadable-before\", \"unreadable-after-on-rollback\" or \"canary-new-format\""))?;
            match current {
                Change::Applied(_) => Err((409, "the change is already applied".into())),
                Change::Before | Change::RolledBack(_) => Ok(Change::Applied(kind)),
            }
        }
        Some("rollback") => {
            if obj.contains_key("kind") {
                return Err(bad("rollback takes no kind"));
            }
            match current {
                Change::Applied(kind) => Ok(Change::RolledBack(kind)),
                Change::Before | Change::RolledBack(_) => {
                    Err((409, "no applied change to roll back".into()))
                }
            }
        }
        _ => Err(bad("action: \"apply\" or \"rollback\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_steps() {
        use ChangeKind::*;
        let apply = |kind: &str| json!({"action": "apply", "kind": kind});
        let rollback = json!({"action": "rollback"});
        assert_eq!(
            change_step(Change::Before, &apply("unreadable-before")),
            Ok(Change::Applied(UnreadableBefore))
        );
        assert_eq!(
            change_step(Change::Applied(Compatible), &rollback),
            Ok(Change::RolledBack(Compatible))
        );
        assert_eq!(
            change_step(Change::RolledBack(Compatible), &apply("canary-new-format")),
            Ok(Change::Applied(CanaryNewFormat))
        );
        for (current, body, status) in [
            (Change::Applied(Compatible), apply("compatible"), 409),
            (Change::Before, rollback.clone(), 409),
            (Change::RolledBack(Compatible), rollback.clone(), 409),
            (Change::Before, apply("nope"), 400),
            (Change::Before, json!({"action": "apply"}), 400),
            (Change::Before, json!({"action": "undo"}), 400),
            (
                Change::Applied(Compatible),
                json!({"action": "rollback", "kind": "compatible"}),
                400,
            ),
            (
                Change::Before,
                json!({"action": "apply", "kind": "compatible", "x": 1}),
                400,
            ),
            (Change::Before, json!([1]), 400),
        ] {
            assert_eq!(
                change_step(current, &body).map_err(|e| e.0),
                Err(status),
                "{body}"
            );
        }
    }

    #[test]
    fn notes_routes() {
        assert_eq!(
            notes_route("/api/v4/projects/gitlab-com%2Fgl-infra%2Fproduction/issues/19142/notes"),
            Some(("gitlab-com/gl-infra/production".into(), "19142".into()))
        );
        assert_eq!(
            notes_route("/api/v4/projects/7444821/issues/1/notes"),
            Some(("7444821".into(), "1".into()))
        );
        for bad in [
            "/api/v4/projects//issues/1/notes",
            "/api/v4/projects/a%2Fb/issues/1/notes/2",
            "/api/v4/projects/a%2Fb/merge_requests/1/notes",
            "/api/v4/projects/a%2Fb/issues/1",
            "/api/v4/user",
        ] {
            assert_eq!(notes_route(bad), None, "{bad}");
        }
    }

    #[test]
    fn forms_decode() {
        let f = parse_form("user%5Blogin%5D=qa-user&user%5Bpassword%5D=a+b%21&x&bad=%zz%4");
        assert_eq!(form_value(&f, "user[login]"), Some("qa-user"));
        assert_eq!(form_value(&f, "user[password]"), Some("a b!"));
        assert_eq!(form_value(&f, "x"), Some(""));
        assert_eq!(form_value(&f, "bad"), Some("%zz%4"));
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%e2%9c%93"), "✓");
    }

    #[test]
    fn query_filter() {
        assert_eq!(
            filtered_query("a=b&authenticity_token=xyz&private_token=1&perf=none"),
            "a=b&authenticity_token=[FILTERED]&private_token=[FILTERED]&perf=none"
        );
        assert_eq!(filtered_query(""), "");
    }

    #[test]
    fn request_ids() {
        let mut ids = Rng::new(1);
        let a = new_request_id(&mut ids);
        let b = new_request_id(&mut ids);
        assert_eq!(a.len(), 26);
        assert_ne!(a, b);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()));
    }

    #[test]
    fn config_updates_are_validated() {
        let base = Config {
            canary_disabled: false,
            canary_weight: 0.05,
            session_mode: SessionMode::Compatible,
            perf_delay_ms: 150,
            markup: Markup::Current,
            faults: [Fault::default(); 2],
            unreadable: Unreadable::SignOut,
            session_cookie: CookieLifetime::Week,
        };
        let next = base
            .updated(&json!({"canary_weight": 1, "fault": {"stage": "canary", "status": 502, "delay_ms": 5}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(next.canary_weight, 1.0);
        assert_eq!(
            next.faults[Stage::Canary.index()],
            Fault {
                status: Some(502),
                delay_ms: 5
            }
        );
        let cleared = next
            .updated(&json!({"fault": {"stage": "canary", "status": null, "delay_ms": 0}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cleared.faults[Stage::Canary.index()], Fault::default());
        for bad in [
            json!({"canary_weight": 2}),
            json!({"session_format": "x"}),
            json!({"markup": "18"}),
            json!({"fault": {"stage": "both"}}),
            json!({"fault": {"stage": "main", "status": 200}}),
            json!({"unreadable": "500"}),
            json!({"session_cookie": "session"}),
            json!({"nope": 1}),
            json!([1]),
        ] {
            assert!(base.updated(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn route_reason_strings() {
        assert_eq!(
            crate::routing::RouteReason::ForcedPath.as_str(),
            "forced-path"
        );
    }
}
