//! The SLA scheduler's pass over 1,000,000 open tickets of which 1,000 come due: what a pass
//! costs when its work is small and the open tickets many. The tickets are written straight
//! into the database (one statement), each with a running clock; the pass is the same
//! function every server instance runs, on the same store.
//!
//! `cargo bench --bench sla` runs SQLite only; `scripts/with-postgres.sh cargo bench --bench
//! sla` adds PostgreSQL. `BENCH_TICKETS` and `BENCH_DUE` change the counts.

use std::time::Instant;

use anyhow::Context as _;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use std::sync::Arc;

use feedbackd::app::App;
use feedbackd::config::Config;
use feedbackd::domain::calendar::Calendar;
use feedbackd::domain::clock::ManualClock;
use feedbackd::domain::sla::{Counting, Sla, SlaClock, Target};
use feedbackd::metrics::Metrics;
use feedbackd::store::{Store, StoreOptions};
use sea_orm::{ConnectionTrait, DbBackend, Statement};

mod common;
use common::Database;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let tickets: i64 = count("BENCH_TICKETS", 1_000_000)?;
    let due: i64 = count("BENCH_DUE", 1_000)?;
    let dir = tempfile::tempdir()?;
    let sqlite = Database::Sqlite.fresh(dir.path()).await?;
    run("sqlite", &sqlite, tickets, due).await?;
    match std::env::var("FEEDBACKD_TEST_POSTGRES_URL") {
        Ok(base) => {
            let postgres = Database::Postgres(base).fresh(dir.path()).await?;
            run("postgres", &postgres, tickets, due).await?;
        }
        Err(_) => println!(
            "PostgreSQL skipped: FEEDBACKD_TEST_POSTGRES_URL is not set; run \
             scripts/with-postgres.sh cargo bench --bench sla"
        ),
    }
    Ok(())
}

fn count(var: &str, default: i64) -> anyhow::Result<i64> {
    std::env::var(var)
        .ok()
        .map(|v| v.parse().with_context(|| format!("{var}={v}")))
        .transpose()
        .map(|v| v.unwrap_or(default))
}

async fn run(name: &str, url: &str, tickets: i64, due: i64) -> anyhow::Result<()> {
    let store = Store::connect(url, &StoreOptions::default()).await?;
    store.migrate().await?;
    let now = Utc::now().trunc_subsecs(6);
    // The use cases at a clock that stands still, with the server's defaults installed.
    let app = App::new(
        store.clone(),
        Arc::new(ManualClock::new(now)),
        Config::with_database(url).settings(),
        Metrics::new(&store),
    );
    app.install_defaults().await?;

    let started = Instant::now();
    seed(&store, tickets, due, now).await?;
    println!(
        "{name}: {tickets} open tickets written in {:.1} s, {due} of them due",
        started.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let pass = app.sla_pass().await?;
    let first = started.elapsed();
    let started = Instant::now();
    let idle = app.sla_pass().await?;
    let second = started.elapsed();
    println!(
        "{name}: pass over {tickets} open tickets: {} looked at, {} events recorded, in {:.0} ms \
         ({:.2} ms per due ticket)",
        pass.tickets,
        pass.events,
        first.as_secs_f64() * 1e3,
        first.as_secs_f64() * 1e3 / pass.tickets.max(1) as f64
    );
    println!(
        "{name}: the next pass, with nothing due: {} looked at, in {:.1} ms",
        idle.tickets,
        second.as_secs_f64() * 1e3
    );
    anyhow::ensure!(
        pass.tickets == due as usize && idle.tickets == 0,
        "the pass looked at {} tickets, then {}",
        pass.tickets,
        idle.tickets
    );
    Ok(())
}

/// URGENT tickets with running clocks: `due` of them started two hours ago (acknowledgement
/// and first response overdue), the others just now (nothing due for twelve minutes).
async fn seed(store: &Store, tickets: i64, due: i64, now: DateTime<Utc>) -> anyhow::Result<()> {
    let clocks = |started: DateTime<Utc>| {
        let calendar = Calendar::always();
        let by = Counting {
            calendar: &calendar,
            at_risk_share: 0.8,
        };
        let budgets = [
            (Target::Acknowledge, Duration::minutes(15)),
            (Target::FirstResponse, Duration::hours(1)),
            (Target::Resolution, Duration::hours(24)),
        ];
        Sla {
            policy: Some("urgent".into()),
            clocks: budgets
                .into_iter()
                .map(|(target, budget)| SlaClock::start(target, budget, started, by))
                .collect(),
            ..Sla::default()
        }
    };
    let (late, fresh) = (clocks(now - Duration::hours(2)), clocks(now));
    let sql = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
        INSERT INTO tickets (number, channel, kind, status, priority, priority_rank, title, \
          description, expected_outcome, product, customer_external_id, customer_name, \
          customer_phone, customer_email, customer_tier, metadata, tags, reopen_count, \
          created_at, updated_at, version, sla, sla_wake_at, sla_due_at, sla_breached, \
          sla_at_risk) \
        SELECT 'B' || i, 'APP', 'PROBLEM', 'NEW', 'URGENT', 1, 'Bench ticket', 'Seeded', '', \
          '', '', '', '', '', 'STANDARD', $2, $3, 0, $4, $4, 1, \
          CASE WHEN i <= $5 THEN $6 ELSE $7 END, \
          CASE WHEN i <= $5 THEN $8 ELSE $9 END, \
          CASE WHEN i <= $5 THEN $10 ELSE $11 END, false, false \
        FROM n";
    let json = |value: serde_json::Value| sea_orm::Value::Json(Some(Box::new(value)));
    let backend = store.backend();
    let values: Vec<sea_orm::Value> = vec![
        tickets.into(),
        json(serde_json::json!({})),
        json(serde_json::json!([])),
        now.into(),
        due.into(),
        json(serde_json::to_value(&late)?),
        json(serde_json::to_value(&fresh)?),
        late.wake_at().into(),
        fresh.wake_at().into(),
        late.due_at().into(),
        fresh.due_at().into(),
    ];
    let connection = store.connection();
    if backend == DbBackend::Sqlite {
        // One transaction for the million rows, without a sync per page.
        connection
            .execute_unprepared("PRAGMA synchronous = OFF")
            .await?;
    }
    connection
        .execute_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    connection
        .execute_unprepared(match backend {
            DbBackend::Postgres => "ANALYZE tickets",
            _ => "ANALYZE",
        })
        .await?;
    Ok(())
}
