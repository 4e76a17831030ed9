//! No SSRF: a webhook URL is a request this server makes on a stranger's behalf, so it must
//! not reach what only the server can reach (its loopback, the private network, the cloud's
//! metadata service), nor any address whose meaning is special.
//!
//! * Only `http` and `https` URLs, with a host.
//! * The host is resolved and every address checked **at each delivery**, not only at
//!   registration: DNS can change between the two (rebinding). The checked addresses are
//!   the ones connected to: the delivery client resolves through [`Guarded`], which drops
//!   forbidden addresses, so there is no window between check and use.
//! * Every range of the IANA IPv4 and IPv6 special-purpose address registries is refused
//!   ([`SPECIAL_V4`], [`SPECIAL_V6`]: loopback, private, shared, link-local, documentation,
//!   benchmarking, reserved, the metadata address, ...), and multicast and broadcast; an
//!   IPv6 address that carries an IPv4 one (mapped `::ffff:a.b.c.d`) is judged by the IPv4
//!   address, and every other transition form (NAT64 `64:ff9b::/96`, 6to4 `2002::/16`,
//!   Teredo, IPv4-compatible `::a.b.c.d`, SIIT `::ffff:0:a.b.c.d`) is refused outright: each
//!   can lead to an inside IPv4 address through a translator. Unless the URL's `host:port`
//!   is listed in `WEBHOOK_ALLOW` (a receiver on this machine, in tests and demos).
//! * A refusal says the same whatever the reason (it does not resolve, or resolves inside):
//!   the answer must not tell a stranger what a name resolves to.
//! * Redirects are never followed (the delivery client's policy), since a redirect could
//!   point anywhere.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, LazyLock};

use ipnet::{Ipv4Net, Ipv6Net};

/// How names are resolved: the system's DNS in production; tests supply their own to play
/// a DNS change.
#[async_trait::async_trait]
pub trait Lookup: Send + Sync + 'static {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>>;
}

/// The system resolver (`getaddrinfo`, through tokio).
pub struct SystemDns;

#[async_trait::async_trait]
impl Lookup for SystemDns {
    async fn lookup(&self, host: &str) -> std::io::Result<Vec<IpAddr>> {
        Ok(tokio::net::lookup_host((host, 0)).await?.map(|a| a.ip()).collect())
    }
}

/// The IANA IPv4 special-purpose address registry (every entry, globally reachable or
/// not), with multicast and the limited broadcast.
pub const SPECIAL_V4: &[(&str, &str)] = &[
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private-use"),
    ("100.64.0.0/10", "shared address space (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (the cloud metadata service)"),
    ("172.16.0.0/12", "private-use"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "documentation (TEST-NET-1)"),
    ("192.31.196.0/24", "AS112-v4"),
    ("192.52.193.0/24", "AMT"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast"),
    ("192.168.0.0/16", "private-use"),
    ("192.175.48.0/24", "direct delegation AS112"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation (TEST-NET-3)"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255/32", "limited broadcast"),
];

/// The IANA IPv6 special-purpose address registry (every entry), with multicast, the
/// deprecated site-local range, and every form that carries an IPv4 address but the mapped
/// one (which [`forbidden`] judges by its IPv4 address).
pub const SPECIAL_V6: &[(&str, &str)] = &[
    ("::/96", "IPv4-compatible (deprecated), unspecified, loopback"),
    ("::ffff:0:0:0/96", "IPv4-translated (SIIT)"),
    ("64:ff9b::/96", "IPv4/IPv6 translation (NAT64)"),
    ("64:ff9b:1::/48", "local-use IPv4/IPv6 translation"),
    ("100::/64", "discard-only"),
    ("100:0:0:1::/64", "dummy prefix"),
    ("2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID, ...)"),
    ("2001:db8::/32", "documentation"),
    ("2002::/16", "6to4"),
    ("2620:4f:8000::/48", "direct delegation AS112"),
    ("3fff::/20", "documentation"),
    ("5f00::/16", "segment routing (SRv6) SIDs"),
    ("fc00::/7", "unique-local (private; AWS's metadata service is fd00:ec2::254)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "site-local (deprecated)"),
    ("ff00::/8", "multicast"),
];

static V4: LazyLock<Vec<(Ipv4Net, &'static str)>> =
    LazyLock::new(|| SPECIAL_V4.iter().map(|(net, why)| (net.parse().expect("a network"), *why)).collect());
static V6: LazyLock<Vec<(Ipv6Net, &'static str)>> =
    LazyLock::new(|| SPECIAL_V6.iter().map(|(net, why)| (net.parse().expect("a network"), *why)).collect());

/// Why an address may not be delivered to (for the log); `None` if it may.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => forbidden_v4(v4),
        // Mapped (`::ffff:a.b.c.d`): the IPv4 address itself, as the kernel connects to it.
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => forbidden_v4(v4),
            None => forbidden_v6(v6),
        },
    }
}

fn forbidden_v4(ip: Ipv4Addr) -> Option<&'static str> {
    V4.iter().find(|(net, _)| net.contains(&ip)).map(|(_, why)| *why)
}

