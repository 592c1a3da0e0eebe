//! Attachments and their bytes. An upload is spooled to a temporary file as it arrives (so a
//! server holds a chunk of it at a time, and a refused or broken-off upload leaves nothing:
//! the file goes with the spool); once accepted, its bytes become a blob, stored once per
//! SHA-256: in the database in chunks of at most 1 MiB, or, with a directory, in a file named
//! by the hash, renamed into place whole after an fsync. Attachment rows reference blobs.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use futures::Stream;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::entity::{attachment, attachment_blob, attachment_chunk};
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::attachment::{Attachment, MAX_CHUNK, NewAttachment, Received};
use crate::domain::ticket::Visibility;
use crate::error::{Error, Result};

/// The advisory-lock class under which a blob's hash is locked while it is stored or erased.
const BLOB_LOCK_CLASS: i32 = 0x4254; // "BT"
/// Where a directory keeps uploads in progress: beside the blobs, so the final rename stays on
/// one file system.
const INCOMING: &str = ".incoming";

const IN_DATABASE: &str = "DATABASE";
const IN_DIRECTORY: &str = "DIRECTORY";

/// An upload in progress: its bytes so far in a temporary file, their count and hash. Dropped
/// before it is stored, it removes its file.
pub struct Spool {
    file: tokio::fs::File,
    path: tempfile::TempPath,
    size: u64,
    hash: sha2::Sha256,
}

/// An upload whose bytes are all in, flushed to disk.
pub struct Spooled {
    path: tempfile::TempPath,
    pub size: u64,
    pub sha256: String,
}

impl Spool {
    /// A new spool in `dir`'s incoming folder, else in the system's temporary directory.
    pub async fn create(dir: Option<&Path>) -> Result<Spool> {
        let folder = match dir {
            Some(dir) => {
                let incoming = dir.join(INCOMING);
                tokio::fs::create_dir_all(&incoming)
                    .await
                    .map_err(|e| io("create", &incoming, e))?;
                incoming
            }
            None => std::env::temp_dir(),
        };
        let named = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&folder)
            .map_err(|e| io("create a file in", &folder, e))?;
        let (file, path) = named.into_parts();
        Ok(Spool {
            file: tokio::fs::File::from_std(file),
            path,
            size: 0,
            hash: sha2::Sha256::new(),
        })
    }

    /// Bytes in so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends `chunk`.
    pub async fn write(&mut self, chunk: &[u8]) -> Result<()> {
        self.hash.update(chunk);
        self.file
            .write_all(chunk)
            .await
            .map_err(|e| io("write", &self.path, e))?;
        self.size += chunk.len() as u64;
        Ok(())
    }

    /// Flushes the bytes to disk and names their hash.
    pub async fn finish(mut self) -> Result<Spooled> {
        self.file
            .flush()
            .await
            .map_err(|e| io("write", &self.path, e))?;
        self.file
            .sync_all()
            .await
            .map_err(|e| io("sync", &self.path, e))?;
        Ok(Spooled {
            sha256: hex(&self.hash.finalize()),
            size: self.size,
            path: self.path,
        })
    }
}

/// A blob file to remove if the transaction that stored or erased it does (not) commit.
#[must_use]
pub struct BlobFile(Option<PathBuf>);

impl BlobFile {
    /// Removes the file, if there is one; a failure is logged, since the rows are the truth
    /// and a stray file is only space.
    pub async fn remove(self) {
        if let Some(path) = self.0
            && let Err(error) = tokio::fs::remove_file(&path).await
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(%error, path = %path.display(), "could not remove an attachment file");
        }
    }
}

