//! Where revos may send HTTP requests, and the one client that sends them.
//!
//! Every outbound call — tenants' webhooks ([`crate::delivery::outbound`]), the JWKS
//! of the identity provider ([`crate::identity::jwt`]), anything added later — goes
//! through an [`OutboundClient`] built by [`OutboundPolicy::client`], so a
//! tenant admin cannot turn revos into a probe of the network it runs in
//! (server-side request forgery).
//!
//! The policy, by default:
//! - `https://` only;
//! - no loopback, private (RFC 1918, `fc00::/7`), link-local
//!   (`169.254.0.0/16`, `fe80::/10`), shared (CGNAT, `100.64.0.0/10`),
//!   multicast, broadcast, unspecified, documentation, benchmarking or
//!   reserved address, nor one of these written as an IPv4-mapped,
//!   NAT64 or 6to4 IPv6 address ([`refused_range`]).
//!
//! The `[outbound] allow` list of the configuration ([`OutboundConfig`])
//! names address ranges that may be reached all the same, for development
//! and tests; plain `http://` is accepted to a host whose every address is
//! in that list.
//!
//! It is checked when a URL is stored ([`OutboundPolicy::check_url`],
//! which resolves a host name) and again when a request is sent: an IP
//! address in the URL before sending (the HTTP stack does not resolve
//! those), and a host name's addresses by the client's own resolver at
//! connect time, so a name that resolves elsewhere later (DNS rebinding)
//! still reaches nothing refused. A name whose addresses are not all
//! allowed is refused whole. The client follows no redirect, goes through
//! no proxy, and gives up after a total timeout; response bodies are read
//! up to a bound ([`read_limited`]).

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// How long resolving a host name may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// `[outbound]` in the configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Address ranges outbound requests may reach although the policy
    /// refuses them by default, as CIDR (`127.0.0.0/8`, `::1/128`) or
    /// single addresses. Plain `http://` is accepted to hosts whose every
    /// address is listed here. Empty by default.
    pub allow: Vec<String>,
}

/// A target the outbound policy refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused by the outbound policy: {reason}")]
pub(crate) struct Refused {
    /// Why, e.g. `169.254.169.254 is a link-local address (169.254.0.0/16)`.
    pub(crate) reason: String,
}

impl Refused {
    fn new(reason: impl Into<String>) -> Self {
        Refused {
            reason: reason.into(),
        }
    }
}

/// Why a URL cannot be a target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum TargetError {
    /// Not an `http(s)://` URL with a host.
    #[error("{0}")]
    Invalid(String),
    /// A well-formed URL the policy refuses.
    #[error(transparent)]
    Refused(#[from] Refused),
}

/// A range of addresses the policy refuses by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RefusedRange {
    /// What the range is, as in "127.0.0.1 is a loopback address".
    kind: &'static str,
    /// The range, in CIDR notation.
    cidr: &'static str,
}

