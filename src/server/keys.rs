//! `feedbackd keys`: API keys from the command line, on the database directly, for the first
//! keys of a deployment and for an operator locked out of the API.

use std::sync::Arc;

use crate::app::App;
use crate::app::access::parse_role;
use crate::config::{Config, KeysCommand};
use crate::domain::access::{Caller, Principal};
use crate::domain::clock::SystemClock;
use crate::metrics::Metrics;
use crate::store::Store;

/// Keys listed at a time.
const PAGE: u64 = 500;

/// Runs one `feedbackd keys` command, printing its answer on stdout.
pub async fn run(config: &Config, store: Store, command: KeysCommand) -> anyhow::Result<()> {
    let metrics = Metrics::new(&store);
    let app = App::new(store, Arc::new(SystemClock), config.settings(), metrics);
    let by = Caller {
        peer: "command line".to_owned(),
        ..Caller::system()
    };
    match command {
        KeysCommand::Create {
            role,
            name,
            teams,
            agent,
            customer,
        } => {
            let holder = Principal {
                role: parse_role("--role", &role)?,
                name,
                teams,
                agent,
                customer,
            };
            let (key, secret) = app.create_api_key(&by, holder).await?;
            println!("created API key {:?} ({})", key.name, key.role);
            println!("{secret}");
        }
        KeysCommand::List { all } => {
            let mut after: Option<String> = None;
            println!("NAME\tROLE\tSCOPE\tPREFIX\tCREATED\tREVOKED");
            loop {
                let keys = app.api_keys(after.as_deref(), all, PAGE).await?;
                for k in &keys {
                    let scope = [
                        k.agent.as_ref().map(|a| format!("agent {a}")),
                        k.customer.as_ref().map(|c| format!("customer {c}")),
                        (!k.teams.is_empty()).then(|| format!("teams {}", k.teams.join(","))),
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join("; ");
                    println!(
                        "{}\t{}\t{}\t{}…\t{}\t{}",
                        k.name,
                        k.role,
                        if scope.is_empty() { "-" } else { &scope },
                        k.prefix,
                        k.created_at.format("%Y-%m-%d %H:%M"),
                        k.revoked_at
                            .map_or("-".to_owned(), |at| at.format("%Y-%m-%d %H:%M").to_string())
                    );
                }
                if (keys.len() as u64) < PAGE {
                    break;
                }
                after = keys.last().map(|k| k.name.clone());
            }
        }
        KeysCommand::Revoke { name } => {
            let key = app.revoke_api_key(&by, &name).await?;
            println!("revoked API key {:?}", key.name);
        }
    }
    Ok(())
}
