//! feedbackd: customer feedback and complaints handled as one closed loop, over gRPC.
//!
//! `api` (the gRPC edge) → `domain` (the rules) → `store` (SeaORM); `events` streams the log.

pub mod api;
pub mod config;
pub mod domain;
pub mod error;
pub mod events;
pub mod routing;
pub mod schedule;
pub mod server;
pub mod sla;
pub mod store;
pub mod surveys;

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
