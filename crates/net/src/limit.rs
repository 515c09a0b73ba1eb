//! Connection caps shared by every listener: at most `max_total` connections at once, and
//! at most `max_per_address` from one client address. A slot is held by a
//! [`ConnectionSlot`] and freed when it is dropped, however the connection ends.
//!
//! IPv4 addresses count one by one; IPv6 addresses count per /64, the block a single
//! subscriber usually holds (an IPv4-mapped IPv6 address counts as its IPv4 address).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, MutexGuard};

/// Which cap turned a connection away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The listener holds `max_total` connections.
    Listener,
    /// This client address holds `max_per_address` connections.
    Address,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Refusal::Listener => "listener connection limit reached",
            Refusal::Address => "per-address connection limit reached",
        })
    }
}

/// The caps of one listener (or of several listeners sharing one budget).
#[derive(Debug)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_address: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionSlot {
    limiter: Arc<ConnectionLimiter>,
    key: IpAddr,
}

impl ConnectionLimiter {
    /// `max_per_address` of 0 switches the per-address cap off; `max_total` is at least 1.
    pub fn new(max_total: usize, max_per_address: usize) -> Arc<ConnectionLimiter> {
        Arc::new(ConnectionLimiter {
            max_total: max_total.max(1),
            max_per_address,
            state: Mutex::new(State::default()),
        })
    }

    /// Admits a connection from `ip`, or says which cap it would break.
    pub fn try_admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnectionSlot, Refusal> {
        let key = address_key(ip);
        let mut state = self.lock();
        if state.total >= self.max_total {
            return Err(Refusal::Listener);
        }
        let count = state.per_address.entry(key).or_insert(0);
        if self.max_per_address > 0 && *count >= self.max_per_address {
            return Err(Refusal::Address);
        }
        *count += 1;
        state.total += 1;
        Ok(ConnectionSlot {
            limiter: self.clone(),
            key,
        })
    }

    /// Connections admitted and not yet ended.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        let mut state = self.limiter.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(n) = state.per_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                state.per_address.remove(&self.key);
            }
        }
    }
}

/// The address a connection counts against.
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("address")
    }

    #[test]
    fn caps_per_listener_and_per_address() {
        let l = ConnectionLimiter::new(3, 2);
        let a1 = l.try_admit(ip("192.0.2.1")).expect("first");
        let _a2 = l
            .try_admit(ip("::ffff:192.0.2.1"))
            .expect("second, same address");
        assert_eq!(l.try_admit(ip("192.0.2.1")).err(), Some(Refusal::Address));
        let _b = l.try_admit(ip("2001:db8::1")).expect("other address");
        assert_eq!(
            l.try_admit(ip("2001:db8::2")).err(),
            Some(Refusal::Listener)
        );
        drop(a1);
        assert_eq!(l.open(), 2);
        // One /64 counts as one address.
        let _b2 = l.try_admit(ip("2001:db8::ffff")).expect("slot freed");
        assert_eq!(
            l.try_admit(ip("2001:db8::3")).err(),
            Some(Refusal::Listener)
        );
    }

    #[test]
    fn per_address_cap_off() {
        let l = ConnectionLimiter::new(10, 0);
        let slots: Vec<_> = (0..10)
            .map(|_| l.try_admit(ip("127.0.0.1")).expect("admitted"))
            .collect();
        assert_eq!(l.open(), 10);
        drop(slots);
        assert_eq!(l.open(), 0);
        assert!(l.lock().per_address.is_empty());
    }
}
