//! The rules of feedbackd: what a ticket is, how it moves, how it is routed, counted against
//! its SLA and surveyed, and why a request is refused ([`error::Refusal`]). No tonic, no SQL,
//! nothing of the crate outside this module: time comes from an injected [`clock::Clock`].

pub mod abuse;
pub mod access;
pub mod acknowledgement;
pub mod assignment;
pub mod attachment;
pub mod calendar;
pub mod classifier;
pub mod clock;
pub mod config;
pub mod contact;
pub mod error;
pub mod escalation;
pub mod event;
pub mod format;
pub mod idempotency;
pub mod improvement;
pub mod insights;
pub mod language;
pub mod lifecycle;
pub mod link;
pub mod notification;
pub mod number;
pub mod patch;
pub mod period;
pub mod priority;
pub mod query;
pub mod reply;
pub mod report;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod staff;
pub mod survey;
pub mod task;
pub mod ticket;
pub mod top_issues;
pub mod topics;
pub mod webhook;
