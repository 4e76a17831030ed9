//! Per-client limits, each answered with the contract's JSON error and changing nothing:
//!
//! * concurrent streams (SSE, WebSocket, a held long-poll) per client IP → `429`;
//! * commands per client IP, HTTP and WebSocket together, a token bucket → `429` with
//!   `Retry-After` (over a WebSocket: an `error` frame with status 429);
//! * boards created per client IP, the same way;
//! * signals and relayed cursors per tab (presence: `POST /signal` or up a WebSocket) →
//!   `429` with `Retry-After`: a tab is one person's page, which never needs more; and the
//!   bytes of signals per client IP ([`SIGNAL_KIB_PER_SECOND`]), whatever tabs it makes up.
//!
//! The client IP is the socket peer, or the last `X-Forwarded-For` hop when the peer is a
//! trusted proxy (nginx in the cluster): only the hop the proxy itself added can be
//! believed, anything before it the client wrote. An IPv6 client is its /64: one
//! subscriber line gets a whole /64 (2^64 addresses), so counting each address alone would
//! give one client 2^64 budgets. Connection-level limits (how many
//! connections, how long a client may take to send its headers) are in `serve`.
//!
//! The defaults are generous: the demo, the tests and the benchmark never meet them unless
//! they mean to.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::error::AppError;

pub struct Limits {
    /// Peers allowed to say, in `X-Forwarded-For`, who the client is.
    trusted_proxies: Vec<ipnet::IpNet>,
    /// Open streams per client.
    streams: Arc<Counted>,
    commands: DefaultKeyedRateLimiter<IpAddr>,
    boards: DefaultKeyedRateLimiter<IpAddr>,
    /// Per `board/client`: WebRTC offers, answers and candidates.
    signals: DefaultKeyedRateLimiter<String>,
    /// Per `board/client`: relayed cursor positions.
    cursors: DefaultKeyedRateLimiter<String>,
    /// Per client IP: the kibibytes of signals it sends.
    signal_kib: DefaultKeyedRateLimiter<IpAddr>,
    /// Per client IP: `GET /api/ice-servers` (each answer may be a TURN credential).
    ice: DefaultKeyedRateLimiter<IpAddr>,
    /// Per client IP: history reads (each replays up to `SNAPSHOT_EVERY` events). A page
    /// asks once per window of changes while its slider moves, and once per todo history
    /// it opens: `HISTORY_PER_MINUTE`.
    history: DefaultKeyedRateLimiter<IpAddr>,
    /// Per client IP: sign-ins to the operator's console ([`LOGINS_PER_MINUTE`]), right or
    /// wrong: guessing the token is slow, and a flood is refused before any comparison.
    logins: DefaultKeyedRateLimiter<IpAddr>,
}

/// The largest request body accepted, in bytes (the contract's 64 KiB); a WebSocket
/// message gets the same.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Signals a tab may send a second, in bursts of [`SIGNAL_BURST`]: joining a mesh of eight
/// peers takes an offer or answer and a few ICE candidates for each.
pub const SIGNALS_PER_SECOND: u32 = 20;
pub const SIGNAL_BURST: u32 = 200;
/// Relayed cursor positions a tab may send a second (the page sends at most 20).
pub const CURSORS_PER_SECOND: u32 = 30;
/// Kibibytes of signals one client IP may send a second, in bursts of
/// [`SIGNAL_BURST_KIB`]: a page's whole mesh negotiates in tens of kilobytes, a class
/// behind one address in a megabyte or two; fifty made-up tabs cannot push a gigabyte in.
pub const SIGNAL_KIB_PER_SECOND: u32 = 1024;
pub const SIGNAL_BURST_KIB: u32 = 4096;
/// Console sign-ins per client IP a minute: an operator signs in once a day.
pub const LOGINS_PER_MINUTE: u32 = 10;
/// `GET /api/ice-servers` per client IP a minute (a page asks once as it starts).
pub const ICE_SERVERS_PER_MINUTE: u32 = 60;

impl Limits {
    pub fn new(config: &Config) -> Self {
        Limits {
            trusted_proxies: config.trusted_proxies.clone(),
            streams: Counted::new(config.max_streams_per_ip, Limit::Streams),
            commands: RateLimiter::keyed(per_minute(config.commands_per_minute)),
            boards: RateLimiter::keyed(per_minute(config.boards_per_minute)),
            signals: RateLimiter::keyed(
                Quota::per_second(NonZeroU32::new(SIGNALS_PER_SECOND).expect("positive"))
                    .allow_burst(NonZeroU32::new(SIGNAL_BURST).expect("positive")),
            ),
            cursors: RateLimiter::keyed(Quota::per_second(NonZeroU32::new(CURSORS_PER_SECOND).expect("positive"))),
            ice: RateLimiter::keyed(per_minute(ICE_SERVERS_PER_MINUTE)),
            history: RateLimiter::keyed(per_minute(config.history_per_minute)),
            logins: RateLimiter::keyed(per_minute(LOGINS_PER_MINUTE)),
            signal_kib: RateLimiter::keyed(
                Quota::per_second(NonZeroU32::new(SIGNAL_KIB_PER_SECOND).expect("positive"))
                    .allow_burst(NonZeroU32::new(SIGNAL_BURST_KIB).expect("positive")),
            ),
        }
    }

