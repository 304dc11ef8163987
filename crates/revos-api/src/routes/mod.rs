//! The HTTP routes, one module per area.

pub(crate) mod audit;
pub(crate) mod cycles;
pub(crate) mod data;
pub(crate) mod events;
pub(crate) mod forms;
pub(crate) mod jobs;
pub(crate) mod keys;
pub(crate) mod me;
pub(crate) mod ops;
pub(crate) mod posts;
pub(crate) mod system;
pub(crate) mod templates;
pub(crate) mod tenants;
pub(crate) mod tickets;
pub(crate) mod webhooks;

use crate::error::ApiError;
use chrono::{DateTime, Utc};
use revos_kernel::Failure;
use revos_store::listing::{Cursor, Listed};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A page of records.
///
/// Lists that grow over time (events, audit entries, jobs, cycles, tasks)
/// page by `next_cursor`: pass it back as `cursor` for the next page. Other
/// lists page by `next_offset`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub(crate) struct List<T> {
    /// The records.
    pub(crate) items: Vec<T>,
    /// The `offset` of the next page, absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) next_offset: Option<u32>,
    /// The `cursor` of the next page (pass it back unchanged), absent on the
    /// last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) next_cursor: Option<String>,
    /// Whether more records follow this page.
    #[serde(default)]
    pub(crate) has_more: bool,
}

impl<T> List<T> {
    /// Wraps a complete list (no further page).
    pub(crate) fn all(items: Vec<T>) -> Self {
        List {
            items,
            next_offset: None,
            next_cursor: None,
            has_more: false,
        }
    }

    /// Wraps a page of records fetched with `page`.
    pub(crate) fn new(items: Vec<T>, page: revos_store::Page) -> Self {
        let full = items.len() as u32 == page.limit;
        let next_offset = full.then(|| page.offset + page.limit);
        List {
            has_more: next_offset.is_some(),
            next_offset,
            next_cursor: None,
            items,
        }
    }

    /// The same page with every record converted: a store record or a
    /// kernel result into the API type that shows it.
    pub(crate) fn convert<U: From<T>>(self) -> List<U> {
        List {
            items: self.items.into_iter().map(U::from).collect(),
            next_offset: self.next_offset,
            next_cursor: self.next_cursor,
            has_more: self.has_more,
        }
    }

    /// Wraps a page read by cursor.
    pub(crate) fn paged(page: Listed<T>) -> Self {
        List {
            items: page.items,
            next_offset: None,
            next_cursor: page.next_cursor.map(Cursor::encode),
            has_more: page.has_more,
        }
    }
}

/// The `cursor` query parameter, read back; a text that is not a cursor
/// this server handed out is `INVALID_INPUT` naming `query.cursor`.
pub(crate) fn cursor(raw: Option<&str>) -> Result<Option<Cursor>, ApiError> {
    raw.map(|text| {
        Cursor::decode(text).map_err(|err| ApiError(Failure::bad_cursor("query.cursor", &err)))
    })
    .transpose()
}

/// The (time, id) key of a `cursor` query parameter of a list keyed by
/// time.
pub(crate) fn cursor_at(raw: Option<&str>) -> Result<Option<(DateTime<Utc>, Uuid)>, ApiError> {
    cursor(raw)?
        .map(|c| {
            c.at()
                .map_err(|err| ApiError(Failure::bad_cursor("query.cursor", &err)))
        })
        .transpose()
}

/// Paging parameters of list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageParams {
    /// At most this many records (1–1000, default 100).
    pub(crate) limit: Option<u32>,
    /// Records to skip (default 0).
    pub(crate) offset: Option<u32>,
}

impl PageParams {
    /// The store's page.
    pub(crate) fn page(&self) -> revos_store::Page {
        revos_store::Page::new(self.limit.unwrap_or(100), self.offset.unwrap_or(0))
    }
}
