//! Compiles proto/ with protox (no system protoc) and generates tonic client code, and with
//! the `server` feature (the default) the servers too. The encoded descriptor set feeds gRPC
//! reflection.

use std::{env, fs, io, path::PathBuf};

use prost::Message;

fn main() -> io::Result<()> {
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    let protos = [
        "proto/feedback/v1/common.proto",
        "proto/feedback/v1/ticket_service.proto",
        "proto/feedback/v1/routing_service.proto",
        "proto/feedback/v1/survey_service.proto",
        "proto/feedback/v1/sla_service.proto",
        "proto/feedback/v1/webhook_service.proto",
        "proto/feedback/v1/access_service.proto",
        "proto/feedback/v1/abuse_service.proto",
        "proto/feedback/v1/task_service.proto",
        "proto/feedback/v1/reply_service.proto",
        "proto/feedback/v1/attachment_service.proto",
        "proto/feedback/v1/insights_service.proto",
    ];
    let descriptors = compile(&protos, &["proto"])?;
    fs::write(
        out_dir.join("feedback_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    // Without the `server` feature the crate is the client alone.
    let server = env::var_os("CARGO_FEATURE_SERVER").is_some();
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(server)
        // A message that does not decode is the sender's mistake (INVALID_ARGUMENT).
        .codec_path("crate::codec::FeedbackCodec")
        // Written by hand, so that the server can send events it has encoded once for all
        // watchers (src/watch_response.rs).
        .extern_path(
            ".feedback.v1.WatchTicketsResponse",
            "crate::watch_response::WatchTicketsResponse",
        )
        .compile_fds(descriptors)?;

    if server {
        // The load generator's echo service: the same tonic stack with no work behind it.
        tonic_prost_build::configure()
            .build_client(true)
            .build_server(true)
            .compile_fds(compile(&["benches/echo.proto"], &["benches"])?)?;
    }

    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-changed=benches/echo.proto");
    Ok(())
}

fn compile(files: &[&str], includes: &[&str]) -> io::Result<prost_types::FileDescriptorSet> {
    protox::compile(files, includes).map_err(|e| io::Error::other(format!("{e:?}")))
}
