//! Who is calling, and what they may do.
//!
//! Services and AI agents authenticate with API keys of the form
//! `rvs_<id>_<secret>`: `id` is 12 hex characters (public, used to find
//! the key), `secret` is 32 random bytes in URL-safe base64 (256 bits,
//! shown once, stored only as its SHA-256). The hash is compared in
//! constant time. A plain hash is enough here, unlike for passwords: the
//! secret is random and long, so there is nothing to guess.
//!
//! Authorization is decided here too, so the API and the CLI agree:
//! a tenant key reaches only its own tenant (another tenant's resources
//! are answered as not found, never as forbidden, so their existence does
//! not leak), and each route needs a scope (`read`, `write`, `admin`).

use crate::identity::rejections::Rejection;
use crate::{Failure, Kernel};
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_store::identity::{ApiKey, Membership, Role, Scope};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The prefix of every revos API key.
const KEY_PREFIX: &str = "rvs_";
/// How often `last_used_at` is refreshed at most.
const TOUCH_EVERY: Duration = Duration::seconds(60);

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A service or AI agent holding an API key.
    Key(ApiKey),
    /// A person signed in with the tenant's identity provider (a JWT),
    /// with the memberships revos holds for them.
    User(User),
    /// revos itself (scheduler, workers, CLI on the server's machine):
    /// every tenant, every scope.
    Service,
}

/// A signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The token's `sub`.
    pub subject: String,
    /// The tenants they belong to, with their roles.
    pub memberships: Vec<Membership>,
}

impl User {
    /// Their role in `tenant`, if they belong to it.
    pub(crate) fn role_in(&self, tenant: TenantId) -> Option<Role> {
        self.memberships
            .iter()
            .find(|m| m.tenant_id == tenant)
            .map(|m| m.role)
    }
}

impl Principal {
    /// The one tenant the caller is bound to: a tenant key's. `None` for
    /// platform keys, users (who may belong to several) and the service.
    pub fn tenant(&self) -> Option<TenantId> {
        match self {
            Principal::Key(key) => key.tenant_id,
            Principal::User(_) | Principal::Service => None,
        }
    }

    /// The tenants the caller can see; `None` means all of them.
    pub fn visible_tenants(&self) -> Option<Vec<TenantId>> {
        match self {
            Principal::Key(key) => key.tenant_id.map(|t| vec![t]),
            Principal::User(user) => Some(user.memberships.iter().map(|m| m.tenant_id).collect()),
            Principal::Service => None,
        }
    }

    /// The scope the caller holds in `tenant`; `None` when the tenant is
    /// not theirs to see.
    pub fn scope_in(&self, tenant: TenantId) -> Option<Scope> {
        match self {
            Principal::Key(key) => match key.tenant_id {
                Some(own) if own != tenant => None,
                _ => key.scopes.iter().copied().max(),
            },
            Principal::User(user) => user.role_in(tenant).map(Role::scope),
            Principal::Service => Some(Scope::Admin),
        }
    }

    /// The scope held over the platform (all tenants): only platform keys
    /// and the service have one.
    pub fn platform_scope(&self) -> Option<Scope> {
        match self {
            Principal::Key(key) if key.tenant_id.is_none() => key.scopes.iter().copied().max(),
            Principal::Service => Some(Scope::Admin),
            _ => None,
        }
    }

    /// How the caller appears in logs and the audit log.
    pub fn actor(&self) -> String {
        match self {
            Principal::Key(key) => match &key.agent {
                Some(agent) => format!("key:{KEY_PREFIX}{} (agent {agent})", key.id),
                None => format!("key:{KEY_PREFIX}{}", key.id),
            },
            Principal::User(user) => format!("user:{}", user.subject),
            Principal::Service => "service".to_owned(),
        }
    }

