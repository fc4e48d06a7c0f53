//! The user's settings: typed, defaulted field by field, versioned.
//!
//! Stored under one key in `storage.local`. A missing field takes its default, so
//! settings written by an older version still load (unreadable ones fall back to the defaults,
//! and the user is told); [`Settings::migrated`] brings them to
//! [`SETTINGS_VERSION`].

use serde::{Deserialize, Serialize};

use crate::environment::CustomEnvironment;
use crate::preference::Scope;

/// The `storage.local` key.
pub const SETTINGS_KEY: &str = "settings";
pub const SETTINGS_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Settings {
    pub version: u32,
    /// Where a choice is written unless the popup says otherwise.
    pub scope: Scope,
    /// Self-managed GitLab hosts the user added.
    pub custom: Vec<CustomEnvironment>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            version: SETTINGS_VERSION,
            scope: Scope::AllEnvironments,
            custom: Vec::new(),
        }
    }
}

impl Settings {
    /// Brings settings of any earlier version to the current one.
    pub fn migrated(mut self) -> Settings {
        // Version 0 (no version field) had the same fields; nothing to convert yet.
        self.version = SETTINGS_VERSION;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_unknown_fields_take_defaults() {
        let s: Settings =
            serde_json::from_str(r#"{"scope":"this-environment","future":1}"#).unwrap();
        assert_eq!(s.scope, Scope::ThisEnvironment);
        assert!(s.custom.is_empty());
        let s: Settings = serde_json::from_str("{}").unwrap();
        assert_eq!(
            s,
            Settings {
                version: SETTINGS_VERSION,
                ..Settings::default()
            }
        );
        assert_eq!(s.migrated().version, SETTINGS_VERSION);
    }

    #[test]
    fn round_trip() {
        let s = Settings {
            scope: Scope::ThisEnvironment,
            ..Settings::default()
        };
        let back: Settings = serde_json::from_str(&serde_json::to_string(&s).unwrap()).unwrap();
        assert_eq!(back, s);
    }
}
