//! Fault injection, switched per tenant at run time: added latency, failing the next N requests
//! with a status, and "apply the change, then drop the connection without answering".
//!
//! A fault's `endpoint` names a route as the counters do (`"POST /api/v2/clients/{id}/rotate-secret"`),
//! a path for any method (`"/api/v2/clients/{id}"`), or is absent / `"*"` for every Auth0 route of
//! the tenant. The `/__emulator` routes are never faulted. An atomic flag keeps the fault-free hot
//! path lock-free.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::counters::Endpoint;

/// One injected fault. JSON: `{"kind":"fail","endpoint":"POST /oauth/token","status":503,"count":2}`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Fault {
    /// Delay matching requests by `millis` before handling them; `count` = how many (absent = all
    /// until cleared).
    Latency {
        #[serde(default)]
        endpoint: Option<String>,
        millis: u64,
        #[serde(default)]
        count: Option<u32>,
    },
    /// Answer the next `count` matching requests with `status` (e.g. 500, 503, 429) and Auth0's
    /// body for it, without handling them.
    Fail {
        #[serde(default)]
        endpoint: Option<String>,
        status: u16,
        #[serde(default = "one")]
        count: u32,
    },
    /// Handle the next `count` matching requests (the change is applied), then close the
    /// connection without writing a response: the crash window a rotation must survive.
    DropAfterApply {
        #[serde(default)]
        endpoint: Option<String>,
        #[serde(default = "one")]
        count: u32,
    },
}

fn one() -> u32 {
    1
}

impl Fault {
    /// Delay every matching request (`endpoint` `None` = all).
    pub fn latency(endpoint: Option<&str>, delay: Duration) -> Fault {
        Fault::Latency {
            endpoint: endpoint.map(str::to_owned),
            millis: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
            count: None,
        }
    }

    /// Fail the next `count` matching requests with `status`.
    pub fn fail(endpoint: Option<&str>, status: u16, count: u32) -> Fault {
        Fault::Fail {
            endpoint: endpoint.map(str::to_owned),
            status,
            count,
        }
    }

    /// Apply, then drop the connection, for the next `count` matching requests.
    pub fn drop_after_apply(endpoint: Option<&str>, count: u32) -> Fault {
        Fault::DropAfterApply {
            endpoint: endpoint.map(str::to_owned),
            count,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if let Fault::Fail { status, .. } = self
            && !(400..=599).contains(status)
        {
            return Err(format!("fail status must be 400-599, got {status}"));
        }
        Ok(())
    }

    fn endpoint(&self) -> Option<&str> {
        match self {
            Fault::Latency { endpoint, .. }
            | Fault::Fail { endpoint, .. }
            | Fault::DropAfterApply { endpoint, .. } => endpoint.as_deref(),
        }
    }

    fn matches(&self, endpoint: Endpoint) -> bool {
        match self.endpoint() {
            None | Some("*") => true,
            Some(pattern) if pattern.starts_with('/') => pattern == endpoint.path(),
            Some(pattern) => pattern == endpoint.name(),
        }
    }

    /// Uses up one application; returns false once the fault is exhausted.
    fn consume(&mut self) -> bool {
        let count = match self {
            Fault::Latency { count: None, .. } => return true,
            Fault::Latency { count: Some(n), .. } => n,
            Fault::Fail { count, .. } | Fault::DropAfterApply { count, .. } => count,
        };
        *count = count.saturating_sub(1);
        *count > 0
    }
}

/// What to do to one request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct FaultPlan {
    pub latency: Duration,
    pub fail_status: Option<u16>,
    pub drop_after: bool,
}

impl FaultPlan {
    pub(crate) fn is_noop(&self) -> bool {
        *self == FaultPlan::default()
    }
}

#[derive(Default)]
pub(crate) struct FaultSet {
    armed: AtomicBool,
    faults: Mutex<Vec<Fault>>,
}

impl FaultSet {
    pub(crate) fn inject(&self, fault: Fault) {
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        faults.push(fault);
        self.armed.store(true, Ordering::Release);
    }

    pub(crate) fn clear(&self) {
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        faults.clear();
        self.armed.store(false, Ordering::Release);
    }

    pub(crate) fn list(&self) -> Vec<Fault> {
        self.faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Decides (and uses up) the faults that apply to one request. Faults apply in the order
    /// they were injected; the first matching `Fail` wins, and a failed request is not dropped.
    pub(crate) fn plan(&self, endpoint: Endpoint) -> FaultPlan {
        let mut plan = FaultPlan::default();
        if !self.armed.load(Ordering::Acquire) {
            return plan;
        }
        let mut faults = self
            .faults
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut keep = Vec::with_capacity(faults.len());
        for mut fault in faults.drain(..) {
            let applies = fault.matches(endpoint)
                && match &fault {
                    Fault::Latency { millis, .. } => {
                        plan.latency += Duration::from_millis(*millis);
                        true
                    }
                    Fault::Fail { status, .. } if plan.fail_status.is_none() => {
                        plan.fail_status = Some(*status);
                        true
                    }
                    Fault::DropAfterApply { .. }
                        if !plan.drop_after && plan.fail_status.is_none() =>
                    {
                        plan.drop_after = true;
                        true
                    }
                    _ => false,
                };
            if !applies || fault.consume() {
                keep.push(fault);
            }
        }
        self.armed.store(!keep.is_empty(), Ordering::Release);
        *faults = keep;
        plan
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_shape_round_trips() {
        let fault: Fault = serde_json::from_str(
            r#"{"kind":"fail","endpoint":"POST /oauth/token","status":503,"count":2}"#,
        )
        .unwrap();
        assert_eq!(fault, Fault::fail(Some("POST /oauth/token"), 503, 2));
        let fault: Fault = serde_json::from_str(r#"{"kind":"drop_after_apply"}"#).unwrap();
        assert_eq!(fault, Fault::drop_after_apply(None, 1));
        let fault: Fault = serde_json::from_str(r#"{"kind":"latency","millis":5}"#).unwrap();
        assert_eq!(fault, Fault::latency(None, Duration::from_millis(5)));
        assert!(serde_json::from_str::<Fault>(r#"{"kind":"explode"}"#).is_err());
        assert!(Fault::fail(None, 200, 1).validate().is_err());
    }

    #[test]
    fn fail_counts_down_and_matches_only_its_endpoint() {
        let set = FaultSet::default();
        set.inject(Fault::fail(Some("GET /api/v2/clients/{id}"), 503, 2));
        assert!(set.plan(Endpoint::Token).is_noop());
        assert_eq!(set.plan(Endpoint::GetClient).fail_status, Some(503));
        assert_eq!(set.plan(Endpoint::GetClient).fail_status, Some(503));
        assert!(set.plan(Endpoint::GetClient).is_noop());
        assert!(set.list().is_empty());
    }

    #[test]
    fn path_patterns_latency_and_drop_combine() {
        let set = FaultSet::default();
        set.inject(Fault::latency(
            Some("/api/v2/clients/{id}"),
            Duration::from_millis(7),
        ));
        set.inject(Fault::drop_after_apply(
            Some("PATCH /api/v2/clients/{id}"),
            1,
        ));
        let plan = set.plan(Endpoint::PatchClient);
        assert_eq!(plan.latency, Duration::from_millis(7));
        assert!(plan.drop_after);
        let plan = set.plan(Endpoint::PatchClient);
        assert!(!plan.drop_after);
        assert_eq!(plan.latency, Duration::from_millis(7));
        set.clear();
        assert!(set.plan(Endpoint::PatchClient).is_noop());
    }
}
