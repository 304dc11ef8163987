//! Users: JSON Web Tokens from the tenant's identity provider.
//!
//! A user presents `Authorization: Bearer <JWT>`. The token is checked
//! against the configuration only, never against what the token says about
//! itself: the algorithm comes from `[jwt].algorithm` (a token whose header
//! names another, `none` included, is refused), the key from
//! `[jwt].secret` (HMAC) or a JWKS (public keys, chosen by the header's
//! `kid`; an unknown `kid` is refused), and `exp`, `iss`, `aud` and `sub`
//! must all be present and valid. The token only says who the user is
//! (`sub`); what they may do comes from their memberships, stored by revos.
//!
//! The JWKS is either a file, read once by [`JwtVerifier::new`], or a URL
//! (`[jwt].jwks_url`), fetched by [`JwtVerifier::verify`] when a token
//! first needs it and cached: it is fetched again when the cache is older
//! than ten minutes or a token names a `kid` the cache lacks (a rotated
//! key), but the provider is asked at most once a minute, so a flood of
//! made-up `kid`s cannot hammer it. A failed fetch keeps the previous keys;
//! with no keys at all, tokens are refused. The fetch goes through the
//! outbound HTTP client ([`crate::outbound_http`]) under the outbound
//! address policy: `https://` to a public address, or an address in
//! `[outbound] allow` (where plain `http://` is accepted too, for tests and
//! local development); no redirect is followed.

use crate::Failure;
use crate::outbound_http::{ClientOptions, OutboundClient, OutboundPolicy, TargetError};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use revos_contracts::ErrorKind;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, RwLock};

/// `[jwt]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    /// The required `iss` claim.
    pub issuer: String,
    /// The required `aud` claim (the token's `aud` must contain it).
    pub audience: String,
    /// The one accepted algorithm: HS256/384/512, RS256/384/512,
    /// PS256/384/512, ES256/384 or EdDSA.
    pub algorithm: String,
    /// The shared secret, for the HS algorithms (at least 32 bytes).
    #[serde(default)]
    pub secret: Option<String>,
    /// A JWKS file with the public keys, for the other algorithms.
    #[serde(default)]
    pub jwks_file: Option<PathBuf>,
    /// Or a URL serving the JWKS (the provider's
    /// `.well-known/jwks.json`): `https://`, under the outbound address
    /// policy (`http://` only to an address in `[outbound] allow`, for
    /// tests and local development). Fetched on first use and cached; see
    /// the module documentation for when it is refreshed.
    #[serde(default)]
    pub jwks_url: Option<String>,
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_leeway() -> u64 {
    30
}

/// Why a configuration cannot verify tokens.
fn config_error(message: String) -> Failure {
    Failure::of(ErrorKind::Configuration, format!("[jwt]: {message}"))
}

/// What revos reads from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub(crate) struct UserClaims {
    /// The user's stable id at the identity provider.
    pub(crate) sub: String,
    /// Their e-mail address, when the provider sends it.
    #[serde(default)]
    email: Option<String>,
}

/// Verifies tokens under one configuration.
pub(crate) struct JwtVerifier {
    validation: Validation,
    keys: Keys,
}

