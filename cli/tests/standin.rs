//! The built `canary-switch` against the stand-in, on loopback: stage detection, prepare and
//! verify through each failure mode the stand-in plays (the verdict sentences are the core's,
//! so the extension's), the watch, posting, exit codes, the JUnit file, and no secret in any
//! output.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{jar_values, parse_junit, Run, Standin, PASSWORD, TOKEN};
use serde_json::{json, Value};

const ENV: &str = "staging.gitlab.com";

fn pw() -> [(&'static str, &'static str); 1] {
    [("GITLAB_PASSWORD", PASSWORD)]
}

fn prepare(s: &Standin, extra: &[&str]) -> (Run, std::path::PathBuf) {
    let jar = s.path("jar.json");
    let jar_s = jar.display().to_string();
    let mut args = vec![
        "prepare", "--env", ENV, "--user", "qa-user", "--jar", &jar_s,
    ];
    args.extend_from_slice(extra);
    let r = s.run(&args, &pw());
    assert_eq!(r.code, 0, "prepare: {r:?}");
    (r, jar)
}

fn verify(s: &Standin, jar: &std::path::Path, extra: &[&str]) -> Run {
    let jar_s = jar.display().to_string();
    let mut args = vec!["verify", "--env", ENV, "--jar", &jar_s];
    args.extend_from_slice(extra);
    s.run(&args, &pw())
}

fn verdict_line(r: &Run) -> &str {
    r.stdout.lines().next().unwrap_or_default()
}

#[test]
fn stage_names_canary_main_and_unknown() {
    let s = Standin::start(3);
    let main = s.run(&["stage", "https://staging.gitlab.com/g/p", "--json"], &[]);
    assert_eq!(main.code, 0, "{main:?}");
    let v: Value = serde_json::from_str(&main.stdout).unwrap();
    assert_eq!(v["detection"]["stage"], "main");
    assert_eq!(v["detection"]["signal"], "favicon");

    let next = s.run(
        &[
            "stage",
            "https://staging.gitlab.com/g/p",
            "--prefer",
            "next",
            "--perf-bar",
        ],
        &[],
    );
    assert_eq!(next.code, 0, "{next:?}");
    assert!(
        next.stdout
            .contains("was served by canary, pod gitlab-cny-webservice-web-"),
        "{}",
        next.stdout
    );
    assert!(
        next.stdout.contains("decided by the peek results"),
        "{}",
        next.stdout
    );

    let unknown = s.run(
        &[
            "stage",
            "https://staging.gitlab.com/shape/none?sidebar=none&favicon=custom",
        ],
        &[],
    );
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown
        .stdout
        .contains("no signal on the page names a stage"));

    // User content imitating every signal changes nothing.
    let lookalike = s.run(
        &[
            "stage",
            "https://staging.gitlab.com/lookalike",
            "--prefer",
            "current",
            "--json",
        ],
        &[],
    );
    let v: Value = serde_json::from_str(&lookalike.stdout).unwrap();
    assert_eq!(v["detection"]["stage"], "main", "{}", lookalike.stdout);
}

#[test]
fn prepare_then_verify_passes_and_leaves_nothing_secret_behind() {
    let s = Standin::start(5);
    let (prep, jar) = prepare(&s, &["--remember-me"]);
    assert!(
        prep.stdout.contains(&jar.display().to_string()),
        "{}",
        prep.stdout
    );
    let mode = std::fs::metadata(&jar).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let secrets = jar_values(&jar);
    assert!(
        secrets.len() >= 2,
        "the session and remember-me cookies: {secrets:?}"
    );

    let (report, junit) = (s.path("report.md"), s.path("junit.xml"));
    let r = verify(
        &s,
        &jar,
        &[
            "--report",
            &report.display().to_string(),
            "--junit",
            &junit.display().to_string(),
        ],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let line = verdict_line(&r);
    assert!(
        line.starts_with("PASS — the session prepared at "),
        "{line}"
    );
    assert!(
        line.ends_with(" UTC survived the change: after the change, the same user stayed signed in across refresh, both stages and back."),
        "{line}"
    );
    assert!(!jar.exists(), "verify removes the prepared session");
    // One progress line per step.
    assert_eq!(
        r.stderr.lines().filter(|l| l.contains("/5 ")).count(),
        5,
        "{}",
        r.stderr
    );
    let md = std::fs::read_to_string(&report).unwrap();
    assert!(
        md.starts_with("### Session continuity check (after the change): ✅ PASS\n"),
        "{md}"
    );
    assert!(md.contains("| Environment | staging.gitlab.com (staging) |"));
    assert!(md.contains("| 3 | Other stage (canary) |"));
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (5, 0, 0));
    assert_eq!(j.cases[2].0, "3 Other stage (canary)");

    // No cookie value, password or token anywhere.
    let json = verify_json_after_prepare(&s);
    let mut outputs = vec![
        prep.stdout,
        prep.stderr,
        r.stdout,
        r.stderr,
        md,
        std::fs::read_to_string(&junit).unwrap(),
    ];
    outputs.extend(json);
    for out in &outputs {
        for secret in secrets.iter().map(String::as_str).chain([PASSWORD]) {
            assert!(!out.contains(secret), "a secret leaked into: {out}");
        }
    }
}

