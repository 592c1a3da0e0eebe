//! Identity and access: API keys (created, listed, revoked; the first admin key at the first
//! start), who a credential says its holder is, and the audit of configuration changes.
//!
//! Keys are looked up by the hash of what the caller sends, and what a lookup found is kept
//! in memory; any change of any key (here, on another instance, or by `feedbackd keys`)
//! empties that memory through the reactions to the configuration log, so a revoked key is
//! refused as soon as the change reaches an instance.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::broadcast;

use super::App;
use super::admin::{Change, Resource};
use super::staff::check_teams;
use crate::domain::access::{ApiKey, Caller, KEY_PREFIX, Principal, Role, key_hash};
use crate::domain::config::ConfigChange;
use crate::domain::error::Refusal;
use crate::domain::idempotency::Requested;
use crate::domain::patch::Patch;
use crate::error::{Error, Found, Result};
use crate::store::{Inserted, Store, Write};

/// What the configuration log calls an API key.
pub const KEY_KIND: &str = "API key";

/// Why a credential was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("no credentials: send the header `authorization: Bearer <key or token>`")]
    Missing,
    #[error("the credential is not a valid API key or token")]
    Unknown,
    #[error("the API key was revoked")]
    Revoked,
    #[error("the token is not accepted: {0}")]
    Token(String),
    /// The key could not be looked up (the database is away): not the caller's fault.
    #[error("the credential cannot be checked now: {0}")]
    Unchecked(String),
}

/// The keys found so far, by hash. Emptied whenever any key changes; `generation` counts the
/// emptyings, so that a lookup that raced with one does not put back what it read before.
pub struct Keys {
    found: RwLock<HashMap<String, Arc<Principal>>>,
    generation: AtomicU64,
    /// The names of keys revoked, as the reactions learn of them: streams open under one end.
    revoked: broadcast::Sender<String>,
}

impl Default for Keys {
    fn default() -> Self {
        Keys {
            found: RwLock::default(),
            generation: AtomicU64::default(),
            revoked: broadcast::channel(REVOCATIONS).0,
        }
    }
}

/// Revocations a stream may fall behind on before it looks its key up instead.
const REVOCATIONS: usize = 64;

impl Keys {
    /// Tells the streams open under key `name` that it was revoked.
    pub(crate) fn revoked(&self, name: String) {
        // Nobody listening is fine: no stream is open.
        let _ = self.revoked.send(name);
    }

    /// Forgets every key found: one of them may have changed.
    pub(crate) fn forget(&self) {
        let mut found = self.found.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        found.clear();
    }

    fn get(&self, hash: &str) -> Option<Arc<Principal>> {
        let found = self.found.read().unwrap_or_else(|e| e.into_inner());
        found.get(hash).cloned()
    }

    fn keep(&self, hash: String, principal: Arc<Principal>, generation: u64) {
        let mut found = self.found.write().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) == generation {
            found.insert(hash, principal);
        }
    }
}

impl Resource for ApiKey {
    const KIND: &'static str = KEY_KIND;
    type Key = str;

    fn key(&self) -> String {
        self.name.clone()
    }

    async fn lock(store: &Store, write: &Write, key: &str) -> Result<Option<ApiKey>> {
        store.lock_api_key(write, key).await
    }

    async fn insert(
        &mut self,
        store: &Store,
        write: &Write,
        _: Option<&Requested>,
    ) -> Result<Inserted> {
        store.insert_api_key(write, self).await
    }

    async fn update(store: &Store, write: &Write, _: &Self, after: &Self) -> Result<()> {
        store.update_api_key(write, after).await
    }

    async fn delete(&self, store: &Store, write: &Write) -> Result<()> {
        store.delete_api_key(write, &self.name).await
    }

    async fn guard(app: &App, write: &Write, change: Change<'_, ApiKey>) -> Result<()> {
        let Change::Create(key) = change else {
            return Ok(());
        };
        key.principal().check_scope()?;
        check_teams(app, write, &key.teams).await?;
        if let Some(agent) = &key.agent {
            app.store.agent(agent).await?.found("agent", agent)?;
        }
        Ok(())
    }
}

/// A new key's secret: the prefix and 256 random bits.
fn new_secret() -> Result<String> {
    Ok(format!(
        "{KEY_PREFIX}{}{}",
        super::random_token()?,
        super::random_token()?
    ))
}

impl App {
    /// Who the API key `key` belongs to.
    pub async fn authenticate_key(
        &self,
        key: &str,
    ) -> std::result::Result<Arc<Principal>, Rejected> {
        let hash = key_hash(key);
        if let Some(principal) = self.keys.get(&hash) {
            return Ok(principal);
        }
        let generation = self.keys.generation.load(Ordering::Acquire);
        let stored = self
            .store
            .api_key_by_hash(&hash)
            .await
            .map_err(|e| Rejected::Unchecked(e.to_string()))?;
        match stored {
            None => Err(Rejected::Unknown),
            Some(key) if key.is_revoked() => Err(Rejected::Revoked),
            Some(key) => {
                let principal = Arc::new(key.principal());
                self.keys.keep(hash, principal.clone(), generation);
                Ok(principal)
            }
        }
    }

