//! Watch mode: during a change window, sample `/api/v4/user` on chosen environments every
//! interval and notice the first time a signed-in session is lost. Pure.

use serde::{Deserialize, Serialize};

use crate::messages::Identity;
use crate::session::{Prepared, SessionCookie};

/// The version of the stored [`Watch`] shape ([`Watch::migrated`]).
pub const WATCH_VERSION: u32 = 2;

fn shape_v1() -> u32 {
    1
}

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
    /// `_gitlab_session` as the browser held it after the sample (presence and fingerprint).
    #[serde(default)]
    pub session: Option<SessionCookie>,
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
    /// The stored shape's version ([`WATCH_VERSION`]); 1 before it was kept.
    #[serde(default = "shape_v1")]
    pub version: u32,
    /// Sessions prepared before the change: each host's baseline from the first sample on.
    #[serde(default)]
    pub prepared: Vec<Prepared>,
    /// The browser run the watch started in (see [`Prepared::browser_run`]).
    #[serde(default)]
    pub browser_run: Option<String>,
    /// When a browser restart ended the watch: the samples after it would not be the same
    /// session (GitLab's session cookie ends with the browser).
    #[serde(default)]
    pub restarted_ms: Option<f64>,
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
            version: WATCH_VERSION,
            prepared: Vec::new(),
            browser_run: None,
            restarted_ms: None,
        }
    }

    /// Marks the browser run the watch runs in.
    pub fn in_browser_run(mut self, run: Option<String>) -> Watch {
        self.browser_run = run;
        self
    }

    /// Stops an active watch that started in another browser run than `run`: the browser was
    /// restarted in the middle of it. Returns true when it did.
    pub fn stop_if_restarted(&mut self, run: Option<&str>, now_ms: f64) -> bool {
        let restarted = self.active()
            && matches!((self.browser_run.as_deref(), run), (Some(a), Some(b)) if a != b);
        if restarted {
            self.restarted_ms = Some(now_ms);
            self.stop(now_ms);
        }
        restarted
    }

    /// How many samples said nothing about the session (GitLab failing for everyone, no
    /// answer): a watch never calls those "signed in".
    pub fn unanswered(&self) -> usize {
        self.samples
            .iter()
            .filter(|s| s.identity.no_verdict().is_some())
            .count()
    }

    /// What the first loss was, in one sentence (without the host and time).
    pub fn loss_sentence(&self, s: &Sample) -> String {
        if let Some(status) = s.identity.session_broken() {
            return format!("every request that carries the session fails with HTTP {status}, while requests without it work: users with such a session cannot use GitLab until they clear their cookies");
        }
        match &s.identity {
            Identity::SignedOut => "signed out".into(),
            Identity::SignedIn { username, .. } => {
                let first = self
                    .prepared
                    .iter()
                    .find(|p| p.host == s.host)
                    .map(|p| p.username.as_str())
                    .or_else(|| {
                        self.samples.iter().find_map(|x| match &x.identity {
                            Identity::SignedIn { username, .. } if x.host == s.host => {
                                Some(username.as_str())
                            }
                            _ => None,
                        })
                    });
                match first {
                    Some(u) if u != username => format!("signed in as @{username}, not @{u}"),
                    _ if s.session.as_ref().is_some_and(|c| c.remember) => "the session was replaced by a new one; remember-me signed the user in again, so users without it were signed out".into(),
                    _ => "the session was replaced by a new one".into(),
                }
            }
            _ => "no answer".into(),
        }
    }

    /// Starts from sessions prepared before the change: a host whose prepared session is
    /// gone or replaced at the first sample has lost it.
    pub fn from_prepared(mut self, prepared: Vec<Prepared>) -> Watch {
        self.prepared = prepared
            .into_iter()
            .filter(|p| self.hosts.contains(&p.host))
            .collect();
        self
    }

    /// A watch stored by any earlier version, in today's shape (nothing dropped).
    pub fn migrated(mut self) -> Watch {
        self.version = WATCH_VERSION;
        self
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

    /// Indexes of samples that lost a host's session: signed out (or as someone else) after that
    /// host had been seen signed in, or signed in with another session than the first one seen
    /// (a session replaced by a new one — remember-me signing the user in again — is a loss).
    /// One pass, remembering each host's first user and session.
    fn losses(&self) -> impl Iterator<Item = usize> + '_ {
        struct Known<'a> {
            host: &'a str,
            id: u64,
            username: &'a str,
            session: Option<&'a SessionCookie>,
        }
        let mut known: Vec<Known> = self
            .prepared
            .iter()
            .map(|p| Known {
                host: &p.host,
                id: p.user_id,
                username: &p.username,
                session: Some(&p.session),
            })
            .collect();
        self.samples.iter().enumerate().filter_map(move |(i, s)| {
            let first = known.iter().find(|k| k.host == s.host);
            match (&s.identity, first) {
                (Identity::SignedIn { id, username }, None) => {
                    known.push(Known {
                        host: &s.host,
                        id: *id,
                        username,
                        session: s.session.as_ref(),
                    });
                    None
                }
                (Identity::SignedIn { id, username }, Some(k)) => {
                    let other_user = *id != k.id || username != k.username;
                    let replaced = match (k.session, s.session.as_ref()) {
                        (Some(a), Some(b)) => a.replaced_by(b),
                        _ => false,
                    };
                    (other_user || replaced).then_some(i)
                }
                (Identity::SignedOut, Some(_)) => Some(i),
                // Every request with the session fails while requests without it work: the
                // session is unusable, whoever it belonged to.
                (id, _) if id.session_broken().is_some() => Some(i),
                // An error for everyone or no answer says nothing about the session.
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
            session: None,
        }
    }
    fn with_session(mut sample: Sample, fp: &str) -> Sample {
        sample.session = Some(SessionCookie {
            present: true,
            fingerprint: Some(fp.into()),
            remember: true,
            ends_with_browser: None,
        });
        sample
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

    #[test]
    fn a_replaced_session_is_a_loss_even_while_signed_in() {
        let h = "staging.gitlab.com";
        let mut w = Watch::new(vec![h.into()], 0.0, 60, 120, "v".into());
        assert!(!w.record(with_session(s(1.0, h, me()), "aa")));
        assert!(!w.record(with_session(s(2.0, h, me()), "aa")));
        assert!(w.record(with_session(s(3.0, h, me()), "bb")));
        assert_eq!(w.first_loss().map(|s| s.at_ms), Some(3.0));
    }

    #[test]
    fn a_watch_can_start_from_a_prepared_session() {
        let h = "staging.gitlab.com";
        let p = crate::session::Prepared {
            version: 1,
            host: h.into(),
            user_id: 101,
            username: "qa-user".into(),
            session: SessionCookie {
                present: true,
                fingerprint: Some("aa".into()),
                remember: false,
                ends_with_browser: None,
            },
            stage: crate::stage::Stage::Main,
            pod: None,
            at_ms: 0.0,
            issue_url: None,
            browser_run: None,
        };
        let mut w = Watch::new(vec![h.into()], 0.0, 60, 120, "v".into()).from_prepared(vec![
            p.clone(),
            crate::session::Prepared {
                host: "other".into(),
                ..p
            },
        ]);
        assert_eq!(w.prepared.len(), 1);
        // Already replaced at the first sample: a loss at once.
        assert!(w.record(with_session(s(1.0, h, me()), "zz")));
    }

    #[test]
    fn a_watch_of_the_shipped_shape_still_reads() {
        let text = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/stored/0.1.0/watch.json"
        ))
        .unwrap();
        let w: Watch = serde_json::from_str(&text).unwrap();
        assert_eq!((w.version, w.samples.len()), (1, 3));
        assert_eq!(w.first_loss().map(|s| s.at_ms), Some(w.samples[2].at_ms));
        assert_eq!(w.migrated().version, WATCH_VERSION);
    }

    #[test]
    fn a_session_that_breaks_every_request_is_lost_and_an_outage_is_not_signed_in() {
        let h = "staging.gitlab.com";
        let mut w = Watch::new(vec![h.into()], 0.0, 60, 120, "v".into());
        assert!(!w.record(with_session(s(1.0, h, me()), "aa")));
        let outage = Identity::Failing {
            status: 502,
            without: Some(502),
        };
        assert!(!w.record(with_session(s(2.0, h, outage), "aa")));
        assert_eq!(w.unanswered(), 1);
        assert!(w.first_loss().is_none());
        let broken = Identity::Failing {
            status: 500,
            without: Some(401),
        };
        assert!(w.record(with_session(s(3.0, h, broken), "aa")));
        let lost = w.first_loss().unwrap().clone();
        assert_eq!(lost.at_ms, 3.0);
        assert!(w
            .loss_sentence(&lost)
            .starts_with("every request that carries the session fails with HTTP 500"));
        // Broken from the very first sample (prepared before a change that broke it).
        let mut w = Watch::new(vec![h.into()], 0.0, 60, 120, "v".into());
        assert!(w.record(s(
            1.0,
            h,
            Identity::Failing {
                status: 500,
                without: Some(200)
            }
        )));
    }

    #[test]
    fn a_browser_restart_stops_the_watch_and_says_so() {
        let mut w = Watch::new(vec!["gitlab.com".into()], 0.0, 60, 120, "v".into())
            .in_browser_run(Some("run-1".into()));
        assert!(!w.stop_if_restarted(Some("run-1"), 5.0));
        assert!(w.active());
        assert!(w.stop_if_restarted(Some("run-2"), 6.0));
        assert!(!w.active());
        assert_eq!(w.restarted_ms, Some(6.0));
        assert!(!w.stop_if_restarted(Some("run-3"), 7.0));
        assert_eq!(w.restarted_ms, Some(6.0));
    }
}
