//! Guard decision tables: many inputs through both guards with the default
//! rules, custom tenant rules, and the fail-closed cases.

use revos_policy::guards::{
    Guard, GuardOutcome, GuardPrincipal, GuardRegistry, Verdict, check_rules, evaluate,
};
use serde_json::{Value, json};

const SALES: GuardPrincipal<'static> = GuardPrincipal {
    id: "u-1",
    role: "sales",
};

fn guard(name: &str) -> &'static dyn Guard {
    Box::leak(Box::new(GuardRegistry::builtin()))
        .get(name)
        .unwrap()
}

fn run(name: &str, rules: Option<&str>, input: Value, facts: Value) -> GuardOutcome {
    evaluate(guard(name), rules, &SALES, &input, &facts)
        .unwrap_or_else(|e| panic!("{input}: input error {e}"))
}

use Verdict::{Allow, AllowWithOverride as Override, Block};

#[test]
fn deal_update_table() {
    let table: Vec<(Value, Verdict, &[&str], &[&str])> = vec![
        (
            json!({"deal_id": "D-1"}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
        (
            json!({"deal_id": 7, "discount_pct": 20}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
        (
            json!({"deal_id": "D-1", "discount_pct": 20.01}),
            Override,
            &["discount above 20% needs an override"],
            &["discount_above_20_pct"],
        ),
        (
            json!({"deal_id": "D-1", "discount_pct": "35"}),
            Override,
            &["discount above 20% needs an override"],
            &["discount_above_20_pct"],
        ),
        (
            json!({"deal_id": "D-1", "discount_pct": 100}),
            Override,
            &["discount above 20% needs an override"],
            &["discount_above_20_pct"],
        ),
        (
            json!({"deal_id": "D-1", "close_date_old": "2025-03-31", "close_date_new": "2025-04-30"}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
        (
            json!({"deal_id": "D-1", "close_date_old": "2025-03-31", "close_date_new": "2025-05-01"}),
            Override,
            &["close date moved back more than 30 days"],
            &["close_date_slip_over_30_days"],
        ),
        // Pulled in, not pushed back.
        (
            json!({"deal_id": "D-1", "close_date_old": "2025-06-30", "close_date_new": "2025-03-01"}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
        // Only one date known: no slip.
        (
            json!({"deal_id": "D-1", "close_date_new": "2030-01-01"}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
        (
            json!({"deal_id": "D-1", "discount_pct": 25, "close_date_old": "2025-01-01", "close_date_new": "2025-12-31"}),
            Override,
            &[
                "discount above 20% needs an override",
                "close date moved back more than 30 days",
            ],
            &["discount_above_20_pct", "close_date_slip_over_30_days"],
        ),
        (
            json!({"deal_id": "D-1", "stage_new": "closed_won", "amount": 12000}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
        (
            json!({"deal_id": "D-1", "stage_new": "closed_won"}),
            Block,
            &["a deal cannot be closed-won with no amount"],
            &["closed_won_without_amount"],
        ),
        (
            json!({"deal_id": "D-1", "stage_new": "Closed Won", "amount": "0.00"}),
            Block,
            &["a deal cannot be closed-won with no amount"],
            &["closed_won_without_amount"],
        ),
        (
            json!({"deal_id": "D-1", "stage_new": "closed-won", "amount": 0, "discount_pct": 50}),
            Block,
            &[
                "discount above 20% needs an override",
                "a deal cannot be closed-won with no amount",
            ],
            &["discount_above_20_pct", "closed_won_without_amount"],
        ),
        (
            json!({"deal_id": "D-1", "stage_new": "closed_lost", "amount": null}),
            Allow,
            &["permitted by permit_deal_updates"],
            &["permit_deal_updates"],
        ),
    ];
    for (input, verdict, reasons, rules) in table {
        let out = run("deal_update", None, input.clone(), json!({}));
        assert_eq!(out.verdict, verdict, "{input}: {out:?}");
        assert_eq!(out.reasons, reasons, "{input}");
        assert_eq!(out.matched_rules, rules, "{input}");
    }
}

#[test]
fn send_invoice_table() {
    let ok = json!({"account_known": true, "duplicate_within_window": false});
    let inv = |amount: Value| json!({"invoice_id": "INV-9", "account_id": "A-1", "amount": amount, "currency": "eur"});
    let table: Vec<(Value, Value, Verdict, &[&str])> = vec![
        (
            inv(json!(250)),
            ok.clone(),
            Allow,
            &["permitted by permit_send_invoice"],
        ),
        (
            inv(json!(10000)),
            ok.clone(),
            Allow,
            &["permitted by permit_send_invoice"],
        ),
        (
            inv(json!(10000.01)),
            ok.clone(),
            Override,
            &["invoice above 10,000 needs an override"],
        ),
        (
            inv(json!("49999.99")),
            ok.clone(),
            Override,
            &["invoice above 10,000 needs an override"],
        ),
        (
            inv(json!(50000)),
            ok.clone(),
            Override,
            &["invoice above 10,000 needs an override"],
        ),
        (
            inv(json!(50000.01)),
            ok.clone(),
            Block,
            &[
                "invoice above 50,000 is blocked",
                "invoice above 10,000 needs an override",
            ],
        ),
        (
            inv(json!(100)),
            json!({"account_known": false, "duplicate_within_window": false}),
            Block,
            &["unknown account"],
        ),
        (
            inv(json!(100)),
            json!({"account_known": true, "duplicate_within_window": true}),
            Block,
            &["duplicate invoice within the window"],
        ),
        (
            inv(json!(20000)),
            json!({"account_known": true, "duplicate_within_window": true}),
            Block,
            &[
                "invoice above 10,000 needs an override",
                "duplicate invoice within the window",
            ],
        ),
    ];
    for (input, facts, verdict, reasons) in table {
        let out = run("send_invoice", None, input.clone(), facts.clone());
        assert_eq!(out.verdict, verdict, "{input} {facts}: {out:?}");
        assert_eq!(out.reasons, reasons, "{input} {facts}");
    }
}

#[test]
fn input_errors_are_errors_not_verdicts() {
    let d = guard("deal_update");
    let cases: Vec<(&dyn Guard, Value, Value, &str)> = vec![
        (
            d,
            json!({}),
            json!({}),
            "`deal_id` is required by guard `deal_update`",
        ),
        (
            d,
            json!([]),
            json!({}),
            "deal_update input must be a JSON object, not an array",
        ),
        (
            d,
            json!({"deal_id": "D", "discount_pct": 120}),
            json!({}),
            "discount_pct must be between 0 and 100; got 120",
        ),
        (
            d,
            json!({"deal_id": "D", "discount_pct": -1}),
            json!({}),
            "discount_pct must be between 0 and 100",
        ),
        (
            d,
            json!({"deal_id": "D", "discount_pct": "20%"}),
            json!({}),
            "discount_pct `20%` is not a number",
        ),
        (
            d,
            json!({"deal_id": "D", "amount": -5}),
            json!({}),
            "amount must not be negative",
        ),
        (
            d,
            json!({"deal_id": "D", "amount": "1,000"}),
            json!({}),
            "amount `1,000` is not a number",
        ),
        (
            d,
            json!({"deal_id": "D", "close_date_new": "next week"}),
            json!({}),
            "close_date_new `next week` is not a date",
        ),
        (
            d,
            json!({"deal_id": "D", "stage_new": 5}),
            json!({}),
            "`stage_new` must be a string (string), not a number",
        ),
    ];
    let s = guard("send_invoice");
    let facts = json!({"account_known": true, "duplicate_within_window": false});
    let more: Vec<(&dyn Guard, Value, Value, &str)> = vec![
        (
            s,
            json!({"account_id": "A", "amount": 1, "currency": "EUR"}),
            facts.clone(),
            "`invoice_id` is required by guard `send_invoice`",
        ),
        (
            s,
            json!({"invoice_id": "I", "amount": 1, "currency": "EUR"}),
            facts.clone(),
            "`account_id` is required",
        ),
        (
            s,
            json!({"invoice_id": "I", "account_id": "A", "currency": "EUR"}),
            facts.clone(),
            "`amount` is required",
        ),
        (
            s,
            json!({"invoice_id": "I", "account_id": "A", "amount": 0, "currency": "EUR"}),
            facts.clone(),
            "amount must be greater than 0",
        ),
        (
            s,
            json!({"invoice_id": "I", "account_id": "A", "amount": 1, "currency": "EURO"}),
            facts.clone(),
            "currency `EURO` must be a 3-letter code",
        ),
        (
            s,
            json!({"invoice_id": "I", "account_id": "A", "amount": 1}),
            facts.clone(),
            "`currency` is required",
        ),
        (
            s,
            json!({"invoice_id": "I", "account_id": "A", "amount": 1, "currency": "EUR"}),
            json!({"account_known": true}),
            "fact `duplicate_within_window` is missing",
        ),
    ];
    for (g, input, facts, expected) in cases.into_iter().chain(more) {
        let err = evaluate(g, None, &SALES, &input, &facts).unwrap_err();
        assert!(err.contains(expected), "{input}: {err}");
    }
}

#[test]
fn custom_tenant_rules() {
    // Stricter: discounts above 10% need an override, above 30% are out.
    let rules = r#"
        @id("allow") permit (principal, action, resource);
        @id("discount_10") @overridable("true") @reason("discount above 10% needs an override")
        forbid (principal, action == Action::"deal_update", resource) when { context.discount_bps > 1000 };
        @id("discount_30") @reason("discount above 30% is not allowed")
        forbid (principal, action == Action::"deal_update", resource) when { context.discount_bps > 3000 };
    "#;
    assert_eq!(check_rules(guard("deal_update"), rules), Ok(()));
    let cases = [(5, Allow), (15, Override), (31, Block)];
    for (pct, verdict) in cases {
        let out = run(
            "deal_update",
            Some(rules),
            json!({"deal_id": "D", "discount_pct": pct}),
            json!({}),
        );
        assert_eq!(out.verdict, verdict, "{pct}: {out:?}");
    }

    // Rules can use the principal's role: managers skip the override.
    let rules = r#"
        @id("allow") permit (principal, action, resource);
        @id("discount") @overridable("true") @reason("discount above 20% needs an override")
        forbid (principal, action, resource) when { context.discount_bps > 2000 }
        unless { principal.role == "manager" };
    "#;
    let input = json!({"deal_id": "D", "discount_pct": 25});
    let manager = GuardPrincipal {
        id: "u-2",
        role: "manager",
    };
    let out = evaluate(
        guard("deal_update"),
        Some(rules),
        &manager,
        &input,
        &json!({}),
    )
    .unwrap();
    assert_eq!(out.verdict, Allow);
    assert_eq!(
        run("deal_update", Some(rules), input, json!({})).verdict,
        Override
    );

    // Resource-specific rules see the deal id.
    let rules = r#"
        @id("allow") permit (principal, action, resource);
        @id("frozen") @reason("deal D-9 is frozen") forbid (principal, action, resource == Deal::"D-9");
    "#;
    assert_eq!(
        run(
            "deal_update",
            Some(rules),
            json!({"deal_id": "D-1"}),
            json!({})
        )
        .verdict,
        Allow
    );
    let out = run(
        "deal_update",
        Some(rules),
        json!({"deal_id": "D-9"}),
        json!({}),
    );
    assert_eq!(
        (out.verdict, out.reasons),
        (Block, vec!["deal D-9 is frozen".to_owned()])
    );

    // A forbid without @reason is explained by its id.
    let rules = r#"@id("allow") permit (principal, action, resource);
        @id("no_eur") forbid (principal, action, resource) when { context.currency == "EUR" };"#;
    let out = run(
        "send_invoice",
        Some(rules),
        json!({"invoice_id": "I", "account_id": "A", "amount": 1, "currency": "EUR"}),
        json!({"account_known": true, "duplicate_within_window": false}),
    );
    assert_eq!(
        (out.verdict, out.reasons),
        (Block, vec!["no_eur".to_owned()])
    );
}

#[test]
fn fail_closed() {
    let input = json!({"deal_id": "D", "discount_pct": 5});

    // No permit at all.
    let rules =
        r#"@id("f") forbid (principal, action, resource) when { context.discount_bps > 9000 };"#;
    let out = run("deal_update", Some(rules), input.clone(), json!({}));
    assert_eq!(out.verdict, Block);
    assert_eq!(out.reasons, ["no rule permits this action (fail closed)"]);
    assert!(out.matched_rules.is_empty());

    // Only an overridable forbid applies, but nothing permits: overriding
    // would not make it allowed, so BLOCK.
    let rules = r#"@id("f") @overridable("true") @reason("needs override")
        forbid (principal, action, resource) when { context.discount_bps > 100 };
        @id("p") permit (principal, action, resource) when { context.discount_bps < 100 };"#;
    let out = run("deal_update", Some(rules), input.clone(), json!({}));
    assert_eq!(out.verdict, Block);
    assert_eq!(
        out.reasons,
        [
            "needs override",
            "no rule permits this action (fail closed)"
        ]
    );

    // A forbid that reads a missing attribute would error at evaluation
    // (Cedar skips it and the permit would allow). Such rules fail the
    // schema validation first, so the guard BLOCKs before evaluating.
    let rules = r#"@id("allow") permit (principal, action, resource);
        @id("typo") forbid (principal, action, resource) when { context.discount_pct > 20 };"#;
    let out = run("deal_update", Some(rules), input.clone(), json!({}));
    assert_eq!(out.verdict, Block, "{out:?}");
    assert!(out.matched_rules.is_empty());
    assert!(
        out.reasons[0].starts_with("the guard rules are invalid (fail closed): "),
        "{:?}",
        out.reasons
    );
    assert!(out.reasons[0].contains("discount_pct"), "{:?}", out.reasons);

    // Type errors too (a string compared as a number).
    let rules = r#"@id("allow") permit (principal, action, resource);
        @id("bad") forbid (principal, action, resource) when { context.stage_new > 1 };"#;
    assert_eq!(
        run("deal_update", Some(rules), input.clone(), json!({})).verdict,
        Block
    );

    // Unparseable tenant rules: BLOCK with Cedar's message.
    let out = run(
        "deal_update",
        Some("permit (principal, action"),
        input.clone(),
        json!({}),
    );
    assert_eq!(out.verdict, Block);
    assert!(
        out.reasons[0].starts_with("the guard rules are invalid (fail closed): Cedar parse error"),
        "{:?}",
        out.reasons
    );

    // Empty rules.
    assert_eq!(
        run("deal_update", Some(""), input, json!({})).verdict,
        Block
    );
}

#[test]
fn rule_checks() {
    let err = check_rules(guard("deal_update"), "permit (principal, action").unwrap_err();
    assert!(err.starts_with("Cedar parse error: "), "{err}");
    assert!(err.len() > "Cedar parse error: ".len(), "{err}");

    let err = check_rules(
        guard("deal_update"),
        "permit (principal, action, resource);",
    )
    .unwrap_err();
    assert_eq!(
        err,
        "rule 1 (a permit) has no @id(\"…\") annotation; every rule needs one"
    );

    let err = check_rules(
        guard("deal_update"),
        r#"@id("a") permit (principal, action, resource); forbid (principal, action, resource);"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        "rule 2 (a forbid) has no @id(\"…\") annotation; every rule needs one"
    );

    let err = check_rules(
        guard("deal_update"),
        r#"@id("a") @overridable("true") permit (principal, action, resource);"#,
    )
    .unwrap_err();
    assert_eq!(
        err,
        "rule `a`: @overridable is only allowed on forbid rules"
    );

    let err = check_rules(
        guard("deal_update"),
        r#"@id("a") @overridable("yes") forbid (principal, action, resource);"#,
    )
    .unwrap_err();
    assert!(err.contains("must be \"true\" or \"false\""), "{err}");

    let err = check_rules(guard("deal_update"), r#"@id("a") permit (principal, action, resource); @id("a") forbid (principal, action, resource);"#).unwrap_err();
    assert_eq!(err, "two rules have @id(\"a\"); ids must be unique");

    let err = check_rules(
        guard("deal_update"),
        r#"@id("t") permit (principal == ?principal, action, resource);"#,
    )
    .unwrap_err();
    assert!(err.contains("templates"), "{err}");

    assert!(
        check_rules(guard("deal_update"), "")
            .unwrap_err()
            .contains("no policies")
    );
    assert_eq!(
        check_rules(
            guard("deal_update"),
            r#"@id("a") @overridable("false") forbid (principal, action, resource) when { false }; @id("b") permit (principal, action, resource);"#
        ),
        Ok(())
    );
}

#[test]
fn outcomes_serialize_for_the_wire() {
    let out = run(
        "deal_update",
        None,
        json!({"deal_id": "D", "discount_pct": 50}),
        json!({}),
    );
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({
            "verdict": "ALLOW_WITH_OVERRIDE",
            "reasons": ["discount above 20% needs an override"],
            "matched_rules": ["discount_above_20_pct"],
        })
    );
    let reg = GuardRegistry::builtin();
    assert_eq!(
        reg.get("send_invoice").unwrap().facts_needed(),
        ["account_known", "duplicate_within_window"]
    );
    assert!(reg.get("deal_update").unwrap().facts_needed().is_empty());
}
