//! Persistence on SeaORM, for SQLite (one file, the default) and PostgreSQL (production,
//! several instances). Every mutation and its event commit in one transaction.

mod comments;
mod convert;
pub mod entity;
mod events;
mod intake;
mod routing;
mod rules;
mod sla;
mod staff;
mod surveys;
mod tickets;

use std::sync::Arc;
use std::time::Duration;

use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, Notify, OwnedMutexGuard};

use crate::error::{Error, Result};

pub use comments::NewComment;
pub use events::NOTIFY_CHANNEL;
pub use routing::{Assignment, StoredModel};
pub use sla::SLA;
pub use surveys::{Grouping, ReopenTo, Response, ResponseFilter, SURVEY, unanswerable};
pub use tickets::{Note, position_of};

/// The database behind the service.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite allows one writer at a time; writers of this process queue here instead of
    /// polling the file lock.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    /// Woken after every commit that appended events, so the live fan-out reads them at once.
    committed: Arc<Notify>,
    /// Where intakes queue to be taken in together; `None` in the batcher's own handle.
    intake: Option<tokio::sync::mpsc::Sender<intake::Job>>,
    /// The share of an SLA target at which its clock is at risk.
    at_risk_share: f64,
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `None`: what suits the database (see [`default_pool_size`]).
    pub max_connections: Option<u32>,
    pub connect_timeout: Duration,
    /// The share of an SLA target at which its clock is at risk.
    pub sla_at_risk_share: f64,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            connect_timeout: Duration::from_secs(5),
            sla_at_risk_share: 0.8,
        }
    }
}

/// SQLite runs each connection on a thread of its own and writes one at a time: a few
/// connections serve reads best, more only switch threads (measured with benches/load.rs).
fn default_pool_size(url: &str) -> u32 {
    if url.starts_with("sqlite:") { 4 } else { 16 }
}

/// An open write transaction; committed with [`Store::commit`], rolled back when dropped.
pub(crate) struct Write {
    tx: DatabaseTransaction,
    _writer: Option<OwnedMutexGuard<()>>,
}

impl Store {
    /// Opens the database at `url` (`sqlite://path?mode=rwc` or `postgres://…`). SQLite runs
    /// in WAL mode with a busy timeout, so readers never block and other processes' writers wait.
    pub async fn connect(url: &str, options: &StoreOptions) -> Result<Store> {
        let mut opts = ConnectOptions::new(url);
        opts.max_connections(
            options
                .max_connections
                .unwrap_or_else(|| default_pool_size(url)),
        )
        .connect_timeout(options.connect_timeout)
        .acquire_timeout(options.connect_timeout)
        .sqlx_logging(false)
        // A broken connection shows as an error on use; a ping before every query would
        // double the round trips of every call.
        .test_before_acquire(false)
        .map_sqlx_sqlite_opts(|o| {
            o.journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
        let db = Database::connect(opts)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let sqlite_writer = (db.get_database_backend() == DbBackend::Sqlite).then(Default::default);
        let mut store = Store {
            db,
            sqlite_writer,
            committed: Default::default(),
            intake: None,
            at_risk_share: options.sla_at_risk_share,
        };
        store.intake = Some(intake::start(store.clone()));
        Ok(store)
    }

    /// Brings the schema up to date.
    pub async fn migrate(&self) -> Result<()> {
        use migrations::MigratorTrait;
        migrations::Migrator::up(&self.db, None).await?;
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// The connection pool, for the PostgreSQL listener.
    pub fn connection(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Signalled after each commit that appended events.
    pub fn committed(&self) -> Arc<Notify> {
        self.committed.clone()
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db
            .ping()
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    pub(crate) async fn begin(&self) -> Result<Write> {
        let writer = match &self.sqlite_writer {
            Some(lock) => Some(lock.clone().lock_owned().await),
            None => None,
        };
        let options = TransactionOptions {
            // Take the write lock at BEGIN: a deferred transaction that reads first and writes
            // later cannot wait for another process's writer and fails instead.
            sqlite_transaction_mode: writer.is_some().then_some(SqliteTransactionMode::Immediate),
            ..Default::default()
        };
        let tx = self.db.begin_with_options(options).await?;
        Ok(Write {
            tx,
            _writer: writer,
        })
    }

    pub(crate) async fn commit(&self, write: Write) -> Result<()> {
        write.tx.commit().await?;
        self.committed.notify_one();
        Ok(())
    }

    /// A raw statement with `$1`-style placeholders, which both databases read.
    fn statement(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }
}

impl Write {
    fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

/// An etag the caller gave, checked against the current one.
/// A create at start that another instance may have done first: already there is fine.
pub(crate) fn created_or_there<T>(created: Result<T>) -> Result<()> {
    match created {
        Ok(_) | Err(Error::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

pub(crate) fn check_etag(given: Option<&str>, current: String) -> Result<()> {
    match given {
        Some(given) if given != current => Err(Error::StaleEtag {
            given: given.to_owned(),
            current,
        }),
        _ => Ok(()),
    }
}

/// Whether a database error is a unique-constraint violation (a concurrent duplicate).
fn is_unique_violation(err: &sea_orm::DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}
