//! Persistence on SeaORM, for SQLite (one file, the default) and PostgreSQL (production,
//! several instances): rows, locks and queries, and nothing that decides. A lookup that finds
//! nothing answers `None`; what that means is the use case's to say.
//!
//! Lock order, the same everywhere, so writers never wait on each other crosswise: the team
//! row, then agent rows in id order, then ticket rows, then survey rows and blocked-sender
//! rows (by key), then the event log and the configuration log (taken last, at append).

mod abuse;
mod access;
mod attachments;
mod cache;
mod comments;
mod config;
mod convert;
pub mod entity;
mod events;
mod improvements;
mod insights;
mod replies;
mod routing;
mod rules;
mod sla;
mod staff;
mod surveys;
mod tasks;
pub use insights::{ClocksNow, FactsQuery, OpenCount, OpenGroup, Scope};
pub use tasks::TaskFilter;
mod tickets;
mod webhooks;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sea_orm::prelude::Expr;
use sea_orm::sea_query::ExprTrait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ColumnTrait, ConnectOptions, ConnectionTrait, Database, DatabaseConnection,
    DatabaseTransaction, DbBackend, DbErr, EntityTrait, QuerySelect, QueryTrait, Select,
    SqliteTransactionMode, Statement, TransactionOptions, TransactionTrait,
};
use tokio::sync::{Mutex, OwnedMutexGuard, watch};

use crate::error::{Error, Result};

pub use attachments::{BlobFile, Spool, Spooled};
pub use config::ReactorProgress;
pub use events::{CONFIG_CHANNEL, NOTIFY_CHANNEL};
pub use routing::StoredModel;
pub use staff::TeamLock;
pub use webhooks::Queued;

/// The database behind the service.
#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// SQLite allows one writer at a time; writers of this process queue here instead of
    /// polling the file lock.
    sqlite_writer: Option<Arc<Mutex<()>>>,
    signals: Arc<Signals>,
    tickets: Arc<cache::TicketCache>,
    catalog: Arc<sla::CatalogCache>,
}

/// The database pool's connections at one moment.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    pub open: u32,
    pub idle: u32,
    pub max: u32,
}

/// What a commit announces, to whoever follows the logs in this process.
pub struct Signals {
    /// Moves on after every commit that appended ticket events.
    pub events: watch::Sender<u64>,
    /// Moves on after every commit that recorded a configuration change.
    pub config: watch::Sender<u64>,
}

impl Signals {
    fn new() -> Signals {
        Signals {
            events: watch::Sender::new(0),
            config: watch::Sender::new(0),
        }
    }

    /// Announces new ticket events (for instance, another instance's, heard by NOTIFY).
    pub fn events_committed(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Announces new configuration changes.
    pub fn config_committed(&self) {
        self.config.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Connection settings beyond the URL.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `None`: what suits the database (see [`default_pool_size`]).
    pub max_connections: Option<u32>,
    pub connect_timeout: Duration,
    /// Tickets kept in memory for reads; 0 keeps none.
    pub ticket_cache: usize,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_connections: None,
            connect_timeout: Duration::from_secs(5),
            ticket_cache: 0,
        }
    }
}

/// The newest id of a log (`id`, its primary key, as the log hands them out in commit
/// order), 0 when the log is empty.
async fn newest_id<C>(conn: &impl ConnectionTrait, id: C) -> Result<i64>
where
    C: ColumnTrait,
    C::EntityName: EntityTrait,
{
    let max: Option<Option<i64>> = C::EntityName::find()
        .select_only()
        .column_as(Expr::col(id).max(), "max")
        .into_tuple()
        .one(conn)
        .await?;
    Ok(max.flatten().unwrap_or(0))
}