/// The default-refused IPv4 ranges, most specific first where they nest.
const V4_REFUSED: &[(&str, &str)] = &[
    ("255.255.255.255/32", "broadcast"),
    ("0.0.0.0/32", "unspecified"),
    ("0.0.0.0/8", "\"this network\""),
    ("10.0.0.0/8", "private"),
    ("100.64.0.0/10", "shared (carrier-grade NAT)"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private"),
    ("192.0.0.0/24", "IETF protocol assignment"),
    ("192.0.2.0/24", "documentation"),
    ("192.88.99.0/24", "reserved (6to4 relay)"),
    ("192.168.0.0/16", "private"),
    ("198.18.0.0/15", "benchmarking"),
    ("198.51.100.0/24", "documentation"),
    ("203.0.113.0/24", "documentation"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
];

/// The default-refused IPv6 ranges (those embedding an IPv4 address are
/// handled before these).
const V6_REFUSED: &[(&str, &str)] = &[
    ("::/128", "unspecified"),
    ("::1/128", "loopback"),
    ("::/96", "reserved (IPv4-compatible)"),
    ("64:ff9b:1::/48", "reserved (local-use NAT64)"),
    ("100::/64", "reserved (discard-only)"),
    ("2001::/32", "reserved (Teredo)"),
    ("2001:2::/48", "benchmarking"),
    ("2001:db8::/32", "documentation"),
    ("3fff::/20", "documentation"),
    ("fc00::/7", "private (unique local)"),
    ("fe80::/10", "link-local"),
    ("fec0::/10", "reserved (site-local)"),
    ("ff00::/8", "multicast"),
];

/// The range that makes `ip` refused by default, or `None` for an address
/// that may be reached. An IPv6 address that carries an IPv4 one
/// (IPv4-mapped `::ffff:a.b.c.d`, NAT64 `64:ff9b::a.b.c.d`, 6to4
/// `2002:aabb:ccdd::`) is judged by the IPv4 address it carries.
fn refused_range(ip: IpAddr) -> Option<RefusedRange> {
    let ip = match ip {
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    };
    let table = match ip {
        IpAddr::V4(_) => V4_REFUSED,
        IpAddr::V6(_) => V6_REFUSED,
    };
    table.iter().find_map(|(cidr, kind)| {
        let net: IpNet = cidr.parse().ok()?;
        net.contains(&ip).then_some(RefusedRange { kind, cidr })
    })
}

/// The IPv4 address an IPv6 address stands for, if it stands for one.
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    let s = v6.segments();
    let octets = v6.octets();
    // NAT64 well-known prefix 64:ff9b::/96.
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(Ipv4Addr::new(
            octets[12], octets[13], octets[14], octets[15],
        ));
    }
    // 6to4 2002::/16: the IPv4 address is in bits 16..48.
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(octets[2], octets[3], octets[4], octets[5]));
    }
    None
}

/// The address policy for outbound requests: the default refusals and the
/// configured allow list. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OutboundPolicy {
    allow: Arc<[IpNet]>,
}

impl OutboundPolicy {
    /// The policy of a configuration; fails on an entry of `allow` that is
    /// neither a CIDR range nor an address, naming it.
    pub(crate) fn new(config: &OutboundConfig) -> Result<Self, String> {
        let allow = config
            .allow
            .iter()
            .map(|entry| parse_net(entry))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(OutboundPolicy {
            allow: allow.into(),
        })
    }

