//! The URL a webhook delivers to, and the rule that keeps deliveries off internal networks.
//!
//! A webhook service makes HTTP requests to addresses its users choose, which makes it a
//! server-side request forgery tool unless it refuses internal targets. The check runs twice:
//! here, on literal IP hosts and `localhost` names when a webhook is written (a `422` the user
//! can fix), and in the dispatcher on every address a host name resolves to
//! ([`is_forbidden_ip`]), because DNS can point a public name at `127.0.0.1`. Operators turn both
//! off with `dispatcher.allow_private_targets` for demos and tests.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};
use url::{Host, Url};

use crate::validation::Rule;

/// An absolute `http`/`https` URL with a host, no credentials, at most 2048 characters.
/// Kept as the user wrote it (trimmed), so it reads back unchanged, and parsed once beside it:
/// the dispatcher reads the parsed form on every attempt (the request, the host limit's key),
/// and a webhook's value lives as long as the webhook in the dispatcher's registry.
///
/// Equality, hashing and the serialized form are the text's. Reading it back (from an event)
/// parses without the policy checks: they ran when it was written, under that day's settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct TargetUrl {
    text: String,
    url: Url,
}

impl TargetUrl {
    /// The longest URL accepted.
    pub const MAX_LEN: usize = 2048;

    /// Checks `s`; unless `allow_private`, also refuses literal internal IPs and `localhost`.
    pub fn parse(s: &str, allow_private: bool) -> Result<Self, Rule> {
        let s = s.trim();
        if s.len() > Self::MAX_LEN {
            return Err(Rule::TooLong { max: Self::MAX_LEN });
        }
        let invalid = |reason: &str| Rule::InvalidUrl {
            reason: reason.to_owned(),
        };
        let url = Url::parse(s).map_err(|e| invalid(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(invalid("the scheme must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(invalid(
                "credentials in the URL are not allowed; use headers",
            ));
        }
        let host = url.host().ok_or_else(|| invalid("a host is required"))?;
        if !allow_private && is_forbidden_host(&host) {
            return Err(Rule::PrivateTarget);
        }
        Ok(Self {
            text: s.to_owned(),
            url,
        })
    }

    /// The URL as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed URL, for the HTTP client.
    pub fn url(&self) -> &Url {
        &self.url
    }
}

impl PartialEq for TargetUrl {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for TargetUrl {}

impl std::hash::Hash for TargetUrl {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl From<TargetUrl> for String {
    fn from(target: TargetUrl) -> Self {
        target.text
    }
}

impl TryFrom<String> for TargetUrl {
    type Error = url::ParseError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        let url = Url::parse(&text)?;
        Ok(Self { text, url })
    }
}

impl fmt::Display for TargetUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_forbidden_host(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(ip) => is_forbidden_ip(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => is_forbidden_ip(IpAddr::V6(*ip)),
        Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
    }
}

/// True for addresses a delivery must never reach: loopback, private (RFC 1918), shared
/// (CGNAT `100.64/10`), link-local (including the cloud metadata `169.254.169.254`),
/// unspecified and "this network" (`0/8`), broadcast and reserved (`240/4`), multicast,
/// documentation and benchmarking ranges, IETF protocol assignments (`192.0.0/24`); for IPv6
/// loopback, unspecified, unique-local `fc00::/7`, link-local `fe80::/10`, site-local
/// `fec0::/10`, multicast, documentation `2001:db8::/32`, and any IPv4 address embedded as
/// IPv4-mapped, IPv4-compatible, NAT64 (`64:ff9b::/96`) or 6to4 (`2002::/16`) that is forbidden.
pub fn is_forbidden_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_forbidden_v4(v4),
        IpAddr::V6(v6) => is_forbidden_v6(v6),
    }
}

fn is_forbidden_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b == 18 || b == 19))
        || (a == 192 && b == 0 && c == 0)
}

