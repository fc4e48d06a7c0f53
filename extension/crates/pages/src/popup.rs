//! The popup: shows the target tab's environment and the stage in force, and switches it.
//!
//! `popup.html` is a static skeleton; this fills its text (from `_locales`, as text nodes) and
//! wires its controls. The target tab is `?tab=<id>` or the active tab of this window.

use std::future::Future;
use std::rc::Rc;
use std::task::Poll;

use serde::de::DeserializeOwned;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Document, Element, HtmlButtonElement, HtmlInputElement};

use crate::browser::{self, msg, request_host_access, tabs, Area, Stored};
use crate::dom;
use crate::environment::path_of;
use crate::errors::UserError;
use crate::explain::{explain, fill, Share};
use crate::messages::{
    share_key, tab_key, Command, CommandReply, TabState, CHECK_KEY, HISTORY_KEY, PREPARED_KEY,
    WATCH_KEY,
};
use crate::preference::{InForce, Preference, Scope};
use crate::report;
use crate::session::{Check, Prepared, StepKind, Verdict};
use crate::settings::SETTINGS_KEY;
use crate::stage::Stage;
use crate::switch::{self, change_text, error_text, Target};
use crate::utc::utc;
use crate::watch::Watch;

const RELOAD_TIMEOUT_MS: u32 = 30_000;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(catch, js_namespace = ["navigator", "clipboard"], js_name = writeText)]
    fn clipboard_write(text: &str) -> Result<js_sys::Promise, JsValue>;
}

/// Sends `{"command": cmd}` to the background; the error sentence it answers, if any.
async fn command(cmd: &Command) -> Option<String> {
    command_result(cmd).await.err()
}

/// Sends `{"command": cmd}` to the background; what it made (a comment's URL), or its error
/// sentence.
async fn command_result(cmd: &Command) -> Result<Option<String>, String> {
    let wrapper = js_sys::Object::new();
    let value = browser::to_js(cmd).map_err(|e| e.0)?;
    js_sys::Reflect::set(&wrapper, &"command".into(), &value)
        .map_err(|e| browser::BrowserError::from_js(e).0)?;
    let reply = browser::send_to_background(&wrapper)
        .await
        .map_err(|e| e.0)?;
    let reply = browser::from_js::<CommandReply>(reply).map_err(|e| e.0)?;
    match reply.error {
        Some(e) => Err(e),
        None => Ok(reply.result),
    }
}

struct Popup {
    doc: Document,
    target: Option<Target>,
    settings: crate::settings::Settings,
}

/// What [`Popup::refresh`] need not read again.
#[derive(Default)]
struct Known {
    /// All of storage.local.
    local: Option<Stored>,
    /// The target tab's URL.
    url: Option<Option<String>>,
}

/// The value stored under `key`; `None` when absent, unreadable or storage failed.
fn stored<T: DeserializeOwned>(local: &Option<Stored>, key: &str) -> Option<T> {
    local.as_ref()?.get(key).ok().flatten()
}

fn document() -> Option<Document> {
    web_sys::window()?.document()
}

impl Popup {
    fn el(&self, testid: &str) -> Option<Element> {
        dom::by_testid(&self.doc, testid)
    }

    fn set_text(&self, testid: &str, text: &str) {
        if let Some(e) = self.el(testid) {
            e.set_text_content(Some(text));
        }
    }

    fn body_attr(&self, name: &str, value: &str) {
        dom::set_body_attr(&self.doc, name, value);
    }

    fn show_error(&self, e: Option<&UserError>) {
        if let Some(el) = self.el("error") {
            el.set_text_content(e.map(error_text).as_deref());
            let _ = match e {
                Some(_) => el.remove_attribute("hidden"),
                None => el.set_attribute("hidden", ""),
            };
        }
        let needs_grant = matches!(e, Some(UserError::NoHostAccess { .. }));
        if let Some(b) = self.el("grant-access") {
            let _ = if needs_grant {
                b.remove_attribute("hidden")
            } else {
                b.set_attribute("hidden", "")
            };
        }
    }

    fn scope(&self) -> Scope {
        let this_env = self
            .el("scope-this-env")
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .is_some_and(|i| i.checked());
        if this_env {
            Scope::ThisEnvironment
        } else {
            Scope::AllEnvironments
        }
    }

    fn enable_controls(&self, enabled: bool) {
        for id in ["choose-current", "choose-next", "choose-auto"] {
            if let Some(b) = self
                .el(id)
                .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
            {
                b.set_disabled(!enabled);
            }
        }
    }

    /// Reads the cookies again and shows the preference in force; returns it.
    async fn render_in_force(&self) -> Option<InForce> {
        let target = self.target.as_ref()?;
        self.show_in_force(target.in_force().await)
    }