enum Keys {
    Secret(DecodingKey),
    ByKid(HashMap<String, DecodingKey>),
    /// Boxed: the client and locks dwarf the other variants.
    Remote(Box<RemoteJwks>),
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Checks the configuration and loads the keys: a secret or a JWKS
    /// file now; a JWKS URL is only checked here (against `outbound`, as
    /// far as that is possible without resolving its host) and fetched on
    /// first use (this runs in the synchronous `Kernel::new`).
    pub(crate) fn new(
        config: &JwtConfig,
        outbound: &OutboundPolicy,
    ) -> Result<JwtVerifier, Failure> {
        let algorithm = Algorithm::from_str(config.algorithm.trim()).map_err(|_| {
            config_error(format!(
                "unknown algorithm `{}`; use one of HS256, RS256, ES256, EdDSA, …",
                config.algorithm
            ))
        })?;
        if config.issuer.trim().is_empty() || config.audience.trim().is_empty() {
            return Err(config_error("issuer and audience must not be empty".into()));
        }
        let sources = (&config.secret, &config.jwks_file, &config.jwks_url);
        let keys = match (algorithm.family(), sources) {
            (AlgorithmFamily::Hmac, (Some(secret), None, None)) => {
                if secret.len() < 32 {
                    return Err(config_error(
                        "secret must be at least 32 bytes for an HS algorithm".into(),
                    ));
                }
                Keys::Secret(DecodingKey::from_secret(secret.as_bytes()))
            }
            (AlgorithmFamily::Hmac, _) => {
                return Err(config_error(format!(
                    "{algorithm:?} needs `secret` (and no jwks_file or jwks_url)"
                )));
            }
            (_, (None, Some(path), None)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    config_error(format!("cannot read jwks_file {}: {e}", path.display()))
                })?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                    config_error(format!("jwks_file {} is not a JWKS: {e}", path.display()))
                })?;
                let (by_kid, problems) = keys_by_kid(&set);
                if let Some(problem) = problems.into_iter().next() {
                    return Err(config_error(problem));
                }
                if by_kid.is_empty() {
                    return Err(config_error("the JWKS holds no keys".into()));
                }
                Keys::ByKid(by_kid)
            }
            (_, (None, None, Some(url))) => Keys::Remote(Box::new(RemoteJwks::new(url, outbound)?)),
            (_, _) => {
                return Err(config_error(format!(
                    "{algorithm:?} needs the public keys in `jwks_file` or `jwks_url` \
                     (exactly one of them, and no secret)"
                )));
            }
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[config.issuer.trim()]);
        validation.set_audience(&[config.audience.trim()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = config.leeway_seconds;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        Ok(JwtVerifier { validation, keys })
    }

    /// Verifies a token; the error is a short reason for the logs and the
    /// audit trail (never echoed in detail to the client). Async because
    /// keys from a `jwks_url` may have to be fetched first.
    pub(crate) async fn verify(&self, token: &str) -> Result<UserClaims, String> {
        self.verify_at(token, Instant::now()).await
    }

    /// [`JwtVerifier::verify`] with the clock passed in, which decides
    /// whether cached remote keys are stale (the token's `exp` is still
    /// checked against the system clock by `jsonwebtoken`).
    async fn verify_at(&self, token: &str, now: Instant) -> Result<UserClaims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("malformed: {e}"))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let kid = || header.kid.as_deref().ok_or("no `kid` in the header");
        let fetched;
        let key = match &self.keys {
            Keys::Secret(key) => key,
            Keys::ByKid(keys) => {
                let kid = kid()?;
                keys.get(kid)
                    .ok_or_else(|| format!("unknown kid `{kid}`"))?
            }
            Keys::Remote(remote) => {
                fetched = remote.key(kid()?, now).await?;
                &fetched
            }
        };
        let data = jsonwebtoken::decode::<UserClaims>(token, key, &self.validation)
            .map_err(|e| format!("{:?}", e.kind()))?;
        let sub = data.claims.sub.trim();
        if sub.is_empty() || sub.chars().count() > 200 {
            return Err("`sub` must be 1 to 200 characters".into());
        }
        Ok(data.claims)
    }
}

/// What a client may be told about a refused token (RFC 6750's
/// `error_description`): why, in words, from the reason
/// [`JwtVerifier::verify`] gave, and never a key, a claim value or the
/// token itself.
pub(crate) fn public_reason(reason: &str) -> &'static str {
    match reason {
        "ExpiredSignature" => "the token has expired",
        "ImmatureSignature" => "the token is not valid yet",
        "InvalidAudience" | "MissingRequiredClaim(\"aud\")" => "the token is for another audience",
        "InvalidIssuer" | "MissingRequiredClaim(\"iss\")" => "the token is from another issuer",
        "InvalidSignature" => "the token's signature does not verify",
        r if r.starts_with("unknown kid") || r.starts_with("no `kid`") => {
            "the token is signed with an unknown key"
        }
        r if r.starts_with("algorithm") || r.starts_with("InvalidAlgorithm") => {
            "the token's algorithm is not accepted"
        }
        r if r.starts_with("malformed") || r.starts_with("InvalidToken") => {
            "the token is malformed"
        }
        _ => "the token is not valid",
    }
}

