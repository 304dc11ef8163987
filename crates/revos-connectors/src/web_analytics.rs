//! Web analytics: a generic daily export of sessions (visits) per channel,
//! the shape GA4 or Plausible reports are reshaped into.
//!
//! ```json
//! {"type": "web_analytics.daily",
//!  "rows": [{"date": "2026-01-05", "channel": "organic", "sessions": 1830}]}
//! ```
//!
//! Each row becomes one [`ChannelDay`] with source `web_analytics` and only
//! `sessions` set; all three fields are required. A row's natural key is
//! (day, channel, no campaign, source): re-sending a day replaces it.

use crate::field::Node;
use crate::{MapError, Outcome, daily_rows};
use revos_store::ChannelDay;
use serde_json::Value;

/// The source name.
pub const SOURCE: &str = "web_analytics";
/// This mapper's version.
pub const VERSION: &str = "web_analytics/1";
/// The one payload type handled.
pub const TYPE: &str = "web_analytics.daily";

/// Maps a `web_analytics.daily` payload to channel days.
pub fn map(payload: &Value) -> Result<Outcome, MapError> {
    daily_rows(payload, TYPE, |row: &Node<'_>, date, channel| {
        let sessions = row.get("sessions")?.as_i64()?;
        if sessions < 0 {
            return Err(MapError::Invalid {
                path: format!("{}.sessions", row.path),
                expected: "a whole number of at least 0",
            });
        }
        Ok(ChannelDay {
            date,
            channel: channel.to_string(),
            campaign_id: None,
            spend: None,
            currency: None,
            impressions: None,
            clicks: None,
            sessions: Some(sessions),
            source: SOURCE.to_string(),
        })
    })
}