    /// The choice buttons and the preference line for the preference in force.
    fn show_in_force(&self, in_force: Result<InForce, UserError>) -> Option<InForce> {
        match in_force {
            Ok(state) => {
                let pressed = state.preference();
                for (id, p) in [
                    ("choose-current", Preference::Current),
                    ("choose-next", Preference::Next),
                    ("choose-auto", Preference::Auto),
                ] {
                    if let Some(b) = self.el(id) {
                        let on = if pressed == Some(p) { "true" } else { "false" };
                        let _ = b.set_attribute("aria-pressed", on);
                    }
                }
                let text = match &state {
                    InForce::Conflict { values } => msg("popupConflict", &[&values.join(", ")]),
                    other => other
                        .preference()
                        .map(|p| p.as_str().to_string())
                        .unwrap_or_default(),
                };
                self.set_text("preference", &text);
                Some(state)
            }
            Err(e) => {
                self.show_error(Some(&e));
                None
            }
        }
    }

    fn show(&self, testid: &str, visible: bool) {
        if let Some(e) = self.el(testid) {
            let _ = if visible {
                e.remove_attribute("hidden")
            } else {
                e.set_attribute("hidden", "")
            };
        }
    }

    fn link(&self, testid: &str, href: Option<String>) {
        if let (Some(e), Some(h)) = (self.el(testid), href.as_ref()) {
            let _ = e.set_attribute("href", h);
        }
        self.show(testid, href.is_some());
    }

    /// Reads what every section shows in one round of extension-API calls (all of
    /// storage.local, the tab's URL now, its stored detection, the cookies in force) and
    /// renders them all. What the caller has just read is not asked again.
    async fn refresh(&self, known: Known) {
        let target = self.target.as_ref();
        let local = async {
            match known.local {
                Some(l) => Some(l),
                None => Area::Local.read_all().await.ok(),
            }
        };
        // The tab may have navigated since the popup opened.
        let url = async {
            match (known.url, target) {
                (Some(u), _) => u,
                (None, Some(t)) => tabs::get(t.tab.id).await.ok().and_then(|t| t.url),
                (None, None) => None,
            }
        };
        let state = async {
            let key = tab_key(target?.tab.id);
            Area::Session.read::<TabState>(&key).await.ok().flatten()
        };
        let in_force = async { Some(target?.in_force().await) };
        let ((local, url), (state, in_force)) =
            join2(join2(local, url), join2(state, in_force)).await;
        if let Some(t) = target {
            let in_force = in_force
                .and_then(|r| self.show_in_force(r))
                .unwrap_or(InForce::Auto);
            let share = stored(&local, &share_key(&t.env.host)).unwrap_or_default();
            self.show_cli(t, url.as_deref(), &in_force);
            self.render_served(t, url, state, &in_force, &share);
        }
        self.render_check(
            stored::<Check>(&local, CHECK_KEY).map(Check::migrated),
            local.as_ref().and_then(|l| l.raw(HISTORY_KEY)),
        );
        self.render_prepared(stored(&local, PREPARED_KEY).unwrap_or_default());
        self.render_watch(stored(&local, WATCH_KEY));
    }

    /// Shows which stage served the tab's page (`state`, when it is about the page at `url`),
    /// why it differs from the choice, the share observed on Auto, and links for the request.
    fn render_served(
        &self,
        target: &Target,
        url: Option<String>,
        state: Option<TabState>,
        in_force: &InForce,
        share: &Share,
    ) {
        let state = state.filter(|s| url.as_deref() == Some(s.url.as_str()));
        let Some(state) = state else {
            self.set_text("served-stage", Stage::Unknown.as_str());
            self.set_text("served-host", "");
            self.set_text("served-signal", &msg("popupNoSignal", &[]));
            self.set_text("served-signals", "");
            // Nothing about an earlier page may stay on screen.
            if let Some(list) = self.el("explanations") {
                list.set_text_content(None);
            }
            self.link("logs-link", None);
            self.link("dashboard-link", None);
            self.show_share(in_force, share);
            return;
        };
        let d = &state.detection;
        self.set_text("served-stage", d.stage.as_str());
        self.set_text("served-host", d.pod.as_deref().unwrap_or_default());
        let mut meta = match d.signal {
            Some(s) => msg("popupSignal", &[&msg(s.message_key(), &[]), &age(d.at_ms)]),
            None => msg("popupNoSignal", &[]),
        };
        if let Some(s) = d.pod_signal.filter(|s| Some(*s) != d.signal) {
            meta.push(' ');
            meta.push_str(&msg("popupPodFrom", &[&msg(s.message_key(), &[])]));
        }
        self.set_text("served-signal", &meta);
        let seen: Vec<String> = d
            .signals
            .iter()
            .map(|r| {
                msg(
                    "popupSignalSays",
                    &[&msg(r.signal.message_key(), &[]), r.stage.as_str()],
                )
            })
            .collect();
        let seen = if seen.is_empty() {
            String::new()
        } else {
            msg("popupSignals", &[&seen.join(", ")])
        };
        self.set_text("served-signals", &seen);
        if let Some(list) = self.el("explanations") {
            list.set_text_content(None);
            for e in explain(in_force, d, &target.env, &path_of(&state.url)) {
                let (key, subs) = e.message();
                let subs: Vec<&str> = subs.iter().map(String::as_str).collect();
                if let Ok(li) = self.doc.create_element("li") {
                    li.set_text_content(Some(&msg(key, &subs)));
                    let _ = list.append_child(&li);
                }
            }
        }
        let templates = self.settings.links_for(&target.env.host, target.env.kind);
        let (logs, dashboard) = match &templates {
            Some(t) => (
                fill(&t.logs, d.stage, d.request_id.as_deref(), &target.env),
                fill(&t.dashboard, d.stage, d.request_id.as_deref(), &target.env),
            ),
            None => (None, None),
        };
        self.link("logs-link", logs);
        self.link("dashboard-link", dashboard);
        self.show_share(in_force, share);
    }

