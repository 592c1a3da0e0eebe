//! feedbackd: customer feedback and complaints handled as one closed loop, over gRPC.
//!
//! `api` (the gRPC edge: check, call, convert) → `app` (one function per use case, and the
//! reactions to each commit) → `domain` (the rules) and `store` (SeaORM rows, locks and
//! queries); `events` streams the log to watchers.

pub mod api;
pub mod app;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod server;
pub mod store;

/// Generated gRPC code: message types, servers, and clients for Rust callers.
pub mod proto {
    #![allow(clippy::all, missing_docs)]

    pub mod feedback {
        pub mod v1 {
            tonic::include_proto!("feedback.v1");
        }
    }

    /// The encoded descriptors of the API, served by gRPC reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("feedback_descriptor");
}
