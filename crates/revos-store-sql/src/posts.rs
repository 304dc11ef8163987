//! The rows of the publish pipeline: `posts` (migration 0018 of each
//! backend).

use crate::{DbId, DbInt};
use chrono::{DateTime, Utc};
use revos_store::posts::PostRecord;
use serde_json::Value;
use sqlx::types::Json;

/// A `posts` row ([`post_columns!`]).
#[derive(sqlx::FromRow)]
pub struct PostRow {
    id: DbId,
    status: String,
    channel: String,
    content_hash: String,
    version: DbInt,
    doc: Json<Value>,
    created_by: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<PostRow> for PostRecord {
    fn from(row: PostRow) -> Self {
        PostRecord {
            id: row.id.into_uuid(),
            status: row.status,
            channel: row.channel,
            content_hash: row.content_hash,
            version: row.version.0,
            doc: row.doc.0,
            created_by: row.created_by,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// The columns of [`PostRow`].
#[macro_export]
macro_rules! post_columns {
    () => {
        "id, status, channel, content_hash, version, doc, created_by, created_at, updated_at"
    };
}
