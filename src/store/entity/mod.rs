//! SeaORM entities, one per table. Enums are stored by their domain names as plain strings,
//! which behave the same on SQLite and PostgreSQL.

pub mod agent;
pub mod api_key;
pub mod attachment;
pub mod attachment_blob;
pub mod attachment_chunk;
pub mod blocked_sender;
pub mod calendar;
pub mod comment;
pub mod config_change;
pub mod event;
pub mod improvement;
pub mod insight_progress;
pub mod insight_rollup;
pub mod member;
pub mod model;
pub mod reactor_progress;
pub mod reply_template;
pub mod rule;
pub mod sequence;
pub mod sla_policy;
pub mod survey;
pub mod survey_template;
pub mod tag;
pub mod task;
pub mod team;
pub mod ticket;
pub mod ticket_fact;
pub mod webhook;
pub mod webhook_attempt;
pub mod webhook_delivery;
pub mod webhook_outbox;
