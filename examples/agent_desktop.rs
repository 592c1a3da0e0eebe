//! A minimal agent desktop: watches one team's tickets and prints each change as it commits.
//! When the stream breaks (the server restarts, the network drops) it reconnects with the
//! last cursor it saw, so it misses nothing and sees nothing twice.
//!
//! ```text
//! cargo run --example agent_desktop -- [SERVER_URL] [TEAM]
//! cargo run --example agent_desktop -- http://127.0.0.1:50051 after-sales
//! ```

use std::time::Duration;

use feedbackd::proto::feedback::v1 as pb;
use pb::ticket_service_client::TicketServiceClient;

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let team = args.next().unwrap_or_default();
    let scope = if team.is_empty() {
        "all teams".to_owned()
    } else {
        format!("team {team}")
    };
    println!("watching {scope} on {url}");

    // None: start with what happens from now on. After a break: resume after the last cursor.
    let mut cursor: Option<i64> = None;
    loop {
        match watch(&url, &team, &mut cursor).await {
            Ok(()) => println!("stream ended; reconnecting"),
            Err(status) => println!(
                "stream broke ({}: {}); reconnecting",
                status.code(),
                status.message()
            ),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn watch(url: &str, team: &str, cursor: &mut Option<i64>) -> Result<(), tonic::Status> {
    let mut client = TicketServiceClient::connect(url.to_owned())
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let request = pb::WatchTicketsRequest {
        team: team.to_owned(),
        after_cursor: *cursor,
        ..Default::default()
    };
    let mut stream = client.watch_tickets(request).await?.into_inner();
    while let Some(message) = stream.message().await? {
        for event in message.events {
            print_event(&event);
            *cursor = Some(event.cursor);
        }
    }
    Ok(())
}

fn print_event(event: &pb::TicketEvent) {
    let kind = pb::EventType::try_from(event.r#type).map_or("UNKNOWN", |t| t.as_str_name());
    let ticket = event.ticket.as_ref();
    let number = ticket.map_or("?", |t| t.number.as_str());
    let title = ticket.map_or("", |t| t.title.as_str());
    let changes: Vec<String> = event
        .changes
        .iter()
        .filter(|c| !c.field.ends_with("_time"))
        .map(|c| format!("{}: {:?} → {:?}", c.field, c.before, c.after))
        .collect();
    println!(
        "#{:<6} {number} {kind:<32} by {:<12} {title}",
        event.cursor, event.actor
    );
    if !changes.is_empty() {
        println!("        {}", changes.join("; "));
    }
    if let Some(comment) = &event.comment {
        println!("        {}: {}", comment.author, comment.body);
    }
}
