//! What a guard reads: its declared input fields and the Cedar context it
//! builds from them, and everything derived from that one declaration.
//!
//! Each [`Guard`] declares its input fields ([`InputField`]: name, JSON
//! type, whether required, meaning) and the attributes of the Cedar context
//! it builds ([`ContextAttribute`]). From that declaration:
//!
//! - [`check_input`] refuses a request with an unknown field, a field of the
//!   wrong type or a missing required field, naming the field and listing
//!   the accepted ones, before anything is evaluated (fail closed: a
//!   misspelt `discount_percent` is an error, not a discount of 0);
//! - [`cedar_schema`] gives the Cedar schema the guard's rules are
//!   validated against, when a tenant stores them and again before every
//!   evaluation;
//! - [`request_json_schema`] gives the JSON Schema of a request to the
//!   guard, for the OpenAPI document.

use cedar_policy::{PolicySet, Schema, ValidationMode, Validator};
use revos_contracts::ErrorCode;
use revos_contracts::validation::Violation;
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::Guard;
use crate::settings::kind;

/// The JSON types a guard input field accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// An identifier: a non-empty string of at most 200 characters, or an
    /// integer.
    Id,
    /// A decimal number: a JSON number or a numeric string such as
    /// `"1234.56"`.
    Decimal,
    /// A date string `YYYY-MM-DD` (an RFC 3339 time is read as its date).
    Date,
    /// A string.
    Text,
}

impl FieldType {
    /// The type as written in the documentation and in messages.
    pub const fn as_str(self) -> &'static str {
        match self {
            FieldType::Id => "id",
            FieldType::Decimal => "decimal",
            FieldType::Date => "date",
            FieldType::Text => "string",
        }
    }

    /// What a value of this type looks like, for messages.
    const fn expected(self) -> &'static str {
        match self {
            FieldType::Id => "a string or an integer",
            FieldType::Decimal => "a number or a numeric string",
            FieldType::Date => "a date string like 2025-03-31",
            FieldType::Text => "a string",
        }
    }

    /// Whether `value` (not null) has this type's JSON shape. Finer checks
    /// (a numeric string that is not a number, a date that does not exist)
    /// are made when the guard reads the field.
    fn accepts(self, value: &Value) -> bool {
        match self {
            FieldType::Id => {
                value.is_string() || value.as_i64().is_some() || value.as_u64().is_some()
            }
            FieldType::Decimal => value.is_number() || value.is_string(),
            FieldType::Date | FieldType::Text => value.is_string(),
        }
    }

    /// The JSON Schema of a value of this type.
    fn json_schema(self) -> Value {
        match self {
            // `minLength`, `maxLength` and `pattern` apply to strings only.
            FieldType::Id => json!({
                "type": ["string", "integer"],
                "minLength": 1,
                "maxLength": 200
            }),
            FieldType::Decimal => json!({
                "type": ["number", "string"],
                "pattern": "^\\s*[+-]?([0-9]+(\\.[0-9]+)?|\\.[0-9]+)\\s*$"
            }),
            FieldType::Date => json!({"type": "string", "format": "date"}),
            FieldType::Text => json!({"type": "string"}),
        }
    }
}

/// One input field of a guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InputField {
    /// The field's name in the request body.
    pub name: &'static str,
    /// Its JSON type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Whether a request must carry it (not null).
    pub required: bool,
    /// What it means, in a sentence.
    pub meaning: &'static str,
    /// An example value, for the documentation.
    pub example: &'static str,
}

/// The Cedar types a context attribute can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CedarType {
    /// A 64-bit integer.
    Long,
    /// A string.
    String,
    /// A boolean.
    Boolean,
}

impl CedarType {
    /// The name Cedar's schema gives the type.
    pub const fn as_str(self) -> &'static str {
        match self {
            CedarType::Long => "Long",
            CedarType::String => "String",
            CedarType::Boolean => "Boolean",
        }
    }
}

/// One attribute of the Cedar context a guard builds for its rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ContextAttribute {
    /// The attribute (`context.<name>` in a rule).
    pub name: &'static str,
    /// Its Cedar type.
    #[serde(rename = "type")]
    pub cedar_type: CedarType,
    /// What it holds, in a sentence.
    pub meaning: &'static str,
}

