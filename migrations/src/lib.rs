//! The database schema of feedbackd, as ordered migrations. The server runs them at start;
//! `feedbackd migrate` runs them alone.

pub use sea_orm_migration::prelude::*;

mod m20261122_000001_tickets;
mod m20261122_000002_routing;
mod m20261122_000003_surveys;
mod m20261122_000004_sla;
mod m20261201_000005_conventions;
mod m20261201_000006_first_day;
mod m20261201_000007_webhooks;
mod m20261201_000008_access;
mod m20261201_000009_abuse;
mod m20261201_000010_waiting_index;
mod m20261201_000011_collaboration;
mod m20261201_000013_reply_templates;
mod m20261201_000014_attachments;
mod m20261201_000015_insights;
mod m20261201_000016_improvements;
mod m20261202_000017_active_facts_index;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261122_000001_tickets::Migration),
            Box::new(m20261122_000002_routing::Migration),
            Box::new(m20261122_000003_surveys::Migration),
            Box::new(m20261122_000004_sla::Migration),
            Box::new(m20261201_000005_conventions::Migration),
            Box::new(m20261201_000006_first_day::Migration),
            Box::new(m20261201_000007_webhooks::Migration),
            Box::new(m20261201_000008_access::Migration),
            Box::new(m20261201_000009_abuse::Migration),
            Box::new(m20261201_000010_waiting_index::Migration),
            Box::new(m20261201_000011_collaboration::Migration),
            Box::new(m20261201_000013_reply_templates::Migration),
            Box::new(m20261201_000014_attachments::Migration),
            Box::new(m20261201_000015_insights::Migration),
            Box::new(m20261201_000016_improvements::Migration),
            Box::new(m20261202_000017_active_facts_index::Migration),
        ]
    }
}
