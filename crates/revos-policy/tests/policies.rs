//! Policy behaviour through the public API: snapshot tests of the outputs
//! for the fixture events under `tests/fixtures/`, settings validation,
//! template errors, the booking reminder rule, and odd payloads.

use std::path::PathBuf;

use chrono::{DateTime, Duration, Utc};
use revos_contracts::{ActionKind, DecisionOutcome, KernelEvent, TenantId};
use revos_policy::{Policy, PolicyContext, PolicyError, PolicyOutput, Registry, TemplateLimits};
use serde::Deserialize;
use serde_json::{Value, json};

const LEAD: &str = "revenue_os.growth.lead_response_v1";
const BOOKING: &str = "revenue_os.fts.booking_confirmation_v1";

/// One fixture file: an event and everything the policy needs besides.
#[derive(Deserialize)]
struct Fixture {
    description: String,
    tenant_name: String,
    settings: Value,
    now: DateTime<Utc>,
    event: KernelEvent,
}

fn fixtures() -> Vec<(String, Fixture)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&p).unwrap();
            let fx: Fixture =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (name, fx)
        })
        .collect()
}

fn run(policy: &dyn Policy, fx: &Fixture) -> Result<PolicyOutput, PolicyError> {
    let ctx = PolicyContext {
        tenant_id: fx.event.tenant_id,
        tenant_name: &fx.tenant_name,
        settings: &fx.settings,
        now: fx.now,
        templates: TemplateLimits::default(),
    };
    policy.decide(&fx.event, &ctx)
}

fn snapshot_value(policy: &dyn Policy, result: &Result<PolicyOutput, PolicyError>) -> Value {
    let result = match result {
        Ok(out) => serde_json::to_value(out).unwrap(),
        Err(e) => json!({"error": e.0}),
    };
    json!({"policy": format!("{}@{}", policy.id(), policy.version()), "result": result})
}

/// Every fixture through the routed policy, and lead fixtures also through
/// version 2 (what a replay would diff).
#[test]
fn fixture_outputs_match_snapshots() {
    let registry = Registry::builtin();
    let all = fixtures();
    assert!(all.len() >= 10, "fixtures missing: {}", all.len());
    for (name, fx) in &all {
        let routed = registry
            .route(&fx.event.r#type, &fx.event.source)
            .unwrap_or_else(|| panic!("{name}: no route"));
        let mut policies = vec![routed];
        if routed.id() == LEAD {
            policies.push(registry.get(LEAD, 2).unwrap());
        }
        for policy in policies {
            let result = run(policy, fx);
            // Outputs are deterministic.
            assert_eq!(result, run(policy, fx), "{name}");
            if let Ok(out) = &result {
                let expected = if out.outcome == DecisionOutcome::Skipped {
                    DecisionOutcome::Skipped
                } else if out.actions.is_empty() {
                    DecisionOutcome::NoAction
                } else {
                    DecisionOutcome::Act
                };
                assert_eq!(out.outcome, expected, "{name}");
                let mut keys: Vec<&str> = out.actions.iter().map(|a| a.key.as_str()).collect();
                keys.sort();
                keys.dedup();
                assert_eq!(keys.len(), out.actions.len(), "{name}: duplicate keys");
            }
            insta::with_settings!({
                description => fx.description.clone(),
                omit_expression => true,
                prepend_module_to_snapshot => false,
                sort_maps => true,
            }, {
                insta::assert_json_snapshot!(
                    format!("{name}__v{}", policy.version()),
                    snapshot_value(policy, &result)
                );
            });
        }
    }
}

fn event(ty: &str, source: &str, payload: Value) -> KernelEvent {
    let at: DateTime<Utc> = "2025-03-03T09:58:00Z".parse().unwrap();
    serde_json::from_value(json!({
        "id": "00000000-0000-4000-8000-000000000099",
        "tenant_id": "11111111-2222-4333-8444-555555555555",
        "type": ty, "source": source, "idempotency_key": "k", "correlation_id": "c",
        "subject": {"type": if ty == "lead_captured" { "lead" } else { "booking" }, "id": "S-1"},
        "payload": payload, "occurred_at": at, "recorded_at": at,
    }))
    .unwrap()
}

fn now() -> DateTime<Utc> {
    "2025-03-03T10:00:00Z".parse().unwrap()
}

fn decide(
    policy: &dyn Policy,
    ev: &KernelEvent,
    settings: &Value,
) -> Result<PolicyOutput, PolicyError> {
    let tenant: TenantId = "11111111-2222-4333-8444-555555555555".parse().unwrap();
    policy.decide(
        ev,
        &PolicyContext {
            tenant_id: tenant,
            tenant_name: "Northwind",
            settings,
            now: now(),
            templates: TemplateLimits::default(),
        },
    )
}

fn lead_v1() -> &'static dyn Policy {
    Box::leak(Box::new(Registry::builtin()))
        .active(LEAD)
        .unwrap()
}

