//! The HTTP routes, one module per area.

pub mod audit;
pub mod cycles;
pub mod data;
pub mod events;
pub mod jobs;
pub mod keys;
pub mod me;
pub mod system;
pub mod tenants;
pub mod webhooks;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A page of records.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct List<T> {
    /// The records.
    pub items: Vec<T>,
    /// The `offset` of the next page, absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}

impl<T> List<T> {
    /// Wraps a complete list (no further page).
    pub fn all(items: Vec<T>) -> Self {
        List {
            items,
            next_offset: None,
        }
    }

    /// Wraps a page of records fetched with `page`.
    pub fn new(items: Vec<T>, page: revos_store::Page) -> Self {
        let full = items.len() as u32 == page.limit;
        List {
            next_offset: full.then(|| page.offset + page.limit),
            items,
        }
    }
}

/// Paging parameters of list endpoints.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// At most this many records (1–1000, default 100).
    pub limit: Option<u32>,
    /// Records to skip (default 0).
    pub offset: Option<u32>,
}

impl PageParams {
    /// The store's page.
    pub fn page(&self) -> revos_store::Page {
        revos_store::Page::new(self.limit.unwrap_or(100), self.offset.unwrap_or(0))
    }
}
