//! Login throttling: 5 attempts per minute (burst 5) per client address.
//!
//! The key is the peer address from `ConnectInfo<SocketAddr>` (IPv6 grouped by /64, which one
//! client usually owns). Without connect info every client shares one bucket. Behind a reverse
//! proxy every client has the proxy's address, so the limit becomes global: that is the safe side.

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;

const ATTEMPTS_PER_MINUTE: NonZeroU32 = NonZeroU32::MIN.saturating_add(4);
/// Above this many tracked clients, idle entries are dropped.
const HOUSEKEEPING_THRESHOLD: usize = 10_000;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    Ip(IpAddr),
    Unknown,
}

impl ClientKey {
    pub(crate) fn from_addr(addr: Option<IpAddr>) -> Self {
        match addr {
            Some(IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
                let s = v6.segments();
                Self::Ip(IpAddr::V6(Ipv6Addr::new(
                    s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                )))
            }
            Some(IpAddr::V6(v6)) => Self::Ip(v6.to_canonical()),
            Some(ip) => Self::Ip(ip),
            None => Self::Unknown,
        }
    }
}

pub(crate) struct LoginLimiter {
    limiter: DefaultKeyedRateLimiter<ClientKey>,
}

impl LoginLimiter {
    pub(crate) fn new() -> Self {
        Self {
            limiter: RateLimiter::keyed(
                Quota::per_minute(ATTEMPTS_PER_MINUTE).allow_burst(ATTEMPTS_PER_MINUTE),
            ),
        }
    }

    /// Counts one attempt; false when the client has used up its attempts for now.
    pub(crate) fn allow(&self, key: &ClientKey) -> bool {
        if self.limiter.len() > HOUSEKEEPING_THRESHOLD {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        self.limiter.check_key(key).is_ok()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn five_attempts_then_blocked_per_client() {
        let limiter = LoginLimiter::new();
        let a = ClientKey::from_addr(Some("192.0.2.1".parse().unwrap()));
        let b = ClientKey::Unknown;
        for _ in 0..5 {
            assert!(limiter.allow(&a));
        }
        assert!(!limiter.allow(&a));
        assert!(limiter.allow(&b));
    }

    #[test]
    fn ipv6_is_grouped_by_slash_64() {
        let one: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let two: IpAddr = "2001:db8:1:2::ffff".parse().unwrap();
        assert_eq!(
            ClientKey::from_addr(Some(one)),
            ClientKey::from_addr(Some(two))
        );
    }
}
