//! Paging, the same for every List: `page_size` (a default, and a most), an opaque
//! `page_token` bound to the request's other fields, and keyset positions, so pages are
//! stable under inserts.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Serialize, de::DeserializeOwned};

use super::check::Check;
use crate::proto::feedback::v1 as pb;

/// Rows per page when a list request leaves `page_size` at 0.
pub const DEFAULT_PAGE: u64 = 50;
/// Most rows per page; a larger `page_size` is read as this.
pub const MAX_PAGE: u64 = 500;

/// A list request: its paging fields, and the rest, which bind a token to its query.
pub trait Paged: prost::Message + Clone {
    /// Rows per page when `page_size` is 0.
    const DEFAULT: u64 = DEFAULT_PAGE;
    /// Most rows per page.
    const MAX: u64 = MAX_PAGE;
    fn page_size(&self) -> i32;
    fn page_token(&self) -> &str;
    /// The request with its paging fields cleared.
    fn without_paging(&self) -> Self;
}

macro_rules! paged {
    ($($request:ident $(=> $default:expr, $max:expr)?);+ $(;)?) => {$(
        impl Paged for pb::$request {
            $(const DEFAULT: u64 = $default; const MAX: u64 = $max;)?
            fn page_size(&self) -> i32 {
                self.page_size
            }
            fn page_token(&self) -> &str {
                &self.page_token
            }
            // Some list requests have no fields but their paging.
            #[allow(clippy::needless_update)]
            fn without_paging(&self) -> Self {
                Self {
                    page_size: 0,
                    page_token: String::new(),
                    ..self.clone()
                }
            }
        }
    )+};
}

paged! {
    ListTicketsRequest;
    ListCommentsRequest;
    ListTicketEventsRequest => 100, 1_000;
    ListTeamsRequest;
    ListTeamQueueRequest;
    ListAgentsRequest;
    // Rules are read whole, to see the order they are tried in.
    ListRoutingRulesRequest => 500, 500;
    ListSlaPoliciesRequest;
    ListCalendarsRequest;
    ListSurveyTemplatesRequest;
    ListTicketSurveysRequest;
    ListSurveyResponsesRequest;
    ListWebhooksRequest;
    ListDeliveriesRequest;
    ListApiKeysRequest;
    ListAuditEntriesRequest;
    ListBlockedSendersRequest;
    ListTasksRequest;
    ListReplyTemplatesRequest;
    ListAttachmentsRequest;
    ListImprovementsRequest;
}

#[derive(Serialize, serde::Deserialize)]
struct Token<P> {
    /// A fingerprint of the query's other fields: a token is only good for the same query.
    query: u64,
    after: P,
}

/// Where one page of a list starts and how long it is.
pub struct Page<P> {
    /// The position after which the page starts; `None` for the first page.
    pub after: Option<P>,
    /// Rows on the page at most.
    pub limit: u64,
    query: u64,
}

impl<P: Serialize + DeserializeOwned> Page<P> {
    /// The page a list request asks for; a bad size or token goes to `check`.
    pub fn read<R: Paged>(check: &mut Check, request: &R) -> Page<P> {
        let limit = check.page_size("page_size", request.page_size(), R::DEFAULT, R::MAX);
        let query = fingerprint(&request.without_paging());
        let after = decode(query, request.page_token()).unwrap_or_else(|why| {
            check.add("page_token", why);
            None
        });
        Page {
            after,
            limit,
            query,
        }
    }

    /// Rows to read: one beyond the page, to know whether another follows.
    pub fn fetch(&self) -> u64 {
        self.limit + 1
    }

    /// The page of `rows` (read with [`Page::fetch`]) that fits in a reply, at least one and
    /// at most `limit`, within [`MAX_REPLY_BYTES`], as messages, and the token that continues
    /// after the last of them, empty when nothing is left.
    pub fn finish<R, M: prost::Message>(
        self,
        rows: Vec<R>,
        message: impl Fn(R) -> M,
        position: impl Fn(&R) -> P,
    ) -> (Vec<M>, String) {
        let mut page = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        for row in rows {
            let key = position(&row);
            let next = message(row);
            bytes += next.encoded_len();
            if page.len() as u64 == self.limit || (!page.is_empty() && bytes > MAX_REPLY_BYTES) {
                return (
                    page,
                    last.map(|k| encode(self.query, &k)).unwrap_or_default(),
                );
            }
            page.push(next);
            last = Some(key);
        }
        (page, String::new())
    }
}