    fn show_share(&self, in_force: &InForce, share: &Share) {
        let text = match (in_force, share.percent_text()) {
            (InForce::Auto, Some(p)) => msg(
                "popupShare",
                &[&share.canary.to_string(), &share.total.to_string(), &p],
            ),
            _ => String::new(),
        };
        self.set_text("share", &text);
        self.show("share-reset", !text.is_empty());
    }

    /// The session check in progress or last finished: status, prompt, report.
    fn render_check(&self, check: Option<Check>, history: Option<JsValue>) {
        let running = check.as_ref().is_some_and(Check::running);
        if let Some(b) = self
            .el("session-check-start")
            .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
        {
            b.set_disabled(running || self.target.is_none());
        }
        self.show("session-check-cancel", running);
        let Some(check) = check else { return };
        self.set_text("session-check-status", &status_line(&check));
        let prompt = match check.current_step() {
            Some(StepKind::SignOut) => Some(msg("checkPromptSignOut", &[])),
            Some(StepKind::SignIn) => {
                let user = check
                    .user()
                    .map(|(_, u)| format!("@{u}"))
                    .unwrap_or_default();
                Some(msg("checkPromptSignIn", &[&user]))
            }
            _ => None,
        };
        self.set_text(
            "session-check-prompt",
            prompt.as_deref().unwrap_or_default(),
        );
        self.show("session-check-prompt", prompt.is_some());
        let finished = !running;
        if finished {
            self.set_text("session-check-report", &report::check_markdown(&check));
        }
        self.show("session-check-report", finished);
        self.show("session-check-copy", finished);
        self.show("report-post", finished);
        // The history goes to the export link as stored: no round trip through Rust types.
        let href = history
            .filter(|h| js_sys::Array::is_array(h) && js_sys::Array::from(h).length() > 0)
            .and_then(|h| {
                js_sys::JSON::stringify_with_replacer_and_space(
                    &h,
                    &JsValue::NULL,
                    &JsValue::from(2),
                )
                .ok()
            })
            .map(|json| {
                format!(
                    "data:application/json;charset=utf-8,{}",
                    String::from(js_sys::encode_uri_component(&String::from(json)))
                )
            });
        self.link("session-check-export", href);
    }

    /// On a tab that shows no GitLab page: the GitLab-page sections go, and one row per known
    /// environment comes, with the preference in force there, Current / Next / Auto (for that
    /// environment only, nothing reloaded) and a link that opens it.
    async fn render_environments(self: &Rc<Self>, tab: tabs::Tab) {
        if let Ok(nodes) = self.doc.query_selector_all("[data-gitlab-only]") {
            for i in 0..nodes.length() {
                if let Some(e) = nodes.item(i).and_then(|n| n.dyn_into::<Element>().ok()) {
                    let _ = e.set_attribute("hidden", "");
                }
            }
        }
        self.show("environments", true);
        let Some(rows) = self.el("env-rows") else {
            return;
        };
        for host in crate::environment::known_hosts(&self.settings.custom) {
            let Ok(target) = switch::target_for_host(tab.clone(), &host, &self.settings).await
            else {
                continue;
            };
            let Some(row) = self.env_row(&target) else {
                continue;
            };
            let _ = rows.append_child(&row);
            let target = Rc::new(target);
            self.show_row_in_force(&row, target.in_force().await);
            for (id, pref) in [
                ("choose-current", Preference::Current),
                ("choose-next", Preference::Next),
                ("choose-auto", Preference::Auto),
            ] {
                let Ok(Some(button)) = row.query_selector(&format!("[data-testid={id}]")) else {
                    continue;
                };
                let (p, t, r) = (self.clone(), target.clone(), row.clone());
                dom::on(&button, "click", move |_| {
                    let (p, t, r) = (p.clone(), t.clone(), r.clone());
                    spawn_local(async move { p.choose_for_row(&t, &r, pref).await });
                });
            }
        }
    }