/// Keeps each prepared statement's query plan whatever values are bound to it. SQLite (since
/// 3.47) plans a `LIMIT ?` for the value bound at the time and then discards the statement
/// whenever another value is bound, so every single-row or paged query was compiled again on
/// every call: a fifth of intake's instructions under callgrind. With the query planner
/// stability guarantee the statements sqlx caches stay compiled, as PostgreSQL's do.
async fn keep_plans(
    connection: &mut sea_orm::sqlx::SqliteConnection,
) -> std::result::Result<(), sea_orm::sqlx::Error> {
    use libsqlite3_sys::{SQLITE_DBCONFIG_ENABLE_QPSG, SQLITE_OK, sqlite3_db_config};
    let mut handle = connection.lock_handle().await?;
    // SAFETY: the handle is this connection's open database, held locked for the call, and
    // ENABLE_QPSG takes an int and a nullable int pointer, as passed.
    let code = unsafe {
        sqlite3_db_config(
            handle.as_raw_handle().as_ptr(),
            SQLITE_DBCONFIG_ENABLE_QPSG,
            1 as std::ffi::c_int,
            std::ptr::null_mut::<std::ffi::c_int>(),
        )
    };
    if code != SQLITE_OK {
        return Err(sea_orm::sqlx::Error::Configuration(
            format!("SQLite refused the query planner stability guarantee ({code})").into(),
        ));
    }
    Ok(())
}

/// SQLite runs each connection on a thread of its own and writes one at a time: a few
/// connections serve reads best, more only switch threads (measured with benches/load.rs).
fn default_pool_size(url: &str) -> u32 {
    if url.starts_with("sqlite:") { 4 } else { 16 }
}

/// An open write transaction; committed with [`Store::commit`], rolled back when dropped.
pub struct Write {
    tx: DatabaseTransaction,
    /// Open from `begin` until the write is committed or dropped, inside the span of the
    /// call or pass that opened it: what a trace shows of the transaction.
    _span: tracing::Span,
    _writer: Option<OwnedMutexGuard<()>>,
    appended_events: AtomicBool,
    recorded_config: AtomicBool,
    /// The tickets it wrote, as written: the cache takes them once they are committed.
    written: std::sync::Mutex<Vec<crate::domain::ticket::Ticket>>,
}

impl Store {
    /// How many rows `query` finds, counting no further than `cap`: a long list costs no more
    /// to count than one of `cap`.
    pub(super) async fn count_up_to<E: EntityTrait>(
        &self,
        query: Select<E>,
        cap: u64,
    ) -> Result<u64> {
        let rows = query
            .select_only()
            .expr(Expr::cust("1"))
            .limit(cap)
            .into_query();
        let count = sea_orm::sea_query::Query::select()
            .expr(Expr::cust("COUNT(*)"))
            .from_subquery(rows, "found")
            .to_owned();
        let row = self
            .db
            .query_one(&count)
            .await?
            .ok_or_else(|| Error::Internal("COUNT returned no row".into()))?;
        Ok(row.try_get_by_index::<i64>(0)? as u64)
    }

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
                // Reads straight from the OS page cache, and 16 MiB of pages per connection
                // (SQLite keeps 2 MiB): a database of a few hundred megabytes otherwise pays a
                // copy per page and re-reads its index pages with every ticket.
                .pragma("mmap_size", "268435456")
                .pragma("cache_size", "-16384")
        })
        .map_sqlx_sqlite_pool_opts(|pool| {
            pool.after_connect(|connection, _| Box::pin(keep_plans(connection)))
        });
        let db = Database::connect(opts)
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))?;
        let sqlite_writer = (db.get_database_backend() == DbBackend::Sqlite).then(Default::default);
        Ok(Store {
            db,
            sqlite_writer,
            signals: Arc::new(Signals::new()),
            tickets: Arc::new(cache::TicketCache::new(options.ticket_cache)),
            catalog: Arc::default(),
        })
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

    /// What commits announce in this process.
    pub fn signals(&self) -> &Arc<Signals> {
        &self.signals
    }

    /// At a clean shutdown, SQLite copies its write-ahead log into the database file and
    /// empties the log, so that the file holds everything on its own (to copy, back up, or
    /// open with another tool). Nothing to do on PostgreSQL.
    pub async fn checkpoint(&self) -> Result<()> {
        if self.backend() == DbBackend::Sqlite {
            self.db
                .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)")
                .await?;
        }
        Ok(())
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db
            .ping()
            .await
            .map_err(|e| Error::Unavailable(e.to_string()))
    }

    /// How many connections the pool holds, how many of them are idle, and its maximum.
    pub fn pool_use(&self) -> PoolUse {
        fn of<DB: sea_orm::sqlx::Database>(pool: &sea_orm::sqlx::Pool<DB>) -> PoolUse {
            PoolUse {
                open: pool.size(),
                idle: u32::try_from(pool.num_idle()).unwrap_or(u32::MAX),
                max: pool.options().get_max_connections(),
            }
        }
        match self.db.get_database_backend() {
            DbBackend::Sqlite => of(self.db.get_sqlite_connection_pool()),
            _ => of(self.db.get_postgres_connection_pool()),
        }
    }

    /// Opens a write transaction.
    pub async fn begin(&self) -> Result<Write> {
        let system = match self.backend() {
            DbBackend::Sqlite => "sqlite",
            _ => "postgresql",
        };
        let span = tracing::info_span!("db.transaction", db.system = system);
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
            _span: span,
            _writer: writer,
            appended_events: AtomicBool::new(false),
            recorded_config: AtomicBool::new(false),
            written: Default::default(),
        })
    }

    /// Commits, keeps the tickets it wrote for reads, and announces what the write added to
    /// the logs.
    pub async fn commit(&self, write: Write) -> Result<()> {
        let events = write.appended_events.load(Ordering::Relaxed);
        let config = write.recorded_config.load(Ordering::Relaxed);
        let written = std::mem::take(&mut *write.written.lock().unwrap_or_else(|e| e.into_inner()));
        write.tx.commit().await?;
        for ticket in written {
            self.tickets.remember(ticket);
        }
        if events {
            self.signals.events_committed();
        }
        if config {
            self.signals.config_committed();
        }
        Ok(())
    }

    /// A raw statement with `$1`-style placeholders, which both databases read.
    fn statement(&self, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
        Statement::from_sql_and_values(self.backend(), sql, values)
    }

    /// On PostgreSQL, takes the advisory lock of `key` in `class` until the transaction ends
    /// (SQLite's single writer already serializes writers).
    pub async fn lock_key(&self, write: &Write, class: i32, key: &str) -> Result<()> {
        if self.backend() == DbBackend::Postgres {
            write
                .conn()
                .execute_raw(self.statement(
                    "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                    vec![class.into(), key.into()],
                ))
                .await?;
        }
        Ok(())
    }
}

