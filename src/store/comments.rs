//! Comments: public replies and internal notes, stored with the change they belong to.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};

use super::entity::comment;
use super::{Inserted, Store, Write, convert, inserted};
use crate::domain::ticket::{Comment, NewComment, Visibility};
use crate::error::Result;

impl Store {
    /// Stores a comment of `ticket_id` with the fingerprint of the request that wrote it;
    /// `None` when its request_id was taken meanwhile.
    pub async fn insert_comment(
        &self,
        write: &Write,
        ticket_id: i64,
        new: &NewComment,
        request_hash: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<Option<Comment>> {
        let row = comment::ActiveModel {
            ticket_id: Set(ticket_id),
            visibility: Set(new.visibility.as_str().to_owned()),
            author: Set(new.author.clone()),
            author_role: Set(new.author_role.as_str().to_owned()),
            body: Set(new.body.clone()),
            request_id: Set(new.request_id.clone()),
            request_hash: Set(request_hash),
            created_at: Set(now),
            ..Default::default()
        };
        let mut stored = None;
        let result = row.insert(write.conn()).await.map(|row| stored = Some(row));
        match inserted(result)? {
            Inserted::Done => stored.map(convert::comment).transpose(),
            Inserted::Taken => Ok(None),
        }
    }

    /// Comment `id`.
    pub async fn comment(&self, id: i64) -> Result<Option<Comment>> {
        comment::Entity::find_by_id(id)
            .one(&self.db)
            .await?
            .map(convert::comment)
            .transpose()
    }

    /// Up to `limit` comments of a ticket after comment id `after`, oldest first.
    pub async fn list_comments(
        &self,
        ticket_id: i64,
        visibility: Option<Visibility>,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Comment>> {
        let mut query = comment::Entity::find()
            .filter(comment::Column::TicketId.eq(ticket_id))
            .filter(comment::Column::Id.gt(after));
        if let Some(visibility) = visibility {
            query = query.filter(comment::Column::Visibility.eq(visibility.as_str()));
        }
        query
            .order_by_asc(comment::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await?
            .into_iter()
            .map(convert::comment)
            .collect()
    }

    /// The comment stored under `request_id`, with the fingerprint of the request that wrote
    /// it, read inside `write`.
    pub async fn comment_by_request_id(
        &self,
        write: &Write,
        request_id: &str,
    ) -> Result<Option<(Comment, Option<String>)>> {
        comment::Entity::find()
            .filter(comment::Column::RequestId.eq(request_id))
            .one(write.conn())
            .await?
            .map(|row| {
                let hash = row.request_hash.clone();
                Ok((convert::comment(row)?, hash))
            })
            .transpose()
    }
}