    /// One environment's row: its name, what it receives, the three choices, a link to it.
    fn env_row(&self, target: &Target) -> Option<Element> {
        let doc = &self.doc;
        let row = doc.create_element("div").ok()?;
        let _ = row.set_attribute("class", "env-row");
        let _ = row.set_attribute("data-testid", "env-row");
        let _ = row.set_attribute("data-host", &target.env.host);
        let name = doc.create_element("h3").ok()?;
        name.set_text_content(Some(&target.label()));
        let state = doc.create_element("strong").ok()?;
        let _ = state.set_attribute("data-testid", "preference");
        let choices = doc.create_element("div").ok()?;
        let _ = choices.set_attribute("class", "row");
        for (id, key) in [
            ("choose-current", "labelCurrent"),
            ("choose-next", "labelNext"),
            ("choose-auto", "labelAuto"),
        ] {
            let b = doc.create_element("button").ok()?;
            let _ = b.set_attribute("type", "button");
            let _ = b.set_attribute("data-testid", id);
            let _ = b.set_attribute("aria-pressed", "false");
            b.set_text_content(Some(&msg(key, &[])));
            let _ = choices.append_child(&b);
        }
        let open = doc.create_element("a").ok()?;
        let _ = open.set_attribute("data-testid", "env-open");
        let _ = open.set_attribute("href", &format!("{}/", target.env.origin()));
        let _ = open.set_attribute("target", "_blank");
        let _ = open.set_attribute("rel", "noopener noreferrer");
        open.set_text_content(Some(&msg("popupOpenEnv", &[&target.env.host])));
        for child in [&name, &state, &choices, &open] {
            let _ = row.append_child(child);
        }
        Some(row)
    }

    fn show_row_in_force(&self, row: &Element, in_force: Result<InForce, UserError>) {
        let (text, pressed) = match &in_force {
            Ok(InForce::Conflict { values }) => (msg("popupConflict", &[&values.join(", ")]), None),
            Ok(state) => (
                state
                    .preference()
                    .map(|p| p.as_str().to_string())
                    .unwrap_or_default(),
                state.preference(),
            ),
            Err(e) => (error_text(e), None),
        };
        if let Ok(Some(el)) = row.query_selector("[data-testid=preference]") {
            el.set_text_content(Some(&text));
        }
        for (id, p) in [
            ("choose-current", Preference::Current),
            ("choose-next", Preference::Next),
            ("choose-auto", Preference::Auto),
        ] {
            if let Ok(Some(b)) = row.query_selector(&format!("[data-testid={id}]")) {
                let on = if pressed == Some(p) { "true" } else { "false" };
                let _ = b.set_attribute("aria-pressed", on);
            }
        }
    }

