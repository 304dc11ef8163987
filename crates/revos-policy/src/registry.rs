//! The registry of built-in policies: which versions exist, which one is
//! active, and which policy an event routes to.
//!
//! Every `(id, version)` ever shipped stays registered so old decisions can
//! be replayed against it; exactly one version of each id is active, and
//! only active versions are routed.

use serde::Serialize;

use crate::Policy;
use crate::booking_confirmation::BookingConfirmation;
use crate::lead_response::LeadResponse;

/// A summary of one registered policy version, for listings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyInfo {
    /// The policy id.
    pub id: &'static str,
    /// The version.
    pub version: u32,
    /// What it does.
    pub description: &'static str,
    /// The `(event type, source)` pairs it handles when active.
    pub routes: Vec<(String, String)>,
    /// Whether this is the routed version of its id.
    pub active: bool,
}

/// A registered policy and whether it is the active version of its id.
struct Entry {
    policy: Box<dyn Policy>,
    active: bool,
}

/// The set of policies the kernel knows.
pub struct Registry {
    /// Sorted by (id, version).
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.entries
                    .iter()
                    .map(|e| (e.policy.id(), e.policy.version(), e.active)),
            )
            .finish()
    }
}

impl Registry {
    /// The policies that ship with the kernel: lead response versions 1
    /// (active) and 2, and booking confirmation version 1 (active).
    pub fn builtin() -> Registry {
        let entries = vec![
            Entry {
                policy: Box::new(LeadResponse::V1),
                active: true,
            },
            Entry {
                policy: Box::new(LeadResponse::V2),
                active: false,
            },
            Entry {
                policy: Box::new(BookingConfirmation),
                active: true,
            },
        ];
        let mut r = Registry { entries };
        r.entries.sort_by(|a, b| {
            (a.policy.id(), a.policy.version()).cmp(&(b.policy.id(), b.policy.version()))
        });
        r
    }

    /// The active policy for (type, source), None → the shell records a no_policy decision.
    pub fn route(&self, event_type: &str, source: &str) -> Option<&dyn Policy> {
        self.entries
            .iter()
            .filter(|e| e.active)
            .find(|e| {
                e.policy
                    .routes()
                    .iter()
                    .any(|(t, s)| *t == event_type && *s == source)
            })
            .map(|e| e.policy.as_ref())
    }

    /// A registered version of a policy, active or not (for replay).
    pub fn get(&self, id: &str, version: u32) -> Option<&dyn Policy> {
        self.entries
            .iter()
            .find(|e| e.policy.id() == id && e.policy.version() == version)
            .map(|e| e.policy.as_ref())
    }

    /// The active version of a policy id.
    pub fn active(&self, id: &str) -> Option<&dyn Policy> {
        self.entries
            .iter()
            .find(|e| e.active && e.policy.id() == id)
            .map(|e| e.policy.as_ref())
    }

    /// Every registered version, sorted by id and version.
    pub fn list(&self) -> Vec<PolicyInfo> {
        self.entries
            .iter()
            .map(|e| PolicyInfo {
                id: e.policy.id(),
                version: e.policy.version(),
                description: e.policy.description(),
                routes: e
                    .policy
                    .routes()
                    .iter()
                    .map(|(t, s)| ((*t).to_owned(), (*s).to_owned()))
                    .collect(),
                active: e.active,
            })
            .collect()
    }

    /// Parses "ID@VERSION" (or "ID" = active version); clear error message listing known ids on failure.
    pub fn resolve(&self, spec: &str) -> Result<&dyn Policy, String> {
        let spec = spec.trim();
        let (id, version) = match spec.rsplit_once('@') {
            Some((id, v)) => {
                let version = v.trim().parse::<u32>().map_err(|_| {
                    format!(
                        "`{spec}`: version `{v}` is not a whole number; use ID@VERSION, e.g. {}@1",
                        id.trim()
                    )
                })?;
                (id.trim(), Some(version))
            }
            None => (spec, None),
        };
        let versions: Vec<u32> = self
            .entries
            .iter()
            .filter(|e| e.policy.id() == id)
            .map(|e| e.policy.version())
            .collect();
        if versions.is_empty() {
            return Err(format!(
                "unknown policy `{id}`; known policies: {}",
                self.known()
            ));
        }
        match version {
            None => self.active(id).ok_or_else(|| {
                format!("policy `{id}` has no active version; name one with {id}@VERSION")
            }),
            Some(v) => self.get(id, v).ok_or_else(|| {
                let known: Vec<String> = versions.iter().map(u32::to_string).collect();
                format!(
                    "policy `{id}` has no version {v}; known versions: {}",
                    known.join(", ")
                )
            }),
        }
    }