/// Prepare and verify again with `--json`: the outputs, and the new jar's values checked too.
fn verify_json_after_prepare(s: &Standin) -> Vec<String> {
    let (prep, jar) = prepare(s, &["--json"]);
    let secrets = jar_values(&jar);
    let r = verify(s, &jar, &["--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["verdict"], "PASS");
    assert_eq!(v["check"]["steps"].as_array().map(Vec::len), Some(5));
    assert!(v["check"].get("originalCookies").is_none());
    for out in [&prep.stdout, &r.stdout, &r.stderr] {
        for secret in &secrets {
            assert!(
                !out.contains(secret.as_str()),
                "a secret leaked into: {out}"
            );
        }
    }
    vec![prep.stdout, r.stdout]
}

#[test]
fn a_session_unreadable_after_the_change_fails_at_the_first_request() {
    let s = Standin::start(7);
    let (_, jar) = prepare(&s, &[]);
    s.change(json!({"action": "apply", "kind": "unreadable-before"}));
    let junit = s.path("junit.xml");
    let r = verify(&s, &jar, &["--junit", &junit.display().to_string()]);
    assert_eq!(r.code, 1, "{r:?}");
    let line = verdict_line(&r);
    assert!(
        line.starts_with("FAIL — at step “Baseline”, served by main"),
        "{line}"
    );
    assert!(
        line.contains("did not survive: signed out at the first request after the change (on main"),
        "{line}"
    );
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures), (2, 1));
    assert_eq!(j.cases[0].1, vec!["failure", "system-out"]);
    assert!(!jar.exists(), "a judged session is used up");
}