    /// A row's choice: that environment only, nothing reloaded; the other known environments
    /// keep their stage.
    async fn choose_for_row(&self, target: &Target, row: &Element, pref: Preference) {
        let others = crate::environment::known_hosts(&self.settings.custom);
        let text = match target
            .apply_keeping(pref, Scope::ThisEnvironment, &others)
            .await
        {
            Ok(changes) => change_text(&changes),
            Err(e) => error_text(&e),
        };
        self.set_text("env-message", &text);
        // Every row: a choice here may have re-homed another environment's cookie.
        if let Ok(rows) = self.doc.query_selector_all("[data-testid=env-row]") {
            for i in 0..rows.length() {
                let Some(r) = rows.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
                    continue;
                };
                let in_force = if r == *row {
                    target.in_force().await
                } else {
                    match r.get_attribute("data-host") {
                        Some(h) => {
                            match switch::target_for_host(target.tab.clone(), &h, &self.settings)
                                .await
                            {
                                Ok(t) => t.in_force().await,
                                Err(e) => Err(e),
                            }
                        }
                        None => continue,
                    }
                };
                self.show_row_in_force(&r, in_force);
            }
        }
    }

    /// The curl and git commands that reach the stage in force for the target's environment
    /// (shown with every refresh, so they follow a choice).
    fn show_cli(&self, t: &Target, url: Option<&str>, in_force: &InForce) {
        let path = url.map(path_of).unwrap_or_default();
        match crate::cli::commands(&t.env.origin(), &path, in_force) {
            Some(c) => {
                let label = if c.never_canary {
                    msg("cliNeverCanary", &[])
                } else if c.value == "true" {
                    msg("labelNext", &[])
                } else {
                    msg("labelCurrent", &[])
                };
                self.set_text("cli-value", &msg("cliValue", &[c.value, &label]));
                self.set_text("cli-curl", &c.curl);
                self.set_text("cli-git", &c.git);
            }
            None => {
                self.set_text("cli-value", &msg("cliConflict", &[]));
                self.set_text("cli-curl", "");
                self.set_text("cli-git", "");
            }
        }
    }

    /// The session prepared for the target's environment, if one is kept.
    fn render_prepared(&self, list: Vec<Prepared>) {
        let host = self.target.as_ref().map(|t| t.env.host.as_str());
        let p = list.into_iter().find(|p| Some(p.host.as_str()) == host);
        let line = p.as_ref().map(|p| {
            msg(
                "preparedLine",
                &[
                    &p.username,
                    &utc(p.at_ms),
                    p.session.fingerprint.as_deref().unwrap_or("?"),
                    p.stage.as_str(),
                ],
            )
        });
        self.set_text("session-prepared", line.as_deref().unwrap_or_default());
        self.show("session-prepared", line.is_some());
        self.show("session-prepared-clear", line.is_some());
        // The change issue given when preparing, unless the user typed another since.
        if let (Some(url), Some(input)) = (
            p.and_then(|p| p.issue_url),
            self.el("report-post-url")
                .and_then(|e| e.dyn_into::<HtmlInputElement>().ok()),
        ) {
            if input.value().is_empty() {
                input.set_value(&url);
            }
        }
        if let Some(b) = self
            .el("session-prepare")
            .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok())
        {
            b.set_disabled(self.target.is_none());
        }
    }

    fn input_value(&self, testid: &str) -> String {
        self.el(testid)
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .map(|i| i.value().trim().to_string())
            .unwrap_or_default()
    }

    fn checked(&self, testid: &str) -> bool {
        self.el(testid)
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .is_some_and(|i| i.checked())
    }

    /// `report-post`: shows exactly what would be posted, and where; posts nothing.
    async fn preview_post(&self) {
        self.set_text("report-post-status", "");
        let url = self.input_value("report-post-url");
        let check = Area::Local
            .read::<Check>(CHECK_KEY)
            .await
            .ok()
            .flatten()
            .map(Check::migrated)
            .filter(|c| !c.running());
        let issue = crate::post::parse_issue_url(&url, &self.settings.custom);
        match (check, issue) {
            (Some(c), Ok(issue)) => {
                self.set_text("report-post-target", &msg("postTarget", &[&issue.url()]));
                self.set_text("report-post-body", &report::check_markdown(&c));
                self.show("report-post-preview", true);
            }
            (None, _) => {
                self.show("report-post-preview", false);
                self.set_text("report-post-status", &msg("errPostNoCheck", &[]));
            }
            (_, Err(e)) => {
                self.show("report-post-preview", false);
                self.set_text("report-post-status", &e.sentence());
            }
        }
    }

    /// `report-post-confirm`: posts the previewed report once.
    async fn confirm_post(&self) {
        let Some(check) = Area::Local
            .read::<Check>(CHECK_KEY)
            .await
            .ok()
            .flatten()
            .filter(|c| !c.running())
        else {
            self.set_text("report-post-status", &msg("errPostNoCheck", &[]));
            return;
        };
        let button = self
            .el("report-post-confirm")
            .and_then(|e| e.dyn_into::<HtmlButtonElement>().ok());
        if let Some(b) = &button {
            b.set_disabled(true);
        }
        self.set_text("report-post-status", &msg("postPosting", &[]));
        let cmd = Command::PostReport {
            check_id: check.id,
            issue_url: self.input_value("report-post-url"),
        };
        let text = match command_result(&cmd).await {
            Ok(Some(url)) => {
                self.show("report-post-preview", false);
                msg("postDone", &[&url])
            }
            Ok(None) => msg("errPostNoCheck", &[]),
            Err(e) => e,
        };
        self.set_text("report-post-status", &text);
        if let Some(b) = &button {
            b.set_disabled(false);
        }
    }

    /// The watch: environments to choose, status, timeline.
    fn render_watch(&self, watch: Option<Watch>) {
        let active = watch.as_ref().is_some_and(Watch::active);
        self.show("watch-start", !active);
        self.show("watch-stop", active);
        let Some(w) = watch else { return };
        let unanswered = w.unanswered();
        let status = match (w.first_loss(), active) {
            (Some(s), _) => msg("watchLost", &[&s.host, &utc(s.at_ms), &w.loss_sentence(s)]),
            // Never "signed in so far" over samples that said nothing of the session.
            (None, true) if unanswered > 0 => msg(
                "watchActiveUnanswered",
                &[
                    &w.hosts.join(", "),
                    &w.samples.len().to_string(),
                    &unanswered.to_string(),
                    &utc(w.until_ms),
                ],
            ),
            (None, true) => msg(
                "watchActive",
                &[
                    &w.hosts.join(", "),
                    &w.samples.len().to_string(),
                    &utc(w.until_ms),
                ],
            ),
            (None, false) => match w.restarted_ms {
                Some(at) => msg("watchRestarted", &[&utc(at), &w.samples.len().to_string()]),
                None => msg("watchStopped", &[&w.samples.len().to_string()]),
            },
        };
        self.set_text("watch-status", &status);
        let state = match (w.first_loss(), active) {
            (Some(_), _) => "lost",
            (None, true) => "watching",
            (None, false) => "stopped",
        };
        if let Some(el) = self.el("watch-status") {
            let _ = el.set_attribute("data-state", state);
        }
        self.set_text("watch-report", &report::watch_markdown(&w));
        self.show("watch-report", !w.samples.is_empty());
        self.show("watch-copy", !w.samples.is_empty());
    }

    fn watch_hosts(&self) {
        let Some(container) = self.el("watch-hosts") else {
            return;
        };
        let mut hosts: Vec<String> = Vec::new();
        if let Some(t) = &self.target {
            hosts.push(t.env.host.clone());
        }
        for h in ["staging.gitlab.com", "gitlab.com"] {
            if !hosts.iter().any(|x| x == h) {
                hosts.push(h.to_string());
            }
        }
        for (i, host) in hosts.iter().enumerate() {
            let (Ok(label), Ok(input)) = (
                self.doc.create_element("label"),
                self.doc.create_element("input"),
            ) else {
                continue;
            };
            let _ = label.set_attribute("class", "opt");
            let _ = input.set_attribute("type", "checkbox");
            let _ = input.set_attribute("value", host);
            let _ = input.set_attribute("data-testid", &format!("watch-host-{host}"));
            if i == 0 {
                let _ = input.set_attribute("checked", "");
            }
            let _ = label.append_child(&input);
            let _ = label.append_with_str_1(host);
            let _ = container.append_child(&label);
        }
    }

    fn number(&self, testid: &str, default: u32) -> u32 {
        self.el(testid)
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
            .and_then(|i| i.value().trim().parse::<u32>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(default)
    }

    fn chosen_watch_hosts(&self) -> Vec<String> {
        let Some(container) = self.el("watch-hosts") else {
            return vec![];
        };
        let Ok(nodes) = container.query_selector_all("input[type=checkbox]") else {
            return vec![];
        };
        (0..nodes.length())
            .filter_map(|i| nodes.item(i)?.dyn_into::<HtmlInputElement>().ok())
            .filter(|i| i.checked())
            .map(|i| i.value())
            .collect()
    }

    async fn run(&self, cmd: Command) {
        self.show_error(None);
        if let Some(e) = command(&cmd).await {
            if let Some(el) = self.el("error") {
                el.set_text_content(Some(&e));
                let _ = el.remove_attribute("hidden");
            }
        }
        self.refresh(Known::default()).await;
    }

    async fn choose(self: Rc<Self>, pref: Preference) {
        let Some(target) = &self.target else { return };
        self.body_attr("data-switch", "pending");
        self.show_error(None);
        self.set_text("switch-message", &msg("popupWorking", &[]));
        self.enable_controls(false);
        let others = crate::environment::known_hosts(&self.settings.custom);
        match target.apply_keeping(pref, self.scope(), &others).await {
            Ok(changes) => {
                let mut text = change_text(&changes);
                self.set_text("switch-message", &text);
                self.render_in_force().await;
                if !self.settings.reload_after_choice {
                    self.body_attr("data-switch", "done");
                    self.enable_controls(true);
                    return;
                }
                let loaded = tabs::reload_and_wait(target.tab.id, RELOAD_TIMEOUT_MS).await;
                match loaded {
                    Ok(finished) => {
                        let key = if finished {
                            "popupReloaded"
                        } else {
                            "popupReloadSlow"
                        };
                        text.push(' ');
                        text.push_str(&msg(key, &[]));
                        self.set_text("switch-message", &text);
                        self.body_attr("data-switch", "done");
                    }
                    Err(_) => {
                        self.show_error(Some(&UserError::TabGone));
                        self.body_attr("data-switch", "error");
                    }
                }
            }
            Err(e) => {
                self.set_text("switch-message", "");
                self.show_error(Some(&e));
                self.body_attr("data-switch", "error");
            }
        }
        self.enable_controls(true);
    }
}