/// The attributes of the principal (`User`) every guard's rules can read.
pub const PRINCIPAL_ATTRIBUTES: [ContextAttribute; 1] = [ContextAttribute {
    name: "role",
    cedar_type: CedarType::String,
    meaning: "the caller's role in the tenant (owner, admin, operator, approver, viewer, agent)",
}];

/// Checks a guard request's input fields against the guard's declaration:
/// every field must be declared (or be one of `also_accepted`, the
/// request's own fields), have the declared type, and every required field
/// must be present and not null. Every problem is reported, each naming
/// the field by its JSON path; the messages list the accepted fields.
pub fn check_input(
    guard: &dyn Guard,
    input: &Map<String, Value>,
    also_accepted: &[&'static str],
) -> Result<(), Vec<Violation>> {
    let fields = guard.input_fields();
    let accepted = accepted_fields(guard, also_accepted).join(", ");
    let rule = format!("guard.{}", guard.name());
    let violation = |path: String, message: String| {
        Violation::new(rule.clone(), path, message, ErrorCode::InvalidInput)
    };
    let mut violations = Vec::new();
    for (name, value) in input {
        let shown = crate::payload::truncate(name, 60);
        match fields.iter().find(|f| f.name == name.as_str()) {
            None if also_accepted.contains(&name.as_str()) => {}
            None => violations.push(violation(
                path(name),
                format!(
                    "`{shown}` is not a field of guard `{}`; accepted fields: {accepted}",
                    guard.name()
                ),
            )),
            Some(_) if value.is_null() => {}
            Some(field) if !field.field_type.accepts(value) => violations.push(violation(
                path(name),
                format!(
                    "`{shown}` must be {} ({}), not {}",
                    field.field_type.expected(),
                    field.field_type.as_str(),
                    kind(value)
                ),
            )),
            Some(_) => {}
        }
    }
    for field in fields.iter().filter(|f| f.required) {
        if input.get(field.name).is_none_or(Value::is_null) {
            violations.push(violation(
                path(field.name),
                format!(
                    "`{}` is required by guard `{}`; accepted fields: {accepted}",
                    field.name,
                    guard.name()
                ),
            ));
        }
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(violations)
    }
}

/// The fields a request to `guard` may carry: the guard's own, in declared
/// order, then `also_accepted`.
pub fn accepted_fields(guard: &dyn Guard, also_accepted: &[&'static str]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = guard.input_fields().iter().map(|f| f.name).collect();
    out.extend_from_slice(also_accepted);
    out
}

/// A JSON path to a top-level field: `$.deal_id`, or `$["odd name"]`.
fn path(name: &str) -> String {
    if !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        format!("$.{name}")
    } else {
        let quoted = serde_json::to_string(&crate::payload::truncate(name, 60))
            .unwrap_or_else(|_| "\"?\"".to_owned());
        format!("$[{quoted}]")
    }
}

/// The guard's Cedar schema, in Cedar's JSON schema format: the principal
/// type `User` with [`PRINCIPAL_ATTRIBUTES`], the guard's resource type,
/// and the action `Action::"<guard name>"` with the guard's context.
pub fn cedar_schema_json(guard: &dyn Guard) -> Value {
    let attributes = |attrs: &[ContextAttribute]| -> Value {
        let map: Map<String, Value> = attrs
            .iter()
            .map(|a| (a.name.to_owned(), json!({"type": a.cedar_type.as_str()})))
            .collect();
        json!({"type": "Record", "attributes": map})
    };
    json!({
        "": {
            "entityTypes": {
                "User": {"shape": attributes(&PRINCIPAL_ATTRIBUTES)},
                guard.resource_type(): {}
            },
            "actions": {
                guard.name(): {
                    "appliesTo": {
                        "principalTypes": ["User"],
                        "resourceTypes": [guard.resource_type()],
                        "context": attributes(guard.context_attributes())
                    }
                }
            }
        }
    })
}

/// The guard's Cedar schema (see [`cedar_schema_json`]).
pub fn cedar_schema(guard: &dyn Guard) -> Result<Schema, String> {
    Schema::from_json_value(cedar_schema_json(guard))
        .map_err(|e| format!("the Cedar schema of guard `{}`: {e}", guard.name()))
}

/// Validates rules against the guard's schema (Cedar's strict mode): an
/// attribute the context does not have, a comparison of a string with a
/// number or an action of another guard is an error, with Cedar's message.
pub(crate) fn validate(guard: &dyn Guard, rules: &PolicySet) -> Result<(), String> {
    let validator = Validator::new(cedar_schema(guard)?);
    let result = validator.validate(rules, ValidationMode::Strict);
    if result.validation_passed() {
        return Ok(());
    }
    let errors: Vec<String> = result
        .validation_errors()
        .map(ToString::to_string)
        .collect();
    Err(format!(
        "Cedar validation against the guard's schema failed: {}; the context has: {}",
        errors.join("; "),
        guard
            .context_attributes()
            .iter()
            .map(|a| format!("{} ({})", a.name, a.cedar_type.as_str()))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

/// The JSON Schema of a request to `guard`: an object with the guard's
/// fields and the request fields `extra` (name and schema), no others.
pub fn request_json_schema(guard: &dyn Guard, extra: &[(&str, Value)]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    let mut example = Map::new();
    for field in guard.input_fields() {
        let mut schema = field.field_type.json_schema();
        if let Some(obj) = schema.as_object_mut() {
            obj.insert("description".to_owned(), json!(field.meaning));
        }
        properties.insert(field.name.to_owned(), schema);
        if field.required {
            required.push(json!(field.name));
        }
        let value = match field.field_type {
            FieldType::Decimal => field
                .example
                .parse::<f64>()
                .map(Value::from)
                .unwrap_or_else(|_| json!(field.example)),
            _ => json!(field.example),
        };
        example.insert(field.name.to_owned(), value);
    }
    for (name, schema) in extra {
        properties.insert((*name).to_owned(), schema.clone());
    }
    json!({
        "title": guard.name(),
        "description": format!(
            "A request to the `{}` guard (`POST /v1/guards/{}`).",
            guard.name(),
            guard.name().replace('_', "-")
        ),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
        "example": example,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::{GuardRegistry, check_rules};

    /// The context each guard builds has exactly the declared attributes,
    /// with the declared types, and the defaults validate.
    #[test]
    fn declarations_match_what_guards_build() {
        let reg = GuardRegistry::builtin();
        let samples = [
            (
                "deal_update",
                json!({"deal_id": "d", "amount": 10, "discount_pct": 5,
                       "close_date_old": "2026-01-01", "close_date_new": "2026-01-05",
                       "stage_old": "a", "stage_new": "b"}),
            ),
            (
                "send_invoice",
                json!({"invoice_id": "i", "account_id": "a", "amount": 1, "currency": "EUR"}),
            ),
        ];
        let facts = json!({"account_known": true, "duplicate_within_window": false});
        for (name, input) in samples {
            let g = reg.get(name).unwrap();
            let fields = input.as_object().unwrap();
            check_input(g, fields, &[]).unwrap();
            assert_eq!(
                fields.len(),
                g.input_fields().len(),
                "{name}: sample has every field"
            );
            let ctx = g.context(&input, &facts).unwrap();
            let ctx = ctx.as_object().unwrap();
            let declared: Vec<&str> = g.context_attributes().iter().map(|a| a.name).collect();
            let mut built: Vec<&str> = ctx.keys().map(String::as_str).collect();
            let mut sorted = declared.clone();
            sorted.sort_unstable();
            built.sort_unstable();
            assert_eq!(built, sorted, "{name}");
            for a in g.context_attributes() {
                let v = &ctx[a.name];
                let ok = match a.cedar_type {
                    CedarType::Long => v.is_i64(),
                    CedarType::String => v.is_string(),
                    CedarType::Boolean => v.is_boolean(),
                };
                assert!(ok, "{name}.{}: {v}", a.name);
            }
            cedar_schema(g).unwrap();
            check_rules(g, g.default_rules()).unwrap();
            let schema = request_json_schema(g, &[]);
            assert_eq!(schema["additionalProperties"], json!(false));
            for f in g.input_fields() {
                assert!(schema["properties"].get(f.name).is_some(), "{}", f.name);
                assert!(!f.meaning.is_empty());
            }
            // The documented example is itself a valid request.
            let example = schema["example"].as_object().unwrap();
            check_input(g, example, &[]).unwrap();
        }
    }

    #[test]
    fn unknown_mistyped_and_missing_fields_are_named() {
        let reg = GuardRegistry::builtin();
        let g = reg.get("deal_update").unwrap();
        let input = json!({"deal_id": "d1", "discount_percent": 90});
        let v = check_input(g, input.as_object().unwrap(), &["tenant_id"]).unwrap_err();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].path, "$.discount_percent");
        assert!(
            v[0].message.contains("`discount_percent` is not a field"),
            "{}",
            v[0].message
        );
        assert!(v[0].message.contains("discount_pct"), "{}", v[0].message);
        assert!(
            v[0].message.ends_with("stage_new, tenant_id"),
            "{}",
            v[0].message
        );

        let input = json!({"discount_pct": true, "odd key": 1, "stage_new": null});
        let v = check_input(g, input.as_object().unwrap(), &[]).unwrap_err();
        let paths: Vec<&str> = v.iter().map(|v| v.path.as_str()).collect();
        assert_eq!(paths, ["$.discount_pct", "$[\"odd key\"]", "$.deal_id"]);
        assert!(v[0].message.contains("a number or a numeric string"));
        assert!(v[2].message.contains("`deal_id` is required"));
        // Null is missing for a required field.
        let input = json!({"deal_id": null});
        assert_eq!(
            check_input(g, input.as_object().unwrap(), &[])
                .unwrap_err()
                .len(),
            1
        );
        // Ids may be integers, not booleans or fractions.
        assert!(check_input(g, json!({"deal_id": 7}).as_object().unwrap(), &[]).is_ok());
        assert!(check_input(g, json!({"deal_id": 7.5}).as_object().unwrap(), &[]).is_err());
    }

    #[test]
    fn rules_are_validated_against_the_schema() {
        let reg = GuardRegistry::builtin();
        let g = reg.get("deal_update").unwrap();
        let bad = r#"@id("p") permit (principal, action, resource) when { context.discount_percent < 20 };"#;
        let err = check_rules(g, bad).unwrap_err();
        assert!(err.contains("discount_percent"), "{err}");
        assert!(
            err.contains("the context has: discount_bps (Long)"),
            "{err}"
        );
        // Another guard's action, a principal attribute that does not exist,
        // a string compared as a number.
        for bad in [
            r#"@id("p") permit (principal, action == Action::"send_invoice", resource);"#,
            r#"@id("p") permit (principal, action, resource) when { principal.team == "x" };"#,
            r#"@id("p") permit (principal, action, resource) when { context.stage_new > 1 };"#,
        ] {
            assert!(check_rules(g, bad).is_err(), "{bad}");
        }
        let good = r#"@id("p") permit (principal, action, resource) when { principal.role == "admin" && context.has_amount };"#;
        assert_eq!(check_rules(g, good), Ok(()));
        let s = reg.get("send_invoice").unwrap();
        assert!(
            check_rules(s, good).is_err(),
            "has_amount is not in send_invoice's context"
        );
    }

    /// docs/POLICIES.md lists every field and context attribute as declared.
    #[test]
    fn the_policies_doc_lists_every_field() {
        let doc = include_str!("../../../../docs/POLICIES.md");
        let reg = GuardRegistry::builtin();
        for name in reg.names() {
            let g = reg.get(name).unwrap();
            assert!(doc.contains(&format!("`{name}` (resource `{}`)", g.resource_type())));
            for f in g.input_fields() {
                let row = format!(
                    "| `{}` | {} | {} | {} |",
                    f.name,
                    f.field_type.as_str(),
                    if f.required { "yes" } else { "no" },
                    f.meaning
                );
                assert!(doc.contains(&row), "docs/POLICIES.md lacks {row}");
            }
            for a in g.context_attributes() {
                let row = format!(
                    "| `context.{}` | {} | {} |",
                    a.name,
                    a.cedar_type.as_str(),
                    a.meaning
                );
                assert!(doc.contains(&row), "docs/POLICIES.md lacks {row}");
            }
        }
    }
}
