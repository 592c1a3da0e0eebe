//! `feedback.v1.WatchTicketsResponse`, written by hand where prost would generate it: the same
//! message on the wire and the same `events` field for a client, and for the server a way to
//! send events already encoded, so that an event is encoded once for all the watchers that
//! see it alike instead of once per watcher.

use prost::bytes::{Buf, BufMut, Bytes};
use prost::encoding::{self, DecodeContext, WireType};

use crate::proto::feedback::v1::TicketEvent;

/// One message of the WatchTickets stream. A busy stream sends several events per message.
#[derive(Clone, PartialEq, Default, Debug)]
pub struct WatchTicketsResponse {
    /// Events in log order.
    pub events: Vec<TicketEvent>,
    /// Events encoded already (each a `TicketEvent` message), sent after `events`.
    encoded: Vec<Bytes>,
}

/// The field both hold their events in.
const EVENTS: u32 = 1;

impl WatchTicketsResponse {
    /// A message of events encoded already, in log order.
    pub fn encoded(events: Vec<Bytes>) -> WatchTicketsResponse {
        WatchTicketsResponse {
            events: Vec::new(),
            encoded: events,
        }
    }
}

impl prost::Message for WatchTicketsResponse {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        encoding::message::encode_repeated(EVENTS, &self.events, buf);
        for event in &self.encoded {
            encoding::encode_key(EVENTS, WireType::LengthDelimited, buf);
            encoding::encode_varint(event.len() as u64, buf);
            buf.put_slice(event);
        }
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        if tag == EVENTS {
            encoding::message::merge_repeated(wire_type, &mut self.events, buf, ctx).map_err(
                |mut error| {
                    error.push("WatchTicketsResponse", "events");
                    error
                },
            )
        } else {
            encoding::skip_field(wire_type, tag, buf, ctx)
        }
    }

    fn encoded_len(&self) -> usize {
        encoding::message::encoded_len_repeated(EVENTS, &self.events)
            + self
                .encoded
                .iter()
                .map(|event| {
                    encoding::key_len(EVENTS)
                        + encoding::encoded_len_varint(event.len() as u64)
                        + event.len()
                })
                .sum::<usize>()
    }

    fn clear(&mut self) {
        self.events.clear();
        self.encoded.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    fn event(cursor: i64) -> TicketEvent {
        TicketEvent {
            cursor,
            ticket_id: 7,
            actor: "agent-1".into(),
            ..Default::default()
        }
    }

    #[test]
    fn events_encoded_ahead_read_back_as_events() {
        let sent = WatchTicketsResponse::encoded(vec![
            event(1).encode_to_vec().into(),
            event(2).encode_to_vec().into(),
        ]);
        let bytes = sent.encode_to_vec();
        assert_eq!(bytes.len(), sent.encoded_len());
        let read = WatchTicketsResponse::decode(bytes.as_slice()).expect("decodes");
        assert_eq!(read.events, [event(1), event(2)]);
    }

    #[test]
    fn both_kinds_go_out_in_order_as_one_field() {
        let mut sent = WatchTicketsResponse::encoded(vec![event(2).encode_to_vec().into()]);
        sent.events.push(event(1));
        let read = WatchTicketsResponse::decode(sent.encode_to_vec().as_slice()).expect("decodes");
        assert_eq!(read.events, [event(1), event(2)]);
    }
}
