//! Rate limits on what an anonymous client can make identity write or try: sign-in flows,
//! device authorization requests and user codes entered on the device page, per client
//! address and window (`[identity.limits]`). Each is one conditional statement on a counter
//! in the store, taken before the work, so parallel requests and several nodes share it.
//! IPv6 addresses are counted per /64, since one client usually holds the whole prefix.

use crate::config::LimitsConfig;
use crate::state::Ctx;
use mailward_store::StoreError;
use std::net::IpAddr;
use time::{Duration, OffsetDateTime};

/// What is being limited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Sign-in flows started.
    SignInFlows,
    /// Device authorization requests.
    DeviceCodes,
    /// User codes entered on the device page.
    UserCodeAttempts,
}

impl Limit {
    fn name(self) -> &'static str {
        match self {
            Limit::SignInFlows => "flows",
            Limit::DeviceCodes => "devicecodes",
            Limit::UserCodeAttempts => "usercodes",
        }
    }

    fn per_window(self, cfg: &LimitsConfig) -> u32 {
        match self {
            Limit::SignInFlows => cfg.signin_flows,
            Limit::DeviceCodes => cfg.device_codes,
            Limit::UserCodeAttempts => cfg.user_code_attempts,
        }
    }
}

/// Takes one unit of `limit` for the client at `ip`: false when the address has used up
/// the window (nothing is written then).
pub async fn take(
    ctx: &Ctx,
    limit: Limit,
    ip: Option<IpAddr>,
    now: OffsetDateTime,
) -> Result<bool, StoreError> {
    let cfg = &ctx.cfg().limits;
    let key = format!("{}:{}", limit.name(), address_key(ip));
    let taken = ctx
        .store()
        .take_rate_limit(
            &key,
            limit.per_window(cfg),
            Duration::seconds(cfg.window_secs),
            now,
        )
        .await?;
    if !taken {
        tracing::warn!(limit = limit.name(), address = %address_key(ip), "rate limit reached");
    }
    Ok(taken)
}

/// The counter key of a client address: IPv4 as is, IPv6 by its /64 (an IPv4-mapped IPv6
/// address as its IPv4 address), and one shared key for clients whose address is unknown.
pub fn address_key(ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_keys() {
        let key = |s: &str| address_key(Some(s.parse().unwrap()));
        assert_eq!(key("192.0.2.1"), "192.0.2.1");
        assert_eq!(key("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(key("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(key("2001:db8:1:2::9"), "2001:db8:1:2::/64");
        assert_ne!(key("2001:db8:1:3::9"), key("2001:db8:1:2::9"));
        assert_eq!(address_key(None), "unknown");
    }
}
