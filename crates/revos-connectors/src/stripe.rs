//! Billing, Stripe-shaped: Stripe event objects (`{"id": "evt_…", "type":
//! …, "created": …, "data": {"object": …, "previous_attributes": …}}`) to
//! revenue events and accounts.
//!
//! Conventions (`docs/CONNECTORS.md` has the table):
//!
//! - revenue event amounts are movements of **annual** recurring revenue:
//!   a price billed every `interval_count` `interval`s is multiplied by the
//!   periods in a year (day 365, week 52, month 12, year 1) and divided by
//!   `interval_count`; MRR is ARR / 12. Refunds and one-off invoices are
//!   cash, not ARR;
//! - amounts come in the currency's minor unit: divided by 100, except the
//!   zero-decimal currencies in [`ZERO_DECIMAL`] (taken as they are) and the
//!   three-decimal ones in [`THREE_DECIMAL`] (divided by 1000);
//! - the effective day is the event's `created`, as a UTC day; the account
//!   is the object's `customer`; every row's id is `stripe:{event id}`, so a
//!   replayed event rewrites the same row;
//! - attribution comes from the merchant's metadata on the object (or an
//!   invoice's `subscription_details.metadata`): `campaign_id` or
//!   `utm_campaign` for the campaign, `channel` or `utm_source` for the
//!   channel ([`CAMPAIGN_KEYS`], [`CHANNEL_KEYS`]); without them the revenue
//!   is unattributed, which the optimizer reports as a data-quality issue
//!   once it passes a quarter of recent revenue.
//!
//! Mappings:
//!
//! - `invoice.paid` with `billing_reason` `subscription_create`: the first
//!   paid invoice of a subscription is new business (`new_business`, the
//!   ARR of its recurring lines) and makes the customer an account with
//!   status `customer`. New business is counted here, not at
//!   `customer.subscription.created`, so an unpaid or abandoned signup never
//!   counts. `subscription_cycle` (a renewal) leaves ARR unchanged and is
//!   not revenue news: the account is refreshed, no revenue event is
//!   written. `subscription_update` (a proration) writes nothing: the
//!   change is counted once, at `customer.subscription.updated`. Any other
//!   reason (`manual`, …) is a one-off sale: `one_time`, the cash paid;
//! - `customer.subscription.created`: nothing yet (see above), but the
//!   payload is checked;
//! - `customer.subscription.updated`: the ARR of the subscription's items
//!   now minus before (from `previous_attributes.items`, or the legacy
//!   `plan`/`quantity`): `expansion` when it grew, `contraction` (negative)
//!   when it shrank, nothing when the price did not change (a status or
//!   metadata update);
//! - `customer.subscription.deleted`: `churn`, minus the subscription's
//!   ARR;
//! - `charge.refunded`: `refund`, minus the amount refunded by this event
//!   (`amount_refunded` less `previous_attributes.amount_refunded`, since
//!   Stripe's figure is cumulative over partial refunds).

use crate::field::Node;
use crate::{MapError, Mapped, Outcome};
use revos_store::{Account, RevenueEvent};
use serde_json::Value;

/// The source name.
pub const SOURCE: &str = "stripe";
/// This mapper's version.
pub const VERSION: &str = "stripe/1";

/// Currencies Stripe counts in whole units (no minor unit).
pub const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];

/// Currencies Stripe counts in thousandths.
pub const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// An amount in `currency`'s minor unit, in whole units.
pub fn to_units(minor: i64, currency: &str) -> f64 {
    let currency = currency.to_ascii_lowercase();
    let divisor = if ZERO_DECIMAL.contains(&currency.as_str()) {
        1.0
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        1000.0
    } else {
        100.0
    };
    minor as f64 / divisor
}

/// The metadata keys that attribute revenue, first found wins: the
/// merchant sets them on the subscription (or the invoice, or the
/// customer's checkout) from the signup's UTM parameters.
pub const CAMPAIGN_KEYS: [&str; 2] = ["campaign_id", "utm_campaign"];
/// See [`CAMPAIGN_KEYS`].
pub const CHANNEL_KEYS: [&str; 2] = ["channel", "utm_source"];

