//! Opaque page tokens: where the previous page ended, bound to the query that produced it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

#[derive(Serialize, serde::Deserialize)]
struct Token<P> {
    /// A fingerprint of the query's other fields: a token is only good for the same query.
    query: u64,
    after: P,
}

/// The token that continues after `after`.
pub fn encode<P: Serialize>(query: u64, after: &P) -> String {
    let json = serde_json::to_vec(&Token { query, after }).expect("positions serialize");
    URL_SAFE_NO_PAD.encode(json)
}

/// Where a page continues, or `None` for the first page.
pub fn decode<P: DeserializeOwned>(query: u64, token: &str) -> Result<Option<P>> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = || Error::invalid("page_token", "is not a token this query returned");
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid())?;
    let token: Token<P> = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    if token.query != query {
        return Err(Error::invalid(
            "page_token",
            "belongs to a query with other filters or order",
        ));
    }
    Ok(Some(token.after))
}

/// A stable fingerprint of a request's filters (FNV-1a over its encoding with paging cleared).
pub fn fingerprint(message: &impl prost::Message) -> u64 {
    message
        .encode_to_vec()
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let token = encode(7, &42i64);
        assert_eq!(decode::<i64>(7, &token).unwrap(), Some(42));
        assert!(
            decode::<i64>(8, &token).is_err(),
            "another query's token is refused"
        );
        assert!(decode::<i64>(7, "not a token").is_err());
        assert_eq!(decode::<i64>(7, "").unwrap(), None);
    }
}
