//! When to try what after the signalling connection is lost: a plain state machine with no
//! sockets and no clock of its own (time comes in as arguments), so the policy is tested
//! alone and the session task only does what it says.
//!
//! Policy, as LiveKit's SDKs: resume first (`reconnect=1&sid=`: same session, the others
//! never see us leave) while the server may still hold the session (its 15 s window); once
//! the server refuses the resume (it answers Leave: the session is gone, e.g. it restarted),
//! rejoin with a new session. Attempts are spaced by a short backoff that grows to
//! [`MAX_BACKOFF`], so that a restarted server is found again within a second or two. After
//! `give_up_after` without success the room is disconnected.

use std::time::{Duration, Instant};

/// Longest wait between two attempts.
pub(crate) const MAX_BACKOFF: Duration = Duration::from_millis(1000);
/// How long a resume is worth trying: the room server (and LiveKit) keep a session 15 s.
pub(crate) const RESUME_WINDOW: Duration = Duration::from_secs(12);

/// What to do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Nothing before this instant.
    Wait(Instant),
    /// Try to resume the same session (attempt number, from 1).
    Resume(u32),
    /// Join again with a new session.
    Rejoin(u32),
    /// Stop: the room is disconnected, for this reason.
    GiveUp(String),
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Success,
    /// The server answered and refused to resume this session: only a rejoin can work.
    SessionGone,
    /// Anything else (unreachable, timeout, broken socket): worth trying again.
    Failed(String),
}

#[derive(Debug)]
pub(crate) struct Reconnector {
    started: Instant,
    give_up_after: Duration,
    attempt: u32,
    next_at: Instant,
    resume_possible: bool,
    in_flight: bool,
    last_error: String,
    done: bool,
}

impl Reconnector {
    /// The outage began at `now`; `reason` is why.
    pub(crate) fn new(now: Instant, give_up_after: Duration, reason: &str) -> Self {
        Self {
            started: now,
            give_up_after,
            attempt: 0,
            next_at: now,
            resume_possible: true,
            in_flight: false,
            last_error: reason.to_owned(),
            done: false,
        }
    }

    /// Forget resuming (the session's peer connections are gone too, or the server said so).
    pub(crate) fn rejoin_only(mut self) -> Self {
        self.resume_possible = false;
        self
    }

    /// The next step at `now`; call again after [`Step::Wait`] or after [`Self::outcome`].
    pub(crate) fn poll(&mut self, now: Instant) -> Step {
        if self.done {
            return Step::Wait(now + Duration::from_secs(3600));
        }
        if self.in_flight {
            return Step::Wait(now + Duration::from_secs(3600));
        }
        if now.saturating_duration_since(self.started) >= self.give_up_after {
            self.done = true;
            return Step::GiveUp(format!(
                "could not reconnect within {} s ({} attempts; last error: {})",
                self.give_up_after.as_secs(),
                self.attempt,
                self.last_error
            ));
        }
        if now < self.next_at {
            return Step::Wait(self.next_at);
        }
        self.attempt += 1;
        self.in_flight = true;
        if self.resume_possible && now.saturating_duration_since(self.started) < RESUME_WINDOW {
            Step::Resume(self.attempt)
        } else {
            Step::Rejoin(self.attempt)
        }
    }

    /// The attempt started by the last [`Step::Resume`]/[`Step::Rejoin`] ended at `now`.
    /// Returns true when the outage is over.
    pub(crate) fn outcome(&mut self, now: Instant, outcome: Outcome) -> bool {
        self.in_flight = false;
        match outcome {
            Outcome::Success => {
                self.done = true;
                return true;
            }
            Outcome::SessionGone => {
                // Rejoin at once: the server is there and answers.
                self.resume_possible = false;
                self.last_error = "the server no longer knows this session".into();
                self.next_at = now;
            }
            Outcome::Failed(e) => {
                self.last_error = e;
                let backoff = Duration::from_millis(100 << self.attempt.min(4)).min(MAX_BACKOFF);
                self.next_at = now + backoff;
            }
        }
        false
    }

    /// Attempts made so far.
    pub(crate) fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn resumes_first_and_succeeds() {
        let t0 = Instant::now();
        let mut r = Reconnector::new(t0, Duration::from_secs(30), "socket closed");
        assert_eq!(r.poll(t0), Step::Resume(1));
        assert!(matches!(r.poll(t0), Step::Wait(_)), "one attempt at a time");
        assert!(r.outcome(t0 + ms(20), Outcome::Success));
        assert_eq!(r.attempts(), 1);
    }

    #[test]
    fn backoff_grows_to_a_cap_then_rejoins_after_the_resume_window() {
        let t0 = Instant::now();
        let mut r = Reconnector::new(t0, Duration::from_secs(60), "socket closed");
        let mut now = t0;
        let mut waits = vec![];
        loop {
            match r.poll(now) {
                Step::Resume(_) => {
                    r.outcome(now, Outcome::Failed("connection refused".into()));
                }
                Step::Wait(at) => {
                    waits.push(at - now);
                    now = at;
                }
                Step::Rejoin(n) => {
                    assert!(now - t0 >= RESUME_WINDOW);
                    assert!(n > 10);
                    break;
                }
                Step::GiveUp(e) => panic!("gave up early: {e}"),
            }
        }
        assert_eq!(waits[0], ms(200));
        assert!(waits.iter().all(|w| *w <= MAX_BACKOFF));
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
    }

    /// A restarted server: resume is refused (Leave), the rejoin comes at once.
    #[test]
    fn refused_resume_rejoins_immediately() {
        let t0 = Instant::now();
        let mut r = Reconnector::new(t0, Duration::from_secs(30), "socket closed");
        assert_eq!(r.poll(t0), Step::Resume(1));
        r.outcome(t0 + ms(300), Outcome::Failed("connection refused".into()));
        assert_eq!(r.poll(t0 + ms(300)), Step::Wait(t0 + ms(500)));
        assert_eq!(r.poll(t0 + ms(500)), Step::Resume(2));
        r.outcome(t0 + ms(510), Outcome::SessionGone);
        assert_eq!(r.poll(t0 + ms(510)), Step::Rejoin(3));
        assert!(r.outcome(t0 + ms(600), Outcome::Success));
    }

    #[test]
    fn gives_up_with_the_last_error() {
        let t0 = Instant::now();
        let mut r = Reconnector::new(t0, Duration::from_secs(5), "socket closed").rejoin_only();
        let mut now = t0;
        let reason = loop {
            match r.poll(now) {
                Step::Resume(_) => panic!("resume after rejoin_only"),
                Step::Rejoin(_) => {
                    r.outcome(now, Outcome::Failed("connection refused".into()));
                }
                Step::Wait(at) => now = at,
                Step::GiveUp(e) => break e,
            }
        };
        assert!(now - t0 >= Duration::from_secs(5) && now - t0 < Duration::from_secs(7));
        assert!(reason.contains("connection refused"), "{reason}");
        assert!(reason.contains("within 5 s"), "{reason}");
    }
}
