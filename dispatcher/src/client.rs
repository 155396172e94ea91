//! The HTTP client deliveries go through: keep-alive pools, no redirects, no proxies, and a
//! guard against server-side request forgery on the **resolved** address.
//!
//! A webhook URL was checked when it was written (literal internal IPs and `localhost` are
//! refused then), but DNS can point a public name at `127.0.0.1` or `169.254.169.254` later.
//! So the client resolves names itself ([`GuardedResolver`]) and drops every address
//! [`is_forbidden_ip`] refuses; a name left with no address fails with [`ForbiddenTarget`],
//! which the attempt reports as `refused_target`. URLs with a literal IP never reach a
//! resolver, so [`check_literal_host`] runs before each request. Both checks are off when the
//! operator sets `dispatcher.allow_private_targets` (demos, tests).
//!
//! Redirects are not followed: a 3xx is a failed attempt. Following one would send the signed
//! body to a host the webhook does not name, and around the guard.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hookledger_domain::webhook::is_forbidden_ip;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::DispatchError;

/// A host name that resolved only to addresses deliveries may not reach.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} resolves only to private, loopback, link-local or reserved addresses")]
pub struct ForbiddenTarget {
    pub host: String,
}

/// A host name that did not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{host} does not resolve: {reason}")]
pub struct DnsFailure {
    pub host: String,
    pub reason: String,
}

/// Resolves with the system resolver, then applies the SSRF guard.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl GuardedResolver {
    /// The addresses of `host` deliveries may use.
    pub async fn lookup(
        &self,
        host: &str,
    ) -> Result<Vec<SocketAddr>, Box<dyn std::error::Error + Send + Sync>> {
        let resolved = tokio::net::lookup_host((host, 0))
            .await
            .map_err(|e| DnsFailure {
                host: host.to_owned(),
                reason: e.to_string(),
            })?;
        let all: Vec<SocketAddr> = resolved.collect();
        if all.is_empty() {
            return Err(Box::new(DnsFailure {
                host: host.to_owned(),
                reason: "no addresses".into(),
            }));
        }
        let allowed: Vec<SocketAddr> = (all.iter().copied())
            .filter(|a| self.allow_private || !is_forbidden_ip(a.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(Box::new(ForbiddenTarget {
                host: host.to_owned(),
            }));
        }
        Ok(allowed)
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = *self;
        Box::pin(async move {
            let addrs = guard.lookup(name.as_str()).await?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Refuses a URL whose host is a literal forbidden IP (names go through the resolver).
pub fn check_literal_host(url: &url::Url, allow_private: bool) -> Result<(), ForbiddenTarget> {
    let ip = match url.host() {
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip),
        _ => return Ok(()),
    };
    if !allow_private && is_forbidden_ip(ip) {
        return Err(ForbiddenTarget {
            host: ip.to_string(),
        });
    }
    Ok(())
}

/// Builds the delivery client. Timeouts are per request (the webhook's `timeoutSeconds`).
pub fn build(allow_private: bool) -> Result<reqwest::Client, DispatchError> {
    // reqwest is built without a crypto provider of its own: ring is the process's one.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .user_agent(concat!("hookledger/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(10))
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(64)
        .tcp_nodelay(true)
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .build()
        .map_err(DispatchError::Client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn localhost_is_refused_after_resolution_unless_allowed() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let error = guarded.lookup("localhost").await.unwrap_err();
        assert!(error.downcast_ref::<ForbiddenTarget>().is_some(), "{error}");
        let open = GuardedResolver {
            allow_private: true,
        };
        assert!(!open.lookup("localhost").await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_is_a_dns_failure() {
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let error = guarded.lookup("nothing.invalid").await.unwrap_err();
        assert!(error.downcast_ref::<DnsFailure>().is_some(), "{error}");
    }

    #[test]
    fn literal_internal_addresses_are_refused_before_sending() {
        let url = |s: &str| url::Url::parse(s).unwrap();
        for target in [
            "http://127.0.0.1:8080/x",
            "http://169.254.169.254/",
            "http://[::1]/",
        ] {
            assert!(check_literal_host(&url(target), false).is_err(), "{target}");
            assert!(check_literal_host(&url(target), true).is_ok(), "{target}");
        }
        assert!(check_literal_host(&url("http://93.184.216.34/"), false).is_ok());
        assert!(check_literal_host(&url("https://example.com/"), false).is_ok());
    }
}