/// One page of a list that takes no filters, of resources kept by a text id (teams, SLA
/// policies, calendars, survey templates): reads the request's paging, fetches with
/// `fetch(after, rows)`, and answers with the page and its next token.
pub async fn by_id<R, T, M, Fut>(
    request: &R,
    fetch: impl FnOnce(Option<String>, u64) -> Fut,
    message: impl Fn(T) -> M,
    id: impl Fn(&T) -> String,
) -> crate::error::Result<(Vec<M>, String)>
where
    R: Paged,
    M: prost::Message,
    Fut: std::future::Future<Output = crate::error::Result<Vec<T>>>,
{
    let mut check = Check::new();
    let page: Page<String> = Page::read(&mut check, request);
    check.done()?;
    let rows = fetch(page.after.clone(), page.fetch()).await?;
    Ok(page.finish(rows, message, id))
}

/// The token that continues after `after`.
fn encode<P: Serialize>(query: u64, after: &P) -> String {
    // Positions are ids, times and names: they always serialize.
    let json = serde_json::to_vec(&Token { query, after }).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(json)
}

/// Where a page continues, or `None` for the first page; or why the token is no good.
fn decode<P: DeserializeOwned>(query: u64, token: &str) -> Result<Option<P>, &'static str> {
    if token.is_empty() {
        return Ok(None);
    }
    let invalid = "is not a token this query returned";
    let bytes = URL_SAFE_NO_PAD.decode(token).map_err(|_| invalid)?;
    let token: Token<P> = serde_json::from_slice(&bytes).map_err(|_| invalid)?;
    if token.query != query {
        return Err("belongs to a query with other filters or order");
    }
    Ok(Some(token.after))
}

/// Most bytes of messages one reply carries, well under the 4 MiB a gRPC client accepts by
/// default: pages and stream messages stop short of it.
pub const MAX_REPLY_BYTES: usize = 1 << 20;

/// Messages grouped so that each group stays within [`MAX_REPLY_BYTES`] (a single larger
/// message makes a group of its own), each `size` bytes encoded.
pub fn chunks<M>(messages: impl IntoIterator<Item = M>, size: impl Fn(&M) -> usize) -> Vec<Vec<M>> {
    let mut groups: Vec<Vec<M>> = Vec::new();
    let mut bytes = 0;
    for message in messages {
        let size = size(&message);
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
fn fingerprint(message: &impl prost::Message) -> u64 {
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

    fn page(limit: u64, query: u64) -> Page<i64> {
        Page {
            after: None,
            limit,
            query,
        }
    }

    #[test]
    fn pages_stop_at_the_limit_or_the_byte_budget() {
        let big = |n: usize| vec![7u8; n];
        let rows: Vec<usize> = (1..=5).collect();
        let (rows_of_3, token) = page(3, 1).finish(rows, big, |i| *i as i64);
        assert_eq!(rows_of_3.len(), 3);
        assert_eq!(decode::<i64>(1, &token).unwrap(), Some(3));
        let (last, token) = page(3, 1).finish(vec![1, 2], big, |i| *i as i64);
        assert_eq!((last.len(), token.as_str()), (2, ""));
        let half = MAX_REPLY_BYTES / 2;
        let (one, token) = page(10, 1).finish(vec![half, half, half], big, |_| 0i64);
        assert_eq!(
            one.len(),
            1,
            "two halves with their framing exceed the budget"
        );
        assert!(!token.is_empty());
        let huge = vec![big(MAX_REPLY_BYTES * 2), big(10), big(10)];
        let groups = chunks(huge, prost::Message::encoded_len);
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

    #[test]
    fn a_token_is_bound_to_the_filters_not_the_paging() {
        let mut check = Check::new();
        let request = pb::ListTicketsRequest {
            team: "desk".into(),
            page_size: 10,
            ..Default::default()
        };
        let first: Page<i64> = Page::read(&mut check, &request);
        let (_, token) = first.finish(vec![1i64, 2], |_| 0u8.to_string(), |id| *id);
        assert!(token.is_empty(), "two rows fit in a page of ten");
        let token = encode(fingerprint(&request.without_paging()), &2i64);
        let next = pb::ListTicketsRequest {
            page_size: 20,
            page_token: token.clone(),
            ..request.clone()
        };
        let page: Page<i64> = Page::read(&mut check, &next);
        assert_eq!(page.after, Some(2));
        let other = pb::ListTicketsRequest {
            team: "vip".into(),
            page_token: token,
            ..Default::default()
        };
        let _: Page<i64> = Page::read(&mut check, &other);
        assert!(!check.is_clean(), "a token of another query is refused");
    }
}
