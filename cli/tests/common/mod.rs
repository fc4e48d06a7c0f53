//! The stand-in (`target/debug/www`) for the command's tests: started on a loopback port with
//! its self-signed certificate written out for `--ca-cert`, driven through its admin API, and
//! stopped when dropped. The command reaches it on GitLab's real host names with `--connect-to`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;
use std::time::Duration;

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_canary-switch");
pub const PASSWORD: &str = "correct-horse-battery";
pub const TOKEN: &str = "glpat-standin-qa-user-000001";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `STANDIN_BIN`, else `<target>/debug/www`, built once when missing.
fn standin_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("STANDIN_BIN") {
        return PathBuf::from(p);
    }
    // The command's own binary sits in the same target directory.
    let bin = Path::new(BIN)
        .parent()
        .map(|d| d.join("www"))
        .unwrap_or_else(|| repo_root().join("target/debug/www"));
    static BUILD: Once = Once::new();
    BUILD.call_once(|| {
        if !bin.exists() {
            let status = Command::new(env!("CARGO"))
                .args(["build", "-p", "www", "--quiet"])
                .current_dir(repo_root())
                .status()
                .expect("cargo build -p www");
            assert!(status.success(), "cargo build -p www failed");
        }
    });
    bin
}

pub struct Standin {
    child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
    pub cert: PathBuf,
    agent: ureq::Agent,
}

impl Standin {
    pub fn start(seed: u32) -> Standin {
        let dir = tempfile::tempdir().expect("temp dir");
        let cert = dir.path().join("standin.pem");
        let mut child = Command::new(standin_bin())
            .args([
                "--port",
                "0",
                "--seed",
                &seed.to_string(),
                "--canary-weight",
                "0",
                "--quiet",
            ])
            .arg("--cert-out")
            .arg(&cert)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the stand-in (cargo build -p www)");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let mut line = String::new();
        out.read_line(&mut line).expect("listening line");
        let ev: Value = serde_json::from_str(&line).expect("listening JSON");
        let port = ev["port"].as_u64().expect("port") as u16;
        // Keep draining whatever else it prints.
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = out.read_to_end(&mut sink);
        });
        let pem = std::fs::read(&cert).expect("certificate written");
        let certs: Vec<_> = ureq::tls::parse_pem(&pem)
            .filter_map(|i| match i {
                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                _ => None,
            })
            .collect();
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(&certs))
                    .build(),
            )
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .new_agent();
        Standin {
            child,
            port,
            dir,
            cert,
            agent,
        }
    }

    /// An admin API call (`/-/standin/...`); the answer's JSON.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("https://127.0.0.1:{}/-/standin/{path}", self.port);
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).call(),
            (_, b) => self
                .agent
                .post(&url)
                .header("content-type", "application/json")
                .send(b.unwrap_or_else(|| serde_json::json!({})).to_string()),
        }
        .expect("admin call");
        let text = resp.body_mut().read_to_string().expect("admin body");
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    pub fn config(&self, v: Value) {
        self.admin("POST", "config", Some(v));
    }

    pub fn change(&self, v: Value) {
        self.admin("POST", "change", Some(v));
    }

    pub fn notes(&self) -> Vec<Value> {
        self.admin("GET", "notes", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The network flags that send GitLab's hosts here.
    pub fn net(&self) -> Vec<String> {
        vec![
            "--connect-to".into(),
            format!("::127.0.0.1:{}", self.port),
            "--ca-cert".into(),
            self.cert.display().to_string(),
        ]
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Runs the command with these arguments, then the network flags; stdin closed.
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .args(self.net())
            .env_remove("GITLAB_PASSWORD")
            .env_remove("GITLAB_TOKEN")
            .env("XDG_STATE_HOME", self.dir.path().join("state"))
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        Run::from(cmd.output().expect("run canary-switch"))
    }
}

impl Drop for Standin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
        }
    }
}

/// Every cookie value in a session file the command wrote (`cookie_store`'s JSON: each
/// cookie's `raw_cookie` is `name=value; …`).
pub fn jar_values(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("session file");
    let v: Value = serde_json::from_str(&text).expect("session file JSON");
    v["cookies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["raw_cookie"].as_str())
        .filter_map(|raw| raw.split(';').next())
        .filter_map(|pair| pair.split_once('='))
        .filter(|(name, _)| *name != "gitlab_canary")
        .map(|(_, value)| value.to_string())
        .filter(|v| v.len() >= 8)
        .collect()
}

/// A JUnit file parsed back: (testsuites attributes, testcases as (name, child element names)).
pub struct Junit {
    pub tests: usize,
    pub failures: usize,
    pub errors: usize,
    pub cases: Vec<(String, Vec<String>)>,
}

pub fn parse_junit(path: &Path) -> Junit {
    use quick_xml::events::Event;
    let text = std::fs::read_to_string(path).expect("junit file");
    let mut reader = quick_xml::Reader::from_str(&text);
    let mut stack: Vec<String> = Vec::new();
    let mut junit = Junit {
        tests: 0,
        failures: 0,
        errors: 0,
        cases: Vec::new(),
    };
    let attr = |e: &quick_xml::events::BytesStart<'_>, name: &str| -> Option<String> {
        e.attributes()
            .filter_map(Result::ok)
            .find(|a| a.key.as_ref() == name.as_bytes())
            .and_then(|a| a.unescape_value().ok().map(|v| v.into_owned()))
    };
    loop {
        let event = reader.read_event().expect("well-formed XML");
        match &event {
            Event::Start(e) | Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                match (stack.last().map(String::as_str), name.as_str()) {
                    (None, "testsuites") => {
                        let n = |k| {
                            attr(e, k)
                                .and_then(|v| v.parse().ok())
                                .unwrap_or(usize::MAX)
                        };
                        junit.tests = n("tests");
                        junit.failures = n("failures");
                        junit.errors = n("errors");
                    }
                    (Some("testsuites"), "testsuite") => {}
                    (Some("testsuite"), "testcase") => {
                        assert!(attr(e, "classname").is_some(), "testcase without classname");
                        assert!(attr(e, "time")
                            .and_then(|t| t.parse::<f64>().ok())
                            .is_some());
                        junit
                            .cases
                            .push((attr(e, "name").expect("testcase name"), Vec::new()));
                    }
                    (
                        Some("testcase"),
                        child @ ("failure" | "error" | "skipped" | "system-out"),
                    ) => {
                        if let Some(c) = junit.cases.last_mut() {
                            c.1.push(child.to_string());
                        }
                    }
                    (parent, child) => panic!("unexpected <{child}> in {parent:?}"),
                }
                if matches!(event, Event::Start(_)) {
                    stack.push(name);
                }
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    junit
}