fn is_forbidden_v6(ip: Ipv6Addr) -> bool {
    let segments = ip.segments();
    let embedded_v4 = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        Ipv4Addr::new(a, b, c, d)
    };
    if let Some(v4) = ip.to_ipv4() {
        // IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d, which includes :: and ::1).
        return is_forbidden_v4(v4);
    }
    let nat64 = segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    if nat64 && is_forbidden_v4(embedded_v4(segments[6], segments[7])) {
        return true;
    }
    if segments[0] == 0x2002 && is_forbidden_v4(embedded_v4(segments[1], segments[2])) {
        return true;
    }
    ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        || (segments[0] == 0x2001 && segments[1] == 0x0db8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn refused(url: &str) -> bool {
        TargetUrl::parse(url, false) == Err(Rule::PrivateTarget)
    }

    #[test]
    fn public_http_and_https_urls_are_accepted_as_written() {
        for url in [
            "https://example.com/hooks",
            "http://example.com",
            "https://93.184.216.34:8443/x?y=1",
            "https://[2606:2800:220:1:248:1893:25c8:1946]/",
            "  https://example.com/trimmed  ",
        ] {
            let parsed = TargetUrl::parse(url, false).unwrap();
            assert_eq!(parsed.as_str(), url.trim());
        }
    }

    #[test]
    fn a_stored_url_reads_back_as_written_with_its_parsed_form() {
        // The parsed form is normalised; the text stays the user's.
        let written = TargetUrl::parse("HTTP://Example.COM:80/a b", false).unwrap();
        let json = serde_json::to_string(&written).unwrap();
        assert_eq!(json, r#""HTTP://Example.COM:80/a b""#);
        let read: TargetUrl = serde_json::from_str(&json).unwrap();
        assert_eq!(read, written);
        assert_eq!(read.as_str(), "HTTP://Example.COM:80/a b");
        assert_eq!(read.url().as_str(), "http://example.com/a%20b");
        // Stored under an operator who allowed private targets: it reads back all the same.
        let private: TargetUrl = serde_json::from_str(r#""http://127.0.0.1:9/x""#).unwrap();
        assert_eq!(private.url().port(), Some(9));
        assert!(serde_json::from_str::<TargetUrl>(r#""not a url""#).is_err());
    }

    #[test]
    fn relative_urls_other_schemes_and_credentials_are_invalid() {
        for url in [
            "string",
            "/hooks",
            "ftp://example.com",
            "file:///etc/passwd",
            "https://user:pw@example.com/",
            "https://user@example.com/",
            "",
        ] {
            assert!(
                matches!(TargetUrl::parse(url, true), Err(Rule::InvalidUrl { .. })),
                "{url}"
            );
        }
        let long = format!("https://example.com/{}", "a".repeat(2048));
        assert_eq!(
            TargetUrl::parse(&long, true),
            Err(Rule::TooLong { max: 2048 })
        );
    }

    #[test]
    fn internal_targets_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://172.31.255.255/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://224.0.0.1/",
            "http://192.0.2.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://[::1]/",
            "http://[::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://[64:ff9b::a00:1]/",
            "http://[2002:c0a8:101::1]/",
        ] {
            assert!(refused(url), "{url} should be refused");
            assert!(
                TargetUrl::parse(url, true).is_ok(),
                "{url} should be allowed"
            );
        }
        for url in [
            "http://172.32.0.1/",
            "http://100.128.0.1/",
            "http://localhost.example.com/",
        ] {
            assert!(TargetUrl::parse(url, false).is_ok(), "{url}");
        }
    }

    proptest! {
        #[test]
        fn private_ipv4_ranges_are_always_forbidden(a in any::<u8>(), b in any::<u8>(), c in any::<u8>()) {
            for ip in [
                Ipv4Addr::new(10, a, b, c),
                Ipv4Addr::new(127, a, b, c),
                Ipv4Addr::new(192, 168, b, c),
                Ipv4Addr::new(172, 16 + a % 16, b, c),
                Ipv4Addr::new(169, 254, b, c),
                Ipv4Addr::new(100, 64 + a % 64, b, c),
            ] {
                prop_assert!(is_forbidden_ip(IpAddr::V4(ip)), "{}", ip);
                prop_assert!(is_forbidden_ip(IpAddr::V6(ip.to_ipv6_mapped())), "{}", ip);
                let url = format!("https://{ip}/");
                prop_assert!(TargetUrl::parse(&url, true).is_ok());
                prop_assert_eq!(TargetUrl::parse(&url, false), Err(Rule::PrivateTarget));
            }
        }

        #[test]
        fn public_ipv4_addresses_are_allowed(a in 11u8..=99, b in any::<u8>(), c in any::<u8>()) {
            let ip = Ipv4Addr::new(a, b, c, 1);
            prop_assert!(!is_forbidden_ip(IpAddr::V4(ip)));
            prop_assert!(!is_forbidden_ip(IpAddr::V6(ip.to_ipv6_mapped())));
        }
    }
}
