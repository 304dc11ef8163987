//! Authentication and authorization extractors.
//!
//! [`Caller`] authenticates the `Authorization: Bearer rvs_…` header
//! through the kernel. [`TenantRead`], [`TenantWrite`] and [`TenantAdmin`]
//! also parse the `{tenant_id}` path segment and check that the caller may
//! act on that tenant with that scope, so every tenant route states the
//! scope it needs in its signature and cannot forget the check.

use crate::AppState;
use crate::error::ApiError;
use crate::extract::TenantPath;
use crate::ratelimit::{EndpointClass, peer_key};
use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use revos_contracts::TenantId;
use revos_kernel::identity::auth::{Principal, Refused, unauthorized};
use revos_kernel::identity::rejections::Rejection;
use revos_store::identity::Scope;
use std::marker::PhantomData;

/// The authenticated caller.
pub(crate) struct Caller(pub(crate) Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    /// Authenticates, then throttles: an authenticated principal spends its
    /// own budget; a failed attempt spends only the TCP peer's
    /// unauthenticated budget, and only an attempt inside that budget is
    /// audited (at a bounded rate, see `revos_kernel::identity::rejections`). A
    /// throttled request writes nothing.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match authenticate(parts, state).await {
            Ok(principal) => {
                // Each principal has its own budget per endpoint class.
                let key = match &principal {
                    Principal::Key(key) => format!("key:{}", key.id),
                    Principal::User(user) => format!("user:{}", user.subject),
                    Principal::Service => "service".to_owned(),
                };
                state
                    .limiter
                    .check(&key, EndpointClass::for_method(&parts.method))?;
                Ok(Caller(principal))
            }
            Err(refused) => {
                let ip = peer(parts);
                if let Some(ip) = ip {
                    state
                        .limiter
                        .check(&peer_key(ip), EndpointClass::Unauthenticated)?;
                }
                if let Some(mut rejection) = refused.rejection {
                    rejection.peer = ip;
                    state.kernel.note_rejection(rejection, chrono::Utc::now());
                }
                Err(ApiError(refused.failure))
            }
        }
    }
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Principal, Refused> {
    let missing = |message: &str| {
        let origin = format!("{} {}", parts.method, parts.uri.path());
        Refused {
            failure: unauthorized(message),
            rejection: Some(Rejection {
                chain: TenantId::PLATFORM,
                action: "auth.failure",
                actor: "anonymous".to_owned(),
                resource: None,
                peer: None,
                details: serde_json::json!({"reason": message, "origin": origin}),
            }),
        }
    };
    let Some(header) = parts.headers.get(header::AUTHORIZATION) else {
        // No credential at all is not an attempt: nothing to audit.
        return Err(Refused::from(unauthorized(
            "this endpoint needs an API key: send `Authorization: Bearer rvs_…`",
        )));
    };
    let header = header
        .to_str()
        .map_err(|_| missing("the Authorization header is not text"))?;
    let token = header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .ok_or_else(|| missing("use the Bearer scheme: `Authorization: Bearer rvs_…`"))?;
    let origin = format!("{} {}", parts.method, parts.uri.path());
    state
        .kernel
        .authenticate(token, &origin, chrono::Utc::now())
        .await
}

/// The address of the TCP peer: the only client address revos trusts.
/// Headers such as `X-Forwarded-For` are written by the client and are
/// never used to identify it.
pub(crate) fn peer(parts: &Parts) -> Option<std::net::IpAddr> {
    parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The TCP peer's address, as an extractor (see [`peer`]).
pub(crate) struct PeerAddr(pub(crate) Option<std::net::IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddr(peer(parts)))
    }
}

/// A scope a tenant route requires.
pub(crate) trait RequiredScope: Send + Sync {
    /// The scope.
    const SCOPE: Scope;
}

/// Marker: the route reads.
pub(crate) struct Read;
/// Marker: the route writes.
pub(crate) struct Write;
/// Marker: the route administers.
pub(crate) struct Admin;

impl RequiredScope for Read {
    const SCOPE: Scope = Scope::Read;
}
impl RequiredScope for Write {
    const SCOPE: Scope = Scope::Write;
}
impl RequiredScope for Admin {
    const SCOPE: Scope = Scope::Admin;
}

/// The `{tenant_id}` of the path, which the caller may act on with `S`.
pub(crate) struct TenantScoped<S> {
    /// The tenant.
    pub(crate) tenant: TenantId,
    /// Who is calling.
    pub(crate) principal: Principal,
    _scope: PhantomData<S>,
}

/// A tenant route that reads.
pub(crate) type TenantRead = TenantScoped<Read>;
/// A tenant route that writes.
pub(crate) type TenantWrite = TenantScoped<Write>;
/// A tenant route that administers.
pub(crate) type TenantAdmin = TenantScoped<Admin>;

impl<S: RequiredScope> FromRequestParts<AppState> for TenantScoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Caller(principal) = Caller::from_request_parts(parts, state).await?;
        let TenantPath(tenant) = TenantPath::from_request_parts(parts, state).await?;
        principal.authorize_tenant(tenant, S::SCOPE)?;
        Ok(TenantScoped {
            tenant,
            principal,
            _scope: PhantomData,
        })
    }
}