/// The campaign and channel the object's metadata names: its own
/// `metadata`, else an invoice's `subscription_details.metadata`. Values
/// that are not non-empty strings are ignored (metadata is free-form).
fn attribution(object: &Node<'_>) -> (Option<String>, Option<String>) {
    let sources = [
        object.opt("metadata"),
        object
            .opt("subscription_details")
            .and_then(|d| d.opt("metadata")),
    ];
    let find = |keys: &[&str]| {
        sources.iter().flatten().find_map(|m| {
            keys.iter()
                .find_map(|k| m.opt_str(k).ok().flatten().map(|v| v.trim().to_owned()))
        })
    };
    (find(&CAMPAIGN_KEYS), find(&CHANNEL_KEYS))
}

/// Maps one Stripe event.
pub fn map(payload: &Value) -> Result<Outcome, MapError> {
    let event = Node::root(payload);
    let kind = event.str("type")?;
    let handled = [
        "invoice.paid",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "charge.refunded",
    ];
    if !handled.contains(&kind) {
        return Ok(Outcome::Unmapped {
            kind: kind.to_string(),
        });
    }
    let event_id = event.str("id")?;
    let day = event.get("created")?.as_unix_seconds()?.date_naive();
    let data = event.get("data")?;
    let object = data.get("object")?;
    let customer = object.get("customer")?.as_id()?;
    let (campaign, channel) = attribution(&object);
    let row = |event_type: &str, amount: f64| RevenueEvent {
        id: format!("stripe:{event_id}"),
        event_type: event_type.to_string(),
        amount,
        effective_date: day,
        attributed_campaign_id: campaign.clone(),
        attributed_channel: channel.clone(),
        account_id: Some(customer.clone()),
        opportunity_id: None,
    };
    let mut mapped = Mapped::new(kind);
    match kind {
        "invoice.paid" => invoice_paid(&object, &customer, &row, &mut mapped)?,
        "customer.subscription.created" => {
            subscription_arr(&object)?;
        }
        "customer.subscription.updated" => {
            let now = subscription_arr(&object)?;
            if let Some(before) = previous_arr(&object, &data)? {
                let delta = round_cents(now - before);
                if delta > 0.0 {
                    mapped.revenue_events.push(row("expansion", delta));
                } else if delta < 0.0 {
                    mapped.revenue_events.push(row("contraction", delta));
                }
            }
        }
        "customer.subscription.deleted" => {
            let arr = subscription_arr(&object)?;
            mapped.revenue_events.push(row("churn", -arr));
        }
        "charge.refunded" => {
            let currency = object.str("currency")?;
            let total = object.get("amount_refunded")?.as_i64()?;
            let before = match data
                .opt("previous_attributes")
                .and_then(|p| p.opt("amount_refunded"))
            {
                Some(n) => n.as_i64()?,
                None => 0,
            };
            mapped
                .revenue_events
                .push(row("refund", -to_units(total - before, currency)));
        }
        _ => unreachable!("checked against the handled types above"),
    }
    Ok(Outcome::Mapped(mapped))
}

/// `invoice.paid`: new business, a renewal, a proration or a one-off sale.
fn invoice_paid(
    invoice: &Node<'_>,
    customer: &str,
    row: &dyn Fn(&str, f64) -> RevenueEvent,
    mapped: &mut Mapped,
) -> Result<(), MapError> {
    let currency = invoice.str("currency")?;
    let paid = invoice.get("amount_paid")?.as_i64()?;
    let reason = invoice.str("billing_reason")?;
    let account = Account {
        id: customer.to_string(),
        name: invoice
            .opt_str("customer_name")?
            .or(invoice.opt_str("customer_email")?)
            .unwrap_or(customer)
            .to_string(),
        domain: None,
        industry: None,
        segment: None,
        status: Some("customer".to_string()),
        owner: None,
        arr: None,
    };
    match reason {
        "subscription_create" => {
            let mut arr = 0.0;
            for line in invoice.get("lines")?.get("data")?.items()? {
                let Some(price) = line.opt("price") else {
                    continue;
                };
                let Some(recurring) = price.opt("recurring") else {
                    continue;
                };
                let amount = line.get("amount")?.as_i64()?;
                arr += to_units(amount, currency) * per_year(&recurring)?;
            }
            mapped
                .revenue_events
                .push(row("new_business", round_cents(arr)));
            mapped.accounts.push(account);
        }
        "subscription_cycle" => mapped.accounts.push(account),
        "subscription_update" => {}
        _ => {
            mapped
                .revenue_events
                .push(row("one_time", to_units(paid, currency)));
            mapped.accounts.push(account);
        }
    }
    Ok(())
}