/// Both futures' results, polled together so that their extension-API calls overlap.
async fn join2<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (std::pin::pin!(a), std::pin::pin!(b));
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            if let (Some(x), Some(y)) = (ra.take(), rb.take()) {
                return Poll::Ready((x, y));
            }
        }
        Poll::Pending
    })
    .await
}

/// "12 s" / "3 min" / "2 h" since `at_ms`.
fn age(at_ms: f64) -> String {
    let secs = ((js_sys::Date::now() - at_ms) / 1000.0).max(0.0) as u64;
    match secs {
        0..=59 => format!("{secs} s"),
        60..=3599 => format!("{} min", secs / 60),
        _ => format!("{} h", secs / 3600),
    }
}

/// `?tab=<id>` from the popup's own URL.
/// The value of `name=` in the page's query, if any.
fn query_param(doc: &Document, name: &str) -> Option<String> {
    let search = doc.location()?.search().ok()?;
    let prefix = format!("{name}=");
    search
        .trim_start_matches('?')
        .split('&')
        .find_map(|kv| kv.strip_prefix(prefix.as_str()).map(str::to_string))
}

fn tab_param(doc: &Document) -> Option<i32> {
    query_param(doc, "tab")?.parse().ok()
}

/// `storage.local` key of which collapsible sections the user left open.
const SECTIONS_KEY: &str = "popupSections";

