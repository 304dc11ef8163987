//! The `send_invoice` guard: may this invoice be sent?
//!
//! Input: `{invoice_id, account_id, amount, currency}`; facts looked up by
//! the shell: `account_known` (the account exists for the tenant) and
//! `duplicate_within_window` (an invoice for the same account and amount
//! was sent recently). Context for the rules: `amount_cents`, `currency`
//! (upper case), `account_id`, `account_known`, `duplicate_within_window`.

use serde_json::{Value, json};

use super::numbers::{fact, id, optional, scaled};
use super::{CedarType, ContextAttribute, FieldType, Guard, InputField};
use crate::settings::kind;

const DEFAULT_RULES: &str = r#"// Invoices may be sent unless a rule below forbids it.
@id("permit_send_invoice")
permit (principal, action == Action::"send_invoice", resource);

@id("invoice_above_50k")
@reason("invoice above 50,000 is blocked")
forbid (principal, action == Action::"send_invoice", resource)
when { context.amount_cents > 5000000 };

@id("invoice_above_10k")
@overridable("true")
@reason("invoice above 10,000 needs an override")
forbid (principal, action == Action::"send_invoice", resource)
when { context.amount_cents > 1000000 };

@id("unknown_account")
@reason("unknown account")
forbid (principal, action == Action::"send_invoice", resource)
unless { context.account_known };

@id("duplicate_invoice")
@reason("duplicate invoice within the window")
forbid (principal, action == Action::"send_invoice", resource)
when { context.duplicate_within_window };
"#;

/// The facts the shell looks up for this guard.
const FACTS: &[&str] = &["account_known", "duplicate_within_window"];

/// The input fields.
const FIELDS: &[InputField] = &[
    InputField {
        name: "invoice_id",
        field_type: FieldType::Id,
        required: true,
        meaning: "the invoice to send (the Cedar resource `Invoice::\"<invoice_id>\"`)",
        example: "inv-2026-0042",
    },
    InputField {
        name: "account_id",
        field_type: FieldType::Id,
        required: true,
        meaning: "the account billed, looked up in the tenant's accounts",
        example: "acc-1",
    },
    InputField {
        name: "amount",
        field_type: FieldType::Decimal,
        required: true,
        meaning: "the invoice total, greater than 0",
        example: "1200.50",
    },
    InputField {
        name: "currency",
        field_type: FieldType::Text,
        required: true,
        meaning: "a 3-letter currency code such as EUR",
        example: "EUR",
    },
];

/// The Cedar context built from the input and the facts.
const CONTEXT: &[ContextAttribute] = &[
    ContextAttribute {
        name: "amount_cents",
        cedar_type: CedarType::Long,
        meaning: "`amount` in cents",
    },
    ContextAttribute {
        name: "currency",
        cedar_type: CedarType::String,
        meaning: "`currency` in upper case",
    },
    ContextAttribute {
        name: "account_id",
        cedar_type: CedarType::String,
        meaning: "`account_id` as a string",
    },
    ContextAttribute {
        name: "account_known",
        cedar_type: CedarType::Boolean,
        meaning: "whether the tenant has the account (looked up by revos)",
    },
    ContextAttribute {
        name: "duplicate_within_window",
        cedar_type: CedarType::Boolean,
        meaning: "whether the same account, amount and currency passed the guard within \
                  `duplicate_window_hours` (looked up by revos)",
    },
];

/// The send invoice guard; resource `Invoice::"<invoice_id>"`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SendInvoice;

impl Guard for SendInvoice {
    fn name(&self) -> &'static str {
        "send_invoice"
    }

    fn event_type(&self) -> &'static str {
        "revenue_os.guard.send_invoice"
    }

    fn resource_type(&self) -> &'static str {
        "Invoice"
    }

    fn default_rules(&self) -> &'static str {
        DEFAULT_RULES
    }

    fn facts_needed(&self) -> &'static [&'static str] {
        FACTS
    }

    fn input_fields(&self) -> &'static [InputField] {
        FIELDS
    }

    fn context_attributes(&self) -> &'static [ContextAttribute] {
        CONTEXT
    }

    fn context(&self, input: &Value, facts: &Value) -> Result<Value, String> {
        let account_id = id(input, "account_id")?;
        let amount = optional(input, "amount").ok_or_else(|| "amount is required".to_owned())?;
        let amount_cents = scaled(amount, "amount", 2)?;
        if amount_cents <= 0 {
            return Err("amount must be greater than 0".to_owned());
        }
        let currency = match optional(input, "currency") {
            None => return Err("currency is required (a 3-letter code such as EUR)".to_owned()),
            Some(Value::String(c))
                if c.trim().len() == 3 && c.trim().chars().all(|c| c.is_ascii_alphabetic()) =>
            {
                c.trim().to_ascii_uppercase()
            }
            Some(Value::String(c)) => {
                return Err(format!(
                    "currency `{}` must be a 3-letter code such as EUR",
                    crate::payload::truncate(c, 20)
                ));
            }
            Some(other) => {
                return Err(format!("currency must be a string, not {}", kind(other)));
            }
        };
        Ok(json!({
            "amount_cents": amount_cents,
            "currency": currency,
            "account_id": account_id,
            "account_known": fact(facts, "account_known")?,
            "duplicate_within_window": fact(facts, "duplicate_within_window")?,
        }))
    }

    fn resource(&self, input: &Value) -> Result<String, String> {
        id(input, "invoice_id")
    }
}
