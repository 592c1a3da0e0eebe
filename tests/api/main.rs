//! Integration tests: the real server on 127.0.0.1:0, spoken to only through the generated
//! client, each test once on SQLite and once on PostgreSQL.

mod support;

mod abuse;
mod access;
mod attachments;
mod concurrency;
mod conventions;
mod insights;
mod language;
mod lifecycle;
mod links;
mod listing;
mod metrics;
mod notifications;
mod reactions;
mod readme;
mod replies;
mod routing;
mod server;
mod sla;
mod surveys;
mod tasks;
mod tls;
mod validation;
mod watch;
mod webhooks;