/// The collapsible sections (`details[data-section]`): open as the user left them (closed the
/// first time), every one with `?expand=1` (CONTRACT.md); each toggle is remembered.
fn setup_sections(doc: &Document, local: &Option<Stored>) {
    let expand = query_param(doc, "expand").as_deref() == Some("1");
    let open: Vec<String> = stored(local, SECTIONS_KEY).unwrap_or_default();
    let Ok(nodes) = doc.query_selector_all("details[data-section]") else {
        return;
    };
    for i in 0..nodes.length() {
        let Some(d) = nodes.item(i).and_then(|n| n.dyn_into::<Element>().ok()) else {
            continue;
        };
        let name = d.get_attribute("data-section").unwrap_or_default();
        if expand || open.contains(&name) {
            let _ = d.set_attribute("open", "");
        }
        // Opened for a script: nothing to remember.
        if expand {
            continue;
        }
        let doc = doc.clone();
        dom::on(&d, "toggle", move |_| {
            let list = open_sections(&doc);
            spawn_local(async move {
                if let Err(e) = Area::Local.write(SECTIONS_KEY, &list).await {
                    browser::console_warn(&e.0);
                }
            });
        });
    }
}

fn open_sections(doc: &Document) -> Vec<String> {
    let Ok(nodes) = doc.query_selector_all("details[data-section][open]") else {
        return Vec::new();
    };
    (0..nodes.length())
        .filter_map(|i| nodes.item(i)?.dyn_into::<Element>().ok())
        .filter_map(|d| d.get_attribute("data-section"))
        .collect()
}

/// One line of status for the popup: progress, or the verdict and its summary.
fn status_line(check: &Check) -> String {
    match (check.verdict, check.current_step()) {
        (Some(v), _) => format!("{} — {}", v.as_str(), report::reason(check)),
        (None, Some(step)) => msg(
            "checkRunning",
            &[&(check.steps.len() + 1).min(7).to_string(), step.title()],
        ),
        (None, None) => Verdict::Inconclusive.as_str().into(),
    }
}

