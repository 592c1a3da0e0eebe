//! feedbackd: customer feedback and complaints handled as one closed loop, over gRPC.
//!
//! `api` (the gRPC edge: check, call, convert) → `app` (one function per use case, and the
//! reactions to each commit) → `domain` (the rules) and `store` (SeaORM rows, locks and
//! queries); `events` streams the log to watchers.

//!
//! A Rust caller that only needs the generated client depends on the crate without its
//! default `server` feature: `feedbackd = { …, default-features = false }` brings the
//! message types and clients ([`proto`]) without the database stack.

#[cfg(feature = "server")]
pub mod api;
#[cfg(feature = "server")]
pub mod app;
pub mod codec;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod domain;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod events;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod runtime;
#[cfg(feature = "server")]
pub mod server;
#[cfg(feature = "server")]
pub mod store;
mod watch_response;

/// Generated gRPC code: message types, clients for Rust callers, and (with `server`) servers.
pub mod proto {
    #![allow(clippy::all, missing_docs)]

    pub mod feedback {
        pub mod v1 {
            tonic::include_proto!("feedback.v1");
            pub use crate::watch_response::WatchTicketsResponse;
        }
    }

    /// The encoded descriptors of the API, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("feedback_descriptor");
}