impl Store {
    /// Attachment `id`.
    pub async fn attachment(&self, id: i64) -> Result<Option<Attachment>> {
        attachment::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::attachment)
            .transpose()
    }

    /// Up to `limit` attachments of a ticket (of one comment, when given) after id `after`,
    /// oldest first; PUBLIC ones alone when `public_only`.
    pub async fn list_attachments(
        &self,
        ticket_id: i64,
        comment_id: Option<i64>,
        public_only: bool,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Attachment>> {
        let mut query = attachment::Entity::find()
            .filter(attachment::Column::TicketId.eq(ticket_id))
            .filter(attachment::Column::Id.gt(after));
        if let Some(comment_id) = comment_id {
            query = query.filter(attachment::Column::CommentId.eq(comment_id));
        }
        if public_only {
            query = query.filter(attachment::Column::Visibility.eq(Visibility::Public.as_str()));
        }
        query
            .order_by_asc(attachment::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::attachment)
            .collect()
    }

    /// The attachments of the comments `ids`, by comment, oldest first; PUBLIC ones alone
    /// when `public_only`.
    pub async fn comments_attachments(
        &self,
        ids: &[i64],
        public_only: bool,
    ) -> Result<std::collections::HashMap<i64, Vec<Attachment>>> {
        let mut by_comment = std::collections::HashMap::<i64, Vec<Attachment>>::new();
        if ids.is_empty() {
            return Ok(by_comment);
        }
        let mut query =
            attachment::Entity::find().filter(attachment::Column::CommentId.is_in(ids.to_vec()));
        if public_only {
            query = query.filter(attachment::Column::Visibility.eq(Visibility::Public.as_str()));
        }
        for row in query
            .order_by_asc(attachment::Column::Id)
            .all(&self.db)
            .await?
        {
            let attachment = convert::attachment(row)?;
            if let Some(comment) = attachment.comment_id {
                by_comment.entry(comment).or_default().push(attachment);
            }
        }
        Ok(by_comment)
    }

    /// The bytes a ticket's files take together.
    pub async fn attachment_bytes(&self, ticket_id: i64) -> Result<u64> {
        self.sum_attachments(&self.db, ticket_id).await
    }

    /// The same, read inside `write` (under the ticket's lock, to count against its quota).
    pub async fn attachment_bytes_in(&self, write: &Write, ticket_id: i64) -> Result<u64> {
        self.sum_attachments(write.conn(), ticket_id).await
    }

    async fn sum_attachments(&self, conn: &impl ConnectionTrait, ticket_id: i64) -> Result<u64> {
        let row = conn
            .query_one_raw(self.statement(
                "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM attachments \
                 WHERE ticket_id = $1",
                vec![ticket_id.into()],
            ))
            .await?;
        let sum = match row {
            Some(row) => row.try_get_by_index::<i64>(0)?,
            None => 0,
        };
        Ok(sum.max(0) as u64)
    }

    /// The attachment stored under `request_id`, with the fingerprint of the upload that
    /// stored it, read inside `write`.
    pub async fn attachment_by_request_id(
        &self,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Attachment, Option<String>)>> {
        attachment::Entity::find()
            .filter(attachment::Column::RequestId.eq(request_id))
            .one(write.conn())
            .await?
            .map(|row| {
                let hash = row.request_hash.clone();
                Ok((convert::attachment(row)?, hash))
            })
            .transpose()
    }

    /// Stores an attachment row; `None` when its request_id was taken meanwhile.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_attachment(
        &self,
        write: &Write,
        new: &NewAttachment,
        received: &Received,
        (uploaded_by, uploaded_via): (String, Option<String>),
        request_hash: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Attachment>> {
        let row = attachment::ActiveModel {
            ticket_id: Set(new.ticket_id),
            comment_id: Set(new.comment_id),
            file_name: Set(new.file_name.clone()),
            content_type: Set(received.content_type.clone()),
            declared_type: Set(new.declared_type.clone()),
            size: Set(received.size),
            sha256: Set(received.sha256.clone()),
            visibility: Set(new.visibility.as_str().to_owned()),
            uploaded_by: Set(uploaded_by),
            uploaded_via: Set(uploaded_via),
            request_id: Set(new.request_id.clone()),
            request_hash: Set(request_hash),
            created_at: Set(now),
            ..Default::default()
        };
        let mut stored = None;
        let result = row.insert(write.conn()).await.map(|row| stored = Some(row));
        match inserted(result)? {
            Inserted::Done => stored.map(convert::attachment).transpose(),
            Inserted::Taken => Ok(None),
        }
    }

    /// Makes `spooled` the blob of its hash inside `write`, unless that blob exists: into
    /// `dir` when given (renamed into place), else into the database in chunks. Returns the
    /// file to remove should the transaction not commit.
    pub async fn put_blob(
        &self,
        write: &Write,
        spooled: Spooled,
        dir: Option<&Path>,
        now: DateTime<Utc>,
    ) -> Result<BlobFile> {
        let sha = spooled.sha256.clone();
        // Two uploads of the same new bytes: the second waits here for the first to commit
        // (or not), then finds its blob (or stores its own). SQLite has one writer anyway.
        self.lock_key(write, BLOB_LOCK_CLASS, &sha).await?;
        let exists = attachment_blob::Entity::find_by_id(sha.clone())
            .count(write.conn())
            .await?
            > 0;
        if exists {
            // The spool's file goes as it drops.
            return Ok(BlobFile(None));
        }
        attachment_blob::ActiveModel {
            sha256: Set(sha.clone()),
            size: Set(spooled.size as i64),
            storage: Set(if dir.is_some() {
                IN_DIRECTORY
            } else {
                IN_DATABASE
            }
            .to_owned()),
            created_at: Set(now),
        }
        .insert(write.conn())
        .await?;
        match dir {
            Some(dir) => {
                let path = blob_path(dir, &sha);
                let folder = path.parent().unwrap_or(dir).to_owned();
                tokio::fs::create_dir_all(&folder)
                    .await
                    .map_err(|e| io("create", &folder, e))?;
                let target = path.clone();
                let temp = spooled.path;
                tokio::task::spawn_blocking(move || {
                    temp.persist(&target)
                        .map_err(|e| io("rename into", &target, e.error))?;
                    // The rename itself survives a crash once its directory is synced.
                    std::fs::File::open(&folder)
                        .and_then(|d| d.sync_all())
                        .map_err(|e| io("sync", &folder, e))
                })
                .await
                .map_err(|e| Error::Internal(format!("storing a file: {e}")))??;
                Ok(BlobFile(Some(path)))
            }
            None => {
                let mut file = tokio::fs::File::open(&spooled.path)
                    .await
                    .map_err(|e| io("open", &spooled.path, e))?;
                let mut buffer = vec![0; MAX_CHUNK];
                let mut seq = 0;
                loop {
                    let read = read_full(&mut file, &mut buffer)
                        .await
                        .map_err(|e| io("read", &spooled.path, e))?;
                    if read == 0 {
                        break;
                    }
                    attachment_chunk::ActiveModel {
                        sha256: Set(sha.clone()),
                        seq: Set(seq),
                        data: Set(buffer[..read].to_vec()),
                    }
                    .insert(write.conn())
                    .await?;
                    seq += 1;
                }
                Ok(BlobFile(None))
            }
        }
    }

    /// Removes `attachment` inside `write`, and its blob when no other attachment has the
    /// same bytes; returns the blob's file to remove once the transaction commits, or `None`
    /// when the attachment was gone already.
    pub async fn delete_attachment(
        &self,
        write: &Write,
        attachment: &Attachment,
        dir: Option<&Path>,
    ) -> Result<Option<BlobFile>> {
        let deleted = attachment::Entity::delete_by_id(attachment.id)
            .exec(write.conn())
            .await?;
        if deleted.rows_affected == 0 {
            return Ok(None);
        }
        let sha = &attachment.sha256;
        self.lock_key(write, BLOB_LOCK_CLASS, sha).await?;
        let used = attachment::Entity::find()
            .filter(attachment::Column::Sha256.eq(sha))
            .count(write.conn())
            .await?
            > 0;
        if used {
            return Ok(Some(BlobFile(None)));
        }
        let Some(blob) = attachment_blob::Entity::find_by_id(sha.clone())
            .one(write.conn())
            .await?
        else {
            return Ok(Some(BlobFile(None)));
        };
        attachment_chunk::Entity::delete_many()
            .filter(attachment_chunk::Column::Sha256.eq(sha))
            .exec(write.conn())
            .await?;
        attachment_blob::Entity::delete_by_id(sha.clone())
            .exec(write.conn())
            .await?;
        Ok(Some(BlobFile(match (blob.storage.as_str(), dir) {
            (IN_DIRECTORY, Some(dir)) => Some(blob_path(dir, sha)),
            _ => None,
        })))
    }

    /// The bytes of blob `sha256`, a chunk of at most 1 MiB at a time: from the database one
    /// row per read, or from `dir`.
    pub async fn read_blob(
        &self,
        sha256: &str,
        dir: Option<&Path>,
    ) -> Result<impl Stream<Item = Result<Vec<u8>>> + Send + 'static> {
        let blob = attachment_blob::Entity::find_by_id(sha256.to_owned())
            .one(&self.db)
            .await?
            .ok_or_else(|| Error::not_found("attachment", sha256))?;
        let source = match (blob.storage.as_str(), dir) {
            (IN_DIRECTORY, Some(dir)) => {
                let path = blob_path(dir, sha256);
                let file = tokio::fs::File::open(&path)
                    .await
                    .map_err(|e| io("open", &path, e))?;
                Source::File(file, path)
            }
            (IN_DIRECTORY, None) => {
                return Err(Error::Internal(format!(
                    "blob {sha256} is kept in a directory, but --attachment-dir is not set"
                )));
            }
            _ => Source::Database(self.db.clone(), sha256.to_owned(), 0),
        };
        Ok(futures::stream::try_unfold(source, next_chunk))
    }
}

