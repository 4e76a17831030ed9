//! No SSRF: a webhook URL is a request this server makes on a stranger's behalf, so it must
//! not reach what only the server can reach (its loopback, the private network, the cloud's
//! metadata service).
//!
//! * Only `http` and `https` URLs, with a host.
//! * The host is resolved and every address checked **at each delivery**, not only at
//!   registration: DNS can change between the two (rebinding). The checked addresses are
//!   the ones connected to: the delivery client resolves through [`Guarded`], which drops
//!   forbidden addresses, so there is no window between check and use.
//! * Loopback, private, link-local, unique-local, shared (CGNAT), unspecified, broadcast,
//!   multicast and the metadata address are refused, unless the URL's `host:port` is listed
//!   in `WEBHOOK_ALLOW` (a receiver on this machine, in tests and demos).
//! * Redirects are never followed (the delivery client's policy), since a redirect could
//!   point anywhere.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

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

/// Why an address may not be delivered to; `None` if it may.
pub fn forbidden(ip: IpAddr) -> Option<&'static str> {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            if v4.is_loopback() {
                Some("a loopback address")
            } else if v4 == std::net::Ipv4Addr::new(169, 254, 169, 254) {
                Some("the cloud metadata address")
            } else if v4.is_link_local() {
                Some("a link-local address")
            } else if v4.is_private() {
                Some("a private address")
            } else if a == 100 && (64..128).contains(&b) {
                Some("a shared (carrier-grade NAT) address")
            } else if v4.is_unspecified() || v4.is_broadcast() || v4.is_multicast() || a == 0 {
                Some("not a unicast address")
            } else {
                None
            }
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            if v6.is_loopback() {
                Some("a loopback address")
            } else if v6.is_unspecified() || v6.is_multicast() {
                Some("not a unicast address")
            } else if first & 0xffc0 == 0xfe80 {
                Some("a link-local address")
            } else if first & 0xfe00 == 0xfc00 {
                // fc00::/7, which includes AWS's metadata address fd00:ec2::254.
                Some("a unique-local (private) address")
            } else {
                None
            }
        }
    }
}

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
            Err(_) => self.lookup.lookup(&host).await.map_err(|e| format!("{host} does not resolve: {e}"))?,
        };
        if addresses.is_empty() {
            return Err(format!("{host} does not resolve"));
        }
        // One forbidden address is enough to refuse: a name that also points inside is not
        // one to trust.
        if let Some((ip, why)) = addresses.iter().find_map(|ip| forbidden(*ip).map(|why| (ip, why))) {
            return Err(format!("{host} resolves to {ip}, {why}; list {host}:{port} in WEBHOOK_ALLOW to allow it"));
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

    #[tokio::test]
    async fn inside_addresses_are_refused_unless_allowed() {
        let refused = [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "169.254.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00:ec2::254",
            "::ffff:127.0.0.1",
        ];
        for ip in refused {
            let err = guard(&[ip], &[]).check("https://hooks.example/in").await.unwrap_err();
            assert!(err.contains("WEBHOOK_ALLOW"), "{ip}: {err}");
        }
        let ok = guard(&["93.184.215.14"], &[]).check("https://hooks.example/in").await;
        assert_eq!(ok, Ok(Route::Checked(vec!["93.184.215.14".parse().unwrap()])));
        // Any inside address among several is enough to refuse.
        assert!(guard(&["93.184.215.14", "10.0.0.1"], &[]).check("http://hooks.example/").await.is_err());
        // Literal addresses are checked too, and the allow list is host:port.
        assert!(guard(&[], &[]).check("http://127.0.0.1:9000/").await.is_err());
        assert_eq!(guard(&[], &["127.0.0.1:9000"]).check("http://127.0.0.1:9000/x").await, Ok(Route::Allowed));
        assert!(guard(&[], &["127.0.0.1:9000"]).check("http://127.0.0.1:9001/x").await.is_err());
        assert!(guard(&["93.184.215.14"], &[]).check("ftp://hooks.example/").await.is_err());
        assert!(guard(&["93.184.215.14"], &[]).check("not a url").await.is_err());
    }
}
