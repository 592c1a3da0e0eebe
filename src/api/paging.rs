//! Opaque page tokens: where the previous page ended, bound to the query that produced it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{Error, Result};

/// Rows per page when a list request leaves `page_size` at 0.
pub const DEFAULT_PAGE: u64 = 50;
/// Most rows per page; a larger `page_size` is read as this.
pub const MAX_PAGE: u64 = 500;

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

/// Most bytes of messages one reply carries, well under the 4 MiB a gRPC client accepts by
/// default: pages and stream messages stop short of it.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// One page of a list fetched with one row beyond `limit`: the rows that fit in a reply (at
/// least one, at most `limit`, within [`MAX_REPLY_BYTES`]) as messages, and the token that
/// continues after the last of them, empty when nothing is left.
pub fn page<R, M: prost::Message, K: Serialize>(
    rows: Vec<R>,
    limit: u64,
    query: u64,
    message: impl Fn(R) -> M,
    position: impl Fn(&R) -> K,
) -> (Vec<M>, String) {
    let mut page = Vec::new();
    let mut bytes = 0;
    let mut last = None;
    for row in rows {
        let key = position(&row);
        let next = message(row);
        bytes += next.encoded_len();
        if page.len() as u64 == limit || (!page.is_empty() && bytes > MAX_REPLY_BYTES) {
            return (page, last.map(|k| encode(query, &k)).unwrap_or_default());
        }
        page.push(next);
        last = Some(key);
    }
    (page, String::new())
}

/// One page of a list of resources by id that takes no filters (teams, survey templates, SLA
/// policies, calendars): checks `page_size`, continues after the token's id, and fetches one
/// row beyond the page. `request` is the list request with its defaults, to bind tokens to
/// their kind of list.
pub async fn by_id<R, M, Fut>(
    request: &impl prost::Message,
    page_size: i32,
    page_token: &str,
    fetch: impl FnOnce(Option<String>, u64) -> Fut,
    message: impl Fn(R) -> M,
    id: impl Fn(&R) -> String,
) -> Result<(Vec<M>, String)>
where
    M: prost::Message,
    Fut: std::future::Future<Output = Result<Vec<R>>>,
{
    let mut check = super::validate::Check::new();
    let limit = check.page_size("page_size", page_size, DEFAULT_PAGE, MAX_PAGE);
    check.finish()?;
    let query = fingerprint(request);
    let after: Option<String> = decode(query, page_token)?;
    let rows = fetch(after, limit + 1).await?;
    Ok(page(rows, limit, query, message, id))
}

/// Messages grouped so that each group stays within [`MAX_REPLY_BYTES`] (a single larger
/// message makes a group of its own).
pub fn chunks<M: prost::Message>(messages: impl IntoIterator<Item = M>) -> Vec<Vec<M>> {
    let mut groups: Vec<Vec<M>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = message.encoded_len();
        match groups.last_mut() {
            Some(group) if bytes + size <= MAX_REPLY_BYTES => group.push(message),
            _ => {
                groups.push(vec![message]);
                bytes = 0;
            }
        }
        bytes += size;
    }
    groups
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
    fn pages_stop_at_the_limit_or_the_byte_budget() {
        let big = |n: usize| vec![7u8; n];
        let rows: Vec<usize> = (1..=5).collect();
        let (rows_of_3, token) = page(rows, 3, 1, big, |i| *i as i64);
        assert_eq!(rows_of_3.len(), 3);
        assert_eq!(decode::<i64>(1, &token).unwrap(), Some(3));
        let (last, token) = page(vec![1, 2], 3, 1, big, |i| *i as i64);
        assert_eq!((last.len(), token.as_str()), (2, ""));
        let half = MAX_REPLY_BYTES / 2;
        let (one, token) = page(vec![half, half, half], 10, 1, big, |_| 0i64);
        assert_eq!(
            one.len(),
            1,
            "two halves with their framing exceed the budget"
        );
        assert!(!token.is_empty());
        let huge = vec![big(MAX_REPLY_BYTES * 2), big(10), big(10)];
        let groups = chunks(huge);
        assert_eq!(groups.iter().map(Vec::len).collect::<Vec<_>>(), [1, 2]);
    }

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
