//! Login throttling: failed logins are counted per account (normalised email) and per client
//! address in a sliding window; once either count reaches its limit, further logins for that key
//! answer `429 rate_limited` with `Retry-After` until the oldest failure leaves the window.
//!
//! The counters live in memory (one server process); a successful login clears its account's
//! failures.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::error::ServerError;

/// Limits of the login throttle.
#[derive(Debug, Clone, Copy)]
pub struct ThrottleConfig {
    /// Failures allowed per account within the window.
    pub per_account: usize,
    /// Failures allowed per client address within the window.
    pub per_address: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Above this many tracked keys, expired ones are swept on the next write.
const SWEEP_AT: usize = 10_000;

#[derive(Default)]
struct Windows {
    accounts: HashMap<String, VecDeque<Instant>>,
    addresses: HashMap<IpAddr, VecDeque<Instant>>,
}

/// The login throttle (cheap to share behind an `Arc`).
pub struct LoginThrottle {
    config: ThrottleConfig,
    inner: Mutex<Windows>,
}

impl LoginThrottle {
    /// A throttle with these limits.
    pub fn new(config: ThrottleConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Windows::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Windows> {
        // A poisoned lock only means a panic elsewhere; the counters stay usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Refuses with [`ServerError::RateLimited`] when the account or the address has reached
    /// its limit of failures within the window.
    pub fn check(&self, account: &str, addr: Option<IpAddr>) -> Result<(), ServerError> {
        let now = Instant::now();
        let window = self.config.window;
        let mut w = self.lock();
        let mut wait = None;
        if let Some(q) = w.accounts.get_mut(account) {
            wait = wait.max(blocked_for(q, now, window, self.config.per_account));
        }
        if let Some(q) = addr.and_then(|a| w.addresses.get_mut(&a)) {
            wait = wait.max(blocked_for(q, now, window, self.config.per_address));
        }
        match wait {
            Some(d) => Err(ServerError::RateLimited {
                retry_after: d.as_secs().max(1),
            }),
            None => Ok(()),
        }
    }

    /// Counts one failed login for the account and the address.
    pub fn record_failure(&self, account: &str, addr: Option<IpAddr>) {
        let now = Instant::now();
        let window = self.config.window;
        let mut w = self.lock();
        if w.accounts.len() + w.addresses.len() > SWEEP_AT {
            w.accounts.retain(|_, q| {
                prune(q, now, window);
                !q.is_empty()
            });
            w.addresses.retain(|_, q| {
                prune(q, now, window);
                !q.is_empty()
            });
        }
        w.accounts
            .entry(account.to_owned())
            .or_default()
            .push_back(now);
        if let Some(a) = addr {
            w.addresses.entry(a).or_default().push_back(now);
        }
    }

    /// Clears the account's failures after a successful login.
    pub fn record_success(&self, account: &str) {
        self.lock().accounts.remove(account);
    }
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q.front().is_some_and(|t| now.duration_since(*t) >= window) {
        q.pop_front();
    }
}

/// How long the key stays blocked, if it has `limit` failures or more within the window.
fn blocked_for(
    q: &mut VecDeque<Instant>,
    now: Instant,
    window: Duration,
    limit: usize,
) -> Option<Duration> {
    prune(q, now, window);
    if q.len() < limit {
        return None;
    }
    // The key unblocks when enough failures have left the window to fall below the limit.
    let idx = q.len() - limit;
    q.get(idx)
        .map(|t| window.saturating_sub(now.duration_since(*t)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(window: Duration) -> ThrottleConfig {
        ThrottleConfig {
            per_account: 3,
            per_address: 5,
            window,
        }
    }

    #[test]
    fn account_limit_then_retry_after() {
        let t = LoginThrottle::new(cfg(Duration::from_secs(900)));
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            t.check("a@x", Some(ip)).unwrap();
            t.record_failure("a@x", Some(ip));
        }
        match t.check("a@x", Some(ip)) {
            Err(ServerError::RateLimited { retry_after }) => {
                assert!((890..=900).contains(&retry_after))
            }
            other => panic!("{other:?}"),
        }
        // another account from the same address is still allowed (3 < 5)
        t.check("b@x", Some(ip)).unwrap();
    }

    #[test]
    fn address_limit_spans_accounts() {
        let t = LoginThrottle::new(cfg(Duration::from_secs(900)));
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        for i in 0..5 {
            t.record_failure(&format!("u{i}@x"), Some(ip));
        }
        assert!(t.check("fresh@x", Some(ip)).is_err());
        assert!(
            t.check("fresh@x", Some("10.0.0.2".parse().unwrap()))
                .is_ok()
        );
    }

    #[test]
    fn window_expires_and_success_clears() {
        let t = LoginThrottle::new(cfg(Duration::from_millis(50)));
        for _ in 0..3 {
            t.record_failure("a@x", None);
        }
        assert!(t.check("a@x", None).is_err());
        std::thread::sleep(Duration::from_millis(60));
        assert!(t.check("a@x", None).is_ok());

        for _ in 0..3 {
            t.record_failure("a@x", None);
        }
        t.record_success("a@x");
        assert!(t.check("a@x", None).is_ok());
    }
}