fn booking_v1() -> &'static dyn Policy {
    Box::leak(Box::new(Registry::builtin()))
        .active(BOOKING)
        .unwrap()
}

#[test]
fn settings_validation_names_the_field() {
    let lead = lead_v1();
    assert_eq!(
        lead.check_settings(&Value::Null, &TemplateLimits::default()),
        Ok(())
    );
    assert_eq!(
        lead.check_settings(&json!({}), &TemplateLimits::default()),
        Ok(())
    );
    let cases = [
        (
            json!({"response_sla_minutes": 0}),
            "settings.response_sla_minutes must be between 1 and 10080 minutes; got 0",
        ),
        (
            json!({"response_sla_minutes": 10081}),
            "settings.response_sla_minutes must be between 1 and 10080",
        ),
        (
            json!({"response_sla_minutes": "15"}),
            "settings.response_sla_minutes: invalid type: string \"15\"",
        ),
        (
            json!({"respons_sla_minutes": 5}),
            "unknown field `respons_sla_minutes`",
        ),
        (json!({"from": "not an address"}), "settings.from: "),
        (
            json!({"reply_to": "x@y"}),
            "settings.reply_to: address `x@y` has no valid domain",
        ),
        (
            json!({"owner": ""}),
            "settings.owner must have 1 to 100 characters",
        ),
        (
            json!({"notify_webhook": " "}),
            "settings.notify_webhook must have 1 to 100 characters",
        ),
        (
            json!({"skip_email_domains": ["localhost"]}),
            "settings.skip_email_domains[0] must be a domain",
        ),
        (
            json!({"skip_email_domains": "example.com"}),
            "settings.skip_email_domains: invalid type",
        ),
        (
            json!({"subject_template": "Hi {{ lead.name"}),
            "subject_template: syntax error",
        ),
        (
            json!({"text_template": "Hi {{ lead.nmae }}"}),
            "unknown variables: lead.nmae",
        ),
        (
            json!({"html_template": "{% if %}"}),
            "html_template: syntax error",
        ),
        (
            json!([1, 2]),
            "settings must be a JSON object (or null for defaults), not an array",
        ),
        (
            json!({"subject_template": "{{ 'x' * 100000000 }}"}),
            "subject_template: the rendered text is larger than 65536 bytes",
        ),
        (
            json!({"text_template": "x".repeat(16 * 1024 + 1)}),
            "text_template: the template has 16385 bytes; at most 16384 are allowed",
        ),
    ];
    for (settings, expected) in cases {
        let err = lead
            .check_settings(&settings, &TemplateLimits::default())
            .unwrap_err();
        assert!(err.contains(expected), "{settings}: {err}");
    }

    let booking = booking_v1();
    assert_eq!(
        booking.check_settings(&Value::Null, &TemplateLimits::default()),
        Ok(())
    );
    let cases = [
        (
            json!({"reminder_hours_before": 0}),
            "settings.reminder_hours_before must be between 1 and 720 hours; got 0",
        ),
        (
            json!({"utc_offset": "AEST"}),
            "settings.utc_offset `AEST` must be",
        ),
        (
            json!({"roster_owner": ""}),
            "settings.roster_owner must have 1 to 100 characters",
        ),
        (
            json!({"reminder_text_template": "{{ booking.start }}"}),
            "reminder_text_template: undefined value",
        ),
        (
            json!({"confirmation_subject_template": "{{ lead.name }}"}),
            "unknown variables: lead.name",
        ),
        (json!({"template": "x"}), "unknown field `template`"),
    ];
    for (settings, expected) in cases {
        let err = booking
            .check_settings(&settings, &TemplateLimits::default())
            .unwrap_err();
        assert!(err.contains(expected), "{settings}: {err}");
    }
}

#[test]
fn invalid_settings_make_decide_fail_closed() {
    let ev = event(
        "lead_captured",
        "cmo_campaigns",
        json!({"email": "a@b.example"}),
    );
    let err = decide(lead_v1(), &ev, &json!({"response_sla_minutes": 0})).unwrap_err();
    assert!(
        err.to_string().starts_with("settings.response_sla_minutes"),
        "{err}"
    );
}

