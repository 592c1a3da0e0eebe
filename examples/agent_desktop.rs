//! A minimal agent desktop: shows its team's open tickets, then prints each change as it
//! commits. When the stream breaks (the server restarts, the network drops) it reconnects with
//! the last cursor it saw, so it misses nothing and sees nothing twice; while the server is
//! down it waits longer between tries (1 s, 2 s, 4 s … up to 30 s).
//!
//! It calls with the API key in `FEEDBACKD_KEY` (an agent's key, or any key that may read the
//! team's tickets).
//!
//! ```text
//! FEEDBACKD_KEY=fbk_… cargo run --example agent_desktop -- [SERVER_URL] [TEAM]
//! FEEDBACKD_KEY=$(cat feedbackd.admin-key) cargo run --example agent_desktop -- http://127.0.0.1:50051 after-sales
//! ```

use std::time::Duration;

use feedbackd::proto::feedback::v1 as pb;
use pb::ticket_service_client::TicketServiceClient;
use tonic::Code;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// The longest wait between two tries.
const MOST_WAIT: Duration = Duration::from_secs(30);

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:50051".to_owned());
    let team = args.next().unwrap_or_default();
    let Some(credential) = std::env::var("FEEDBACKD_KEY")
        .ok()
        .and_then(|key| format!("Bearer {}", key.trim()).parse().ok())
    else {
        eprintln!("set FEEDBACKD_KEY to the API key to call with");
        std::process::exit(2);
    };
    let scope = if team.is_empty() {
        "all teams".to_owned()
    } else {
        format!("team {team}")
    };
    println!("watching {scope} on {url}");

    // None: the open tickets as they are, then what happens from then on. After a break:
    // resume after the last cursor.
    let mut cursor: Option<i64> = None;
    let mut wait = Duration::from_secs(1);
    loop {
        let status = match follow(&url, &credential, &team, &mut cursor, &mut wait).await {
            Ok(()) => tonic::Status::unavailable("the stream ended"),
            Err(status) => status,
        };
        // A mistake in what was asked for (no such team, a bad key) does not mend by waiting.
        if matches!(
            status.code(),
            Code::NotFound | Code::InvalidArgument | Code::Unauthenticated | Code::PermissionDenied
        ) {
            eprintln!("cannot watch {scope}: {}", status.message());
            std::process::exit(2);
        }
        println!(
            "stream broke ({}: {}); trying again in {} s",
            status.code(),
            status.message(),
            wait.as_secs()
        );
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MOST_WAIT);
    }
}

/// Connects, shows the open tickets on a first start, and prints events until the stream
/// ends. `wait` goes back to a second once the server answers.
async fn follow(
    url: &str,
    credential: &MetadataValue<Ascii>,
    team: &str,
    cursor: &mut Option<i64>,
    wait: &mut Duration,
) -> Result<(), tonic::Status> {
    let channel = Channel::from_shared(url.to_owned())
        .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?
        .connect()
        .await
        .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
    let credential = credential.clone();
    let mut client = TicketServiceClient::new(InterceptedService::new(
        channel,
        move |mut request: tonic::Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", credential.clone());
            Ok(request)
        },
    ));
    let request = pb::WatchTicketsRequest {
        team: team.to_owned(),
        after_cursor: *cursor,
        ..Default::default()
    };
    // The stream is open before the list is read, so no change falls between the two.
    let mut stream = client.watch_tickets(request).await?.into_inner();
    *wait = Duration::from_secs(1);
    if cursor.is_none() {
        show_open(&mut client, team).await?;
    } else {
        println!("reconnected; resuming after #{}", cursor.unwrap_or(0));
    }
    while let Some(message) = stream.message().await? {
        for event in message.events {
            print_event(&event);
            *cursor = Some(event.cursor);
        }
    }
    Ok(())
}

/// The team's open tickets, most urgent first: the first page, and how many there are.
async fn show_open<F: tonic::service::Interceptor>(
    client: &mut TicketServiceClient<InterceptedService<Channel, F>>,
    team: &str,
) -> Result<(), tonic::Status> {
    let page = client
        .list_tickets(pb::ListTicketsRequest {
            team: team.to_owned(),
            open: true,
            order_by: "priority".into(),
            page_size: 20,
            ..Default::default()
        })
        .await?
        .into_inner();
    println!("{} open tickets", page.total_size);
    for t in &page.tickets {
        let priority = pb::Priority::try_from(t.priority).map_or("?", |p| p.as_str_name());
        let status = pb::TicketStatus::try_from(t.status).map_or("?", |s| s.as_str_name());
        let assignee = if t.assignee.is_empty() {
            "(queued)"
        } else {
            &t.assignee
        };
        println!(
            "  {} {priority:<16} {status:<30} {assignee:<12} {}",
            t.number, t.title
        );
    }
    if page.total_size > page.tickets.len() as i64 {
        println!(
            "  … and {} more",
            page.total_size - page.tickets.len() as i64
        );
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
