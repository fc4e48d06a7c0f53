//! The watch of a change window: the environments to watch, interval and limit, start and
//! stop, the status and the Markdown timeline with its copy.
//!
//! Elements: `watch-hosts` (with a `watch-host-<host>` checkbox per environment),
//! `watch-interval-secs`, `watch-limit-minutes`, `watch-start`, `watch-stop`, `watch-status`
//! (`data-state`), `watch-report`, `watch-copy`.

use std::rc::Rc;

use wasm_bindgen::JsCast;
use web_sys::HtmlInputElement;

use super::shared::{on_command, on_copy, Popup};
use crate::browser::msg;
use crate::messages::Command;
use crate::report;
use crate::utc::utc;
use crate::watch::{Watch, DEFAULT_INTERVAL_SECS, DEFAULT_LIMIT_MINUTES};

/// The interval and the limit from the settings.
pub(super) fn fill_inputs(p: &Popup) {
    for (id, value) in [
        ("watch-interval-secs", p.settings.watch_interval_secs),
        ("watch-limit-minutes", p.settings.watch_limit_minutes),
    ] {
        if let Some(i) = p.input(id) {
            i.set_value(&value.to_string());
        }
    }
}

/// One checkbox per environment to watch: the target's first (checked), then staging and
/// gitlab.com.
pub(super) fn fill_hosts(p: &Popup) {
    let Some(container) = p.el("watch-hosts") else {
        return;
    };
    let mut hosts: Vec<String> = Vec::new();
    if let Some(t) = &p.target {
        hosts.push(t.env.host.clone());
    }
    for h in ["staging.gitlab.com", "gitlab.com"] {
        if !hosts.iter().any(|x| x == h) {
            hosts.push(h.to_string());
        }
    }
    for (i, host) in hosts.iter().enumerate() {
        let (Ok(label), Ok(input)) = (p.doc.create_element("label"), p.doc.create_element("input"))
        else {
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

/// Wires start and stop, and the timeline's copy.
pub(super) fn wire(p: &Rc<Popup>) {
    on_command(p, "watch-start", |p| Command::StartWatch {
        hosts: chosen_hosts(p),
        interval_secs: number(p, "watch-interval-secs", DEFAULT_INTERVAL_SECS),
        limit_minutes: number(p, "watch-limit-minutes", DEFAULT_LIMIT_MINUTES),
    });
    on_command(p, "watch-stop", |_| Command::StopWatch);
    on_copy(p, "watch-copy", "watch-report");
}

/// The watch: which buttons show, the status and the timeline.
pub(super) fn render(p: &Popup, watch: Option<Watch>) {
    let active = watch.as_ref().is_some_and(Watch::active);
    p.show("watch-start", !active);
    p.show("watch-stop", active);
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
    p.set_text("watch-status", &status);
    let state = match (w.first_loss(), active) {
        (Some(_), _) => "lost",
        (None, true) => "watching",
        (None, false) => "stopped",
    };
    if let Some(el) = p.el("watch-status") {
        let _ = el.set_attribute("data-state", state);
    }
    p.set_text("watch-report", &report::watch_markdown(&w));
    p.show("watch-report", !w.samples.is_empty());
    p.show("watch-copy", !w.samples.is_empty());
}

/// A positive whole number from the input `testid`, or `default`.
fn number(p: &Popup, testid: &str, default: u32) -> u32 {
    p.input(testid)
        .and_then(|i| i.value().trim().parse::<u32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn chosen_hosts(p: &Popup) -> Vec<String> {
    let Some(container) = p.el("watch-hosts") else {
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
