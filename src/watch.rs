//! Watch mode: during a change window, sample `/api/v4/user` on chosen environments every
//! interval and notice the first time a signed-in session is lost. Pure.

use serde::{Deserialize, Serialize};

use crate::messages::Identity;

/// Samples kept at most (2 h at one a minute on a few environments fits easily).
pub const MAX_SAMPLES: usize = 2_000;
pub const DEFAULT_INTERVAL_SECS: u32 = 60;
pub const DEFAULT_LIMIT_MINUTES: u32 = 120;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub at_ms: f64,
    pub host: String,
    pub identity: Identity,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Watch {
    pub hosts: Vec<String>,
    pub started_ms: f64,
    pub interval_secs: u32,
    /// When the watch stops itself.
    pub until_ms: f64,
    pub stopped_ms: Option<f64>,
    pub extension_version: String,
    pub samples: Vec<Sample>,
    /// The first loss was already announced (notification, badge).
    pub loss_announced: bool,
}

impl Watch {
    pub fn new(
        hosts: Vec<String>,
        now_ms: f64,
        interval_secs: u32,
        limit_minutes: u32,
        extension_version: String,
    ) -> Watch {
        Watch {
            hosts,
            started_ms: now_ms,
            interval_secs: interval_secs.max(1),
            until_ms: now_ms + f64::from(limit_minutes) * 60_000.0,
            stopped_ms: None,
            extension_version,
            samples: Vec::new(),
            loss_announced: false,
        }
    }

    pub fn active(&self) -> bool {
        self.stopped_ms.is_none()
    }

    /// Whether the time limit has passed.
    pub fn expired(&self, now_ms: f64) -> bool {
        now_ms >= self.until_ms
    }

    pub fn stop(&mut self, now_ms: f64) {
        if self.stopped_ms.is_none() {
            self.stopped_ms = Some(now_ms);
        }
    }

    /// Indexes of samples that saw a host signed out (or as someone else) after that host had
    /// been seen signed in. One pass, remembering each host's first user.
    fn losses(&self) -> impl Iterator<Item = usize> + '_ {
        let mut users: Vec<(&str, u64, &str)> = Vec::new();
        self.samples.iter().enumerate().filter_map(move |(i, s)| {
            let known = users.iter().find(|(h, _, _)| *h == s.host).copied();
            match (&s.identity, known) {
                (Identity::SignedIn { id, username }, None) => {
                    users.push((&s.host, *id, username));
                    None
                }
                (Identity::SignedIn { id, username }, Some((_, uid, uname))) => {
                    (*id != uid || username != uname).then_some(i)
                }
                (Identity::SignedOut, Some(_)) => Some(i),
                // An error page or no answer says nothing about the session.
                _ => None,
            }
        })
    }

    /// The first sample that lost a session.
    pub fn first_loss(&self) -> Option<&Sample> {
        self.losses().next().map(|i| &self.samples[i])
    }

    /// Adds a sample. Returns true when it is the first loss, to be announced now.
    pub fn record(&mut self, sample: Sample) -> bool {
        if self.samples.len() >= MAX_SAMPLES {
            self.samples.remove(0);
        }
        self.samples.push(sample);
        if !self.loss_announced && self.first_loss().is_some() {
            self.loss_announced = true;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(at: f64, host: &str, identity: Identity) -> Sample {
        Sample {
            at_ms: at,
            host: host.into(),
            identity,
        }
    }
    fn me() -> Identity {
        Identity::SignedIn {
            id: 101,
            username: "qa-user".into(),
        }
    }

    #[test]
    fn first_loss_is_announced_once() {
        let mut w = Watch::new(
            vec!["staging.gitlab.com".into()],
            0.0,
            60,
            120,
            "0.1.0".into(),
        );
        assert!(!w.record(s(1.0, "staging.gitlab.com", me())));
        assert!(!w.record(s(
            2.0,
            "staging.gitlab.com",
            Identity::Status { status: 502 }
        )));
        assert!(w.record(s(3.0, "staging.gitlab.com", Identity::SignedOut)));
        assert!(!w.record(s(4.0, "staging.gitlab.com", Identity::SignedOut)));
        assert_eq!(w.first_loss().map(|s| s.at_ms), Some(3.0));
    }

    #[test]
    fn signed_out_from_the_start_is_not_a_loss() {
        let mut w = Watch::new(vec!["gitlab.com".into()], 0.0, 60, 120, "v".into());
        assert!(!w.record(s(1.0, "gitlab.com", Identity::SignedOut)));
        assert!(w.first_loss().is_none());
        // Another environment's session is judged on its own.
        assert!(!w.record(s(2.0, "staging.gitlab.com", me())));
        assert!(!w.record(s(3.0, "gitlab.com", me())));
        assert!(w.record(s(
            4.0,
            "staging.gitlab.com",
            Identity::SignedIn {
                id: 102,
                username: "x".into()
            }
        )));
    }

    #[test]
    fn limit_and_stop() {
        let mut w = Watch::new(vec![], 1_000.0, 0, 120, "v".into());
        assert_eq!(w.interval_secs, 1);
        assert!(!w.expired(1_000.0 + 119.0 * 60_000.0));
        assert!(w.expired(1_000.0 + 120.0 * 60_000.0));
        assert!(w.active());
        w.stop(5.0);
        w.stop(6.0);
        assert_eq!(w.stopped_ms, Some(5.0));
        assert!(!w.active());
    }

    #[test]
    fn samples_are_bounded() {
        let mut w = Watch::new(vec![], 0.0, 60, 120, "v".into());
        for i in 0..(MAX_SAMPLES + 10) {
            w.record(s(i as f64, "h", Identity::SignedOut));
        }
        assert_eq!(w.samples.len(), MAX_SAMPLES);
        assert_eq!(w.samples[0].at_ms, 10.0);
    }
}