#[test]
fn main_unable_to_read_canary_s_sessions_fails_at_back() {
    let s = Standin::start(9);
    s.config(json!({"session_format": "canary-new-format"}));
    let (_, jar) = prepare(&s, &[]);
    let r = verify(&s, &jar, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(
        verdict_line(&r),
        "FAIL — at step “Back (main)”, served by main: signed out on main."
    );
}

#[test]
fn with_remember_me_a_replaced_session_is_still_a_fail() {
    let s = Standin::start(10);
    s.config(json!({"session_format": "canary-new-format"}));
    let (_, jar) = prepare(&s, &["--remember-me"]);
    let r = verify(&s, &jar, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        verdict_line(&r).contains(
            "the session was replaced on main; remember-me signed the user in again, so users without it were signed out"
        ),
        "{}",
        verdict_line(&r)
    );
}

#[test]
fn after_a_rollback_that_cannot_read_new_sessions_the_words_follow_the_label() {
    let s = Standin::start(11);
    s.change(json!({"action": "apply", "kind": "unreadable-after-on-rollback"}));
    let (_, jar) = prepare(&s, &[]);
    s.change(json!({"action": "rollback"}));
    let report = s.path("r.md");
    let r = verify(
        &s,
        &jar,
        &[
            "--after-rollback",
            "--report",
            &report.display().to_string(),
        ],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        verdict_line(&r).contains("signed out at the first request after the rollback"),
        "{}",
        verdict_line(&r)
    );
    let md = std::fs::read_to_string(report).unwrap();
    assert!(md.contains("| Prepared before the rollback |"), "{md}");
}

#[test]
fn a_session_that_breaks_every_request_is_a_fail_not_an_outage() {
    let s = Standin::start(12);
    s.config(json!({"unreadable": "error-500"}));
    let (_, jar) = prepare(&s, &[]);
    s.change(json!({"action": "apply", "kind": "unreadable-before"}));
    let r = verify(&s, &jar, &[]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(
        verdict_line(&r).contains("every request that carries it fails with HTTP 500"),
        "{}",
        verdict_line(&r)
    );
}

#[test]
fn gitlab_failing_for_everyone_is_inconclusive_and_keeps_the_session() {
    let s = Standin::start(13);
    let (_, jar) = prepare(&s, &[]);
    s.config(json!({"fault": {"stage": "main", "status": 502}}));
    let junit = s.path("junit.xml");
    let r = verify(&s, &jar, &["--junit", &junit.display().to_string()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        verdict_line(&r),
        "INCONCLUSIVE — step “Baseline”: GitLab answered HTTP 502 with and without the session."
    );
    assert!(jar.exists(), "kept for another try");
    let j = parse_junit(&junit);
    assert_eq!((j.failures, j.errors), (0, 1));
    // Once GitLab answers again, the same session is judged.
    s.config(json!({"fault": {"stage": "main", "status": null}}));
    assert_eq!(verify(&s, &jar, &[]).code, 0);
}

/// A stage down for everyone while the other stage works: the control request must reach the
/// stage that failed (with `gitlab_canary`, without the session), or a 502 of canary alone
/// would look like a session canary cannot read.
#[test]
fn one_stage_failing_for_everyone_is_inconclusive_not_a_broken_session() {
    let s = Standin::start(18);
    let (_, jar) = prepare(&s, &["--remember-me"]);
    s.config(json!({"fault": {"stage": "canary", "status": 502}}));
    let since = s
        .admin("GET", "log?since=0", None)
        .as_array()
        .and_then(|a| a.iter().filter_map(|e| e["seq"].as_u64()).max())
        .unwrap_or(0);
    let junit = s.path("junit.xml");
    let r = verify(&s, &jar, &["--junit", &junit.display().to_string()]);
    assert_eq!(r.code, 2, "{r:?}");
    assert_eq!(
        verdict_line(&r),
        "INCONCLUSIVE — step “Other stage (canary)”: GitLab answered HTTP 502 with and without the session."
    );
    let j = parse_junit(&junit);
    assert_eq!((j.tests, j.failures, j.errors), (4, 0, 1), "{:?}", j.cases);
    assert_eq!(j.cases[3].0, "4 Restore cookies");
    assert_eq!(j.cases[2].0, "3 Other stage (canary)");
    assert_eq!(j.cases[2].1[0], "error");
    // What the stand-in saw: the requests of /api/v4/user on canary, the last one the control.
    let log = s.admin("GET", &format!("log?since={since}"), None);
    let api: Vec<&Value> = log
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["path"] == "/api/v4/user" && e["stage"] == "canary")
        .collect();
    assert!(api.len() >= 2, "{log}");
    let names = |e: &Value| -> Vec<String> {
        e["cookies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    };
    let (tries, control) = api.split_at(api.len() - 1);
    for t in tries {
        let n = names(t);
        assert!(n.contains(&"_gitlab_session".to_string()), "{t}");
        assert_eq!(t["status"], 502, "{t}");
    }
    let control = control[0];
    let n = names(control);
    assert!(n.contains(&"gitlab_canary".to_string()), "{control}");
    assert!(!n.contains(&"_gitlab_session".to_string()), "{control}");
    assert!(!n.contains(&"remember_user_token".to_string()), "{control}");
    assert_eq!(control["gitlab_canary"], json!(["true"]), "{control}");
    assert_eq!(control["status"], 502, "{control}");
    // The baseline judged the prepared session: used up, as after any verdict.
    assert!(!jar.exists());
}

#[test]
fn sign_out_and_in_again_passes_with_seven_steps() {
    let s = Standin::start(14);
    let (_, jar) = prepare(&s, &[]);
    let junit = s.path("junit.xml");
    let r = verify(
        &s,
        &jar,
        &["--sign-out-in", "--junit", &junit.display().to_string()],
    );
    assert_eq!(r.code, 0, "{r:?}");
    let j = parse_junit(&junit);
    assert_eq!(j.tests, 7);
    assert_eq!(j.cases[5].0, "6 Sign out");
    assert_eq!(j.cases[6].0, "7 Sign in again");
}

#[test]
fn the_watch_reports_a_loss_at_once_then_runs_the_check() {
    let s = Standin::start(15);
    let port = s.port;
    let cert = s.cert.clone();
    // Sessions flushed a little into the window: the next sample is signed out.
    let flusher = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(2500));
        let agent = ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::new_with_certs(
                        &ureq::tls::parse_pem(&std::fs::read(cert).unwrap())
                            .filter_map(|i| match i {
                                Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                                _ => None,
                            })
                            .collect::<Vec<_>>(),
                    ))
                    .build(),
            )
            .build()
            .new_agent();
        agent
            .post(format!("https://127.0.0.1:{port}/-/standin/flush-sessions"))
            .header("content-type", "application/json")
            .send("{}")
            .unwrap();
    });
    let report = s.path("watch.md");
    let junit = s.path("junit.xml");
    let t0 = std::time::Instant::now();
    let r = s.run(
        &[
            "watch",
            "--env",
            ENV,
            "--user",
            "qa-user",
            "--every",
            "1s",
            "--for",
            "5s",
            "--report",
            &report.display().to_string(),
            "--junit",
            &junit.display().to_string(),
        ],
        &pw(),
    );
    flusher.join().unwrap();
    assert_eq!(r.code, 1, "{r:?}");
    assert!(t0.elapsed().as_secs() < 20);
    let lost = r
        .stderr
        .lines()
        .position(|l| {
            l.starts_with("Session lost on staging.gitlab.com at ") && l.ends_with(": signed out.")
        })
        .unwrap_or_else(|| panic!("{}", r.stderr));
    // Announced at once: within a few samples of the flush, before the window ended.
    let samples_before = r
        .stderr
        .lines()
        .take(lost)
        .filter(|l| l.contains("sample "))
        .count();
    assert!((2..=5).contains(&samples_before), "{}", r.stderr);
    assert!(
        r.stdout
            .starts_with("Session lost on staging.gitlab.com at "),
        "{}",
        r.stdout
    );
    let md = std::fs::read_to_string(report).unwrap();
    assert!(md.starts_with("### Session watch: ❌ session lost"), "{md}");
    assert!(
        md.contains("### Session continuity check (after the change): ❌ FAIL"),
        "{md}"
    );
    let j = parse_junit(&junit);
    assert_eq!(j.cases[2].0, "3 Watch");
    assert_eq!(j.cases[2].1[0], "failure");
}