    /// May the caller act on `tenant` with `scope`? A tenant that is not
    /// theirs is answered `TENANT_NOT_FOUND` (its existence does not leak),
    /// a missing scope 403.
    pub fn authorize_tenant(&self, tenant: TenantId, scope: Scope) -> Result<(), Failure> {
        if tenant.is_platform() {
            return Err(Failure::tenant_not_found(tenant));
        }
        match self.scope_in(tenant) {
            None => Err(Failure::tenant_not_found(tenant)),
            Some(held) if held >= scope => Ok(()),
            Some(held) => Err(missing_scope(scope, held)),
        }
    }

    /// May the caller act on the platform (all tenants) with `scope`?
    pub fn authorize_platform(&self, scope: Scope) -> Result<(), Failure> {
        match self.platform_scope() {
            None => Err(forbidden("this needs a platform key")),
            Some(held) if held >= scope => Ok(()),
            Some(held) => Err(missing_scope(scope, held)),
        }
    }
}

fn missing_scope(needed: Scope, held: Scope) -> Failure {
    forbidden(&format!(
        "this needs the `{}` scope; the caller has `{}`",
        needed.as_str(),
        held.as_str()
    ))
}

/// 401: no credential, or one that does not authenticate.
pub fn unauthorized(message: &str) -> Failure {
    Failure::of(ErrorKind::Unauthorized, message)
}

/// 401 for a refused user token, saying why (RFC 6750): the message and
/// `details.www_authenticate` carry `error="invalid_token"` and a
/// description that reveals no secret.
fn invalid_token(why: &'static str) -> Failure {
    let mut failure = unauthorized(&format!("the token is not valid: {why}"));
    failure.body = failure.body.with_detail("reason", why).with_detail(
        "www_authenticate",
        format!("Bearer realm=\"revos\", error=\"invalid_token\", error_description=\"{why}\""),
    );
    failure
}

/// 403: authenticated, but not allowed.
pub(crate) fn forbidden(message: &str) -> Failure {
    Failure::of(ErrorKind::Forbidden, message)
}

/// A key to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewApiKey {
    /// A name to recognise it by (1–200 characters).
    pub name: String,
    /// The tenant it acts for; absent for a platform key (only a platform
    /// admin may create one). A tenant admin's keys default to its tenant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    /// What it may do; never more than the creator holds.
    pub scopes: Vec<Scope>,
    /// The AI agent it identifies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedApiKey {
    /// The full key to present as `Authorization: Bearer …`. Store it now:
    /// it cannot be shown again.
    pub token: String,
    /// The key's record.
    pub key: ApiKey,
}

fn random_bytes<const N: usize>() -> Result<[u8; N], Failure> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Failure::internal(&e))?;
    Ok(bytes)
}

/// Hex SHA-256 of a key's secret part.
fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Splits `rvs_<id>_<secret>` into id and secret.
fn split_token(token: &str) -> Option<(&str, &str)> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let id_ok = id.len() == 12 && id.bytes().all(|b| b.is_ascii_hexdigit());
    (id_ok && secret.len() >= 22).then_some((id, secret))
}

/// A credential that did not authenticate: the answer to give, and the
/// audit entry the caller should note once it has throttled the attempt
/// (see [`Kernel::note_rejection`]); `None` for a failure of revos itself
/// (the store being down), which is no attempt of the caller's.
#[derive(Debug)]
pub struct Refused {
    /// The 401 (or 5xx) to answer.
    pub failure: Failure,
    /// What to audit.
    pub rejection: Option<Rejection>,
}

impl From<Failure> for Refused {
    fn from(failure: Failure) -> Self {
        Refused {
            failure,
            rejection: None,
        }
    }
}

fn refused(
    failure: Failure,
    chain: TenantId,
    key_id: Option<&str>,
    reason: &str,
    origin: &str,
) -> Refused {
    Refused {
        failure,
        rejection: Some(Rejection {
            chain,
            action: "auth.failure",
            actor: "anonymous".to_owned(),
            resource: key_id.map(|id| ("api_key".to_owned(), id.to_owned())),
            peer: None,
            details: serde_json::json!({"reason": reason, "origin": origin}),
        }),
    }
}