#[test]
fn template_errors_are_policy_errors() {
    // A typo in a branch the sample does not take is still caught.
    let typo = json!({"text_template": "{% if lead.company %}{{ lead.company }}{% else %}{{ lead.compnay }}{% endif %}"});
    let e = lead_v1()
        .check_settings(&typo, &TemplateLimits::default())
        .unwrap_err();
    assert_eq!(e, "text_template: unknown variables: lead.compnay");

    // Settings that pass the check can still fail for one event: the
    // sample name is long enough to index, "Bob" is not. Strict undefined
    // makes that an error, never a silent blank.
    let settings = json!({"text_template": "Hi {{ lead.name[10] }}"});
    assert_eq!(
        lead_v1().check_settings(&settings, &TemplateLimits::default()),
        Ok(())
    );
    let ev = event(
        "lead_captured",
        "cmo_campaigns",
        json!({"email": "bob@b.example", "name": "Bob"}),
    );
    let err = decide(lead_v1(), &ev, &settings).unwrap_err();
    assert!(err.0.starts_with("text_template: undefined value"), "{err}");

    let settings = json!({"reminder_subject_template": "{{ booking.staff[2] }}"});
    assert_eq!(
        booking_v1().check_settings(&settings, &TemplateLimits::default()),
        Ok(())
    );
    let ev = event(
        "booking_created",
        "fts_marketplace",
        json!({"customer_email": "c@example.com", "starts_at": "2025-04-01T08:00:00Z", "staff": "al"}),
    );
    let err = decide(booking_v1(), &ev, &settings).unwrap_err();
    assert!(
        err.0
            .starts_with("reminder_subject_template: undefined value"),
        "{err}"
    );
}

#[test]
fn booking_reminder_only_when_still_ahead() {
    let policy = booking_v1();
    let at = |hours: i64| (now() + Duration::hours(hours)).to_rfc3339();
    let run = |starts: String, settings: Value| {
        let ev = event(
            "booking_created",
            "fts_marketplace",
            json!({"customer_email": "c@example.com", "starts_at": starts, "service": "Massage"}),
        );
        decide(policy, &ev, &settings).unwrap()
    };
    let keys = |out: &PolicyOutput| {
        out.actions
            .iter()
            .map(|a| a.key.clone())
            .collect::<Vec<_>>()
    };

    let out = run(at(48), Value::Null);
    assert_eq!(
        keys(&out),
        ["confirmation_email", "reminder_email", "roster_task"]
    );
    assert_eq!(out.actions[1].run_at, Some(now() + Duration::hours(24)));
    assert_eq!(out.actions[1].params["template"], "booking_reminder");

    // Exactly 24 hours ahead: the reminder time is now, not after it.
    let out = run(at(24), Value::Null);
    assert_eq!(keys(&out), ["confirmation_email", "roster_task"]);
    assert!(
        out.reasons
            .iter()
            .any(|r| r.contains("starts in less than 24 hours; no reminder")),
        "{:?}",
        out.reasons
    );

    let out = run(at(5), json!({"reminder_hours_before": 2}));
    assert_eq!(
        keys(&out),
        ["confirmation_email", "reminder_email", "roster_task"]
    );
    assert_eq!(out.actions[1].run_at, Some(now() + Duration::hours(3)));
    let out = run(at(5), json!({"reminder_hours_before": 6}));
    assert!(
        out.reasons
            .iter()
            .any(|r| r.contains("less than 6 hours; no reminder"))
    );

    // The roster task is due when the booking starts, for the default owner.
    assert_eq!(out.actions[1].params["owner"], "roster");
    assert_eq!(
        out.actions[1].params["due_at"],
        json!(
            (now() + Duration::hours(5))
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string()
        )
    );
}

#[test]
fn invalid_bookings_are_errors() {
    let policy = booking_v1();
    let cases = [
        (
            json!({"starts_at": "2025-04-01T08:00:00Z"}),
            "has no customer_email",
        ),
        (
            json!({"customer_email": "nope", "starts_at": "2025-04-01T08:00:00Z"}),
            "customer_email `nope` has no @",
        ),
        (json!({"customer_email": "a@b.example"}), "has no starts_at"),
        (
            json!({"customer_email": "a@b.example", "starts_at": "tomorrow"}),
            "starts_at `tomorrow` is not an RFC 3339 time",
        ),
        (
            json!({"customer_email": "a@b.example", "starts_at": 1743494400}),
            "starts_at must be an RFC 3339 string, not a number",
        ),
        (
            json!([1]),
            "booking payload must be a JSON object, not an array",
        ),
    ];
    for (payload, expected) in cases {
        let ev = event("booking_created", "fts_marketplace", payload.clone());
        let err = decide(policy, &ev, &Value::Null).unwrap_err();
        assert!(err.0.contains(expected), "{payload}: {err}");
    }
}