/// The usable keys of a JWKS by `kid`, and why any others were left out.
fn keys_by_kid(set: &JwkSet) -> (HashMap<String, DecodingKey>, Vec<String>) {
    let mut by_kid = HashMap::new();
    let mut problems = Vec::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            problems.push("every key in the JWKS needs a `kid`".into());
            continue;
        };
        match DecodingKey::from_jwk(jwk) {
            Ok(key) => {
                by_kid.insert(kid, key);
            }
            Err(e) => problems.push(format!("key `{kid}` in the JWKS is unusable: {e}")),
        }
    }
    (by_kid, problems)
}

/// How long fetched keys are trusted before they are fetched again.
const JWKS_MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// The least time between two fetches, whatever asks for them.
const JWKS_MIN_INTERVAL: Duration = Duration::from_secs(60);
/// How long one fetch may take, connecting and reading included.
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
/// The largest JWKS accepted; real ones are a few kilobytes.
const JWKS_MAX_BYTES: usize = 1024 * 1024;

/// Public keys served at a URL, fetched lazily and cached.
///
/// Two locks, so that verifying with cached keys never waits on the
/// network: `cache` is only held to read or swap the map, while
/// `last_attempt` is held for a whole fetch, which makes concurrent
/// requests that find the cache stale wait for one fetch instead of each
/// starting their own.
struct RemoteJwks {
    url: reqwest::Url,
    client: OutboundClient,
    cache: RwLock<Cached>,
    /// When the provider was last asked, successfully or not.
    last_attempt: Mutex<Option<Instant>>,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, DecodingKey>,
    /// When `keys` were fetched; `None` until the first success.
    fetched_at: Option<Instant>,
}

impl RemoteJwks {
    fn new(raw: &str, policy: &OutboundPolicy) -> Result<RemoteJwks, Failure> {
        let url = policy
            .check_url_syntax(raw)
            .map_err(|e| config_error(format!("jwks_url `{}`: {e}", raw.trim())))?;
        let client = policy
            .client(ClientOptions {
                timeout: JWKS_TIMEOUT,
                user_agent: concat!("revos/", env!("CARGO_PKG_VERSION")).to_owned(),
            })
            .map_err(|e| config_error(format!("jwks_url: {e}")))?;
        Ok(RemoteJwks {
            url,
            client,
            cache: RwLock::new(Cached::default()),
            last_attempt: Mutex::new(None),
        })
    }

