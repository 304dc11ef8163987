//! Tenants, workspaces and optimizer settings as the API shows them.
//!
//! `routes::tenants` answers with these; each converts from the store's
//! record, and the request bodies convert into the store's input.

use chrono::{DateTime, Utc};
use revos_contracts::TenantId;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{AnyOf, Object, Schema, Type};
use utoipa::openapi::{Ref, RefOr};
use uuid::Uuid;

/// A tenant to create.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTenant {
    /// A chosen id (e.g. the validation loop's test tenants); a random one if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, format = Uuid)]
    pub(crate) id: Option<TenantId>,
    /// A display name, 1 to 200 characters.
    pub(crate) name: String,
}

impl From<NewTenant> for revos_store::NewTenant {
    fn from(tenant: NewTenant) -> Self {
        let NewTenant { id, name } = tenant;
        revos_store::NewTenant { id, name }
    }
}

/// A tenant: the root every other record hangs from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Tenant {
    /// The tenant id.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) id: TenantId,
    /// Display name.
    pub(crate) name: String,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// A simulated tenant (`revos validate`, `revos demo` in a named
    /// database): the scheduler never runs its cycles.
    #[serde(default)]
    pub(crate) simulation: bool,
}

impl From<revos_store::Tenant> for Tenant {
    fn from(tenant: revos_store::Tenant) -> Self {
        let revos_store::Tenant {
            id,
            name,
            created_at,
            simulation,
        } = tenant;
        Tenant {
            id,
            name,
            created_at,
            simulation,
        }
    }
}

/// A workspace inside a tenant (module tables carry its id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub(crate) struct Workspace {
    /// The owning tenant.
    #[schema(value_type = String, format = Uuid)]
    pub(crate) tenant_id: TenantId,
    /// The workspace id.
    pub(crate) id: Uuid,
    /// Its name (`default` for the one made with the tenant).
    pub(crate) name: String,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
}

impl From<revos_store::Workspace> for Workspace {
    fn from(workspace: revos_store::Workspace) -> Self {
        let revos_store::Workspace {
            tenant_id,
            id,
            name,
            created_at,
        } = workspace;
        Workspace {
            tenant_id,
            id,
            name,
            created_at,
        }
    }
}

/// A tenant's optimizer settings: the `targets`, `guardrails` and `config`
/// objects of the kernel input, stored as the contract writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct OptimizerConfig {
    /// `KernelInput.targets`.
    #[serde(default = "empty_object")]
    #[schema(schema_with = targets_schema)]
    pub(crate) targets: Value,
    /// `KernelInput.guardrails`, or `{}` for none yet.
    #[serde(default = "empty_object")]
    #[schema(schema_with = guardrails_schema)]
    pub(crate) guardrails: Value,
    /// `KernelInput.config`.
    #[serde(default = "empty_object")]
    #[schema(schema_with = kernel_config_schema)]
    pub(crate) config: Value,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// `Targets`: every field is optional, so `{}` is one too.
fn targets_schema() -> RefOr<Schema> {
    Ref::from_schema_name("Targets").into()
}

/// `KernelConfig`: every field is optional, so `{}` is one too.
fn kernel_config_schema() -> RefOr<Schema> {
    Ref::from_schema_name("KernelConfig").into()
}

/// `Guardrails`, or the empty object of a tenant that has set none.
fn guardrails_schema() -> RefOr<Schema> {
    let empty = Object::builder()
        .schema_type(Type::Object)
        .max_properties(Some(0))
        .build();
    Schema::AnyOf(
        AnyOf::builder()
            .item(Ref::from_schema_name("Guardrails"))
            .item(empty)
            .build(),
    )
    .into()
}

impl From<revos_store::OptimizerConfig> for OptimizerConfig {
    fn from(config: revos_store::OptimizerConfig) -> Self {
        let revos_store::OptimizerConfig {
            targets,
            guardrails,
            config,
        } = config;
        OptimizerConfig {
            targets,
            guardrails,
            config,
        }
    }
}

impl From<OptimizerConfig> for revos_store::OptimizerConfig {
    fn from(config: OptimizerConfig) -> Self {
        let OptimizerConfig {
            targets,
            guardrails,
            config,
        } = config;
        revos_store::OptimizerConfig {
            targets,
            guardrails,
            config,
        }
    }
}
