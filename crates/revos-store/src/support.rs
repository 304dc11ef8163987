//! Small rules shared by the backends, so that both apply them the same way.
//!
//! These are not storage calls: the backends call them before they touch
//! the database (validating a tenant name, collapsing a batch that names
//! one record twice, taking the write time). Callers of [`crate::Store`]
//! have no need for them.

use crate::{MAX_PAGE, Page, StoreError, WriteSummary};
use chrono::{DateTime, SubsecRound, Utc};
use std::collections::HashSet;
use std::hash::Hash;

/// What a client reads when the database refuses a record because its id
/// or key is taken (the driver's own words are logged, never answered).
pub const DUPLICATE_RECORD: &str = "duplicate record: an id or key in it is already taken";

/// What a client reads when a record refers to one that does not exist.
pub const MISSING_REFERENCE: &str = "reference to a record that does not exist";

/// What a client reads when a value breaks a rule the database enforces
/// (a required value missing, a value out of range).
pub const BROKEN_RULE: &str = "a value breaks a rule of the stored data (missing or out of range)";

/// The longest tenant name, in characters.
pub const MAX_TENANT_NAME_CHARS: usize = 200;

/// The name a tenant is stored with: trimmed, 1 to
/// [`MAX_TENANT_NAME_CHARS`] characters without NUL, else
/// [`StoreError::Invalid`].
pub fn tenant_name(name: &str) -> Result<&str, StoreError> {
    let trimmed = name.trim();
    let chars = trimmed.chars().count();
    if chars == 0 {
        return Err(StoreError::Invalid("tenant name must not be empty".into()));
    }
    if chars > MAX_TENANT_NAME_CHARS {
        return Err(StoreError::Invalid(format!(
            "tenant name is {chars} characters long; the limit is {MAX_TENANT_NAME_CHARS}"
        )));
    }
    if revos_contracts::text::has_nul(trimmed) {
        return Err(StoreError::Invalid(
            "tenant name must not contain the NUL character".into(),
        ));
    }
    Ok(trimmed)
}

/// The records of a batch with, for each key, only the last one that names
/// it, in the order of those last occurrences.
///
/// A batch that sends the same record twice means "the later one wins";
/// collapsing it before writing gives that meaning on every backend (a
/// PostgreSQL `on conflict do update` refuses to touch a row twice in one
/// statement) and makes [`crate::WriteSummary::written`] count records, not
/// lines of input.
pub fn last_wins<T, K, F>(items: &[T], key: F) -> Vec<&T>
where
    K: Eq + Hash,
    F: Fn(&T) -> K,
{
    let mut seen = HashSet::with_capacity(items.len());
    let mut kept: Vec<&T> = items
        .iter()
        .rev()
        .filter(|item| seen.insert(key(item)))
        .collect();
    kept.reverse();
    kept
}

/// The current time at the precision both databases keep (microseconds),
/// so a record returned by a write equals the same record read back.
pub fn now() -> DateTime<Utc> {
    now_at(Utc::now())
}

/// A given time truncated to the microseconds every backend stores.
pub fn now_at(at: DateTime<Utc>) -> DateTime<Utc> {
    at.trunc_subsecs(6)
}

/// The longest subject, in characters (the table's check says the same).
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Fails with [`StoreError::Invalid`] unless `subject` is 1 to
/// [`MAX_SUBJECT_CHARS`] characters with no surrounding white space and no
/// control characters.
///
/// A subject is an identity provider's opaque `sub` claim, matched exactly
/// when its user authenticates: it is refused rather than trimmed, since a
/// trimmed copy would never match the claim again.
pub fn check_subject(subject: &str) -> Result<(), StoreError> {
    let chars = subject.chars().count();
    if chars == 0 || chars > MAX_SUBJECT_CHARS {
        return Err(StoreError::Invalid(format!(
            "a subject is 1 to {MAX_SUBJECT_CHARS} characters long, not {chars}"
        )));
    }
    if subject.trim() != subject {
        return Err(StoreError::Invalid(
            "a subject must not start or end with white space".into(),
        ));
    }
    if subject.chars().any(char::is_control) {
        return Err(StoreError::Invalid(
            "a subject must not contain control characters".into(),
        ));
    }
    Ok(())
}

/// The limit and offset of a page as the databases bind them, the limit
/// at most [`MAX_PAGE`].
pub fn limit_offset(page: Page) -> (i64, i64) {
    (i64::from(page.limit.min(MAX_PAGE)), i64::from(page.offset))
}

/// The summary of a batch that wrote `count` records.
pub fn written(count: usize) -> WriteSummary {
    WriteSummary {
        written: count as u64,
    }
}

/// Compact JSON text of a value, for a TEXT column or a `jsonb` cast.
pub fn json_text<T: serde::Serialize + ?Sized>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Backend(format!("cannot encode JSON: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_names_are_trimmed_and_bounded() {
        assert_eq!(tenant_name("  Acme ").ok(), Some("Acme"));
        assert!(matches!(tenant_name("   "), Err(StoreError::Invalid(_))));
        assert!(matches!(tenant_name(""), Err(StoreError::Invalid(_))));
        let longest = "é".repeat(MAX_TENANT_NAME_CHARS);
        assert_eq!(tenant_name(&longest).ok(), Some(longest.as_str()));
        let too_long = "x".repeat(MAX_TENANT_NAME_CHARS + 1);
        assert!(matches!(
            tenant_name(&too_long),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn last_occurrence_wins_in_order() {
        let items = [("a", 1), ("b", 2), ("a", 3), ("c", 4), ("b", 5)];
        let kept = last_wins(&items, |(k, _)| *k);
        assert_eq!(kept, vec![&("a", 3), &("c", 4), &("b", 5)]);
    }

    #[test]
    fn subjects_are_bounded_trimmed_and_printable() {
        for good in ["a", "auth0|5f7c8ec7c33c6c004bbafe82", "ü", &"é".repeat(200)] {
            assert!(check_subject(good).is_ok(), "{good:?}");
        }
        for bad in ["", " a", "a ", "a\nb", "a\u{7}", &"x".repeat(201)] {
            assert!(
                matches!(check_subject(bad), Err(StoreError::Invalid(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn now_has_microsecond_precision() {
        assert_eq!(now().timestamp_subsec_nanos() % 1000, 0);
    }
}
