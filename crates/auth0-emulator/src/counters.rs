//! Per-tenant counters (tokens issued, secret changes, requests by endpoint) kept in atomics so
//! the hot paths never take a lock to count, and the endpoint names used by counters and faults.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::http::Method;
use serde::Serialize;

/// The Auth0 routes the emulator serves. The names (`"METHOD /template"`) are what
/// `Counters::requests_by_endpoint` reports and what a `Fault`'s `endpoint` matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    Token,
    Jwks,
    ListClients,
    GetClient,
    CreateClient,
    PatchClient,
    RotateSecret,
    ListResourceServers,
    CreateResourceServer,
    ListClientGrants,
    GetUser,
    CreateUser,
    PatchUser,
    CreateCredential,
    ListCredentials,
    GetCredential,
    PatchCredential,
    DeleteCredential,
}

const ALL: [(Endpoint, &str); 18] = [
    (Endpoint::Token, "POST /oauth/token"),
    (Endpoint::Jwks, "GET /.well-known/jwks.json"),
    (Endpoint::ListClients, "GET /api/v2/clients"),
    (Endpoint::GetClient, "GET /api/v2/clients/{id}"),
    (Endpoint::CreateClient, "POST /api/v2/clients"),
    (Endpoint::PatchClient, "PATCH /api/v2/clients/{id}"),
    (
        Endpoint::RotateSecret,
        "POST /api/v2/clients/{id}/rotate-secret",
    ),
    (
        Endpoint::ListResourceServers,
        "GET /api/v2/resource-servers",
    ),
    (
        Endpoint::CreateResourceServer,
        "POST /api/v2/resource-servers",
    ),
    (Endpoint::ListClientGrants, "GET /api/v2/client-grants"),
    (Endpoint::GetUser, "GET /api/v2/users/{id}"),
    (Endpoint::CreateUser, "POST /api/v2/users"),
    (Endpoint::PatchUser, "PATCH /api/v2/users/{id}"),
    (
        Endpoint::CreateCredential,
        "POST /api/v2/clients/{id}/credentials",
    ),
    (
        Endpoint::ListCredentials,
        "GET /api/v2/clients/{id}/credentials",
    ),
    (
        Endpoint::GetCredential,
        "GET /api/v2/clients/{id}/credentials/{credential_id}",
    ),
    (
        Endpoint::PatchCredential,
        "PATCH /api/v2/clients/{id}/credentials/{credential_id}",
    ),
    (
        Endpoint::DeleteCredential,
        "DELETE /api/v2/clients/{id}/credentials/{credential_id}",
    ),
];

impl Endpoint {
    /// The endpoint for a request's method and matched route template, if it is one of ours.
    pub(crate) fn from_route(method: &Method, template: &str) -> Option<Endpoint> {
        ALL.iter()
            .find(|(_, name)| {
                name.split_once(' ')
                    .is_some_and(|(m, path)| m == method.as_str() && path == template)
            })
            .map(|(endpoint, _)| *endpoint)
    }

    pub(crate) fn name(self) -> &'static str {
        ALL[self as usize].1
    }

    pub(crate) fn path(self) -> &'static str {
        self.name().split_once(' ').map_or("", |(_, path)| path)
    }

    pub(crate) fn is_management(self) -> bool {
        self.path().starts_with("/api/v2/")
    }
}

/// A snapshot of one tenant's counters.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Counters {
    /// Successful `POST /oauth/token` answers.
    pub tokens_issued: u64,
    /// Secret replacements: `rotate-secret` calls plus `PATCH` with `client_secret`.
    pub rotations: u64,
    /// Token requests refused (bad secret, no grant, ...).
    pub token_failures: u64,
    /// Requests answered 429 by the rate limiter.
    pub rate_limited: u64,
    /// Requests an injected fault failed, delayed or dropped.
    pub faults_applied: u64,
    /// Requests seen per endpoint (`"GET /api/v2/clients/{id}"`), including failed ones.
    pub requests_by_endpoint: BTreeMap<String, u64>,
}

#[derive(Default)]
pub(crate) struct CounterSet {
    pub tokens_issued: AtomicU64,
    pub rotations: AtomicU64,
    pub token_failures: AtomicU64,
    pub rate_limited: AtomicU64,
    pub faults_applied: AtomicU64,
    requests: [AtomicU64; ALL.len()],
}

impl CounterSet {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_request(&self, endpoint: Endpoint) {
        Self::bump(&self.requests[endpoint as usize]);
    }

    pub(crate) fn snapshot(&self) -> Counters {
        let requests_by_endpoint = ALL
            .iter()
            .zip(&self.requests)
            .filter_map(|((_, name), count)| {
                let n = count.load(Ordering::Relaxed);
                (n > 0).then(|| ((*name).to_owned(), n))
            })
            .collect();
        Counters {
            tokens_issued: self.tokens_issued.load(Ordering::Relaxed),
            rotations: self.rotations.load(Ordering::Relaxed),
            token_failures: self.token_failures.load(Ordering::Relaxed),
            rate_limited: self.rate_limited.load(Ordering::Relaxed),
            faults_applied: self.faults_applied.load(Ordering::Relaxed),
            requests_by_endpoint,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_index_and_parse_back() {
        for (i, (endpoint, name)) in ALL.iter().enumerate() {
            assert_eq!(*endpoint as usize, i);
            assert_eq!(endpoint.name(), *name);
            let (method, path) = name.split_once(' ').unwrap();
            let method: Method = method.parse().unwrap();
            assert_eq!(Endpoint::from_route(&method, path), Some(*endpoint));
        }
        assert_eq!(
            Endpoint::from_route(&Method::DELETE, "/api/v2/clients/{id}"),
            None
        );
        assert!(Endpoint::GetClient.is_management());
        assert!(!Endpoint::Token.is_management());
    }

    #[test]
    fn snapshot_reports_only_seen_endpoints() {
        let set = CounterSet::default();
        set.count_request(Endpoint::GetClient);
        set.count_request(Endpoint::GetClient);
        CounterSet::bump(&set.tokens_issued);
        let snap = set.snapshot();
        assert_eq!(snap.tokens_issued, 1);
        assert_eq!(snap.requests_by_endpoint.len(), 1);
        assert_eq!(snap.requests_by_endpoint["GET /api/v2/clients/{id}"], 2);
    }
}