    /// Creates a key for `holder` (its name, role and scope); answers with the key as stored
    /// and its secret, which is shown nowhere else.
    pub async fn create_api_key(&self, by: &Caller, holder: Principal) -> Result<(ApiKey, String)> {
        let secret = new_secret()?;
        let key = ApiKey::new(&holder, &secret, &by.actor(), self.now());
        let key = self.create(key, None, by).await?;
        Ok((key, secret))
    }

    /// Up to `limit` keys by name after `after`, revoked ones too when `revoked`.
    pub async fn api_keys(
        &self,
        after: Option<&str>,
        revoked: bool,
        limit: u64,
    ) -> Result<Vec<ApiKey>> {
        self.store.api_keys(after, revoked, limit).await
    }

    /// Resolves when the API key `by` holds is revoked, here or on another instance; never
    /// for the holder of a JWT (whose name no key has), which is good until it expires.
    pub async fn revocation(&self, by: &Principal) {
        let mut revoked = self.keys.revoked.subscribe();
        // Revoked between the call's authentication and the subscription: no news will come.
        if self.key_revoked(&by.name).await {
            return;
        }
        loop {
            match revoked.recv().await {
                Ok(name) if name == by.name => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if self.key_revoked(&by.name).await {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => std::future::pending().await,
            }
        }
    }

    /// Whether `name` is an API key, revoked; a database that cannot say leaves it be.
    async fn key_revoked(&self, name: &str) -> bool {
        matches!(self.store.api_key(name).await, Ok(Some(key)) if key.is_revoked())
    }

    /// Revokes key `name` for good; every instance refuses it once the change reaches it.
    /// Revoking a revoked key changes nothing.
    pub async fn revoke_api_key(&self, by: &Caller, name: &str) -> Result<ApiKey> {
        let now = self.now();
        let revoke: fn(&mut ApiKey, &DateTime<Utc>) = |key, at| {
            key.revoked_at.get_or_insert(*at);
        };
        let patch = Patch::new(now, vec![("revoked_at", revoke)]);
        self.update(name, None, &patch, by).await
    }

    /// Up to `limit` configuration changes before `before`, newest first.
    pub async fn audit_entries(
        &self,
        before: Option<i64>,
        resource: Option<&str>,
        actor: Option<&str>,
        limit: u64,
    ) -> Result<Vec<ConfigChange>> {
        self.store
            .audit_entries(before, resource, actor, limit)
            .await
    }

    /// At the first start, when no admin key is in force: creates one and writes it to
    /// `file` (readable by its owner alone). Returns whether it did. The key itself is never
    /// logged.
    pub async fn ensure_admin_key(&self, file: &Path) -> Result<bool> {
        if self.store.has_admin_key().await? {
            return Ok(false);
        }
        let secret = new_secret()?;
        // Written before the key exists (a key stored but written nowhere would lock everyone
        // out), to a file of this start's own: an instance starting beside it must not
        // overwrite the secret of the key that wins.
        let mut draft = file.as_os_str().to_owned();
        draft.push(format!(".{}.new", std::process::id()));
        let draft = std::path::PathBuf::from(draft);
        write_secret(&draft, &secret).map_err(|e| {
            Error::Internal(format!(
                "cannot write the admin key to {}: {e}",
                draft.display()
            ))
        })?;
        let created = self.create_admin_key(&secret).await;
        if !matches!(created, Ok(true)) {
            let _ = std::fs::remove_file(&draft);
            return created;
        }
        std::fs::rename(&draft, file).map_err(|e| {
            Error::Internal(format!(
                "the admin key is in {}, and cannot be moved to {}: {e}",
                draft.display(),
                file.display()
            ))
        })?;
        Ok(true)
    }

    /// Stores the first admin key; false when another instance stored one first.
    async fn create_admin_key(&self, secret: &str) -> Result<bool> {
        let now = self.now();
        let system = Caller::system();
        let mut name = "admin".to_owned();
        for attempt in 1.. {
            let holder = Principal {
                name: name.clone(),
                ..Principal::system()
            };
            match self
                .create(ApiKey::new(&holder, secret, "system", now), None, &system)
                .await
            {
                Ok(_) => return Ok(true),
                Err(e) if e.is_already_exists() && self.store.has_admin_key().await? => {
                    return Ok(false);
                }
                // An earlier admin key of that name, revoked since.
                Err(e) if e.is_already_exists() && attempt < 100 => {
                    name = format!("admin-{attempt}");
                }
                Err(e) => return Err(e),
            }
        }
        unreachable!("the loop returns")
    }
}

/// Writes `secret` to `file`, readable and writable by its owner only.
fn write_secret(file: &Path, secret: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut out = options.open(file)?;
    #[cfg(unix)]
    {
        // A file that existed keeps its mode through open(): narrow it.
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(out, "{secret}")
}

/// Refuses a role name that is not one.
pub fn parse_role(field: &str, value: &str) -> std::result::Result<Role, Refusal> {
    value.parse().map_err(|_| {
        Refusal::invalid(
            field,
            format!(
                "{} is not a role: {}",
                crate::domain::error::quote(value),
                Role::ALL
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )
    })
}
