//! The commands: what each asks the core, what it does natively, and what it shows and writes.

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use canary_switch::environment::CustomEnvironment;
use canary_switch::messages::Identity;
use canary_switch::post::parse_issue_url;
use canary_switch::preference::{plan_keeping, realised, Preference, Scope};
use canary_switch::report;
use canary_switch::session::{Action, Check, Event, Observation, Prepared, StepResult, Verdict};
use canary_switch::stage::{Detection, Stage};
use canary_switch::utc;
use canary_switch::watch::{Sample, Watch};
use serde_json::json;
use url::Url;

use crate::error::{CliError, EXIT_FAIL, EXIT_INCONCLUSIVE, EXIT_PASS};
use crate::gitlab::{self, now_ms, Gitlab};
use crate::jar::{self, SessionFile};
use crate::net::{Client, NetError};
use crate::output::{self, iso, msg, Case, CaseResult, Progress};
use crate::{Common, Session};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// How long a sign-out or sign-in step waits to see its effect.
const GUIDED_LIMIT_MS: f64 = 30_000.0;

/// `10s`, `500ms`, `5m`, `2h` (a bare number is seconds).
pub fn duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s:?} is not a duration such as 10s, 5m or 1h"))?;
    let ms = match unit {
        "ms" => n,
        "" | "s" => n.saturating_mul(1000),
        "m" | "min" => n.saturating_mul(60_000),
        "h" => n.saturating_mul(3_600_000),
        _ => return Err(format!("{s:?} is not a duration such as 10s, 5m or 1h")),
    };
    if ms == 0 {
        return Err("a duration must be more than zero".into());
    }
    Ok(Duration::from_millis(ms))
}

/// What a command ended with.
struct Outcome {
    code: u8,
    /// For people: stdout.
    text: String,
    json: serde_json::Value,
    markdown: Option<String>,
    cases: Vec<Case>,
}

/// Runs a command body, then writes what it was asked for. An error still leaves a JUnit file
/// (one case, the error's sentence) and a JSON answer, so that a pipeline shows why.
fn finish(
    command: &str,
    suite: &str,
    report_path: Option<&Path>,
    common: &Common,
    body: impl FnOnce() -> Result<Outcome, CliError>,
) -> Result<u8, CliError> {
    let started = now_ms();
    let t0 = Instant::now();
    let classname = format!("canary-switch.{command}");
    match body() {
        Ok(o) => {
            if let (Some(path), Some(md)) = (report_path, &o.markdown) {
                output::write_file(path, md)?;
            }
            if let Some(path) = &common.junit {
                output::write_file(
                    path,
                    &output::junit(suite, &classname, &iso(started), &o.cases),
                )?;
            }
            if common.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&o.json).unwrap_or_default()
                );
            } else if !o.text.is_empty() {
                println!("{}", o.text);
            }
            Ok(o.code)
        }
        Err(e) => {
            let sentence = e.to_string();
            if let Some(path) = &common.junit {
                let result = if e.exit_code() == EXIT_FAIL {
                    CaseResult::Fail(sentence.clone())
                } else {
                    CaseResult::Error(sentence.clone())
                };
                let case = Case {
                    name: command.to_string(),
                    seconds: t0.elapsed().as_secs_f64(),
                    result,
                    output: String::new(),
                };
                output::write_file(
                    path,
                    &output::junit(suite, &classname, &iso(started), &[case]),
                )?;
            }
            if common.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({
                        "command": command,
                        "error": sentence,
                        "exit": e.exit_code(),
                    }))
                    .unwrap_or_default()
                );
            }
            Err(e)
        }
    }
}

fn verdict_code(v: Verdict) -> u8 {
    match v {
        Verdict::Pass => EXIT_PASS,
        Verdict::Fail => EXIT_FAIL,
        Verdict::Inconclusive => EXIT_INCONCLUSIVE,
    }
}

fn password() -> Result<String, CliError> {
    if let Ok(p) = std::env::var("GITLAB_PASSWORD") {
        if !p.is_empty() {
            return Ok(p);
        }
    }
    if !std::io::stdin().is_terminal() {
        return Err(CliError::NoPassword);
    }
    rpassword::prompt_password("GitLab password: ").map_err(|_| CliError::NoPassword)
}

