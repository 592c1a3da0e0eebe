//! Idempotency keys: a retry with a request_id seen before gets the first call's result; the
//! same key with a different request is refused rather than answered with someone else's
//! result.

use serde::Serialize;

use super::error::Refusal;

/// A request that carries an idempotency key, with the fingerprint of its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requested {
    pub id: String,
    pub hash: String,
}

impl Requested {
    /// `request` under `request_id`, if it has one.
    pub fn of(request_id: Option<String>, request: &impl Serialize) -> Option<Requested> {
        request_id.map(|id| Requested {
            id,
            hash: fingerprint(request),
        })
    }
}

/// A fingerprint of a request's content, the same on every instance: FNV-1a over its JSON.
pub fn fingerprint(request: &impl Serialize) -> String {
    // Requests are plain data (maps sorted): they always serialize, the same way each time.
    let bytes = serde_json::to_vec(request).unwrap_or_default();
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// Refuses `request_id` when the request that first used it (`first`, its fingerprint) was
/// another than this one (`given`). A first use recorded without a fingerprint (before they
/// were kept) is taken as the same request.
pub fn check_replay(request_id: &str, first: Option<&str>, given: &str) -> Result<(), Refusal> {
    match first {
        Some(first) if first != given => Err(Refusal::RequestReused {
            request_id: super::error::shorten(request_id),
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_request_same_fingerprint() {
        let a = fingerprint(&("refund", 1));
        assert_eq!(a, fingerprint(&("refund", 1)));
        assert_ne!(a, fingerprint(&("refund", 2)));
        assert!(check_replay("r-1", Some(&a), &a).is_ok());
        assert!(check_replay("r-1", None, &a).is_ok());
        assert!(matches!(
            check_replay("r-1", Some(&a), &fingerprint(&("other", 1))),
            Err(Refusal::RequestReused { .. })
        ));
    }
}