    /// Whether `ip` is in the allow list (an IPv4-mapped IPv6 address also
    /// when the IPv4 address it carries is).
    fn is_listed(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.allow
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&canonical))
    }

    /// Whether a request may go to `ip`; `plain_http` for an `http://` URL,
    /// which only listed addresses accept.
    fn check_address(&self, ip: IpAddr, plain_http: bool) -> Result<(), Refused> {
        match self.problem(ip, plain_http) {
            Some(problem) => Err(Refused::new(format!("{ip} is {problem}"))),
            None => Ok(()),
        }
    }

    /// What is wrong with `ip` as a target, as a phrase ("a loopback
    /// address (127.0.0.0/8)"), or `None`.
    fn problem(&self, ip: IpAddr, plain_http: bool) -> Option<String> {
        if self.is_listed(ip) {
            return None;
        }
        match (refused_range(ip), plain_http) {
            (Some(range), _) => Some(format!(
                "a{} {} address ({})",
                if starts_with_vowel(range.kind) {
                    "n"
                } else {
                    ""
                },
                range.kind,
                range.cidr
            )),
            (None, true) => Some(
                "not in the outbound allow list, which http:// requires; use https://".to_owned(),
            ),
            (None, false) => None,
        }
    }

    /// Whether a request may go to `host`, which resolved to `addrs`:
    /// every one of them must be allowed.
    fn check_addresses(
        &self,
        host: &str,
        addrs: &[IpAddr],
        plain_http: bool,
    ) -> Result<(), Refused> {
        if addrs.is_empty() {
            return Err(Refused::new(format!("{host} resolves to no address")));
        }
        for ip in addrs {
            if let Some(problem) = self.problem(*ip, plain_http) {
                return Err(Refused::new(if host.parse::<IpAddr>().is_ok() {
                    format!("{ip} is {problem}")
                } else {
                    format!("{host} resolves to {ip}, {problem}")
                }));
            }
        }
        Ok(())
    }

    /// The checks that need no name resolution: an `http://` or
    /// `https://` URL with a host and no user info; an IP address as host
    /// must be allowed; `http://` needs a non-empty allow list. A host
    /// name's addresses are checked by [`OutboundPolicy::check_url`] and at
    /// connect time.
    pub(crate) fn check_url_syntax(&self, raw: &str) -> Result<url::Url, TargetError> {
        let url = url::Url::parse(raw.trim())
            .map_err(|e| TargetError::Invalid(format!("not a URL: {e}")))?;
        let plain_http = match url.scheme() {
            "https" => false,
            "http" => true,
            other => {
                return Err(TargetError::Invalid(format!(
                    "the scheme must be https:// (or http:// to an allowed address), not {other}://"
                )));
            }
        };
        if !url.username().is_empty() || url.password().is_some() {
            return Err(TargetError::Invalid(
                "credentials in the URL are not accepted".to_owned(),
            ));
        }
        match url.host() {
            None => return Err(TargetError::Invalid("the URL has no host".to_owned())),
            Some(url::Host::Ipv4(ip)) => self.check_address(IpAddr::V4(ip), plain_http)?,
            Some(url::Host::Ipv6(ip)) => self.check_address(IpAddr::V6(ip), plain_http)?,
            Some(url::Host::Domain(name)) => {
                if plain_http && self.allow.is_empty() {
                    return Err(Refused::new(format!(
                        "http:// is accepted only to addresses in the outbound allow list, \
                         which is empty, so {name} cannot be one; use https://"
                    ))
                    .into());
                }
            }
        }
        Ok(url)
    }

    /// [`OutboundPolicy::check_url_syntax`], then a host name is resolved
    /// and every address it has must be allowed. Used where a URL is
    /// stored, to refuse early what would be refused at delivery.
    pub(crate) async fn check_url(&self, raw: &str) -> Result<url::Url, TargetError> {
        let url = self.check_url_syntax(raw)?;
        if let Some(url::Host::Domain(name)) = url.host() {
            let addrs = resolve(name).await.map_err(|e| {
                TargetError::Invalid(format!("the host {name} cannot be resolved: {e}"))
            })?;
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            self.check_addresses(name, &ips, url.scheme() == "http")?;
        }
        Ok(url)
    }

    /// The HTTP client for outbound requests under this policy.
    pub(crate) fn client(&self, options: ClientOptions) -> Result<OutboundClient, String> {
        install_tls_provider();
        let build = |plain_http: bool| {
            reqwest::Client::builder()
                .timeout(options.timeout)
                .connect_timeout(options.timeout.min(Duration::from_secs(10)))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .https_only(!plain_http)
                .user_agent(options.user_agent.clone())
                .dns_resolver(PolicyResolver {
                    policy: self.clone(),
                    plain_http,
                })
                .build()
                .map_err(|e| format!("cannot build the outbound HTTP client: {e}"))
        };
        Ok(OutboundClient {
            policy: self.clone(),
            https: build(false)?,
            http: build(true)?,
        })
    }
}

fn starts_with_vowel(text: &str) -> bool {
    text.chars()
        .next()
        .is_some_and(|c| "aeiouAEIOU".contains(c))
}

/// An allow-list entry: `addr/prefix` or a single address.
fn parse_net(entry: &str) -> Result<IpNet, String> {
    let entry = entry.trim();
    entry
        .parse::<IpNet>()
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .map(|net| net.trunc())
        .map_err(|_| {
            format!(
                "outbound.allow: `{entry}` is not an address range such as 127.0.0.0/8 or ::1/128"
            )
        })
}

/// Resolves a host name with the system resolver, within a time limit.
async fn resolve(name: &str) -> Result<Vec<SocketAddr>, std::io::Error> {
    let lookup = tokio::net::lookup_host((name, 0));
    let addrs: Vec<SocketAddr> = tokio::time::timeout(RESOLVE_TIMEOUT, lookup)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "resolving timed out"))??
        .collect();
    if addrs.is_empty() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            "no address",
        ));
    }
    Ok(addrs)
}

