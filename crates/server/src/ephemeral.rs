//! Short-lived, single-use server state kept in memory: OPAQUE login states between the two
//! login steps and device-share challenges. Each entry lives a fixed time (60 s) and is removed
//! when taken, so it can be used once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long login states and challenges live.
pub const EPHEMERAL_TTL: Duration = Duration::from_secs(60);

/// At most this many live entries; beyond it new entries are refused (a flood of unfinished
/// logins must not exhaust memory).
const MAX_ENTRIES: usize = 100_000;

/// A map whose entries expire and are taken once.
pub struct Ephemeral<K, V> {
    ttl: Duration,
    inner: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V> Ephemeral<K, V> {
    /// An empty map whose entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            inner: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (Instant, V)>> {
        // A poisoned lock only means a panic elsewhere; the map stays consistent.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores `value` under `key`; false if the map is full.
    pub fn insert(&self, key: K, value: V) -> bool {
        let now = Instant::now();
        let ttl = self.ttl;
        let mut m = self.lock();
        if m.len() >= MAX_ENTRIES / 2 {
            m.retain(|_, (t, _)| now.duration_since(*t) < ttl);
        }
        if m.len() >= MAX_ENTRIES {
            return false;
        }
        m.insert(key, (now, value));
        true
    }

    /// A copy of the entry if it is still alive (it stays).
    pub fn peek(&self, key: &K) -> Option<V>
    where
        V: Clone,
    {
        let map = self.lock();
        let (t, v) = map.get(key)?;
        (t.elapsed() < self.ttl).then(|| v.clone())
    }

    /// Removes and returns the entry if it is still alive.
    pub fn take(&self, key: &K) -> Option<V> {
        let (t, v) = self.lock().remove(key)?;
        (t.elapsed() < self.ttl).then_some(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_use_and_expiry() {
        let m = Ephemeral::new(Duration::from_millis(30));
        assert!(m.insert(1, "a"));
        assert_eq!(m.take(&1), Some("a"));
        assert_eq!(m.take(&1), None);
        assert!(m.insert(2, "b"));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(m.take(&2), None);
    }
}