/// How many times a year a price with this `recurring` (or legacy `plan`)
/// node bills: 12 for monthly, 1 for yearly, 6 for every two months.
fn per_year(recurring: &Node<'_>) -> Result<f64, MapError> {
    let interval = recurring.get("interval")?;
    let periods = match interval.as_str()? {
        "day" => 365.0,
        "week" => 52.0,
        "month" => 12.0,
        "year" => 1.0,
        _ => {
            return Err(MapError::Invalid {
                path: interval.path.clone(),
                expected: "one of day, week, month, year",
            });
        }
    };
    let count = match recurring.opt("interval_count") {
        Some(n) => n.as_i64()?,
        None => 1,
    };
    if count < 1 {
        return Err(MapError::Invalid {
            path: format!("{}.interval_count", recurring.path),
            expected: "a whole number of at least 1",
        });
    }
    Ok(periods / count as f64)
}

/// The ARR of a subscription's (or a previous state's) `items.data`, in
/// units of `currency`.
fn items_arr(items: &Node<'_>, currency: &str) -> Result<f64, MapError> {
    let mut arr = 0.0;
    for item in items.get("data")?.items()? {
        let price = item.get("price")?;
        let unit = price.get("unit_amount")?.as_i64()?;
        let quantity = match item.opt("quantity") {
            Some(n) => n.as_i64()?,
            None => 1,
        };
        let recurring = price.get("recurring")?;
        arr += to_units(unit * quantity, currency) * per_year(&recurring)?;
    }
    Ok(arr)
}

/// The subscription's current ARR.
fn subscription_arr(subscription: &Node<'_>) -> Result<f64, MapError> {
    let currency = subscription.str("currency")?;
    Ok(round_cents(items_arr(
        &subscription.get("items")?,
        currency,
    )?))
}

/// The subscription's ARR before an update, if the update changed its
/// price: from `previous_attributes.items`, or from the legacy single-plan
/// fields (`plan`, `quantity`).
fn previous_arr(subscription: &Node<'_>, data: &Node<'_>) -> Result<Option<f64>, MapError> {
    let Some(previous) = data.opt("previous_attributes") else {
        return Ok(None);
    };
    let currency = subscription.str("currency")?;
    if let Some(items) = previous.opt("items") {
        return Ok(Some(round_cents(items_arr(&items, currency)?)));
    }
    if previous.opt("plan").is_none() && previous.opt("quantity").is_none() {
        return Ok(None);
    }
    let plan = match previous.opt("plan") {
        Some(plan) => plan,
        None => subscription.get("plan")?,
    };
    let quantity = match previous.opt("quantity") {
        Some(n) => n.as_i64()?,
        None => subscription.get("quantity")?.as_i64()?,
    };
    let amount = plan.get("amount")?.as_i64()?;
    Ok(Some(round_cents(
        to_units(amount * quantity, currency) * per_year(&plan)?,
    )))
}

/// Rounded to hundredths, so that annualized figures compare exactly.
fn round_cents(amount: f64) -> f64 {
    (amount * 100.0).round() / 100.0
}

/// The UTC day of a Stripe timestamp (seconds since the epoch).
#[cfg(test)]
fn day_of(secs: i64) -> Option<chrono::NaiveDate> {
    chrono::DateTime::from_timestamp(secs, 0).map(|t| t.date_naive())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minor_units_follow_the_currency() {
        assert_eq!(to_units(12_345, "usd"), 123.45);
        assert_eq!(to_units(12_345, "JPY"), 12_345.0);
        assert_eq!(to_units(12_345, "kwd"), 12.345);
    }

    #[test]
    fn the_effective_day_is_utc() {
        // 2026-01-05T23:30:00Z is still the 5th in UTC.
        assert_eq!(
            day_of(1_767_655_800),
            chrono::NaiveDate::from_ymd_opt(2026, 1, 5)
        );
    }
}