/// Entry point, called by `popup.js` once the wasm module is ready.
///
/// `local` and `active` are `storage.local.get(null)` and `tabs.query({active, currentWindow})`,
/// which `popup.js` starts before the module compiles, so that the browser answers them
/// meanwhile. Which tab is the target is decided here: `?tab=<id>` wins over the active tab.
#[wasm_bindgen]
pub async fn popup_main(local: js_sys::Promise, active: js_sys::Promise) {
    let Some(doc) = document() else { return };
    dom::localise(&doc);
    let tab_id = tab_param(&doc);
    let tab = async {
        let active = tabs::first_of(active).await.ok().flatten();
        match tab_id {
            Some(id) => tabs::get(id).await.ok(),
            None => active,
        }
    };
    let (local, tab) = join2(Stored::from_promise(local), tab).await;
    let (settings, storage_error) = switch::settings_from(match &local {
        Ok(l) => l.get(SETTINGS_KEY),
        Err(e) => Err(e.clone()),
    });
    let local = local.ok();
    let url = tab.as_ref().map(|t| t.url.clone());
    let tab_for_rows = tab.clone();
    let target = match tab {
        Some(tab) => switch::target_for(tab, &settings).await,
        None => Err(UserError::TabGone),
    };
    // A tab that shows no GitLab page: every known environment, each with its own choice.
    let elsewhere = match (&target, &tab_for_rows) {
        (Err(UserError::NotWeb | UserError::NotGitLab { .. } | UserError::Malformed), Some(t)) => {
            Some(t.clone())
        }
        _ => None,
    };
    let (target, error) = match target {
        Ok(t) => (Some(t), storage_error),
        Err(_) if elsewhere.is_some() => (None, storage_error),
        Err(e) => (None, Some(e)),
    };
    let popup = Rc::new(Popup {
        doc,
        target,
        settings: settings.clone(),
    });
    for (id, value) in [
        ("watch-interval-secs", settings.watch_interval_secs),
        ("watch-limit-minutes", settings.watch_limit_minutes),
    ] {
        if let Some(i) = popup
            .el(id)
            .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
        {
            i.set_value(&value.to_string());
        }
    }
    if let Some(t) = &popup.target {
        popup.set_text("environment", &t.label());
    }
    if let Some(i) = popup
        .el("scope-this-env")
        .and_then(|e| e.dyn_into::<HtmlInputElement>().ok())
    {
        i.set_checked(settings.scope == Scope::ThisEnvironment);
        let s = settings.clone();
        let input = i.clone();
        let target: Element = i.clone().into();
        dom::on(&target, "change", move |_| {
            let mut s = s.clone();
            s.scope = if input.checked() {
                Scope::ThisEnvironment
            } else {
                Scope::AllEnvironments
            };
            spawn_local(async move {
                if let Err(e) = Area::Local.write(SETTINGS_KEY, &s).await {
                    browser::console_warn(&e.0);
                }
            });
        });
    }
    popup.enable_controls(popup.target.is_some());
    popup.show_error(error.as_ref());
    for (id, pref) in [
        ("choose-current", Preference::Current),
        ("choose-next", Preference::Next),
        ("choose-auto", Preference::Auto),
    ] {
        if let Some(el) = popup.el(id) {
            let p = popup.clone();
            dom::on(&el, "click", move |_| spawn_local(p.clone().choose(pref)));
        }
    }
    if let Some(el) = popup.el("grant-access") {
        let p = popup.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move {
                let Some(t) = &p.target else { return };
                if request_host_access(&t.env.origin()).await.unwrap_or(false) {
                    p.show_error(None);
                    p.render_in_force().await;
                }
            });
        });
    }
    if let Some(el) = popup.el("share-reset") {
        let p = popup.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move {
                let Some(t) = &p.target else { return };
                let _ = Area::Local.delete(&share_key(&t.env.host)).await;
                p.show_share(&InForce::Auto, &Share::default());
            });
        });
    }
    setup_sections(&popup.doc, &local);
    popup.watch_hosts();
    if let Some(tab) = elsewhere {
        popup.render_environments(tab).await;
    }

    type MakeCommand = fn(&Popup) -> Command;
    let clicks: [(&str, MakeCommand); 6] = [
        ("session-check-start", |p| Command::StartCheck {
            tab_id: p.target.as_ref().map_or(-1, |t| t.tab.id),
            guided: p.checked("session-check-guided"),
            after_rollback: p.checked("session-check-after-rollback"),
        }),
        ("session-check-cancel", |_| Command::CancelCheck),
        ("session-prepare", |p| Command::PrepareSession {
            tab_id: p.target.as_ref().map_or(-1, |t| t.tab.id),
            issue_url: Some(p.input_value("report-post-url")).filter(|u| !u.is_empty()),
        }),
        ("session-prepared-clear", |p| Command::ClearPrepared {
            host: p
                .target
                .as_ref()
                .map(|t| t.env.host.clone())
                .unwrap_or_default(),
        }),
        ("watch-start", |p| Command::StartWatch {
            hosts: p.chosen_watch_hosts(),
            interval_secs: p.number("watch-interval-secs", crate::watch::DEFAULT_INTERVAL_SECS),
            limit_minutes: p.number("watch-limit-minutes", crate::watch::DEFAULT_LIMIT_MINUTES),
        }),
        ("watch-stop", |_| Command::StopWatch),
    ];
    for (id, make) in clicks {
        if let Some(el) = popup.el(id) {
            let p = popup.clone();
            dom::on(&el, "click", move |_| {
                let p = p.clone();
                let cmd = make(&p);
                spawn_local(async move { p.run(cmd).await });
            });
        }
    }
    if let Some(el) = popup.el("report-post") {
        let p = popup.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move { p.preview_post().await });
        });
    }
    if let Some(el) = popup.el("report-post-confirm") {
        let p = popup.clone();
        dom::on(&el, "click", move |_| {
            let p = p.clone();
            spawn_local(async move { p.confirm_post().await });
        });
    }
    for (button, source) in [
        ("session-check-copy", "session-check-report"),
        ("watch-copy", "watch-report"),
    ] {
        if let Some(el) = popup.el(button) {
            let p = popup.clone();
            dom::on(&el, "click", move |_| {
                let text = p
                    .el(source)
                    .and_then(|e| e.text_content())
                    .unwrap_or_default();
                // Called within the click: the clipboard needs the user's gesture.
                let written = clipboard_write(&text);
                let p = p.clone();
                spawn_local(async move {
                    if browser::call(written).await.is_ok() {
                        p.set_text("switch-message", &msg("checkCopied", &[]));
                    }
                });
            });
        }
    }
    // Storage changes: the content script reported, or a check or watch moved on.
    {
        let p = popup.clone();
        browser::on_storage_changed(move || {
            let p = p.clone();
            spawn_local(async move { p.refresh(Known::default()).await });
        });
    }
    // A check left half-done by a stopped worker goes on now.
    let half_done = stored::<Check>(&local, CHECK_KEY).is_some_and(|c| c.running());
    let resume = async {
        if half_done {
            let _ = command(&Command::ResumeCheck).await;
        }
    };
    // Storage and the tab were read above: only the detection and the cookies are left.
    join2(popup.refresh(Known { local, url }), resume).await;
    popup.body_attr("data-ready", "");
}