fn forbidden_v6(ip: Ipv6Addr) -> Option<&'static str> {
    V6.iter().find(|(net, _)| net.contains(&ip)).map(|(_, why)| *why)
}

/// The one answer to a URL whose host does not resolve, or resolves to an address this
/// server will not deliver to: the same words either way.
pub const NOT_PUBLIC: &str =
    "this URL's host does not resolve to public addresses only; a webhook must reach a public http(s) server";

/// The rules for one server: the resolver and the `host:port`s allowed anyway.
pub struct Guard {
    lookup: Arc<dyn Lookup>,
    allow: HashSet<String>,
}

/// Where a delivery may go.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    /// Listed in `WEBHOOK_ALLOW`: connect as the system resolves it.
    Allowed,
    /// Checked: connect only to these addresses.
    Checked(Vec<IpAddr>),
}

impl Guard {
    pub fn new(lookup: Arc<dyn Lookup>, allow: &[String]) -> Guard {
        Guard { lookup, allow: allow.iter().map(|a| a.trim().to_ascii_lowercase()).collect() }
    }

    /// Checks a URL now: its scheme, its host, and every address the host resolves to.
    /// The error says why, in words (the `422` at registration, the delivery log's error).
    pub async fn check(&self, url: &str) -> Result<Route, String> {
        let parsed = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err("a webhook URL must be http or https".into());
        }
        let host = parsed.host_str().filter(|h| !h.is_empty()).ok_or("a webhook URL needs a host")?;
        let port = parsed.port_or_known_default().unwrap_or(80);
        let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
        if self.allow.contains(&format!("{host}:{port}")) || self.allow.contains(&format!("[{host}]:{port}")) {
            return Ok(Route::Allowed);
        }
        let addresses = match host.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => match self.lookup.lookup(&host).await {
                Ok(addresses) => addresses,
                Err(err) => {
                    tracing::debug!(%host, error = %err, "a webhook host does not resolve");
                    return Err(NOT_PUBLIC.into());
                }
            },
        };
        // One forbidden address is enough to refuse: a name that also points inside is not
        // one to trust. Why is logged, not answered.
        if let Some((ip, why)) = addresses.iter().find_map(|ip| forbidden(*ip).map(|why| (ip, why))) {
            tracing::debug!(%host, %ip, why, "a webhook host resolves to a special-purpose address");
            return Err(NOT_PUBLIC.into());
        }
        if addresses.is_empty() {
            return Err(NOT_PUBLIC.into());
        }
        Ok(Route::Checked(addresses))
    }
}

/// The delivery client's resolver for checked routes: answers with the addresses
/// [`Guard::check`] approved for this delivery, so the connection goes exactly there.
#[derive(Clone)]
pub struct Guarded {
    addresses: Arc<Vec<SocketAddr>>,
}

