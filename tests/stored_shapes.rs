//! Every stored shape that has shipped still reads in today's types: the fixtures under
//! `tests/fixtures/stored/<version>/` were written by that version's own serde code (0.1.0: the
//! first release). An extension update must never erase or silently drop what they hold.

use canary_switch::explain::Share;
use canary_switch::messages::TabState;
use canary_switch::session::{Check, CHECK_VERSION};
use canary_switch::settings::{Settings, SETTINGS_VERSION};
use canary_switch::stage::Stage;
use canary_switch::watch::{Watch, WATCH_VERSION};

fn fixture(version: &str, name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/stored/{version}/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn every_shape_of_0_1_0_reads_and_migrates() {
    let running: Check = serde_json::from_str(&fixture("0.1.0", "check.json")).unwrap();
    assert!(running.running());
    assert_eq!(running.migrated().version, CHECK_VERSION);

    let history: Vec<Check> = serde_json::from_str(&fixture("0.1.0", "checks.json")).unwrap();
    assert_eq!(history.len(), 1);
    let old = history[0].clone().migrated();
    assert_eq!((old.steps.len(), old.prepared.is_none()), (5, true));
    // Migrated and stored again, it reads back the same.
    let again: Check = serde_json::from_str(&serde_json::to_string(&old).unwrap()).unwrap();
    assert_eq!(again, old);

    let watch: Watch = serde_json::from_str(&fixture("0.1.0", "watch.json")).unwrap();
    assert_eq!(watch.samples.len(), 3);
    assert!(watch.samples.iter().all(|s| s.session.is_none()));
    assert_eq!(watch.migrated().version, WATCH_VERSION);

    let tab: TabState = serde_json::from_str(&fixture("0.1.0", "tab.json")).unwrap();
    assert_eq!(tab.detection.stage, Stage::Canary);
    assert!(tab.detection.signals.is_empty() && tab.detection.pod_signal.is_none());

    let share: Share = serde_json::from_str(&fixture("0.1.0", "share.json")).unwrap();
    assert_eq!((share.canary, share.total), (2, 40));

    let settings: Settings = serde_json::from_str(&fixture("0.1.0", "settings.json")).unwrap();
    assert_eq!(settings.migrated().version, SETTINGS_VERSION);
}
