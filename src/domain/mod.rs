//! The rules of feedbackd: what a ticket is, how it moves, how it is numbered and
//! acknowledged. No tonic, no SQL: time comes from an injected [`clock::Clock`].

pub mod acknowledgement;
pub mod assignment;
pub mod calendar;
pub mod classifier;
pub mod clock;
pub mod contact;
pub mod event;
pub mod format;
pub mod lifecycle;
pub mod number;
pub mod priority;
pub mod query;
pub mod routing;
pub mod rules;
pub mod sla;
pub mod staff;
pub mod survey;
pub mod ticket;