/// Where a blob's bytes are read from, and how far.
enum Source {
    Database(sea_orm::DatabaseConnection, String, i32),
    File(tokio::fs::File, PathBuf),
}

async fn next_chunk(source: Source) -> Result<Option<(Vec<u8>, Source)>> {
    match source {
        Source::Database(db, sha, seq) => {
            let row = attachment_chunk::Entity::find_by_id((sha.clone(), seq))
                .one(&db)
                .await?;
            Ok(row.map(|row| (row.data, Source::Database(db, sha, seq + 1))))
        }
        Source::File(mut file, path) => {
            let mut buffer = vec![0; MAX_CHUNK];
            let read = read_full(&mut file, &mut buffer)
                .await
                .map_err(|e| io("read", &path, e))?;
            if read == 0 {
                return Ok(None);
            }
            buffer.truncate(read);
            Ok(Some((buffer, Source::File(file, path))))
        }
    }
}

/// Reads until `buffer` is full or the file ends; the count read.
async fn read_full(file: &mut tokio::fs::File, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        let read = file.read(&mut buffer[filled..]).await?;
        if read == 0 {
            break;
        }
        filled += read;
    }
    Ok(filled)
}

/// A blob's file: `dir/ab/abcdef…`, a folder per first byte so no folder grows too large.
fn blob_path(dir: &Path, sha256: &str) -> PathBuf {
    dir.join(&sha256[..2.min(sha256.len())]).join(sha256)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A file-system failure: ours, not the caller's (a full disk, a missing directory).
fn io(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::Internal(format!("cannot {what} {}: {error}", path.display()))
}
