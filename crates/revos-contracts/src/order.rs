//! [`Order`]: which end of a list comes first.
//!
//! Every list of records that grows over time (events, audit entries, jobs,
//! cycles, tasks) reads newest first unless the caller asks otherwise. The
//! enum lives here, beside the other shapes clients wire against, so that
//! the job filter of `revos-queue`, the store and the API share one type.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The order of a listing by its stable key (time, then id or sequence).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Order {
    /// The most recent record first (the default).
    #[default]
    NewestFirst,
    /// The oldest record first.
    OldestFirst,
}

impl Order {
    /// `newest_first` or `oldest_first`.
    pub fn as_str(self) -> &'static str {
        match self {
            Order::NewestFirst => "newest_first",
            Order::OldestFirst => "oldest_first",
        }
    }

    /// `OldestFirst` when `oldest_first` is set, else the default.
    pub fn oldest_first_if(oldest_first: bool) -> Self {
        if oldest_first {
            Order::OldestFirst
        } else {
            Order::NewestFirst
        }
    }

    /// Whether the newest record comes first.
    pub fn is_newest_first(self) -> bool {
        self == Order::NewestFirst
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newest_first_is_the_default_and_reads_as_snake_case() {
        assert_eq!(Order::default(), Order::NewestFirst);
        let parsed: Order = serde_json::from_str("\"oldest_first\"").unwrap();
        assert_eq!(parsed, Order::OldestFirst);
        assert_eq!(
            serde_json::to_string(&Order::NewestFirst).unwrap(),
            "\"newest_first\""
        );
        assert!(serde_json::from_str::<Order>("\"sideways\"").is_err());
        assert_eq!(Order::oldest_first_if(true).as_str(), "oldest_first");
    }
}