impl Kernel {
    /// Authenticates a bearer credential: an API key (`rvs_…`) or, when
    /// `[jwt]` is configured, a user's token. `origin` says what was asked
    /// (method and path). Nothing is written here: a failure comes back
    /// with the audit entry to note (in the key's tenant chain when the key
    /// exists, else in the platform chain), so that the caller can throttle
    /// the attempt first and note only what it lets through.
    pub async fn authenticate(
        &self,
        token: &str,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, Refused> {
        let token = token.trim();
        if token.starts_with(KEY_PREFIX) {
            self.authenticate_key(token, origin, now).await
        } else {
            self.authenticate_user(token, origin).await
        }
    }

    async fn authenticate_user(&self, token: &str, origin: &str) -> Result<Principal, Refused> {
        let Some(verifier) = &self.jwt else {
            return Err(refused(
                unauthorized(
                    "not an API key (rvs_…), and this server accepts no user tokens ([jwt] is not configured)",
                ),
                TenantId::PLATFORM,
                None,
                "jwt not configured",
                origin,
            ));
        };
        match verifier.verify(token).await {
            Ok(claims) => {
                let subject = claims.sub.trim().to_owned();
                let memberships = self
                    .store
                    .memberships_of(&subject)
                    .await
                    .map_err(Failure::from)?;
                Ok(Principal::User(User {
                    subject,
                    memberships,
                }))
            }
            Err(reason) => Err(refused(
                invalid_token(crate::identity::jwt::public_reason(&reason)),
                TenantId::PLATFORM,
                None,
                &format!("jwt: {reason}"),
                origin,
            )),
        }
    }

    async fn authenticate_key(
        &self,
        token: &str,
        origin: &str,
        now: DateTime<Utc>,
    ) -> Result<Principal, Refused> {
        let invalid = || unauthorized("the API key is not valid");
        let Some((id, secret)) = split_token(token) else {
            return Err(refused(
                invalid(),
                TenantId::PLATFORM,
                None,
                "malformed key",
                origin,
            ));
        };
        let Some(stored) = self.store.find_api_key(id).await.map_err(Failure::from)? else {
            return Err(refused(
                invalid(),
                TenantId::PLATFORM,
                Some(id),
                "unknown key",
                origin,
            ));
        };
        let chain = stored.key.tenant_id.unwrap_or(TenantId::PLATFORM);
        let presented = hash_secret(secret);
        if !bool::from(presented.as_bytes().ct_eq(stored.secret_hash.as_bytes())) {
            return Err(refused(invalid(), chain, Some(id), "wrong secret", origin));
        }
        if stored.key.revoked_at.is_some() {
            return Err(refused(
                unauthorized("the API key has been revoked"),
                chain,
                Some(id),
                "revoked key",
                origin,
            ));
        }
        let stale = stored
            .key
            .last_used_at
            .is_none_or(|at| now - at >= TOUCH_EVERY);
        if stale && let Err(e) = self.store.touch_api_key(id, now).await {
            // Not worth failing a request over: the next use tries again.
            tracing::warn!(error = %e, key = id, "could not record the key's use");
        }
        Ok(Principal::Key(stored.key))
    }

    /// Creates an API key on behalf of `by`.
    pub async fn create_api_key(
        &self,
        by: &Principal,
        new: NewApiKey,
        now: DateTime<Utc>,
    ) -> Result<IssuedApiKey, Failure> {
        let tenant = new.tenant_id.or(by.tenant());
        match tenant {
            Some(t) => by.authorize_tenant(t, Scope::Admin)?,
            None => by.authorize_platform(Scope::Admin)?,
        }
        let held = match tenant {
            Some(t) => by.scope_in(t),
            None => by.platform_scope(),
        }
        .unwrap_or(Scope::Read);
        let name = new.name.trim();
        let mut problems = Vec::new();
        if name.is_empty() || name.chars().count() > 200 {
            problems.push(("$.name", "must be 1 to 200 characters".to_owned()));
        }
        if new.scopes.is_empty() {
            problems.push((
                "$.scopes",
                "must name at least one of read, write, admin".to_owned(),
            ));
        }
        if let Some(too_much) = new.scopes.iter().find(|s| **s > held) {
            problems.push((
                "$.scopes",
                format!(
                    "cannot grant `{}`: the caller holds at most `{}`",
                    too_much.as_str(),
                    held.as_str()
                ),
            ));
        }
        if let Some(agent) = &new.agent
            && (agent.trim().is_empty() || agent.chars().count() > 200)
        {
            problems.push(("$.agent", "must be 1 to 200 characters".to_owned()));
        }
        // The optimizer's name is revos' own: a key holding it would get
        // the optimizer's permits.
        if let Some(agent) = &new.agent
            && agent
                .trim()
                .eq_ignore_ascii_case(revos_policy::tools::OPTIMIZER_AGENT)
        {
            problems.push((
                "$.agent",
                format!(
                    "`{}` is the name revos' optimizer calls tools under; choose another",
                    revos_policy::tools::OPTIMIZER_AGENT
                ),
            ));
        }
        if !problems.is_empty() {
            let violations: Vec<_> = problems
                .into_iter()
                .map(|(path, message)| {
                    revos_contracts::validation::Violation::new(
                        "data",
                        path,
                        message,
                        ErrorCode::InvalidInput,
                    )
                })
                .collect();
            return Err(Failure::invalid("invalid API key request", &violations));
        }
        let mut scopes = new.scopes.clone();
        scopes.sort();
        scopes.dedup();
        let id = hex::encode(random_bytes::<6>()?);
        let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>()?);
        let key = ApiKey {
            id: id.clone(),
            name: name.to_owned(),
            tenant_id: tenant,
            scopes,
            agent: new.agent.map(|a| a.trim().to_owned()),
            created_at: revos_store::support::now_at(now),
            last_used_at: None,
            revoked_at: None,
        };
        self.store
            .create_api_key(&key, &hash_secret(&secret))
            .await?;
        self.audit(
            tenant.unwrap_or(TenantId::PLATFORM),
            &by.actor(),
            "key.create",
            Some(("api_key", &key.id)),
            serde_json::json!({
                "name": key.name,
                "scopes": key.scopes,
                "agent": key.agent,
            }),
        )
        .await;
        Ok(IssuedApiKey {
            token: format!("{KEY_PREFIX}{id}_{secret}"),
            key,
        })
    }

