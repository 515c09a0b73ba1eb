//! A bounded, shared cache of parsed message summaries (ENVELOPE, search fields, and
//! BODYSTRUCTURE once asked for) keyed by body hash. Bodies are immutable and stored once,
//! so entries never go stale; the cache only needs a size bound. Eviction drops the least
//! recently used quarter when the byte budget is exceeded (amortised O(log n) per insert).

use mailward_mailstore::BlobId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::mime::Summary;

#[derive(Debug)]
struct Entry {
    summary: Arc<Summary>,
    tick: u64,
    weight: usize,
}

#[derive(Debug, Default)]
struct Inner {
    map: HashMap<BlobId, Entry>,
    bytes: usize,
    tick: u64,
}

/// The cache, shared by every connection of a server.
#[derive(Debug)]
pub struct SummaryCache {
    budget: usize,
    inner: Mutex<Inner>,
}

/// Room a BODYSTRUCTURE computed later may take (counted up front).
const STRUCTURE_ALLOWANCE: usize = 384;

impl SummaryCache {
    pub fn new(budget_bytes: usize) -> SummaryCache {
        SummaryCache {
            budget: budget_bytes,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the map inconsistent in a way that
        // matters (worst case a wrong byte count), so poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Looks up several blobs under one lock.
    pub fn get_many<'a>(
        &self,
        blobs: impl IntoIterator<Item = &'a BlobId>,
    ) -> Vec<Option<Arc<Summary>>> {
        let mut g = self.lock();
        let inner = &mut *g;
        blobs
            .into_iter()
            .map(|b| {
                inner.tick += 1;
                let tick = inner.tick;
                inner.map.get_mut(b).map(|e| {
                    e.tick = tick;
                    e.summary.clone()
                })
            })
            .collect()
    }

    #[cfg(test)]
    pub fn get(&self, blob: &BlobId) -> Option<Arc<Summary>> {
        self.get_many([blob]).pop().flatten()
    }

    /// Adds a summary (replacing none: a concurrent insert of the same blob wins).
    pub fn insert(&self, blob: BlobId, summary: Arc<Summary>) -> Arc<Summary> {
        let weight = summary.weight() + blob.0.len() + STRUCTURE_ALLOWANCE + 64;
        let mut g = self.lock();
        let inner = &mut *g;
        inner.tick += 1;
        let tick = inner.tick;
        if let Some(e) = inner.map.get_mut(&blob) {
            e.tick = tick;
            return e.summary.clone();
        }
        inner.bytes += weight;
        inner.map.insert(
            blob,
            Entry {
                summary: summary.clone(),
                tick,
                weight,
            },
        );
        if inner.bytes > self.budget {
            evict(inner, self.budget);
        }
        summary
    }

    /// Number of entries and bytes accounted.
    #[cfg(test)]
    pub fn usage(&self) -> (usize, usize) {
        let g = self.lock();
        (g.map.len(), g.bytes)
    }
}

fn evict(inner: &mut Inner, budget: usize) {
    // Drop the oldest quarter, or more until under three quarters of the budget.
    let mut ticks: Vec<u64> = inner.map.values().map(|e| e.tick).collect();
    ticks.sort_unstable();
    let mut cut = ticks.len() / 4;
    let mut freed: usize;
    let target = inner.bytes.saturating_sub(budget / 4 * 3);
    let threshold = loop {
        let t = ticks.get(cut).copied().unwrap_or(u64::MAX);
        freed = inner
            .map
            .values()
            .filter(|e| e.tick < t)
            .map(|e| e.weight)
            .sum();
        if freed >= target || cut >= ticks.len() {
            break t;
        }
        cut = (cut * 2).max(cut + 1).min(ticks.len());
    };
    inner.map.retain(|_, e| e.tick >= threshold);
    inner.bytes -= freed;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime;

    #[test]
    fn bounded_and_keeps_recent() {
        let s = Arc::new(mime::summarize(b"Subject: x\r\n\r\n"));
        let one = s.weight() + 64 + STRUCTURE_ALLOWANCE + 64;
        let cache = SummaryCache::new(one * 100);
        let blob = |i: usize| BlobId(format!("{i:064}"));
        for i in 0..1000 {
            cache.insert(blob(i), s.clone());
            // Keep blob 0 hot.
            assert!(cache.get(&blob(0)).is_some(), "hot entry evicted at {i}");
        }
        let (n, bytes) = cache.usage();
        assert!(n <= 100, "{n}");
        assert!(bytes <= one * 100, "{bytes}");
        assert!(cache.get(&blob(999)).is_some());
        assert!(cache.get(&blob(1)).is_none());
    }
}
