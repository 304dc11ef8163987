//! Listing newest first and paging by an opaque cursor.
//!
//! The lists that grow over time (events, audit entries, jobs, cycles,
//! tasks) are read by a stable key: the record's time, then its id (the
//! audit log by its sequence number, which already orders it). A page ends
//! with a [`Cursor`] holding the key of its last record; the next page is
//! "the records past this key in the listing's [`Order`]", a keyset
//! condition each backend writes as `(created_at, id) < (?, ?)` (newest
//! first) or `>` (oldest first). Records written while a client pages do
//! not shift the pages, and records with equal times are neither skipped
//! nor repeated, because the id breaks the tie.
//!
//! The cursor travels as a short text clients pass back unchanged:
//! `<microseconds since 1970>.<id as 32 hex digits>` for a list keyed by
//! time ([`CURSOR_AT_PATTERN`]), `s<sequence number>` for the audit log
//! ([`CURSOR_SEQ_PATTERN`]). Every text the pattern allows is a position
//! (it need not be a record's), so the API document can state the exact
//! form; anything else is refused when it comes back. The rules live here
//! once; the backends only differ in their SQL.

use chrono::{DateTime, Utc};
use uuid::Uuid;

pub use revos_contracts::Order;

/// The form of a cursor of a list keyed by time, then id.
pub const CURSOR_AT_PATTERN: &str = "^[0-9]{1,16}\\.[0-9a-f]{32}$";
/// The form of a cursor of the audit log.
pub const CURSOR_SEQ_PATTERN: &str = "^s[0-9]{1,18}$";

/// Where a page ended: the sort key of its last record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cursor {
    /// A list keyed by time, then id.
    At(DateTime<Utc>, Uuid),
    /// The audit log, keyed by sequence number.
    Seq(u64),
}

/// A cursor that is not one this server handed out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CursorError(String);

impl Cursor {
    /// The text handed to clients.
    pub fn encode(self) -> String {
        match self {
            Cursor::At(t, id) => format!("{}.{}", t.timestamp_micros().max(0), id.simple()),
            Cursor::Seq(seq) => format!("s{seq}"),
        }
    }

    /// Reads a cursor back; any text not of the form
    /// [`CURSOR_AT_PATTERN`] or [`CURSOR_SEQ_PATTERN`] is a
    /// [`CursorError`].
    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        let bad = || {
            CursorError(
                "not a cursor of this list: pass `next_cursor` of the previous page unchanged"
                    .to_owned(),
            )
        };
        let digits = |d: &str, max: usize| {
            !d.is_empty() && d.len() <= max && d.bytes().all(|b| b.is_ascii_digit())
        };
        if let Some(seq) = text.strip_prefix('s') {
            if !digits(seq, 18) {
                return Err(bad());
            }
            return seq.parse().map(Cursor::Seq).map_err(|_| bad());
        }
        let (micros, id) = text.split_once('.').ok_or_else(bad)?;
        let hex = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !digits(micros, 16) || !hex {
            return Err(bad());
        }
        let micros: i64 = micros.parse().map_err(|_| bad())?;
        let t = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
        let id = Uuid::parse_str(id).map_err(|_| bad())?;
        Ok(Cursor::At(t, id))
    }

    /// The (time, id) key of a list keyed by time; a sequence cursor is an
    /// error (it belongs to the audit log).
    pub fn at(self) -> Result<(DateTime<Utc>, Uuid), CursorError> {
        match self {
            Cursor::At(t, id) => Ok((t, id)),
            Cursor::Seq(_) => Err(CursorError(
                "this cursor belongs to the audit log, not to this list".to_owned(),
            )),
        }
    }

    /// The sequence number of an audit cursor; a time cursor is an error.
    pub fn seq(self) -> Result<u64, CursorError> {
        match self {
            Cursor::Seq(seq) => Ok(seq),
            Cursor::At(..) => Err(CursorError(
                "this cursor belongs to another list than the audit log".to_owned(),
            )),
        }
    }
}

/// The comparison of a keyset condition in `order`: `<` newest first (the
/// next page holds smaller keys), `>` oldest first. Both dialects compare
/// row values, so backends write `(created_at, id) {cmp} (?, ?)`.
pub fn keyset_cmp(order: Order) -> &'static str {
    match order {
        Order::NewestFirst => "<",
        Order::OldestFirst => ">",
    }
}