    /// Keys `by` may see: a tenant's own, or all for a platform admin
    /// (optionally narrowed to one tenant).
    pub async fn api_keys(
        &self,
        by: &Principal,
        tenant: Option<TenantId>,
    ) -> Result<Vec<ApiKey>, Failure> {
        let scope = match (by.tenant(), tenant) {
            (Some(own), Some(asked)) if own != asked => {
                return Err(Failure::tenant_not_found(asked));
            }
            (Some(own), _) => Some(own),
            (None, asked) => asked,
        };
        match scope {
            Some(t) => by.authorize_tenant(t, Scope::Admin)?,
            None => by.authorize_platform(Scope::Admin)?,
        }
        Ok(self.store.list_api_keys(scope).await?)
    }

    /// Revokes a key `by` may manage. Someone else's key is answered as
    /// not found.
    pub async fn revoke_api_key(
        &self,
        by: &Principal,
        id: &str,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, Failure> {
        let id = id.strip_prefix(KEY_PREFIX).unwrap_or(id);
        let not_found = || Failure::not_found("api key", id);
        let stored = self.store.find_api_key(id).await?.ok_or_else(not_found)?;
        let visible = match stored.key.tenant_id {
            Some(t) => by.scope_in(t).is_some(),
            None => by.platform_scope().is_some(),
        };
        if !visible {
            return Err(not_found());
        }
        match stored.key.tenant_id {
            Some(t) => by.authorize_tenant(t, Scope::Admin)?,
            None => by.authorize_platform(Scope::Admin)?,
        }
        if self.store.revoke_api_key(id, now).await? {
            self.audit(
                stored.key.tenant_id.unwrap_or(TenantId::PLATFORM),
                &by.actor(),
                "key.revoke",
                Some(("api_key", id)),
                serde_json::json!({"name": stored.key.name}),
            )
            .await;
        }
        let mut key = stored.key;
        key.revoked_at.get_or_insert(now);
        Ok(key)
    }

    /// On a database without an active platform admin key, creates one and
    /// returns it (to be printed once); otherwise `None`.
    pub async fn bootstrap_admin_key(
        &self,
        now: DateTime<Utc>,
    ) -> Result<Option<IssuedApiKey>, Failure> {
        if self.store.has_platform_admin_key().await? {
            return Ok(None);
        }
        let key = self
            .create_api_key(
                &Principal::Service,
                NewApiKey {
                    name: "bootstrap admin".to_owned(),
                    tenant_id: None,
                    scopes: vec![Scope::Admin],
                    agent: None,
                },
                now,
            )
            .await?;
        Ok(Some(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(tenant: Option<TenantId>, scopes: &[Scope]) -> Principal {
        Principal::Key(ApiKey {
            id: "0123456789ab".into(),
            name: "k".into(),
            tenant_id: tenant,
            scopes: scopes.to_vec(),
            agent: None,
            created_at: Utc::now(),
            last_used_at: None,
            revoked_at: None,
        })
    }

    #[test]
    fn scopes_include_lower_ones() {
        let writer = key(None, &[Scope::Write]);
        assert!(writer.authorize_platform(Scope::Read).is_ok());
        assert!(writer.authorize_platform(Scope::Write).is_ok());
        assert_eq!(
            writer.authorize_platform(Scope::Admin).unwrap_err().status,
            403
        );
    }

    #[test]
    fn users_act_through_their_memberships() {
        let a = TenantId::new_random();
        let b = TenantId::new_random();
        let user = Principal::User(User {
            subject: "auth0|42".into(),
            memberships: vec![Membership {
                tenant_id: a,
                subject: "auth0|42".into(),
                role: Role::Operator,
                granted_at: Utc::now(),
            }],
        });
        assert!(user.authorize_tenant(a, Scope::Write).is_ok());
        assert_eq!(
            user.authorize_tenant(a, Scope::Admin).unwrap_err().status,
            403
        );
        assert_eq!(
            user.authorize_tenant(b, Scope::Read).unwrap_err().status,
            404
        );
        assert_eq!(
            user.authorize_platform(Scope::Read).unwrap_err().status,
            403
        );
        assert_eq!(user.visible_tenants(), Some(vec![a]));
        assert_eq!(user.actor(), "user:auth0|42");
    }

    #[test]
    fn other_tenants_are_not_found_not_forbidden() {
        let a = TenantId::new_random();
        let b = TenantId::new_random();
        let reader = key(Some(a), &[Scope::Read]);
        assert!(reader.authorize_tenant(a, Scope::Read).is_ok());
        assert_eq!(
            reader.authorize_tenant(b, Scope::Read).unwrap_err().status,
            404
        );
        assert_eq!(
            reader.authorize_tenant(a, Scope::Write).unwrap_err().status,
            403
        );
        assert_eq!(
            reader.authorize_platform(Scope::Read).unwrap_err().status,
            403
        );
    }

    #[test]
    fn tokens_split_only_when_well_formed() {
        assert_eq!(
            split_token("rvs_0123456789ab_abcdefghijklmnopqrstuvwxyz_-"),
            Some(("0123456789ab", "abcdefghijklmnopqrstuvwxyz_-"))
        );
        assert_eq!(split_token("rvs_0123456789ab_short"), None);
        assert_eq!(
            split_token("sk_0123456789ab_abcdefghijklmnopqrstuvwxyz"),
            None
        );
        assert_eq!(split_token("rvs_nothex_abcdefghijklmnopqrstuvwxyz"), None);
    }
}