fn detection_text(d: Option<&Detection>) -> String {
    match d {
        Some(d) if d.stage != Stage::Unknown => format!(
            "{}{}",
            d.stage.as_str(),
            d.pod
                .as_deref()
                .map(|p| format!(", pod {p}"))
                .unwrap_or_default()
        ),
        _ => "an unknown stage".into(),
    }
}

fn http_text(i: &Identity) -> String {
    match i {
        Identity::SignedIn { username, .. } => format!("HTTP 200, @{username}"),
        Identity::SignedOut => "HTTP 401, signed out".into(),
        Identity::Status { status } => format!("HTTP {status}"),
        Identity::Failing {
            status,
            without: Some(w),
        } => format!("HTTP {status} ({w} without the session)"),
        Identity::Failing {
            status,
            without: None,
        } => format!("HTTP {status} (no answer without the session)"),
        Identity::Unreachable { detail } => format!("no answer ({detail})"),
    }
}

fn observation_text(o: &Observation) -> String {
    let session = match (&o.session.fingerprint, o.session.present) {
        (Some(fp), true) => format!("_gitlab_session {fp}"),
        _ => "no _gitlab_session".into(),
    };
    format!(
        "{}; {}; {}{}",
        detection_text(o.detection.as_ref()),
        http_text(&o.identity),
        session,
        if o.session.remember {
            ", remember-me set"
        } else {
            ""
        }
    )
}

fn step_name(i: usize, s: &StepResult) -> String {
    match s.target_stage {
        Some(t) => format!("{} {} ({})", i + 1, s.kind.title(), t.as_str()),
        None => format!("{} {}", i + 1, s.kind.title()),
    }
}

/// One progress line: `n/total`, the step, its verdict, what it saw.
fn progress_line(n: usize, total: usize, step: &str, verdict: &str, detail: &str) -> String {
    format!("{n:>2}/{total} {step:<22} {verdict:<12} {detail}")
        .trim_end()
        .to_string()
}

fn step_line(i: usize, total: usize, s: &StepResult) -> String {
    let mut detail = s
        .observation
        .as_ref()
        .map(observation_text)
        .unwrap_or_default();
    if let Some(n) = &s.note {
        detail.push_str(" — ");
        detail.push_str(n);
    }
    let name = step_name(i, s);
    let title = name.split_once(' ').map(|x| x.1).unwrap_or_default();
    progress_line(i + 1, total, title, s.verdict.as_str(), &detail)
}