/// The client's resolver: a host name's addresses, all of which must be
/// allowed, or a [`Refused`] error and no connection.
#[derive(Debug)]
struct PolicyResolver {
    policy: OutboundPolicy,
    plain_http: bool,
}

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let plain_http = self.plain_http;
        Box::pin(async move {
            let host = name.as_str();
            let addrs = resolve(host).await?;
            let ips: Vec<IpAddr> = addrs.iter().map(SocketAddr::ip).collect();
            policy.check_addresses(host, &ips, plain_http)?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// How an [`OutboundClient`] behaves.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    /// The most a request may take, connecting and reading the answer
    /// included.
    pub(crate) timeout: Duration,
    /// The `User-Agent` header.
    pub(crate) user_agent: String,
}

/// The HTTP client of every outbound request; see the module
/// documentation for what it refuses.
#[derive(Debug, Clone)]
pub(crate) struct OutboundClient {
    policy: OutboundPolicy,
    /// For `https://` URLs: public and allowed addresses.
    https: reqwest::Client,
    /// For `http://` URLs: allowed addresses only.
    http: reqwest::Client,
}

impl OutboundClient {
    /// A request to `url`, once the URL itself passes the policy
    /// ([`OutboundPolicy::check_url_syntax`]); a host name is checked when
    /// the request connects.
    pub(crate) fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<reqwest::RequestBuilder, TargetError> {
        let url = self.policy.check_url_syntax(url)?;
        let client = if url.scheme() == "http" {
            &self.http
        } else {
            &self.https
        };
        Ok(client.request(method, url))
    }
}

/// The policy's refusal inside a request error, when that is why the
/// request failed.
pub(crate) fn refusal(err: &reqwest::Error) -> Option<&Refused> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<Refused>() {
            return Some(refused);
        }
        source = cause.source();
    }
    None
}