    /// The client: the peer, or what a trusted proxy says the peer was; an IPv6 address
    /// as its /64 (see the module doc).
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let ip = match self.trusted_proxies.iter().any(|net| net.contains(&peer)) {
            false => peer,
            true => headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .and_then(|hop| hop.trim().parse().ok())
                .unwrap_or(peer),
        };
        client_of(ip)
    }

    /// Takes one of the client's stream slots for as long as the returned guard lives.
    pub fn open_stream(&self, ip: IpAddr) -> Result<Slot, AppError> {
        self.streams.take(ip, "streams at once from one address", None)
    }

    /// One command's token; `429` with the wait when the bucket is empty.
    pub fn command(&self, ip: IpAddr) -> Result<(), AppError> {
        take(&self.commands, ip, Limit::Commands)
    }

    /// One board creation's token.
    pub fn create_board(&self, ip: IpAddr) -> Result<(), AppError> {
        take(&self.boards, ip, Limit::Boards)
    }

    /// One signal's (or, with `cursor`, one relayed cursor's) token for tab `client` of `board`.
    pub fn signal(&self, board: &str, client: &str, cursor: bool) -> Result<(), AppError> {
        let key = format!("{board}/{client}");
        match cursor {
            true => take(&self.cursors, key, Limit::Cursors),
            false => take(&self.signals, key, Limit::Signals),
        }
    }

    /// One console sign-in attempt from client `ip`.
    pub fn login(&self, ip: IpAddr) -> Result<(), AppError> {
        take(&self.logins, ip, Limit::Logins)
    }

    /// One history read for client `ip`.
    pub fn history(&self, ip: IpAddr) -> Result<(), AppError> {
        take(&self.history, ip, Limit::History)
    }

    /// One `GET /api/ice-servers` for client `ip`.
    pub fn ice_servers(&self, ip: IpAddr) -> Result<(), AppError> {
        take(&self.ice, ip, Limit::Ice)
    }

    /// The bytes of one signal, from client `ip`: `429` with `Retry-After` past its rate.
    pub fn signal_bytes(&self, ip: IpAddr, bytes: usize) -> Result<(), AppError> {
        let kib =
            NonZeroU32::new(bytes.div_ceil(1024).clamp(1, SIGNAL_BURST_KIB as usize) as u32).expect("at least one");
        match self.signal_kib.check_key_n(&ip, kib) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => {
                Limit::Signals.count();
                Err(AppError::TooMany {
                    message: "too many signal bytes from this address; slow down".into(),
                    retry_after: Some(not_until.wait_time_from(DefaultClock::default().now())),
                })
            }
            Err(_) => unreachable!("clamped to the burst"),
        }
    }

    /// Forgets buckets that are full again, so addresses seen once do not stay in memory.
    pub fn sweep(&self) {
        self.commands.retain_recent();
        self.boards.retain_recent();
        self.signals.retain_recent();
        self.cursors.retain_recent();
        self.signal_kib.retain_recent();
        self.ice.retain_recent();
        self.history.retain_recent();
        self.logins.retain_recent();
        self.commands.shrink_to_fit();
        self.boards.shrink_to_fit();
        self.signals.shrink_to_fit();
        self.cursors.shrink_to_fit();
        self.signal_kib.shrink_to_fit();
        self.ice.shrink_to_fit();
        self.history.shrink_to_fit();
    }
}

/// `n` a minute, in bursts of up to a tenth of that, or 100 (the whole rate, below 100):
/// a page that sends a flurry of moves, or a test that creates its boards at once, is not
/// a flood.
fn per_minute(n: u32) -> Quota {
    let n = n.max(1);
    let burst = (n / 10).max(n.min(100));
    Quota::per_minute(NonZeroU32::new(n).expect("at least one"))
        .allow_burst(NonZeroU32::new(burst).expect("at least one"))
}

/// An IPv4 address as it is; an IPv6 address as its /64 (the rest zeroed), an IPv4 one
/// mapped into IPv6 as the IPv4 address.
pub fn client_of(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

/// Something a client may hold a few of at once, counted per client (streams).
struct Counted {
    max: u32,
    limit: Limit,
    /// Held now, per client; an entry goes when its count reaches zero.
    held: Mutex<HashMap<IpAddr, u32>>,
}

impl Counted {
    fn new(max: u32, limit: Limit) -> Arc<Counted> {
        Arc::new(Counted { max: max.max(1), limit, held: Mutex::new(HashMap::new()) })
    }

    fn take(
        self: &Arc<Self>,
        ip: IpAddr,
        what: &str,
        retry_after: Option<std::time::Duration>,
    ) -> Result<Slot, AppError> {
        let mut held = self.held.lock().expect("counts lock");
        let open = held.entry(ip).or_default();
        if *open >= self.max {
            self.limit.count();
            return Err(AppError::TooMany { message: format!("at most {} {what}", self.max), retry_after });
        }
        *open += 1;
        Ok(Slot { counted: self.clone(), ip })
    }
}

/// Which limit refused a request: the `limit` label of `board_limited_total`.
#[derive(Clone, Copy, Debug)]
enum Limit {
    Streams,
    Ice,
    Commands,
    Boards,
    Signals,
    Cursors,
    History,
    Logins,
}

impl Limit {
    fn as_str(self) -> &'static str {
        match self {
            Limit::Streams => "streams",
            Limit::Ice => "ice_servers",
            Limit::Commands => "commands",
            Limit::Boards => "boards",
            Limit::Signals => "signals",
            Limit::Cursors => "cursors",
            Limit::History => "history_reads",
            Limit::Logins => "console_logins",
        }
    }

    fn count(self) {
        metrics::counter!("board_limited_total", "limit" => self.as_str()).increment(1);
    }
}