#[test]
fn exit_statuses_for_usage_and_an_unreachable_gitlab() {
    let s = Standin::start(16);
    // Usage: an unknown flag, a bad --resolve, no password and no terminal.
    assert_eq!(s.run(&["verify", "--nope"], &[]).code, 64);
    assert_eq!(
        s.run(
            &[
                "stage",
                "https://gitlab.com/",
                "--resolve",
                "gitlab.com:x:1"
            ],
            &[]
        )
        .code,
        64
    );
    let r = s.run(&["prepare", "--env", ENV, "--user", "qa-user"], &[]);
    assert_eq!(r.code, 64, "{r:?}");
    assert!(r.stderr.contains("set GITLAB_PASSWORD"), "{}", r.stderr);
    // No session prepared.
    let r = s.run(&["verify", "--env", ENV], &[]);
    assert_eq!(r.code, 64, "{r:?}");
    assert!(r
        .stderr
        .contains("No session is prepared for staging.gitlab.com"));
    // Wrong password: one sentence.
    let r = s.run(
        &["prepare", "--env", ENV, "--user", "qa-user"],
        &[("GITLAB_PASSWORD", "wrong")],
    );
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("refused the user name or password"));
    // Unreachable: a closed port (the stand-in's port + nothing listening on another).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let junit = s.path("unreachable.xml");
    let out = std::process::Command::new(common::BIN)
        .args([
            "stage",
            "https://gitlab.com/",
            "--connect-to",
            &format!("::127.0.0.1:{port}"),
            "--junit",
            &junit.display().to_string(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert_eq!(parse_junit(&junit).errors, 1);
    // An untrusted certificate is unreachable too, with what to do.
    let out = std::process::Command::new(common::BIN)
        .args([
            "stage",
            "https://gitlab.com/",
            "--connect-to",
            &format!("::127.0.0.1:{}", s.port),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(69));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca-cert"));
}

#[test]
fn posting_shows_one_sentence_when_refused_and_posts_once_when_allowed() {
    let s = Standin::start(17);
    let report = s.path("report.md");
    std::fs::write(&report, "### Session continuity check: ✅ PASS\n").unwrap();
    let report_s = report.display().to_string();
    let post = |issue: &str, token: &str, yes: bool| {
        let mut args = vec!["post", "--issue", issue, "--report", &report_s];
        if yes {
            args.push("--yes");
        }
        s.run(&args, &[("GITLAB_TOKEN", token)])
    };
    let issue = "https://gitlab.com/gitlab-com/gl-infra/production/-/issues/19142";
    for (url, token, sentence) in [
        (issue, "glpat-wrong", "refused the token (HTTP 401)"),
        (
            "https://gitlab.com/gitlab-com/gl-infra/readonly/-/issues/1",
            TOKEN,
            "Your account may not comment on this issue",
        ),
        (
            "https://gitlab.com/private-group/secret-project/-/issues/1",
            TOKEN,
            "The issue was not found",
        ),
    ] {
        let r = post(url, token, true);
        assert_eq!(r.code, 1, "{url}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains(sentence), "{}", r.stderr);
        assert!(!r.stderr.contains(token) && !r.stdout.contains(token));
    }
    // Without --yes and without a terminal to ask on: nothing posted.
    assert_eq!(post(issue, TOKEN, false).code, 64);
    assert!(s.notes().is_empty(), "nothing posted so far");
    let r = post(issue, TOKEN, true);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(
        r.stdout.trim(),
        "Posted: https://gitlab.com/gitlab-com/gl-infra/production/-/issues/19142#note_1"
    );
    let notes = s.notes();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0]["body"], "### Session continuity check: ✅ PASS\n");
    assert_eq!(notes[0]["author"], "qa-user");
}