/// Reads a response body of at most `limit` bytes; a longer one is an
/// error, and is not read further.
pub(crate) async fn read_limited(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Vec<u8>, String> {
    let too_large = || format!("the answer is larger than {limit} bytes");
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads and drops at most `limit` bytes of a response body (so a short
/// answer's connection can be reused), ignoring errors.
pub(crate) async fn drain(mut response: reqwest::Response, limit: usize) {
    let mut read = 0;
    while read < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}

/// Reads at most `limit` bytes of a response's body (the rest is left
/// unread).
pub(crate) async fn read_body(mut response: reqwest::Response, limit: usize) -> Vec<u8> {
    let mut body = Vec::new();
    while body.len() < limit {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(limit - body.len());
                body.extend_from_slice(&chunk[..take]);
            }
            _ => break,
        }
    }
    body
}

/// Makes ring the process's rustls crypto provider (a no-op once one is
/// installed). reqwest is built with `rustls-no-provider` — in every crate
/// of the workspace, through feature unification — and panics when a
/// client is built before a provider is installed, so `Kernel::new` calls
/// this too, not only the JWKS fetcher.
pub(crate) fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A URL with its password replaced by `***`.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // set_password fails only for URLs that cannot carry one.
            if parsed.set_password(Some("***")).is_ok() {
                parsed.to_string()
            } else {
                "<redacted>".to_owned()
            }
        }
        Ok(_) => raw.to_owned(),
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::dns::Resolve;
    use std::str::FromStr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn policy(allow: &[&str]) -> OutboundPolicy {
        OutboundPolicy::new(&OutboundConfig {
            allow: allow.iter().map(|s| s.to_string()).collect(),
        })
        .unwrap()
    }

    #[test]
    fn every_refused_range_is_refused() {
        for (addr, kind) in [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "\"this network\""),
            ("10.0.0.1", "private"),
            ("10.255.255.255", "private"),
            ("100.64.0.1", "shared (carrier-grade NAT)"),
            ("100.127.255.254", "shared (carrier-grade NAT)"),
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("169.254.169.254", "link-local"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.0.0.8", "IETF protocol assignment"),
            ("192.0.2.10", "documentation"),
            ("192.88.99.1", "reserved (6to4 relay)"),
            ("192.168.1.1", "private"),
            ("198.18.0.1", "benchmarking"),
            ("198.19.255.255", "benchmarking"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.7", "documentation"),
            ("224.0.0.1", "multicast"),
            ("239.255.255.250", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "broadcast"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("::7f00:1", "reserved (IPv4-compatible)"),
            ("64:ff9b:1::1", "reserved (local-use NAT64)"),
            ("100::1", "reserved (discard-only)"),
            ("2001:0:4136:e378::1", "reserved (Teredo)"),
            ("2001:2::1", "benchmarking"),
            ("2001:db8::1", "documentation"),
            ("3fff::1", "documentation"),
            ("fc00::1", "private (unique local)"),
            ("fd12:3456::1", "private (unique local)"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "reserved (site-local)"),
            ("ff02::1", "multicast"),
            // IPv4 written as IPv6: judged by the IPv4 address.
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:10.1.2.3", "private"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("::ffff:255.255.255.255", "broadcast"),
            ("::ffff:100.64.0.1", "shared (carrier-grade NAT)"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("64:ff9b::127.0.0.1", "loopback"),
            ("2002:7f00:1::", "loopback"),
            ("2002:c0a8:101::1", "private"),
        ] {
            let range = refused_range(ip(addr)).unwrap_or_else(|| panic!("{addr} not refused"));
            assert_eq!(range.kind, kind, "{addr}");
            let refused = policy(&[]).check_address(ip(addr), false).unwrap_err();
            assert!(refused.reason.contains(&ip(addr).to_string()), "{refused}");
            assert!(refused.to_string().contains("outbound policy"), "{refused}");
        }
    }

    #[test]
    fn public_addresses_pass_over_https_only() {
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "169.253.255.255",
            "192.0.1.1",
            "198.17.255.255",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001::1",
            "::ffff:8.8.8.8",
            "64:ff9b::8.8.8.8",
            "2002:808:808::1",
        ] {
            assert_eq!(refused_range(ip(addr)), None, "{addr}");
            assert_eq!(policy(&[]).check_address(ip(addr), false), Ok(()), "{addr}");
            let refused = policy(&[]).check_address(ip(addr), true).unwrap_err();
            assert!(refused.reason.contains("http://"), "{refused}");
        }
    }

    #[test]
    fn the_allow_list_admits_ranges_and_plain_http_to_them() {
        let p = policy(&["127.0.0.0/8", "::1", "10.1.0.0/16", "8.8.8.8/32"]);
        for (addr, plain_http) in [
            ("127.0.0.1", false),
            ("127.9.9.9", true),
            ("::1", true),
            ("::ffff:127.0.0.1", true),
            ("10.1.200.3", true),
            ("8.8.8.8", true),
        ] {
            assert_eq!(p.check_address(ip(addr), plain_http), Ok(()), "{addr}");
        }
        for (addr, plain_http) in [
            ("10.2.0.1", false),
            ("169.254.169.254", false),
            ("fe80::1", false),
            ("8.8.4.4", true),
        ] {
            assert!(p.check_address(ip(addr), plain_http).is_err(), "{addr}");
        }
        // Host bits are ignored; garbage is named.
        assert!(policy(&["127.0.0.1/8"]).is_listed(ip("127.3.3.3")));
        let err = OutboundPolicy::new(&OutboundConfig {
            allow: vec!["127.0.0.0/8".into(), "localhost".into()],
        })
        .unwrap_err();
        assert!(err.contains("`localhost`"), "{err}");
        assert!(
            OutboundPolicy::new(&OutboundConfig {
                allow: vec!["10.0.0.0/33".into()]
            })
            .is_err()
        );
    }

    #[test]
    fn urls_are_checked_before_any_lookup() {
        let strict = policy(&[]);
        for (url, why) in [
            ("http://169.254.169.254/latest/meta-data/", "link-local"),
            ("https://127.0.0.1/", "loopback"),
            ("https://2130706433/", "loopback"),
            ("https://0x7f.1/", "loopback"),
            ("https://10.0.0.1/", "private"),
            ("https://[::1]/", "loopback"),
            ("https://[::ffff:127.0.0.1]/", "loopback"),
            ("https://[fe80::1]/", "link-local"),
            ("https://0.0.0.0/", "unspecified"),
            ("http://example.com/", "http://"),
            ("http://8.8.8.8/", "http://"),
        ] {
            match strict.check_url_syntax(url) {
                Err(TargetError::Refused(refused)) => {
                    assert!(refused.reason.contains(why), "{url}: {refused}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        for url in [
            "ftp://example.com/",
            "file:///etc/passwd",
            "not a url",
            "https://user:pw@example.com/",
        ] {
            assert!(
                matches!(strict.check_url_syntax(url), Err(TargetError::Invalid(_))),
                "{url}"
            );
        }
        assert!(strict.check_url_syntax("https://example.com/x").is_ok());
        assert!(strict.check_url_syntax("https://8.8.8.8/x").is_ok());
        let local = policy(&["127.0.0.0/8"]);
        assert!(local.check_url_syntax("http://127.0.0.1:8080/x").is_ok());
        assert!(local.check_url_syntax("http://localhost:8080/x").is_ok());
    }

    #[tokio::test]
    async fn host_names_are_resolved_and_every_address_checked() {
        let strict = policy(&[]);
        match strict.check_url("https://localhost:8443/hooks").await {
            Err(TargetError::Refused(refused)) => {
                assert!(
                    refused.reason.contains("localhost resolves to 127.0.0.1"),
                    "{refused}"
                );
                assert!(refused.reason.contains("loopback"), "{refused}");
            }
            other => panic!("{other:?}"),
        }
        let local = policy(&["127.0.0.0/8", "::1/128"]);
        assert!(local.check_url("http://localhost:8080/hooks").await.is_ok());
        assert!(matches!(
            local.check_url("https://no-such-host.invalid/").await,
            Err(TargetError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn the_resolver_refuses_at_connect_time() {
        let resolver = PolicyResolver {
            policy: policy(&[]),
            plain_http: false,
        };
        for name in ["localhost", "127.0.0.1", "10.0.0.1", "169.254.169.254"] {
            let err = match resolver
                .resolve(reqwest::dns::Name::from_str(name).unwrap())
                .await
            {
                Ok(_) => panic!("{name} resolved"),
                Err(e) => e,
            };
            let refused = err.downcast_ref::<Refused>().expect("a policy refusal");
            assert!(refused.reason.contains(name), "{refused}");
        }
        let allowed = PolicyResolver {
            policy: policy(&["127.0.0.0/8"]),
            plain_http: true,
        };
        let addrs: Vec<SocketAddr> = match allowed
            .resolve(reqwest::dns::Name::from_str("localhost").unwrap())
            .await
        {
            Ok(addrs) => addrs.collect(),
            Err(e) => panic!("{e}"),
        };
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }

    /// A TCP listener on 127.0.0.1 that counts connections and answers
    /// each with `200 OK`.
    async fn counting_server() -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let _ = socket
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            }
        });
        (port, hits)
    }

    fn options() -> ClientOptions {
        ClientOptions {
            timeout: Duration::from_secs(5),
            user_agent: "revos-test".into(),
        }
    }

    #[tokio::test]
    async fn the_client_connects_to_nothing_refused() {
        let (port, hits) = counting_server().await;
        let client = policy(&[]).client(options()).unwrap();
        // IP literals: refused before sending.
        for url in [
            format!("http://127.0.0.1:{port}/"),
            format!("https://127.0.0.1:{port}/"),
            format!("https://[::ffff:127.0.0.1]:{port}/"),
        ] {
            assert!(
                matches!(
                    client.request(reqwest::Method::POST, &url),
                    Err(TargetError::Refused(_))
                ),
                "{url}"
            );
        }
        // A name: refused by the resolver when connecting.
        let err = client
            .request(reqwest::Method::POST, &format!("https://localhost:{port}/"))
            .unwrap()
            .send()
            .await
            .unwrap_err();
        let refused = refusal(&err).expect("refused by the policy");
        assert!(refused.reason.contains("loopback"), "{refused}");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0);

        // Plain http to a name needs its addresses listed.
        let https_only = policy(&["127.0.0.0/8"]).client(options()).unwrap();
        let response = https_only
            .request(reqwest::Method::GET, &format!("http://localhost:{port}/"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(read_limited(response, 2).await.unwrap(), b"ok");
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 1);
        let response = https_only
            .request(reqwest::Method::GET, &format!("http://127.0.0.1:{port}/"))
            .unwrap()
            .send()
            .await
            .unwrap();
        assert!(read_limited(response, 1).await.is_err(), "over the limit");
    }
}