#[test]
fn lead_email_rules() {
    let lead = lead_v1();
    let ev = event(
        "lead_captured",
        "cmo_campaigns",
        json!({"email": "bad", "name": "X"}),
    );
    let out = decide(lead, &ev, &Value::Null).unwrap();
    assert_eq!(out.actions.len(), 1);
    assert_eq!(out.actions[0].kind, ActionKind::TaskCreate);
    assert!(
        out.reasons[0].contains("`bad` has no @"),
        "{:?}",
        out.reasons
    );

    let ev = event(
        "lead_captured",
        "cmo_campaigns",
        json!({"email": "ada@example.com", "owner": "maria"}),
    );
    let out = decide(lead, &ev, &json!({"response_sla_minutes": 60})).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Act);
    let email = &out.actions[0];
    assert_eq!(email.kind, ActionKind::OutboundEmail);
    assert_eq!(email.params["to"], "ada@example.com");
    assert!(email.params.get("from").is_none());
    assert!(email.params.get("html").is_none());
    let task = &out.actions[1];
    assert_eq!(task.params["owner"], "maria");
    assert_eq!(task.params["due_at"], "2025-03-03T11:00:00Z");
    assert_eq!(task.params["entity_type"], "lead");
    assert_eq!(task.params["entity_id"], "S-1");
}

#[test]
fn odd_payloads_never_panic() {
    let registry = Registry::builtin();
    let huge = "x".repeat(2_000_000);
    let huge_email = format!("{huge}@example.com");
    let payloads = vec![
        json!(null),
        json!([]),
        json!([1, "a", {"email": "a@b.example"}]),
        json!(42),
        json!("lead"),
        json!(true),
        json!({}),
        json!({"email": 12345, "name": ["a"], "company": {"x": 1}, "phone": 1.5e300}),
        json!({"email": "a@b.example", "name": huge, "message": huge, "company": huge}),
        json!({"email": huge_email}),
        json!({"email": "\u{0}@\u{0}.\u{0}", "name": "\u{202e}evil\r\nBcc: x@y.z"}),
        json!({"email": "a@b.example", "utm": [1, 2], "utm_source": {"a": 1}, "owner": ""}),
        json!({"email": "{{ 7*7 }}@b.example", "name": "{% for x in range(10000000) %}{% endfor %}"}),
        json!({"customer_email": "a@b.example", "starts_at": "2025-04-01T08:00:00Z", "duration_minutes": -5}),
        json!({"customer_email": "a@b.example", "starts_at": "2025-04-01T08:00:00Z", "duration_minutes": 1e300, "staff": huge}),
        json!({"customer_email": "a@b.example", "starts_at": "+262143-12-31T23:59:59Z"}),
        json!({"customer_email": "a@b.example", "starts_at": "9999-12-31T23:59:59Z", "booking_id": [1]}),
        json!({"customer_email": "a@b.example", "starts_at": "2025-04-01T08:00:00.123456789+14:00"}),
        json!({"customer_email": ["a@b.example"], "starts_at": ["2025-04-01T08:00:00Z"]}),
        json!({"customer_email": "a@b.example", "starts_at": huge}),
    ];
    let settings = [
        Value::Null,
        json!({"response_sla_minutes": 10080, "reminder_hours_before": 720}),
        json!({"html_template": "<p>{{ lead.message }}</p>"}),
        json!({"confirmation_html_template": "<p>{{ booking.service }}</p>"}),
    ];
    for info in registry.list() {
        let policy = registry.get(info.id, info.version).unwrap();
        for (ty, src) in policy.routes() {
            for payload in &payloads {
                for s in &settings {
                    let ev = event(ty, src, payload.clone());
                    // Either outcome is fine; a panic fails the test.
                    if let Ok(out) = decide(policy, &ev, s) {
                        for a in &out.actions {
                            assert!(a.params.is_object());
                            if a.kind == ActionKind::OutboundEmail {
                                let subject = a.params["subject"].as_str().unwrap();
                                assert!(!subject.contains('\n') && !subject.contains('\r'));
                                assert!(subject.chars().count() < 2_000);
                            }
                        }
                    }
                }
            }
        }
    }
}

