//! Comments: public replies and internal notes, each recorded with its effect on the ticket.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use super::entity::comment;
use super::tickets::Note;
use super::{Store, Write, convert, is_unique_violation};
use crate::domain::event::EventType;
use crate::domain::lifecycle::{self, Action};
use crate::domain::ticket::{AuthorRole, Comment, Ticket, Visibility};
use crate::error::{Error, Result};

/// A comment as a caller writes it.
#[derive(Debug, Clone)]
pub struct NewComment {
    pub visibility: Visibility,
    pub author: String,
    pub author_role: AuthorRole,
    pub body: String,
    pub request_id: Option<String>,
}

impl Store {
    /// Adds a comment and applies its effect on the ticket (first response, resuming a
    /// ticket that waited on the customer) in one transaction with its event. A repeat of the
    /// same request_id returns the first comment and the ticket as it is now.
    pub async fn add_comment(
        &self,
        ticket_id: i64,
        new: NewComment,
        now: DateTime<Utc>,
    ) -> Result<(Comment, Ticket)> {
        let write = self.begin().await?;
        // Locked first, so a concurrent retry waits here and then finds the first comment.
        let current = self.lock_ticket(&write, ticket_id).await?;
        if let Some(first) = comment_by_request_id(write.conn(), new.request_id.as_deref()).await? {
            if first.ticket_id != ticket_id {
                return Err(Error::invalid(
                    "request_id",
                    "already used for a comment on another ticket",
                ));
            }
            return Ok((first, current));
        }
        let action = Action::Comment {
            visibility: new.visibility,
            role: new.author_role,
        };
        let author = new.author.clone();
        let (ticket, event) = self
            .change_in(&write, ticket_id, None, &author, now, |t| {
                lifecycle::apply(t, action, now)?;
                Ok((
                    EventType::CommentAdded,
                    Note {
                        comment: Some(new),
                        ..Note::default()
                    },
                ))
            })
            .await?;
        self.commit(write).await?;
        let comment = event
            .and_then(|e| e.comment)
            .ok_or_else(|| Error::Internal("comment event without comment".into()))?;
        Ok((comment, ticket))
    }

    pub(crate) async fn insert_comment(
        &self,
        write: &Write,
        ticket_id: i64,
        new: NewComment,
        now: DateTime<Utc>,
    ) -> Result<Comment> {
        let row = comment::ActiveModel {
            ticket_id: Set(ticket_id),
            visibility: Set(new.visibility.as_str().to_owned()),
            author: Set(new.author),
            author_role: Set(new.author_role.as_str().to_owned()),
            body: Set(new.body),
            request_id: Set(new.request_id),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(write.conn())
        .await
        .map_err(|e| match is_unique_violation(&e) {
            true => Error::invalid("request_id", "already used for another comment"),
            false => e.into(),
        })?;
        convert::comment(row)
    }

    /// Up to `limit` comments of a ticket after comment id `after`, oldest first.
    pub async fn list_comments(
        &self,
        ticket_id: i64,
        visibility: Option<Visibility>,
        after: i64,
        limit: u64,
    ) -> Result<Vec<Comment>> {
        self.get_ticket(ticket_id).await?;
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
}

async fn comment_by_request_id(
    conn: &impl ConnectionTrait,
    request_id: Option<&str>,
) -> Result<Option<Comment>> {
    let Some(request_id) = request_id else {
        return Ok(None);
    };
    comment::Entity::find()
        .filter(comment::Column::RequestId.eq(request_id))
        .one(conn)
        .await?
        .map(convert::comment)
        .transpose()
}
