//! The HTTP side of webhooks: each attempt is a POST of the event in the protobuf JSON
//! mapping (what grpcurl prints), signed afresh, within the timeout. Redirects are not
//! followed: a receiver that moved answers 3xx, which is a failure the operator sees.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use anyhow::Context as _;
use prost::Message;
use prost_reflect::{DynamicMessage, MessageDescriptor, SerializeOptions};

use super::root_cause;
use crate::app::webhooks::{Answer, Outgoing, Sender};
use crate::domain::webhook::{Webhook, signature};

/// Posts events to receivers with one pooled HTTP client.
pub struct HttpSender {
    client: reqwest::Client,
    /// `feedback.v1.TicketEvent`, to write events as JSON.
    event: MessageDescriptor,
    timeout: Duration,
}

impl HttpSender {
    pub fn new(timeout: Duration) -> anyhow::Result<HttpSender> {
        // reqwest is built without a TLS provider of its own: it takes ring, as sqlx does.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("feedbackd/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the webhook HTTP client")?;
        let pool = prost_reflect::DescriptorPool::decode(crate::proto::FILE_DESCRIPTOR_SET)
            .context("the API's descriptors do not decode")?;
        let event = pool
            .get_message_by_name("feedback.v1.TicketEvent")
            .context("the API has no TicketEvent")?;
        Ok(HttpSender {
            client,
            event,
            timeout,
        })
    }

    /// The event as protobuf JSON.
    fn event_json(&self, event: &crate::domain::event::TicketEvent) -> Result<Vec<u8>, String> {
        let bytes = crate::api::convert::event(event.clone()).encode_to_vec();
        let message = DynamicMessage::decode(self.event.clone(), bytes.as_slice())
            .map_err(|e| format!("cannot write the event as JSON: {e}"))?;
        let mut json = Vec::new();
        let mut serializer = serde_json::Serializer::new(&mut json);
        message
            .serialize_with_options(&mut serializer, &SerializeOptions::new())
            .map_err(|e| format!("cannot write the event as JSON: {e}"))?;
        Ok(json)
    }

    async fn post(&self, to: &Webhook, what: Outgoing<'_>) -> Answer {
        let (body, headers) = match what {
            Outgoing::Event {
                event,
                delivery,
                attempt,
            } => match self.event_json(event) {
                Ok(body) => (
                    body,
                    [
                        ("Feedbackd-Event-Id", event.cursor.to_string()),
                        ("Feedbackd-Event-Type", event.event_type.as_str().to_owned()),
                        ("Feedbackd-Delivery-Id", delivery.to_string()),
                        ("Feedbackd-Attempt", attempt.to_string()),
                    ],
                ),
                Err(error) => {
                    return Answer {
                        http_status: None,
                        error: Some(error),
                    };
                }
            },
            Outgoing::Ping => (
                serde_json::json!({ "type": "PING", "webhookId": to.id })
                    .to_string()
                    .into_bytes(),
                [
                    ("Feedbackd-Event-Id", "0".to_owned()),
                    ("Feedbackd-Event-Type", "PING".to_owned()),
                    ("Feedbackd-Delivery-Id", "0".to_owned()),
                    ("Feedbackd-Attempt", "1".to_owned()),
                ],
            ),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let mut request = self
            .client
            .post(&to.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(
                "Feedbackd-Signature",
                signature(&to.secret, timestamp, &body),
            );
        for (name, value) in headers {
            request = request.header(name, value);
        }
        match request.body(body).send().await {
            Ok(response) if response.status().is_success() => Answer {
                http_status: Some(response.status().as_u16()),
                error: None,
            },
            Ok(response) => Answer {
                http_status: Some(response.status().as_u16()),
                error: Some(format!("HTTP {}", response.status())),
            },
            Err(e) => Answer {
                http_status: None,
                error: Some(if e.is_timeout() {
                    format!("no answer within {:?}", self.timeout)
                } else if e.is_connect() {
                    format!("cannot connect: {}", root_cause(&e))
                } else {
                    root_cause(&e)
                }),
            },
        }
    }
}

impl Sender for HttpSender {
    fn send<'a>(
        &'a self,
        to: &'a Webhook,
        what: Outgoing<'a>,
    ) -> Pin<Box<dyn Future<Output = Answer> + Send + 'a>> {
        Box::pin(self.post(to, what))
    }
}
