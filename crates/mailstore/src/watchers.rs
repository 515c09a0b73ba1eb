//! Change notification per account: a `tokio::sync::watch` sender per watched account,
//! bumped after every committed change to it (by this process, or by another node as
//! announced through PostgreSQL's `NOTIFY`).
//!
//! Senders are created on the first [`Watchers::subscribe`] for an account and dropped once
//! nobody holds a receiver (checked when bumping, and in a sweep whenever the map has
//! doubled), so accounts nobody watches cost nothing.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use tokio::sync::watch;
use uuid::Uuid;

#[derive(Debug, Default)]
pub(crate) struct Watchers {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    senders: HashMap<Uuid, watch::Sender<u64>>,
    /// Sweep dead senders when the map reaches this size.
    sweep_at: usize,
}

const MIN_SWEEP: usize = 64;

impl Watchers {
    pub fn subscribe(&self, account: Uuid) -> watch::Receiver<u64> {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if inner.senders.len() >= inner.sweep_at.max(MIN_SWEEP) {
            inner.senders.retain(|_, tx| tx.receiver_count() > 0);
            inner.sweep_at = inner.senders.len() * 2;
        }
        inner
            .senders
            .entry(account)
            .or_insert_with(|| watch::channel(0).0)
            .subscribe()
    }

    pub fn bump(&self, account: Uuid) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = inner.senders.get(&account) {
            if tx.receiver_count() == 0 {
                inner.senders.remove(&account);
            } else {
                tx.send_modify(|v| *v = v.wrapping_add(1));
            }
        }
    }

    pub fn bump_all(&self, accounts: impl IntoIterator<Item = Uuid>) {
        for account in accounts {
            self.bump(account);
        }
    }

    /// Bumps every watched account (after notifications may have been missed).
    pub fn bump_every(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        inner.senders.retain(|_, tx| tx.receiver_count() > 0);
        for tx in inner.senders.values() {
            tx.send_modify(|v| *v = v.wrapping_add(1));
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .senders
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_are_dropped_with_their_last_receiver() {
        let w = Watchers::default();
        let a = Uuid::new_v4();
        w.bump(a);
        assert_eq!(w.len(), 0, "bumping an unwatched account creates nothing");
        let mut rx = w.subscribe(a);
        w.bump(a);
        assert!(rx.has_changed().unwrap());
        assert_eq!(*rx.borrow_and_update(), 1);
        drop(rx);
        w.bump(a);
        assert_eq!(w.len(), 0);

        let receivers: Vec<_> = (0..MIN_SWEEP)
            .map(|_| w.subscribe(Uuid::new_v4()))
            .collect();
        drop(receivers);
        let kept = w.subscribe(a);
        assert_eq!(w.len(), 1, "the sweep removed the dead senders");
        w.bump_every();
        assert!(
            kept.has_changed().unwrap(),
            "bump_every reaches every watcher"
        );
    }
}