/// A template whose sample render fits but whose render of a real event
/// does not: the decision is an error naming the field and the limit, and
/// nothing is proposed.
#[test]
fn oversize_renders_are_errors() {
    let lead = lead_v1();
    let limits = TemplateLimits {
        max_rendered_bytes: 2_000,
    };
    let settings = json!({"text_template": "{% for i in range(100) %}{{ lead.name }}{% endfor %}"});
    // The sample lead's name is short: 100 × 12 bytes fit.
    assert_eq!(lead.check_settings(&settings, &limits), Ok(()));
    let too_small = TemplateLimits {
        max_rendered_bytes: 1_000,
    };
    let err = lead.check_settings(&settings, &too_small).unwrap_err();
    assert!(err.contains("larger than 1000 bytes"), "{err}");

    let event = |name: &str| -> KernelEvent {
        serde_json::from_value(json!({
            "id": "00000000-0000-4000-8000-000000000001",
            "tenant_id": "11111111-2222-4333-8444-555555555555",
            "type": "lead_captured",
            "source": "cmo_campaigns",
            "idempotency_key": "k",
            "correlation_id": "c",
            "subject": {"type": "lead", "id": "l"},
            "payload": {"email": "ada@client.example", "name": name},
            "occurred_at": "2026-01-01T00:00:00Z",
            "recorded_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap()
    };
    let ctx = |limits| PolicyContext {
        tenant_id: "11111111-2222-4333-8444-555555555555".parse().unwrap(),
        tenant_name: "Northwind",
        settings: &settings,
        now: now(),
        templates: limits,
    };
    assert!(lead.decide(&event("Ana"), &ctx(limits)).is_ok());
    let err = lead
        .decide(&event(&"N".repeat(100)), &ctx(limits))
        .unwrap_err();
    assert!(
        err.0
            .starts_with("text_template: the rendered text is larger than 2000 bytes"),
        "{err}"
    );
}

/// An event older than the policy's `max_event_age` is skipped, with a
/// reason and no action; the limit is a setting, checked when stored.
#[test]
fn past_events_are_skipped() {
    let lead = lead_v1();
    let mut ev = event(
        "lead_captured",
        "cmo_campaigns",
        json!({"email": "old@client.example", "name": "Old Lead"}),
    );
    // Two minutes old: within the default 24 hours.
    let out = decide(lead, &ev, &Value::Null).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Act);

    ev.occurred_at = "2025-01-15T09:00:00Z".parse().unwrap();
    let out = decide(lead, &ev, &Value::Null).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Skipped);
    assert!(out.actions.is_empty());
    assert!(
        out.reasons[0].contains("max_event_age of 24h") && out.reasons[0].contains("2025-01-15"),
        "{:?}",
        out.reasons
    );
    // A longer limit lets it through; `null` lifts the limit.
    let out = decide(lead, &ev, &json!({"max_event_age": "60d"})).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Act);
    let out = decide(lead, &ev, &json!({"max_event_age": null})).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Act);
    let out = decide(lead, &ev, &json!({"max_event_age": "30d"})).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Skipped);

    let limits = TemplateLimits::default();
    for bad in [json!("soon"), json!("10s"), json!("400d"), json!(5)] {
        let err = lead
            .check_settings(&json!({"max_event_age": bad}), &limits)
            .unwrap_err();
        assert!(err.contains("settings.max_event_age"), "{bad}: {err}");
    }

    // A booking: skipped once it has started, whatever its age setting.
    let booking = booking_v1();
    let started = event(
        "booking_created",
        "fts_marketplace",
        json!({"customer_email": "c@example.com",
               "starts_at": (now() - Duration::hours(1)).to_rfc3339()}),
    );
    let out = decide(booking, &started, &Value::Null).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Skipped);
    assert!(out.reasons[0].contains("has begun"), "{:?}", out.reasons);
    let mut ahead = event(
        "booking_created",
        "fts_marketplace",
        json!({"customer_email": "c@example.com",
               "starts_at": (now() + Duration::hours(48)).to_rfc3339()}),
    );
    assert_eq!(
        decide(booking, &ahead, &Value::Null).unwrap().outcome,
        DecisionOutcome::Act
    );
    ahead.occurred_at = now() - Duration::days(3);
    let out = decide(booking, &ahead, &json!({"max_event_age": "2d"})).unwrap();
    assert_eq!(out.outcome, DecisionOutcome::Skipped);
}
