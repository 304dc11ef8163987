//! The `deal_update` guard: may this change to a deal go through?
//!
//! Input: `{deal_id, amount?, discount_pct?, close_date_old?,
//! close_date_new?, stage_old?, stage_new?}`. Context for the rules:
//! `discount_bps` (0..=10000), `close_date_slip_days` (new − old, 0 when
//! either is unknown), `amount_cents` (0 when unknown), `has_amount`,
//! `stage_old` and `stage_new` (normalized, "" when unknown).

use serde_json::{Value, json};

use super::numbers::{date, id, optional, scaled, stage};
use super::{CedarType, ContextAttribute, FieldType, Guard, InputField};

const DEFAULT_RULES: &str = r#"// Deal updates are allowed unless a rule below forbids them.
@id("permit_deal_updates")
permit (principal, action == Action::"deal_update", resource);

@id("discount_above_20_pct")
@overridable("true")
@reason("discount above 20% needs an override")
forbid (principal, action == Action::"deal_update", resource)
when { context.discount_bps > 2000 };

@id("close_date_slip_over_30_days")
@overridable("true")
@reason("close date moved back more than 30 days")
forbid (principal, action == Action::"deal_update", resource)
when { context.close_date_slip_days > 30 };

@id("closed_won_without_amount")
@reason("a deal cannot be closed-won with no amount")
forbid (principal, action == Action::"deal_update", resource)
when { context.stage_new == "closed_won" && context.amount_cents <= 0 };
"#;

/// The input fields.
const FIELDS: &[InputField] = &[
    InputField {
        name: "deal_id",
        field_type: FieldType::Id,
        required: true,
        meaning: "the deal being changed (the Cedar resource `Deal::\"<deal_id>\"`)",
        example: "d-1042",
    },
    InputField {
        name: "amount",
        field_type: FieldType::Decimal,
        required: false,
        meaning: "the deal's amount after the change, at least 0",
        example: "20000",
    },
    InputField {
        name: "discount_pct",
        field_type: FieldType::Decimal,
        required: false,
        meaning: "the discount after the change, in percent (0 to 100); missing = 0",
        example: "15",
    },
    InputField {
        name: "close_date_old",
        field_type: FieldType::Date,
        required: false,
        meaning: "the close date before the change",
        example: "2026-12-01",
    },
    InputField {
        name: "close_date_new",
        field_type: FieldType::Date,
        required: false,
        meaning: "the close date after the change",
        example: "2026-12-20",
    },
    InputField {
        name: "stage_old",
        field_type: FieldType::Text,
        required: false,
        meaning: "the stage before the change (e.g. `proposal`)",
        example: "proposal",
    },
    InputField {
        name: "stage_new",
        field_type: FieldType::Text,
        required: false,
        meaning: "the stage after the change (e.g. `closed_won`)",
        example: "negotiation",
    },
];

/// The Cedar context built from the input.
const CONTEXT: &[ContextAttribute] = &[
    ContextAttribute {
        name: "discount_bps",
        cedar_type: CedarType::Long,
        meaning: "`discount_pct` in basis points (0 to 10000; 0 when missing)",
    },
    ContextAttribute {
        name: "close_date_slip_days",
        cedar_type: CedarType::Long,
        meaning: "days from `close_date_old` to `close_date_new` (0 unless both are given)",
    },
    ContextAttribute {
        name: "amount_cents",
        cedar_type: CedarType::Long,
        meaning: "`amount` in cents (0 when missing)",
    },
    ContextAttribute {
        name: "has_amount",
        cedar_type: CedarType::Boolean,
        meaning: "whether `amount` was given",
    },
    ContextAttribute {
        name: "stage_old",
        cedar_type: CedarType::String,
        meaning: "`stage_old` normalized (lower case, `_` for spaces and hyphens; \"\" when missing)",
    },
    ContextAttribute {
        name: "stage_new",
        cedar_type: CedarType::String,
        meaning: "`stage_new` normalized like `stage_old`",
    },
];

/// The deal update guard; resource `Deal::"<deal_id>"`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DealUpdate;

impl Guard for DealUpdate {
    fn name(&self) -> &'static str {
        "deal_update"
    }

    fn event_type(&self) -> &'static str {
        "revenue_os.guard.deal_update"
    }

    fn resource_type(&self) -> &'static str {
        "Deal"
    }

    fn default_rules(&self) -> &'static str {
        DEFAULT_RULES
    }

    fn facts_needed(&self) -> &'static [&'static str] {
        &[]
    }

    fn input_fields(&self) -> &'static [InputField] {
        FIELDS
    }

    fn context_attributes(&self) -> &'static [ContextAttribute] {
        CONTEXT
    }

    fn context(&self, input: &Value, _facts: &Value) -> Result<Value, String> {
        let amount_cents = match optional(input, "amount") {
            None => None,
            Some(v) => {
                let c = scaled(v, "amount", 2)?;
                if c < 0 {
                    return Err("amount must not be negative".to_owned());
                }
                Some(c)
            }
        };
        let discount_bps = match optional(input, "discount_pct") {
            None => 0,
            Some(v) => {
                let bps = scaled(v, "discount_pct", 2)?;
                if !(0..=10_000).contains(&bps) {
                    return Err(format!(
                        "discount_pct must be between 0 and 100; got {}",
                        crate::payload::truncate(&v.to_string(), 40)
                    ));
                }
                bps
            }
        };
        let old = optional(input, "close_date_old")
            .map(|v| date(v, "close_date_old"))
            .transpose()?;
        let new = optional(input, "close_date_new")
            .map(|v| date(v, "close_date_new"))
            .transpose()?;
        let slip = match (old, new) {
            (Some(o), Some(n)) => (n - o).num_days(),
            _ => 0,
        };
        Ok(json!({
            "discount_bps": discount_bps,
            "close_date_slip_days": slip,
            "amount_cents": amount_cents.unwrap_or(0),
            "has_amount": amount_cents.is_some(),
            "stage_old": stage(input, "stage_old")?,
            "stage_new": stage(input, "stage_new")?,
        }))
    }

    fn resource(&self, input: &Value) -> Result<String, String> {
        id(input, "deal_id")
    }
}