/// The SQL direction of `order`: `desc` newest first, `asc` oldest first.
pub fn sql_direction(order: Order) -> &'static str {
    match order {
        Order::NewestFirst => "desc",
        Order::OldestFirst => "asc",
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq)]
pub struct Listed<T> {
    /// The records, in the listing's order.
    pub items: Vec<T>,
    /// Where to continue, when more records follow.
    pub next_cursor: Option<Cursor>,
    /// Whether more records follow this page.
    pub has_more: bool,
}

impl<T> Listed<T> {
    /// A page of `items`; `has_more` says whether records follow the last
    /// one, whose key (`key`) becomes the cursor.
    pub fn new(items: Vec<T>, has_more: bool, key: impl Fn(&T) -> Cursor) -> Self {
        let next_cursor = if has_more {
            items.last().map(key)
        } else {
            None
        };
        Listed {
            has_more: next_cursor.is_some(),
            next_cursor,
            items,
        }
    }

    /// The same page with each record turned into something else (the
    /// cursor stays).
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listed<U> {
        Listed {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
            has_more: self.has_more,
        }
    }
}

/// The last record of a page that came back full (`limit` records), whose
/// key a pager probes past to learn whether more follow; `None` for a
/// short page, which is the end.
pub fn probe_after<T>(items: &[T], limit: u32) -> Option<&T> {
    if items.len() as u64 >= u64::from(limit) {
        items.last()
    } else {
        None
    }
}

/// The page size a filter asks for: `limit`, or `default`, capped at `max`
/// and at least 1.
pub fn page_limit(limit: Option<u32>, default: u32, max: u32) -> u32 {
    limit.unwrap_or(default).clamp(1, max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_need_no_escaping_in_a_url() {
        let t = DateTime::parse_from_rfc3339("2026-03-01T10:00:00.123456Z")
            .unwrap()
            .with_timezone(&Utc);
        let at = Cursor::At(t, Uuid::from_u128(7));
        let text = at.encode();
        assert!(text.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
        assert_eq!(Cursor::decode(&text).unwrap(), at);
        let seq = Cursor::Seq(42);
        assert_eq!(Cursor::decode(&seq.encode()).unwrap(), seq);
        assert_eq!(Cursor::decode(&seq.encode()).unwrap().seq().unwrap(), 42);
        assert!(seq.at().is_err());
        assert!(at.seq().is_err());
    }

    #[test]
    fn anything_else_is_refused() {
        let id = "0".repeat(32);
        for bad in [
            String::new(),
            "x".into(),
            "!!!".into(),
            "s".into(),
            "s-1".into(),
            format!("s{}", "9".repeat(19)),
            format!("1.{}", "A".repeat(32)),
            format!(".{id}"),
            format!("{}.{id}", "1".repeat(17)),
            format!("12.{id}.3"),
            format!(" 12.{id}"),
        ] {
            assert!(Cursor::decode(&bad).is_err(), "{bad:?}");
        }
        // Every text of the documented forms is a position.
        assert!(Cursor::decode(&format!("{}.{id}", "9".repeat(16))).is_ok());
        assert!(Cursor::decode(&format!("0.{}", "f".repeat(32))).is_ok());
        assert!(Cursor::decode(&format!("s{}", "9".repeat(18))).is_ok());
    }

    #[test]
    fn a_page_has_a_cursor_only_when_more_follow() {
        let more = Listed::new(vec![1u64, 2, 3], true, |n| Cursor::Seq(*n));
        assert_eq!(more.next_cursor, Some(Cursor::Seq(3)));
        assert!(more.has_more);
        let end = Listed::new(vec![1u64], false, |n| Cursor::Seq(*n));
        assert_eq!((end.next_cursor, end.has_more), (None, false));
        let empty = Listed::new(Vec::<u64>::new(), true, |n| Cursor::Seq(*n));
        assert!(!empty.has_more);
        assert_eq!(probe_after(&[1, 2], 2), Some(&2));
        assert_eq!(probe_after(&[1], 2), None);
        assert_eq!(page_limit(None, 100, 1000), 100);
        assert_eq!(page_limit(Some(0), 100, 1000), 1);
        assert_eq!(page_limit(Some(5000), 100, 1000), 1000);
    }
}