    /// The key for `kid`, fetching the JWKS first when the cache is empty,
    /// stale or lacks `kid` (and the last fetch is long enough ago).
    async fn key(&self, kid: &str, now: Instant) -> Result<DecodingKey, String> {
        {
            let cache = self.cache.read().await;
            let fresh = cache
                .fetched_at
                .is_some_and(|at| now.saturating_duration_since(at) < JWKS_MAX_AGE);
            if fresh && let Some(key) = cache.keys.get(kid) {
                return Ok(key.clone());
            }
        }
        self.refresh(now).await;
        let cache = self.cache.read().await;
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            None if cache.fetched_at.is_none() => {
                Err(format!("no keys from jwks_url (kid `{kid}`)"))
            }
            None => Err(format!("unknown kid `{kid}`")),
        }
    }

    /// Fetches the JWKS unless the provider was asked less than
    /// [`JWKS_MIN_INTERVAL`] ago; a failure is logged and keeps the old keys.
    async fn refresh(&self, now: Instant) {
        let mut last_attempt = self.last_attempt.lock().await;
        if last_attempt.is_some_and(|at| now.saturating_duration_since(at) < JWKS_MIN_INTERVAL) {
            return;
        }
        *last_attempt = Some(now);
        match self.fetch().await {
            Ok(keys) => {
                let mut cache = self.cache.write().await;
                cache.keys = keys;
                cache.fetched_at = Some(now);
            }
            Err(error) => tracing::warn!(
                url = %self.url,
                %error,
                "cannot fetch the JWKS; keeping the previous keys"
            ),
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let request = self
            .client
            .request(reqwest::Method::GET, self.url.as_str())
            .map_err(|e| match e {
                TargetError::Invalid(message) => message,
                TargetError::Refused(refused) => refused.to_string(),
            })?;
        let response = request.send().await.map_err(|e| {
            let e = e.without_url();
            match crate::outbound_http::refusal(&e) {
                Some(refused) => refused.to_string(),
                None => e.to_string(),
            }
        })?;
        let status = response.status();
        if !status.is_success() {
            crate::outbound_http::drain(response, JWKS_MAX_BYTES).await;
            return Err(if status.is_redirection() {
                format!("the provider answered {status}; redirects are not followed")
            } else {
                format!("the provider answered {status}")
            });
        }
        let body = crate::outbound_http::read_limited(response, JWKS_MAX_BYTES)
            .await
            .map_err(|e| format!("the JWKS: {e}"))?;
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| format!("not a JWKS: {e}"))?;
        let (keys, problems) = keys_by_kid(&set);
        for problem in problems {
            tracing::warn!(url = %self.url, "{problem}; skipped");
        }
        if keys.is_empty() {
            return Err("the JWKS holds no usable keys".into());
        }
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    //! The attack set: every token here but the good ones must be refused.

    use super::*;
    use base64::Engine;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::{Value, json};

    const ISS: &str = "https://id.example.com/";
    const AUD: &str = "revos";
    const SECRET: &str = "a-shared-secret-that-is-32-bytes!!";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims() -> Value {
        json!({"sub": "user-1", "iss": ISS, "aud": AUD, "exp": now() + 600})
    }

    fn hs_config() -> JwtConfig {
        JwtConfig {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithm: "HS256".into(),
            secret: Some(SECRET.into()),
            jwks_file: None,
            jwks_url: None,
            leeway_seconds: 0,
        }
    }

    fn hs_token(claims: &Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap()
    }

    fn b64(bytes: &[u8]) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    /// An unsigned token with any header.
    fn unsigned(header: Value, claims: &Value) -> String {
        format!(
            "{}.{}.",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        )
    }

    #[tokio::test]
    async fn a_good_hs256_token_passes() {
        let v = JwtVerifier::new(&hs_config(), &loopback()).unwrap();
        assert_eq!(v.verify(&hs_token(&claims())).await.unwrap().sub, "user-1");
    }

    #[tokio::test]
    async fn hs256_attack_set_is_refused() {
        let v = JwtVerifier::new(&hs_config(), &loopback()).unwrap();
        let mut cases: Vec<(&str, String)> = Vec::new();
        cases.push((
            "alg none",
            unsigned(json!({"alg": "none", "typ": "JWT"}), &claims()),
        ));
        let mut c = claims();
        c["exp"] = json!((now() + 600).to_string());
        cases.push(("exp as a string", hs_token(&c)));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("exp");
        cases.push(("missing exp", hs_token(&c)));
        let mut c = claims();
        c["exp"] = json!(now() - 120);
        cases.push(("expired", hs_token(&c)));
        let mut c = claims();
        c["aud"] = json!("someone-else");
        cases.push(("wrong aud", hs_token(&c)));
        let mut c = claims();
        c["iss"] = json!("https://evil.example.com/");
        cases.push(("wrong iss", hs_token(&c)));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("aud");
        cases.push(("missing aud", hs_token(&c)));
        let mut c = claims();
        c.as_object_mut().unwrap().remove("sub");
        cases.push(("missing sub", hs_token(&c)));
        let forged = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims(),
            &EncodingKey::from_secret(b"another-secret-another-secret-xx"),
        )
        .unwrap();
        cases.push(("wrong secret", forged));
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims(),
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .unwrap();
        cases.push(("another algorithm", hs512));
        cases.push(("garbage", "not.a.jwt".into()));
        let said = [
            ("expired", "the token has expired"),
            ("wrong aud", "the token is for another audience"),
            ("wrong iss", "the token is from another issuer"),
            ("missing aud", "the token is for another audience"),
            ("wrong secret", "the token's signature does not verify"),
            ("another algorithm", "the token's algorithm is not accepted"),
            ("garbage", "the token is malformed"),
        ];
        for (name, token) in cases {
            let reason = v.verify(&token).await.expect_err(name);
            if let Some((_, public)) = said.iter().find(|(n, _)| *n == name) {
                assert_eq!(public_reason(&reason), *public, "{name}: {reason}");
            }
        }
    }

    /// PKCS#8 DER of an Ed25519 seed: a fixed prefix and the 32 bytes.
    fn ed_pkcs8(seed: &[u8; 32]) -> Vec<u8> {
        let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
        der.extend_from_slice(seed);
        der
    }

    fn eddsa_setup() -> (JwtVerifier, [u8; 32], Vec<u8>, tempfile::TempDir) {
        let seed = [7u8; 32];
        let public = ed25519_dalek::SigningKey::from_bytes(&seed)
            .verifying_key()
            .to_bytes()
            .to_vec();
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "x": b64(&public), "kid": "key-1", "alg": "EdDSA", "use": "sig"
        }]});
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        std::fs::write(&path, jwks.to_string()).unwrap();
        let config = JwtConfig {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithm: "EdDSA".into(),
            secret: None,
            jwks_file: Some(path),
            jwks_url: None,
            leeway_seconds: 0,
        };
        (
            JwtVerifier::new(&config, &loopback()).unwrap(),
            seed,
            public,
            dir,
        )
    }

    fn ed_token(seed: &[u8; 32], kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&ed_pkcs8(seed))).unwrap()
    }

    #[tokio::test]
    async fn eddsa_keys_are_chosen_by_kid() {
        let (v, seed, public, _dir) = eddsa_setup();
        assert_eq!(
            v.verify(&ed_token(&seed, Some("key-1"), &claims()))
                .await
                .unwrap()
                .sub,
            "user-1"
        );
        assert!(
            v.verify(&ed_token(&seed, Some("key-2"), &claims()))
                .await
                .is_err(),
            "unknown kid"
        );
        assert!(
            v.verify(&ed_token(&seed, None, &claims())).await.is_err(),
            "no kid"
        );
        let other = [9u8; 32];
        assert!(
            v.verify(&ed_token(&other, Some("key-1"), &claims()))
                .await
                .is_err(),
            "wrong key"
        );
        // Algorithm confusion: HS256 "signed" with the public key as the secret.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-1".into());
        let confused =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public)).unwrap();
        assert!(
            v.verify(&confused).await.is_err(),
            "HS256 with the public key"
        );
        assert!(
            v.verify(&unsigned(json!({"alg": "none", "kid": "key-1"}), &claims()))
                .await
                .is_err()
        );
    }

    #[test]
    fn bad_configurations_are_explained() {
        let mut c = hs_config();
        c.algorithm = "HS999".into();
        assert!(JwtVerifier::new(&c, &loopback()).is_err());
        let mut c = hs_config();
        c.secret = Some("short".into());
        assert!(JwtVerifier::new(&c, &loopback()).is_err());
        let mut c = hs_config();
        c.algorithm = "RS256".into();
        assert!(
            JwtVerifier::new(&c, &loopback()).is_err(),
            "RS256 needs a JWKS, not a secret"
        );
        let mut c = hs_config();
        c.algorithm = "EdDSA".into();
        c.secret = None;
        c.jwks_file = Some("/nonexistent/jwks.json".into());
        assert!(JwtVerifier::new(&c, &loopback()).is_err());
    }

    // ----- keys from a jwks_url -----

    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A tiny HTTP/1.1 server on 127.0.0.1:0 that answers every request
    /// with `body` (as JSON) and counts the requests.
    struct JwksServer {
        url: String,
        hits: Arc<AtomicUsize>,
        body: Arc<std::sync::Mutex<String>>,
        task: tokio::task::JoinHandle<()>,
    }

    impl JwksServer {
        async fn start(body: String) -> JwksServer {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let url = format!(
                "http://{}/.well-known/jwks.json",
                listener.local_addr().unwrap()
            );
            let hits = Arc::new(AtomicUsize::new(0));
            let body = Arc::new(std::sync::Mutex::new(body));
            let (counter, served) = (hits.clone(), body.clone());
            let task = tokio::spawn(async move {
                while let Ok((mut socket, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = served.lock().unwrap().clone();
                    tokio::spawn(async move {
                        let mut request = Vec::new();
                        let mut buf = [0u8; 1024];
                        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                            match socket.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => request.extend_from_slice(&buf[..n]),
                            }
                        }
                        let response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                             content-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = socket.write_all(response.as_bytes()).await;
                        let _ = socket.shutdown().await;
                    });
                }
            });
            JwksServer {
                url,
                hits,
                body,
                task,
            }
        }

        fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }

        fn serve(&self, body: String) {
            *self.body.lock().unwrap() = body;
        }
    }

    /// A JWKS with the Ed25519 public keys of `keys` (seed, kid).
    fn jwks(keys: &[([u8; 32], &str)]) -> String {
        let keys: Vec<Value> = keys
            .iter()
            .map(|(seed, kid)| {
                let public = ed25519_dalek::SigningKey::from_bytes(seed)
                    .verifying_key()
                    .to_bytes();
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(&public), "kid": kid, "alg": "EdDSA", "use": "sig"})
            })
            .collect();
        json!({ "keys": keys }).to_string()
    }

    fn url_config(url: &str) -> JwtConfig {
        JwtConfig {
            issuer: ISS.into(),
            audience: AUD.into(),
            algorithm: "EdDSA".into(),
            secret: None,
            jwks_file: None,
            jwks_url: Some(url.into()),
            leeway_seconds: 0,
        }
    }

    const SEED_1: [u8; 32] = [7u8; 32];
    const SEED_2: [u8; 32] = [8u8; 32];

    #[tokio::test]
    async fn keys_from_a_url_are_fetched_on_first_use_cached_and_rotated() {
        let server = JwksServer::start(jwks(&[(SEED_1, "key-1")])).await;
        let v = JwtVerifier::new(&url_config(&server.url), &loopback()).unwrap();
        assert_eq!(server.hits(), 0, "the constructor must not fetch");
        let t0 = Instant::now();
        let key_1 = ed_token(&SEED_1, Some("key-1"), &claims());
        assert_eq!(v.verify_at(&key_1, t0).await.unwrap().sub, "user-1");
        assert_eq!(server.hits(), 1);
        assert!(v.verify_at(&key_1, t0 + secs(5)).await.is_ok());
        assert_eq!(server.hits(), 1, "cached");
        assert!(
            v.verify_at(&ed_token(&SEED_2, Some("key-1"), &claims()), t0 + secs(6))
                .await
                .is_err(),
            "signed by another key"
        );
        assert_eq!(
            server.hits(),
            1,
            "a known kid with a bad signature does not refetch"
        );

        // The provider rotates: key-2 joins; a token naming it fetches once.
        server.serve(jwks(&[(SEED_1, "key-1"), (SEED_2, "key-2")]));
        let key_2 = ed_token(&SEED_2, Some("key-2"), &claims());
        assert_eq!(
            v.verify_at(&key_2, t0 + secs(61)).await.unwrap().sub,
            "user-1"
        );
        assert_eq!(server.hits(), 2);
        assert!(v.verify_at(&key_2, t0 + secs(62)).await.is_ok());
        assert_eq!(server.hits(), 2);

        // Ten minutes after the last fetch the keys are fetched again: key-1 retired.
        server.serve(jwks(&[(SEED_2, "key-2")]));
        assert!(v.verify_at(&key_1, t0 + secs(61 + 599)).await.is_ok());
        assert_eq!(server.hits(), 2, "not yet stale");
        assert!(v.verify_at(&key_1, t0 + secs(61 + 600)).await.is_err());
        assert_eq!(server.hits(), 3);
        assert!(v.verify_at(&key_2, t0 + secs(61 + 601)).await.is_ok());
        assert_eq!(server.hits(), 3);
    }

    fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    #[tokio::test]
    async fn unknown_kids_refetch_at_most_once_a_minute() {
        let server = JwksServer::start(jwks(&[(SEED_1, "key-1")])).await;
        let v = JwtVerifier::new(&url_config(&server.url), &loopback()).unwrap();
        let t0 = Instant::now();
        let nope = ed_token(&SEED_1, Some("nope"), &claims());
        assert!(v.verify_at(&nope, t0).await.is_err());
        assert_eq!(server.hits(), 1, "the first use fetches");
        assert!(v.verify_at(&nope, t0 + secs(1)).await.is_err());
        assert_eq!(
            server.hits(),
            1,
            "a second unknown kid within 60 s does not"
        );
        for _ in 0..50 {
            assert!(v.verify_at(&nope, t0 + secs(59)).await.is_err());
        }
        assert_eq!(server.hits(), 1, "nor does a flood of them");
        assert!(v.verify_at(&nope, t0 + secs(60)).await.is_err());
        assert_eq!(server.hits(), 2, "a minute later it may ask again");
        assert!(v.verify_at(&nope, t0 + secs(61)).await.is_err());
        assert_eq!(server.hits(), 2);
        let key_1 = ed_token(&SEED_1, Some("key-1"), &claims());
        assert!(v.verify_at(&key_1, t0 + secs(62)).await.is_ok());
        assert_eq!(server.hits(), 2, "known kids are served from the cache");
    }

    #[tokio::test]
    async fn concurrent_first_uses_share_one_fetch() {
        let server = JwksServer::start(jwks(&[(SEED_1, "key-1")])).await;
        let v = Arc::new(JwtVerifier::new(&url_config(&server.url), &loopback()).unwrap());
        let token = ed_token(&SEED_1, Some("key-1"), &claims());
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let (v, token) = (v.clone(), token.clone());
                tokio::spawn(async move { v.verify(&token).await })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap().is_ok());
        }
        assert_eq!(server.hits(), 1);
    }

    #[tokio::test]
    async fn a_jwks_server_that_is_down_refuses_without_panicking() {
        // Nothing listens on a port that was just freed.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks", listener.local_addr().unwrap());
        drop(listener);
        let v = JwtVerifier::new(&url_config(&url), &loopback()).unwrap();
        let key_1 = ed_token(&SEED_1, Some("key-1"), &claims());
        let reason = v.verify(&key_1).await.unwrap_err();
        assert!(reason.contains("no keys"), "{reason}");

        // Once fetched, keys outlive an outage: a failed refresh keeps them.
        let server = JwksServer::start(jwks(&[(SEED_1, "key-1")])).await;
        let v = JwtVerifier::new(&url_config(&server.url), &loopback()).unwrap();
        let t0 = Instant::now();
        assert!(v.verify_at(&key_1, t0).await.is_ok());
        server.task.abort();
        let _ = (&mut { server.task }).await;
        assert!(
            v.verify_at(&key_1, t0 + secs(601)).await.is_ok(),
            "stale but kept"
        );
    }

    #[tokio::test]
    async fn a_jwks_name_resolving_inside_is_not_fetched() {
        let server = JwksServer::start(jwks(&[(SEED_1, "key-1")])).await;
        let port = server
            .url
            .split(':')
            .nth(2)
            .unwrap()
            .split('/')
            .next()
            .unwrap();
        let url = format!("https://localhost:{port}/.well-known/jwks.json");
        let v = JwtVerifier::new(&url_config(&url), &OutboundPolicy::default()).unwrap();
        let key_1 = ed_token(&SEED_1, Some("key-1"), &claims());
        assert!(v.verify(&key_1).await.is_err());
        assert_eq!(server.hits(), 0, "refused before connecting");
    }

    #[tokio::test]
    async fn bad_jwks_responses_are_refused() {
        let key_1 = ed_token(&SEED_1, Some("key-1"), &claims());
        let padded = format!(
            "{}{}",
            jwks(&[(SEED_1, "key-1")]),
            " ".repeat(JWKS_MAX_BYTES)
        );
        let no_kid = json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "x": b64(&[1u8; 32])}]});
        for (name, body) in [
            ("not json", "<html>hello</html>".to_owned()),
            ("over 1 MiB", padded),
            ("no usable key", no_kid.to_string()),
        ] {
            let server = JwksServer::start(body).await;
            let v = JwtVerifier::new(&url_config(&server.url), &loopback()).unwrap();
            assert!(v.verify(&key_1).await.is_err(), "{name} was accepted");
            assert_eq!(server.hits(), 1, "{name}");
        }
    }

    /// The policy that lets the tests reach their JWKS servers on
    /// 127.0.0.1 over plain http.
    fn loopback() -> OutboundPolicy {
        OutboundPolicy::new(&crate::outbound_http::OutboundConfig {
            allow: vec!["127.0.0.0/8".into(), "::1/128".into()],
        })
        .unwrap()
    }

    #[test]
    fn jwks_url_follows_the_outbound_policy() {
        for ok in [
            "https://id.example.com/.well-known/jwks.json",
            "http://127.0.0.1:8080/jwks",
            "http://127.1.2.3/jwks",
            "http://localhost:3000/jwks",
            "http://[::1]:3000/jwks",
        ] {
            assert!(
                JwtVerifier::new(&url_config(ok), &loopback()).is_ok(),
                "{ok} was refused"
            );
        }
        for bad in [
            "http://10.0.0.1/jwks",
            "https://169.254.169.254/jwks",
            "ftp://id.example.com/jwks",
            "file:///etc/jwks.json",
            "id.example.com/jwks",
        ] {
            let failure = JwtVerifier::new(&url_config(bad), &loopback()).unwrap_err();
            assert!(
                format!("{failure:?}").contains("jwks_url"),
                "{bad}: {failure:?}"
            );
        }
        // Without an allow list: https to a public host only.
        let strict = OutboundPolicy::default();
        assert!(JwtVerifier::new(&url_config("https://id.example.com/jwks"), &strict).is_ok());
        for bad in [
            "http://127.0.0.1:8080/jwks",
            "https://127.0.0.1:8443/jwks",
            "https://[::1]/jwks",
            "https://[::ffff:10.0.0.1]/jwks",
            "http://example.com/jwks",
            "http://localhost:3000/jwks",
        ] {
            let failure = JwtVerifier::new(&url_config(bad), &strict).unwrap_err();
            let text = format!("{failure:?}");
            assert!(
                text.contains("jwks_url") && text.contains("outbound policy"),
                "{bad}: {text}"
            );
        }
        let mut both = url_config("https://id.example.com/jwks");
        both.jwks_file = Some("/etc/jwks.json".into());
        assert!(
            JwtVerifier::new(&both, &loopback()).is_err(),
            "jwks_file and jwks_url"
        );
        let mut hs = hs_config();
        hs.jwks_url = Some("https://id.example.com/jwks".into());
        assert!(
            JwtVerifier::new(&hs, &loopback()).is_err(),
            "HS with a jwks_url"
        );
        let mut none = url_config("https://id.example.com/jwks");
        none.jwks_url = None;
        assert!(
            JwtVerifier::new(&none, &loopback()).is_err(),
            "no keys at all"
        );
    }
}
