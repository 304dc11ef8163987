//! The dashboard's session: the signed-in credential in an HttpOnly,
//! SameSite=Strict cookie, authenticated on every request exactly as the
//! API authenticates a bearer token, and the CSRF token derived from it.

use axum::http::HeaderMap;
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use revos_kernel::identity::auth::Principal;
use sha2::{Digest, Sha256};

use crate::AppState;

/// The session cookie's name.
pub(super) const COOKIE: &str = "revos_session";

/// A signed-in visitor.
pub(super) struct Session {
    /// Who they are, as the API would see them.
    pub(super) principal: Principal,
    /// The token every form of theirs carries.
    pub(super) csrf: String,
}

/// A request's session cookie and the TCP peer it came from.
pub(super) struct Visit {
    /// The request's cookies.
    pub(super) jar: CookieJar,
    /// The TCP peer (see `crate::auth::peer`).
    pub(super) peer: Option<std::net::IpAddr>,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Visit {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Visit {
            jar: CookieJar::from_headers(&parts.headers),
            peer: crate::auth::peer(parts),
        })
    }
}

/// The CSRF token of a session credential.
pub(super) fn csrf_token(credential: &str) -> String {
    let digest = Sha256::digest(format!("revos-dashboard-csrf:{credential}").as_bytes());
    hex::encode(&digest[..16])
}

/// Whether `given` is the session's CSRF token (compared in constant
/// time: both are hex of the same length).
pub(super) fn csrf_matches(session: &Session, given: &str) -> bool {
    let (a, b) = (session.csrf.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The session of a request, when its cookie holds a credential the kernel
/// accepts now.
pub(super) async fn current(
    jar: &CookieJar,
    parts_path: &str,
    state: &AppState,
) -> Option<Session> {
    let credential = jar.get(COOKIE)?.value().to_owned();
    let origin = format!("UI {parts_path}");
    let principal = state
        .kernel
        .authenticate(&credential, &origin, chrono::Utc::now())
        .await
        .ok()?;
    Some(Session {
        principal,
        csrf: csrf_token(&credential),
    })
}

/// Whether the request reached us over https (directly, or as the
/// `Forwarded`/`X-Forwarded-Proto` header of a proxy in front says): the
/// cookie is then `Secure`.
pub(super) fn over_https(headers: &HeaderMap, parts: Option<&Parts>) -> bool {
    let forwarded = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"))
        || headers
            .get("forwarded")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.to_ascii_lowercase().contains("proto=https"));
    forwarded || parts.is_some_and(|p| p.uri.scheme_str() == Some("https"))
}

/// The cookie that keeps `credential` for the session.
pub(super) fn cookie(credential: String, secure: bool) -> Cookie<'static> {
    let mut c = Cookie::new(COOKIE, credential);
    c.set_http_only(true);
    c.set_same_site(SameSite::Strict);
    c.set_path("/");
    c.set_secure(secure);
    c
}

/// The cookie that ends the session.
pub(super) fn removal() -> Cookie<'static> {
    let mut c = Cookie::from(COOKIE);
    c.set_path("/");
    c
}
