//! Ad spend: a generic daily export that Google Ads, Meta or LinkedIn
//! reports are reshaped into.
//!
//! ```json
//! {"type": "ad_spend.daily",
//!  "rows": [{"date": "2026-01-05", "channel": "paid_search",
//!            "campaign_id": "cmp_q1", "spend": 412.5,
//!            "impressions": 18000, "clicks": 540, "currency": "USD"}]}
//! ```
//!
//! Each row becomes one [`ChannelDay`] with source `ad_spend`;
//! `campaign_id`, `impressions`, `clicks` and `currency` are optional,
//! `date`, `channel` and `spend` required. A row's natural key is (day,
//! channel, campaign, source): re-sending a day replaces its figures.

use crate::field::Node;
use crate::{MapError, Outcome, daily_rows};
use revos_store::ChannelDay;
use serde_json::Value;

/// The source name.
pub const SOURCE: &str = "ad_spend";
/// This mapper's version.
pub const VERSION: &str = "ad_spend/1";
/// The one payload type handled.
pub const TYPE: &str = "ad_spend.daily";

/// Maps an `ad_spend.daily` payload to channel days.
pub fn map(payload: &Value) -> Result<Outcome, MapError> {
    daily_rows(payload, TYPE, |row: &Node<'_>, date, channel| {
        let spend = row.get("spend")?.as_f64()?;
        if spend < 0.0 {
            return Err(MapError::Invalid {
                path: format!("{}.spend", row.path),
                expected: "a number of at least 0",
            });
        }
        Ok(ChannelDay {
            date,
            channel: channel.to_string(),
            campaign_id: row.opt("campaign_id").map(|n| n.as_id()).transpose()?,
            spend: Some(spend),
            currency: row.opt_str("currency")?.map(str::to_uppercase),
            impressions: row.opt("impressions").map(|n| n.as_i64()).transpose()?,
            clicks: row.opt("clicks").map(|n| n.as_i64()).transpose()?,
            sessions: None,
            source: SOURCE.to_string(),
        })
    })
}