impl Guarded {
    pub fn new(addresses: Vec<IpAddr>, port: u16) -> Guarded {
        Guarded { addresses: Arc::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, port)).collect()) }
    }
}

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, _name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let addresses = self.addresses.clone();
        Box::pin(async move {
            let addrs: reqwest::dns::Addrs = Box::new((*addresses).clone().into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(Vec<IpAddr>);

    #[async_trait::async_trait]
    impl Lookup for Fixed {
        async fn lookup(&self, _host: &str) -> std::io::Result<Vec<IpAddr>> {
            Ok(self.0.clone())
        }
    }

    fn guard(resolves_to: &[&str], allow: &[&str]) -> Guard {
        let ips = resolves_to.iter().map(|ip| ip.parse().unwrap()).collect();
        Guard::new(Arc::new(Fixed(ips)), &allow.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>())
    }

    /// Every form the re-audit found accepted, and every range of the registries: refused,
    /// with the same words, unless allowed by `host:port`.
    #[tokio::test]
    async fn every_special_purpose_address_is_refused_unless_allowed() {
        let refused = [
            // IPv4: loopback, private, shared, link-local and metadata, this network.
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            // IETF assignments, documentation, benchmarking, reserved, multicast, broadcast.
            "192.0.0.9",
            "192.0.2.1",
            "198.18.0.1",
            "198.19.255.254",
            "198.51.100.7",
            "203.0.113.9",
            "240.0.0.1",
            "250.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "192.88.99.1",
            // IPv6: loopback, unspecified, link-local, unique-local, site-local, multicast.
            "::1",
            "::",
            "fe80::1",
            "fd00:ec2::254",
            "fec0::1",
            "ff02::1",
            "2001:db8::1",
            "100::1",
            // IPv4 inside IPv6, every transition form.
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
            "::a9fe:a9fe",
            "::ffff:0:127.0.0.1",
            "::ffff:0:a9fe:a9fe",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:a9fe:a9fe::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
        ];
        for ip in refused {
            let err = guard(&[ip], &[]).check("https://hooks.example/in").await.unwrap_err();
            assert_eq!(err, NOT_PUBLIC, "{ip}");
            assert!(forbidden(ip.parse().unwrap()).is_some(), "{ip}");
            // As a literal host too.
            let literal = if ip.contains(':') { format!("http://[{ip}]/") } else { format!("http://{ip}/") };
            assert_eq!(guard(&[], &[]).check(&literal).await.unwrap_err(), NOT_PUBLIC, "{literal}");
        }
        // The table's every range is refused at its first address.
        for (net, _) in SPECIAL_V4 {
            let net: Ipv4Net = net.parse().unwrap();
            assert!(forbidden(IpAddr::V4(net.network())).is_some(), "{net}");
        }
        for (net, _) in SPECIAL_V6 {
            let net: Ipv6Net = net.parse().unwrap();
            assert!(forbidden(IpAddr::V6(net.network())).is_some(), "{net}");
        }
        // Public addresses pass, a mapped public IPv4 too.
        for ip in ["93.184.215.14", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.215.14"] {
            let ok = guard(&[ip], &[]).check("https://hooks.example/in").await;
            assert_eq!(ok, Ok(Route::Checked(vec![ip.parse().unwrap()])), "{ip}");
        }
        // Any inside address among several is enough to refuse.
        assert!(guard(&["93.184.215.14", "10.0.0.1"], &[]).check("http://hooks.example/").await.is_err());
        // A name that does not resolve gets the same words as one that resolves inside.
        assert_eq!(guard(&[], &[]).check("http://hooks.example/").await.unwrap_err(), NOT_PUBLIC);
        struct Fails;
        #[async_trait::async_trait]
        impl Lookup for Fails {
            async fn lookup(&self, _host: &str) -> std::io::Result<Vec<IpAddr>> {
                Err(std::io::Error::other("no such host"))
            }
        }
        let failing = Guard::new(Arc::new(Fails), &[]);
        assert_eq!(failing.check("http://nowhere.example/").await.unwrap_err(), NOT_PUBLIC);
        // The allow list is host:port.
        assert_eq!(guard(&[], &["127.0.0.1:9000"]).check("http://127.0.0.1:9000/x").await, Ok(Route::Allowed));
        assert!(guard(&[], &["127.0.0.1:9000"]).check("http://127.0.0.1:9001/x").await.is_err());
        assert!(guard(&["93.184.215.14"], &[]).check("ftp://hooks.example/").await.is_err());
        assert!(guard(&["93.184.215.14"], &[]).check("not a url").await.is_err());
    }
}