impl Write {
    fn conn(&self) -> &DatabaseTransaction {
        &self.tx
    }

    /// Notes a ticket this write stores, for the cache once committed.
    fn wrote(&self, ticket: &crate::domain::ticket::Ticket) {
        self.written
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(ticket.clone());
    }
}

/// What an insert of a caller-keyed row found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inserted {
    Done,
    /// A row with that key exists already.
    Taken,
}

/// An insert's result: a duplicate key is [`Inserted::Taken`], anything else the database's
/// error.
fn inserted<T>(result: std::result::Result<T, DbErr>) -> Result<Inserted> {
    match result {
        Ok(_) => Ok(Inserted::Done),
        Err(err) if is_unique_violation(&err) => Ok(Inserted::Taken),
        Err(err) => Err(err.into()),
    }
}

/// Whether a database error is a unique-constraint violation (a concurrent duplicate).
fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    )
}

impl From<DbErr> for Error {
    /// A database that cannot be reached, stops answering mid-call, or cannot take the work
    /// right now is UNAVAILABLE (the caller may retry); anything else it refuses is our fault.
    fn from(err: DbErr) -> Self {
        use sea_orm::RuntimeErr;
        let transient = match &err {
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
            DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
                transient(e)
            }
            _ => false,
        };
        if transient {
            Error::Unavailable(err.to_string())
        } else {
            Error::Internal(err.to_string())
        }
    }
}

/// Whether a driver error will likely pass if the call is retried.
fn transient(err: &sea_orm::sqlx::Error) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match err {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        Sqlx::Database(db) => {
            let code = db.code().unwrap_or_default();
            match db.try_downcast_ref::<sea_orm::sqlx::sqlite::SqliteError>() {
                // SQLITE_BUSY and SQLITE_LOCKED (with their extended codes): another writer
                // held the file past the busy timeout.
                Some(_) => code.parse::<i32>().is_ok_and(|c| matches!(c & 0xff, 5 | 6)),
                // PostgreSQL: connection trouble (08), shutting down or starting (57P),
                // read-only after a failover (25006), serialization failure or deadlock.
                None => {
                    code.starts_with("08")
                        || code.starts_with("57P")
                        || ["25006", "40001", "40P01"].contains(&&*code)
                }
            }
        }
        _ => false,
    }
}