fn take<K: std::hash::Hash + Eq + Clone>(
    limiter: &DefaultKeyedRateLimiter<K>,
    key: K,
    limit: Limit,
) -> Result<(), AppError> {
    let what = limit.as_str();
    let from = match limit {
        Limit::Signals | Limit::Cursors => "this tab",
        _ => "this address",
    };
    limiter.check_key(&key).map_err(|not_until| {
        limit.count();
        AppError::TooMany {
            message: format!("too many {what} from {from}; slow down"),
            retry_after: Some(not_until.wait_time_from(DefaultClock::default().now())),
        }
    })
}

/// One open stream of one client; given back when this is dropped.
pub struct Slot {
    counted: Arc<Counted>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.counted.held.lock().expect("counts lock");
        if let Some(open) = held.get_mut(&self.ip) {
            *open -= 1;
            if *open == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// An extractor: the client's IP address (see [`Limits::client_ip`]).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// Works with any router state that can lend the [`Limits`] (`AppState` does), so this
/// module needs nothing of the server's state.
impl<S> FromRequestParts<S> for ClientIp
where
    S: Send + Sync,
    Arc<Limits>: FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let limits = Arc::<Limits>::from_ref(state);
        // Every connection `serve` accepts carries its peer; a router driven without one
        // (an in-memory test) counts as one unknown client.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|ConnectInfo(addr)| addr.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        Ok(ClientIp(limits.client_ip(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn limits(args: &[&str]) -> Arc<Limits> {
        let config = Config::parse_from(std::iter::once("server").chain(args.iter().copied()));
        Arc::new(Limits::new(&config))
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_by_its_own_hop() {
        let l = limits(&["--trusted-proxies", "10.0.0.2,172.16.0.0/12"]);
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", "6.6.6.6, 192.0.2.7".parse().unwrap());
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let stranger: IpAddr = "192.0.2.99".parse().unwrap();
        assert_eq!(l.client_ip(proxy, &headers), "192.0.2.7".parse::<IpAddr>().unwrap());
        assert_eq!(l.client_ip(stranger, &headers), stranger);
        assert_eq!(l.client_ip(proxy, &HeaderMap::new()), proxy);
        let in_network: IpAddr = "172.20.0.3".parse().unwrap();
        assert_eq!(l.client_ip(in_network, &headers), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_ipv6_client_is_its_slash_64() {
        let l = limits(&[]);
        let one: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let same_line: IpAddr = "2001:db8:1:2:ffff:ffff:ffff:ffff".parse().unwrap();
        let other_line: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(l.client_ip(one, &HeaderMap::new()), l.client_ip(same_line, &HeaderMap::new()));
        assert_ne!(l.client_ip(one, &HeaderMap::new()), l.client_ip(other_line, &HeaderMap::new()));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(l.client_ip(mapped, &HeaderMap::new()), "192.0.2.7".parse::<IpAddr>().unwrap());
        // Its stream slots are shared by the whole /64.
        let l = limits(&["--max-streams-per-ip", "1"]);
        let _held = l.open_stream(l.client_ip(one, &HeaderMap::new())).unwrap();
        assert!(l.open_stream(l.client_ip(same_line, &HeaderMap::new())).is_err());
    }

    #[test]
    fn stream_slots_are_counted_per_address_and_given_back() {
        let l = limits(&["--max-streams-per-ip", "2"]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let first = l.open_stream(a).unwrap();
        let _second = l.open_stream(a).unwrap();
        assert!(matches!(l.open_stream(a), Err(AppError::TooMany { .. })));
        assert!(l.open_stream(b).is_ok(), "another address has its own slots");
        drop(first);
        assert!(l.open_stream(a).is_ok());
    }

    #[test]
    fn commands_beyond_the_burst_wait() {
        let l = limits(&["--commands-per-minute", "60"]);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..60 {
            l.command(a).unwrap();
        }
        match l.command(a) {
            Err(AppError::TooMany { retry_after: Some(wait), .. }) => {
                assert!(wait.as_millis() > 0 && wait.as_secs() <= 1, "one token a second: {wait:?}")
            }
            other => panic!("expected 429, got {other:?}"),
        }
        assert!(l.command("192.0.2.2".parse().unwrap()).is_ok());
    }
}