/// The check's steps as JUnit cases, each with the time it took.
fn step_cases(check: &Check, seconds: &[f64], offset: usize) -> Vec<Case> {
    check
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let why = s.note.clone().unwrap_or_else(|| s.verdict.as_str().into());
            Case {
                name: step_name(i + offset, s),
                seconds: seconds.get(i).copied().unwrap_or_default(),
                result: match s.verdict {
                    Verdict::Pass => CaseResult::Pass,
                    Verdict::Fail => CaseResult::Fail(why),
                    Verdict::Inconclusive => CaseResult::Error(why),
                },
                output: s
                    .observation
                    .as_ref()
                    .map(observation_text)
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// The check as JSON for scripts: without the `gitlab_canary` values it puts back (no cookie
/// value leaves the jar).
fn check_json(check: &Check) -> serde_json::Value {
    let mut v = serde_json::to_value(check).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("originalCookies");
    }
    v
}

fn client(common: &Common) -> Result<Client, CliError> {
    Client::new(&common.net()?)
}

/// Who signs in again in a check's sign-in step.
struct Credentials {
    user: String,
    password: String,
    remember: bool,
}

/// Drives a session check to its end: asks the core what to do, does it with the jar, and
/// reports back, one progress line per finished step. Returns the check and each step's time.
fn drive(
    gl: &mut Gitlab,
    mut check: Check,
    credentials: Option<&Credentials>,
    progress: &Progress,
) -> (Check, Vec<f64>) {
    let mut seconds = Vec::new();
    let mut step_start = Instant::now();
    let total = if check.guided { 7 } else { 5 };
    loop {
        let action = check.next_action();
        if let Some(step) = check.current_step() {
            progress.working(&format!("{} {}…", check.progress_badge(), step.title()));
        }
        let event = match action {
            Action::Done => break,
            Action::SetStage(pref) => set_stage(gl, pref),
            Action::Reload => match gl.load_page() {
                Ok(_) => Event::Reloaded { finished: true },
                Err(NetError::Unreachable { detail, .. }) if detail.contains("timeout") => {
                    Event::Reloaded { finished: false }
                }
                // No answer is what the probe says next (as a browser shows its error page).
                Err(_) => Event::Reloaded { finished: true },
            },
            Action::Probe => Event::Probed(gl.observe()),
            Action::RestoreCookies(original) => {
                let env = gl.env.clone();
                match jar::restore(&mut gl.client.jar, &env, &original) {
                    Ok(exact) => Event::Restored { exact },
                    Err(e) => Event::Failed {
                        reason: msg("errRestore", &[&e]),
                    },
                }
            }
            Action::AwaitUser { sign_in, .. } => {
                check.start_wait(now_ms());
                await_user(gl, &check, sign_in, credentials)
            }
        };
        let before = check.steps.len();
        check.record(event, now_ms());
        for (i, s) in check.steps.iter().enumerate().skip(before) {
            seconds.push(step_start.elapsed().as_secs_f64());
            step_start = Instant::now();
            progress.line(&step_line(i, total.max(check.steps.len()), s));
        }
    }
    (check, seconds)
}

/// "This environment only": the host-only `gitlab_canary` the extension writes.
fn set_stage(gl: &mut Gitlab, pref: Preference) -> Event {
    let now_secs = now_ms() / 1000.0;
    let found = jar::canary_cookies(&gl.client.jar);
    let plan = plan_keeping(pref, Scope::ThisEnvironment, &gl.env, &found, now_secs, &[]);
    for op in &plan.ops {
        if let Err(e) = jar::apply(&mut gl.client.jar, op) {
            return Event::Failed {
                reason: msg("errCookieRefused", &[&e]),
            };
        }
    }
    if realised(
        pref,
        Scope::ThisEnvironment,
        &gl.env,
        &jar::canary_cookies(&gl.client.jar),
    ) {
        Event::StageSet
    } else {
        Event::Failed {
            reason: msg("errNotRealised", &[&gl.env.host]),
        }
    }
}

/// The guided steps, done rather than waited for: sign out (or in again), then probe until the
/// page shows it or the step's time is up.
fn await_user(
    gl: &mut Gitlab,
    check: &Check,
    sign_in: bool,
    credentials: Option<&Credentials>,
) -> Event {
    let done = if sign_in {
        match credentials {
            Some(c) => gl.sign_in(&c.user, &c.password, c.remember),
            None => Err(CliError::NoPassword),
        }
    } else {
        gl.sign_out()
    };
    if let Err(e) = done {
        return Event::Failed {
            reason: e.to_string(),
        };
    }
    let deadline = check.deadline_ms.unwrap_or(f64::INFINITY);
    loop {
        let _ = gl.load_page();
        let o = gl.observe();
        let seen = match o.identity {
            Identity::SignedOut => !sign_in,
            Identity::SignedIn { .. } => sign_in,
            _ => false,
        };
        if seen {
            return Event::Probed(o);
        }
        if now_ms() >= deadline {
            return Event::UserTimedOut;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn new_check(gl: &Gitlab, prepared: Option<Prepared>, after_rollback: bool, guided: bool) -> Check {
    let started = now_ms();
    Check::new(
        format!("{}-cli", started as u64),
        0,
        gl.env.host.clone(),
        gitlab::label(&gl.env),
        VERSION.into(),
        started,
        jar::stored_canary_cookies(&gl.client.jar, &gl.env),
        guided,
        GUIDED_LIMIT_MS,
    )
    .with_prepared(prepared)
    .labelled_after_rollback(after_rollback)
}

/// The verdict line, as the popup's status shows it.
fn verdict_line(check: &Check) -> String {
    let v = check.verdict.unwrap_or(Verdict::Inconclusive);
    format!("{} — {}", v.as_str(), report::reason(check))
}

// ------------------------------------------------------------------ stage

pub fn stage(
    url: &str,
    prefer: Option<&str>,
    perf_bar: bool,
    report_path: Option<&Path>,
    common: &Common,
) -> Result<u8, CliError> {
    finish(
        "stage",
        &format!("stage {url}"),
        report_path,
        common,
        || {
            let page = Url::parse(url)
                .ok()
                .filter(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some())
                .ok_or_else(|| {
                    CliError::Usage(format!(
                    "{url:?} is not a page URL: pass one like https://gitlab.com/gitlab-org/gitlab."
                ))
                })?;
            let (origin, env) = gitlab::target(&page.origin().ascii_serialization())?;
            let mut gl = Gitlab::new(client(common)?, origin.clone(), env, page.path());
            if perf_bar {
                jar::set_plain(&mut gl.client.jar, &origin, "perf_bar_enabled", "true");
            }
            if let Some(p) = prefer {
                let pref = Preference::parse(p).ok_or_else(|| {
                    CliError::Usage(format!("--prefer {p}: expected current, next or auto."))
                })?;
                if let Event::Failed { reason } = set_stage(&mut gl, pref) {
                    return Err(CliError::Usage(reason));
                }
            }
            let progress = Progress::new();
            progress.working(&format!("GET {url}"));
            let t0 = Instant::now();
            let answer = gl.client.get(&page)?;
            let reading = gl.read_answer(&answer);
            drop(progress);
            let signals = reading.signals(&gitlab::SerdeJson, gl.env.is_gitlab_com());
            let d = canary_switch::stage::detect(&signals, now_ms());
            let seen: Vec<String> = d
                .signals
                .iter()
                .map(|r| format!("{}: {}", r.signal.name(), r.stage.as_str()))
                .collect();
            let disagree: Vec<String> = d
                .disagreements
                .iter()
                .map(|r| format!("{} says {}", r.signal.name(), r.stage.as_str()))
                .collect();
            let why = match d.signal {
                Some(s) => format!("decided by the {}", s.name()),
                None => "no signal on the page names a stage".into(),
            };
            let mut text = format!(
                "{url} (HTTP {}) was served by {}: {why}.",
                answer.status,
                detection_text(Some(&d))
            );
            if !seen.is_empty() {
                text.push_str(&format!("\nSignals: {}.", seen.join("; ")));
            }
            if !disagree.is_empty() {
                text.push_str(&format!("\nDisagreements: {}.", disagree.join("; ")));
            }
            let markdown = format!(
            "### Stage of {}: {}\n\n| | |\n|---|---|\n| HTTP | {} |\n| Stage | {} |\n| Pod | {} |\n| Decided by | {} |\n| Signals | {} |\n| Disagreements | {} |\n| Tool | GitLab Canary Switch {VERSION} |\n",
            report::cell(url),
            d.stage.as_str(),
            answer.status,
            d.stage.as_str(),
            report::cell(d.pod.as_deref().unwrap_or("—")),
            d.signal.map_or("—", |s| s.name()),
            report::cell(&if seen.is_empty() { "—".into() } else { seen.join("; ") }),
            report::cell(&if disagree.is_empty() { "none".into() } else { disagree.join("; ") }),
        );
            let known = d.stage != Stage::Unknown;
            Ok(Outcome {
                code: if known { EXIT_PASS } else { EXIT_INCONCLUSIVE },
                json: json!({
                    "command": "stage",
                    "url": url,
                    "status": answer.status,
                    "detection": d,
                }),
                cases: vec![Case {
                    name: format!("stage of {url}"),
                    seconds: t0.elapsed().as_secs_f64(),
                    result: if known {
                        CaseResult::Pass
                    } else {
                        CaseResult::Error("no signal on the page names a stage".into())
                    },
                    output: text.clone(),
                }],
                text,
                markdown: Some(markdown),
            })
        },
    )
}

// ------------------------------------------------------------------ prepare

/// Signs in and records the prepared baseline.
fn sign_in_and_prepare(
    gl: &mut Gitlab,
    user: &str,
    password: &str,
    remember: bool,
    issue: Option<String>,
    progress: &Progress,
    cases: &mut Vec<Case>,
) -> Result<Prepared, CliError> {
    progress.working(&format!("Signing in to {} as {user}…", gl.env.host));
    let t0 = Instant::now();
    gl.sign_in(user, password, remember)?;
    progress.line(&progress_line(
        1,
        2,
        "Sign in",
        "PASS",
        &format!("@{user} on {}", gl.env.host),
    ));
    cases.push(Case {
        name: "1 Sign in".into(),
        seconds: t0.elapsed().as_secs_f64(),
        result: CaseResult::Pass,
        output: String::new(),
    });
    progress.working("Recording the session…");
    let t1 = Instant::now();
    gl.load_page()?;
    let o = gl.observe();
    let p = Prepared::from_observation(&gl.env.host, &o, issue)
        .map_err(|e| CliError::Prepare(e.sentence(&gl.env.host)))?;
    progress.line(&progress_line(
        2,
        2,
        "Prepare",
        "PASS",
        &observation_text(&o),
    ));
    cases.push(Case {
        name: "2 Prepare".into(),
        seconds: t1.elapsed().as_secs_f64(),
        result: CaseResult::Pass,
        output: observation_text(&o),
    });
    Ok(p)
}

fn prepared_markdown(p: &Prepared, label: &str) -> String {
    format!(
        "### Session prepared before the change\n\n| | |\n|---|---|\n| Environment | {} |\n| User | `{}` (id {}) |\n| Prepared | {} |\n| Stage | {}{} |\n| `_gitlab_session` | `{}`{}{} |\n| Tool | GitLab Canary Switch {VERSION} |\n",
        report::cell(label),
        report::cell(&p.username).replace('`', "'"),
        p.user_id,
        utc::utc(p.at_ms),
        p.stage.as_str(),
        p.pod
            .as_deref()
            .map(|x| format!(" (pod `{}`)", report::cell(x)))
            .unwrap_or_default(),
        p.session.fingerprint.as_deref().unwrap_or("—"),
        if p.session.remember { ", remember-me set" } else { "" },
        match p.session.ends_with_browser {
            Some(true) => ", ends with the browser",
            Some(false) => ", has an expiry",
            None => "",
        }
    )
}

pub fn prepare(
    session: &Session,
    user: &str,
    remember: bool,
    issue: Option<String>,
    jar_path: Option<PathBuf>,
    report_path: Option<&Path>,
    common: &Common,
) -> Result<u8, CliError> {
    finish(
        "prepare",
        &format!("prepare {}", session.env),
        report_path,
        common,
        || {
            let (origin, env) = gitlab::target(&session.env)?;
            if let Some(u) = &issue {
                let custom = custom_for(u);
                parse_issue_url(u, &custom).map_err(|e| CliError::Usage(e.sentence()))?;
            }
            let path = jar_path.unwrap_or_else(|| jar::default_path(&env.host));
            let password = password()?;
            let mut gl = Gitlab::new(client(common)?, origin.clone(), env, &session.page);
            let progress = Progress::new();
            let mut cases = Vec::new();
            let p = sign_in_and_prepare(
                &mut gl, user, &password, remember, issue, &progress, &mut cases,
            )?;
            drop(progress);
            SessionFile::new(&origin, &session.page, p.clone(), &gl.client.jar).save(&path)?;
            let label = gitlab::label(&gl.env);
            let text = format!(
                "Prepared @{} (id {}) on {} at {}: {}{}, _gitlab_session {}{}.\nThe session is kept in {} (mode 0600; verify removes it). After the change: canary-switch verify --env {}",
                p.username,
                p.user_id,
                label,
                utc::utc(p.at_ms),
                p.stage.as_str(),
                p.pod.as_deref().map(|x| format!(", pod {x}")).unwrap_or_default(),
                p.session.fingerprint.as_deref().unwrap_or("—"),
                if p.session.remember { ", remember-me set" } else { "" },
                path.display(),
                session.env,
            );
            Ok(Outcome {
                code: EXIT_PASS,
                json: json!({
                    "command": "prepare",
                    "jar": path,
                    "prepared": p,
                }),
                markdown: Some(prepared_markdown(&p, &label)),
                text,
                cases,
            })
        },
    )
}

// ------------------------------------------------------------------ verify

pub fn verify(
    session: &Session,
    after_rollback: bool,
    sign_out_in: bool,
    jar_path: Option<PathBuf>,
    report_path: Option<&Path>,
    common: &Common,
) -> Result<u8, CliError> {
    finish(
        "verify",
        &format!("session check {}", session.env),
        report_path,
        common,
        || {
            let (origin, env) = gitlab::target(&session.env)?;
            let path = jar_path.unwrap_or_else(|| jar::default_path(&env.host));
            let file = SessionFile::load(&path, &env.host)?;
            let credentials = if sign_out_in {
                Some(Credentials {
                    user: file.prepared.username.clone(),
                    password: password()?,
                    remember: file.prepared.session.remember,
                })
            } else {
                None
            };
            let mut client = client(common)?;
            client.jar = file.jar(&path)?;
            let page = if session.page == "/" {
                file.page.clone()
            } else {
                session.page.clone()
            };
            let mut gl = Gitlab::new(client, origin, env, &page);
            // GitLab must answer at all: otherwise there is nothing to judge (and the prepared
            // session is kept for another try).
            gl.load_page()?;
            let progress = Progress::new();
            let check = new_check(
                &gl,
                Some(file.prepared.clone()),
                after_rollback,
                sign_out_in,
            );
            let (check, seconds) = drive(&mut gl, check, credentials.as_ref(), &progress);
            drop(progress);
            // The prepared session is used once its check has judged it (as the extension
            // does): kept when the baseline could not (a 502 during the change).
            let judged = check
                .steps
                .first()
                .is_some_and(|s| s.verdict != Verdict::Inconclusive);
            let kept = if judged {
                std::fs::remove_file(&path).map_err(|e| CliError::File {
                    path: path.clone(),
                    detail: e.to_string(),
                })?;
                String::new()
            } else {
                format!(
                    "\nThe prepared session is kept in {}: the baseline could not judge it, so verify again once GitLab answers.",
                    path.display()
                )
            };
            let verdict = check.verdict.unwrap_or(Verdict::Inconclusive);
            Ok(Outcome {
                code: verdict_code(verdict),
                text: format!("{}{kept}", verdict_line(&check)),
                json: json!({
                    "command": "verify",
                    "verdict": verdict,
                    "reason": report::reason(&check),
                    "jarRemoved": judged,
                    "check": check_json(&check),
                }),
                markdown: Some(report::check_markdown(&check)),
                cases: step_cases(&check, &seconds, 0),
            })
        },
    )
}

// ------------------------------------------------------------------ watch

#[allow(clippy::too_many_arguments)]
pub fn watch(
    session: &Session,
    user: &str,
    remember: bool,
    every: Duration,
    window: Duration,
    report_path: Option<&Path>,
    common: &Common,
) -> Result<u8, CliError> {
    finish(
        "watch",
        &format!("session watch {}", session.env),
        report_path,
        common,
        || {
            let (origin, env) = gitlab::target(&session.env)?;
            let password = password()?;
            let mut gl = Gitlab::new(client(common)?, origin, env, &session.page);
            let progress = Progress::new();
            let mut cases = Vec::new();
            let p = sign_in_and_prepare(
                &mut gl, user, &password, remember, None, &progress, &mut cases,
            )?;
            let host = gl.env.host.clone();
            let started = now_ms();
            let interval_secs = u32::try_from(every.as_secs().max(1)).unwrap_or(u32::MAX);
            let minutes = u32::try_from(window.as_secs().div_ceil(60)).unwrap_or(u32::MAX);
            let mut w = Watch::new(
                vec![host.clone()],
                started,
                interval_secs,
                minutes,
                VERSION.into(),
            )
            .from_prepared(vec![p.clone()]);
            w.until_ms = started + window.as_secs_f64() * 1000.0;
            let t0 = Instant::now();
            let mut n = 0u32;
            let mut loss_line = None;
            loop {
                let now = now_ms();
                if w.expired(now) {
                    w.stop(now);
                    break;
                }
                progress.working(&format!("Watching {host}: sample {}…", n + 1));
                let sample = Sample {
                    identity: gl.identity(),
                    session: Some(gl.session()),
                    at_ms: now_ms(),
                    host: host.clone(),
                };
                n += 1;
                if w.record(sample.clone()) {
                    // At once, in the extension's words.
                    let line = msg(
                        "watchLost",
                        &[&host, &utc::utc(sample.at_ms), &w.loss_sentence(&sample)],
                    );
                    progress.line(&line);
                    loss_line = Some(line);
                } else {
                    progress.line(&format!(
                        "  sample {n:<3} {} {}",
                        utc::utc_time(sample.at_ms),
                        http_text(&sample.identity)
                    ));
                }
                let next = started + f64::from(n) * every.as_secs_f64() * 1000.0;
                let wait = (next.min(w.until_ms) - now_ms()).max(0.0);
                std::thread::sleep(Duration::from_millis(wait as u64));
            }
            let watch_case = Case {
                name: "3 Watch".into(),
                seconds: t0.elapsed().as_secs_f64(),
                result: match (&loss_line, w.unanswered()) {
                    (Some(l), _) => CaseResult::Fail(l.clone()),
                    (None, 0) => CaseResult::Pass,
                    (None, u) => CaseResult::Error(format!(
                        "{u} of {} samples got no answer about the session",
                        w.samples.len()
                    )),
                },
                output: report::watch_markdown(&w),
            };
            cases.push(watch_case);
            // Then the full check, with the session prepared at the start of the window.
            gl.forget_page();
            gl.load_page()?;
            let check = new_check(&gl, Some(p), false, false);
            let (check, seconds) = drive(&mut gl, check, None, &progress);
            drop(progress);
            let offset = cases.len();
            cases.extend(step_cases(&check, &seconds, offset));
            let verdict = match (
                w.first_loss(),
                check.verdict.unwrap_or(Verdict::Inconclusive),
            ) {
                (Some(_), _) => Verdict::Fail,
                (None, Verdict::Pass) if w.unanswered() > 0 => Verdict::Inconclusive,
                (None, v) => v,
            };
            let status = match (&loss_line, w.unanswered()) {
                (Some(l), _) => l.clone(),
                (None, 0) => msg("watchStopped", &[&w.samples.len().to_string()]),
                (None, u) => format!(
                    "{} {u} of them got no answer about the session.",
                    msg("watchStopped", &[&w.samples.len().to_string()])
                ),
            };
            Ok(Outcome {
                code: verdict_code(verdict),
                text: format!("{status}\n{}", verdict_line(&check)),
                json: json!({
                    "command": "watch",
                    "verdict": verdict,
                    "lost": w.first_loss().map(|s| json!({
                        "host": s.host,
                        "atMs": s.at_ms,
                        "sentence": w.loss_sentence(s),
                    })),
                    "watch": w,
                    "check": check_json(&check),
                }),
                markdown: Some(format!(
                    "{}\n{}",
                    report::watch_markdown(&w),
                    report::check_markdown(&check)
                )),
                cases,
            })
        },
    )
}

// ------------------------------------------------------------------ post

/// The issue URL's host as a self-managed environment, when it is not on GitLab.com.
fn custom_for(url: &str) -> Vec<CustomEnvironment> {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .map(|host| {
            vec![CustomEnvironment {
                cookie_domain: host.clone(),
                host,
            }]
        })
        .unwrap_or_default()
}

pub fn post(
    issue_url: &str,
    report_path: &Path,
    yes: bool,
    common: &Common,
) -> Result<u8, CliError> {
    finish(
        "post",
        &format!("post to {issue_url}"),
        None,
        common,
        || {
            let issue = parse_issue_url(issue_url, &custom_for(issue_url))
                .map_err(|e| CliError::Usage(e.sentence()))?;
            let body = std::fs::read_to_string(report_path).map_err(|e| CliError::File {
                path: report_path.to_path_buf(),
                detail: e.to_string(),
            })?;
            if body.trim().is_empty() {
                return Err(CliError::Usage(format!(
                    "{} is empty: pass the report that verify or watch wrote.",
                    report_path.display()
                )));
            }
            let token = std::env::var("GITLAB_TOKEN")
                .ok()
                .filter(|t| !t.is_empty())
                .ok_or(CliError::NoToken)?;
            // The API on the URL's own origin (its port kept).
            let api = Url::parse(issue_url)
                .ok()
                .and_then(|u| u.join(&issue.notes_api_path()).ok())
                .ok_or_else(|| CliError::Usage(format!("{issue_url:?} is not a URL.")))?;
            if !yes {
                if !std::io::stdin().is_terminal() {
                    return Err(CliError::Usage(
                    "Posting asks first, and there is no terminal to ask on: read the report, then pass --yes to post it.".into(),
                ));
                }
                eprintln!(
                    "This comment will be posted to {} with the token's account:\n\n{body}\n",
                    issue.url()
                );
                eprint!("Post it? [y/N] ");
                let _ = std::io::stderr().flush();
                let mut answer = String::new();
                let _ = std::io::stdin().lock().read_line(&mut answer);
                if !matches!(answer.trim(), "y" | "Y" | "yes") {
                    return Err(CliError::Declined);
                }
            }
            let t0 = Instant::now();
            let mut client = client(common)?;
            let answer = client.post_json(
                &api,
                &json!({ "body": body }),
                &[("PRIVATE-TOKEN", token.as_str())],
            );
            let (status, note_id, error) = match &answer {
                Ok(a) => (
                    a.status,
                    (a.status == 201)
                        .then(|| serde_json::from_str::<serde_json::Value>(&a.body).ok())
                        .flatten()
                        .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64)),
                    None,
                ),
                Err(e) => (0, None, Some(e.to_string())),
            };
            let outcome = issue.outcome(status, note_id, false, error.as_deref());
            let note_url = match outcome {
            Ok(u) => u,
            // A token, not a browser session, was refused.
            Err(_) if status == 401 => {
                return Err(CliError::Post(format!(
                    "{} refused the token (HTTP 401): check that GITLAB_TOKEN is valid and has the api scope, then post again.",
                    issue.host
                )))
            }
            Err(e) => return Err(CliError::Post(e.sentence())),
        };
            Ok(Outcome {
                code: EXIT_PASS,
                text: format!("Posted: {note_url}"),
                json: json!({"command": "post", "url": note_url}),
                markdown: None,
                cases: vec![Case {
                    name: "post".into(),
                    seconds: t0.elapsed().as_secs_f64(),
                    result: CaseResult::Pass,
                    output: note_url,
                }],
            })
        },
    )
}

// ------------------------------------------------------------------ read-page

pub fn read_page(
    url: &str,
    html: Option<&Path>,
    cookies: &[String],
    common: &Common,
) -> Result<u8, CliError> {
    let page = Url::parse(url).map_err(|_| CliError::Usage(format!("{url:?} is not a URL.")))?;
    let (origin, env) = gitlab::target(&page.origin().ascii_serialization())?;
    let mut gl = Gitlab::new(client(common)?, origin.clone(), env, page.path());
    for c in cookies {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| CliError::Usage(format!("--cookie {c:?}: expected NAME=VALUE.")))?;
        jar::set_plain(&mut gl.client.jar, &origin, name, value);
    }
    let answer = match html {
        Some(path) => crate::net::Answer {
            status: 200,
            url: page.clone(),
            body: std::fs::read_to_string(path).map_err(|e| CliError::File {
                path: path.to_path_buf(),
                detail: e.to_string(),
            })?,
        },
        None => gl.client.get(&page)?,
    };
    let reading = gl.read_answer(&answer);
    println!("{}", serde_json::to_string(&reading).unwrap_or_default());
    Ok(EXIT_PASS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(duration("7"), Ok(Duration::from_secs(7)));
        for bad in ["", "s", "10x", "0s", "-1s"] {
            assert!(duration(bad).is_err(), "{bad}");
        }
    }
}