    /// "a@1 (active), a@2, b@1 (active)".
    fn known(&self) -> String {
        self.entries
            .iter()
            .map(|e| {
                let active = if e.active { " (active)" } else { "" };
                format!("{}@{}{active}", e.policy.id(), e.policy.version())
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const LEAD: &str = "revenue_os.growth.lead_response_v1";
    const BOOKING: &str = "revenue_os.fts.booking_confirmation_v1";

    #[test]
    fn routes_only_to_active_versions() {
        let r = Registry::builtin();
        let p = r.route("lead_captured", "cmo_campaigns").unwrap();
        assert_eq!((p.id(), p.version()), (LEAD, 1));
        let p = r.route("booking_created", "fts_marketplace").unwrap();
        assert_eq!((p.id(), p.version()), (BOOKING, 1));
        assert!(r.route("lead_captured", "fts_marketplace").is_none());
        assert!(r.route("booking_created", "cmo_campaigns").is_none());
        assert!(r.route("unknown", "x").is_none());
    }

    #[test]
    fn exactly_one_active_version_per_id() {
        let r = Registry::builtin();
        let mut active: HashMap<&str, usize> = HashMap::new();
        for info in r.list() {
            *active.entry(info.id).or_default() += usize::from(info.active);
        }
        assert_eq!(active.len(), 2);
        assert!(active.values().all(|n| *n == 1), "{active:?}");
    }

    #[test]
    fn get_and_active() {
        let r = Registry::builtin();
        assert_eq!(r.get(LEAD, 2).unwrap().version(), 2);
        assert_eq!(r.get(LEAD, 1).unwrap().version(), 1);
        assert!(r.get(LEAD, 3).is_none());
        assert!(r.get("nope", 1).is_none());
        assert_eq!(r.active(LEAD).unwrap().version(), 1);
        assert!(r.active("nope").is_none());
        assert!(
            r.get(LEAD, 2)
                .unwrap()
                .description()
                .contains("role addresses")
        );
    }

    #[test]
    fn list_is_sorted_and_serializable() {
        let r = Registry::builtin();
        let l = r.list();
        let ids: Vec<(&str, u32, bool)> = l.iter().map(|i| (i.id, i.version, i.active)).collect();
        assert_eq!(ids, [(BOOKING, 1, true), (LEAD, 1, true), (LEAD, 2, false)]);
        let json = serde_json::to_value(&l[1]).unwrap();
        assert_eq!(
            json["routes"],
            serde_json::json!([["lead_captured", "cmo_campaigns"]])
        );
        assert_eq!(json["active"], true);
    }

    #[test]
    fn resolve_specs() {
        let r = Registry::builtin();
        assert_eq!(r.resolve(LEAD).unwrap().version(), 1);
        assert_eq!(r.resolve(&format!("{LEAD}@2")).unwrap().version(), 2);
        assert_eq!(r.resolve(&format!(" {BOOKING}@1 ")).unwrap().id(), BOOKING);

        let e = r.resolve("revenue_os.nope").err().unwrap();
        assert!(
            e.starts_with("unknown policy `revenue_os.nope`; known policies: "),
            "{e}"
        );
        assert!(e.contains(&format!("{LEAD}@1 (active)")), "{e}");
        assert!(e.ends_with(&format!("{LEAD}@2")), "{e}");

        let e = r.resolve(&format!("{LEAD}@9")).err().unwrap();
        assert_eq!(
            e,
            format!("policy `{LEAD}` has no version 9; known versions: 1, 2")
        );

        let e = r.resolve(&format!("{LEAD}@latest")).err().unwrap();
        assert!(e.contains("version `latest` is not a whole number"), "{e}");
        assert!(r.resolve("").is_err());
    }
}
