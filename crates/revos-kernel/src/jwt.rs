//! Users: JSON Web Tokens from the tenant's identity provider.
//!
//! A user presents `Authorization: Bearer <JWT>`. The token is checked
//! against the configuration only, never against what the token says about
//! itself: the algorithm comes from `[jwt].algorithm` (a token whose header
//! names another, `none` included, is refused), the key from
//! `[jwt].secret` (HMAC) or a JWKS file (public keys, chosen by the
//! header's `kid`; an unknown `kid` is refused), and `exp`, `iss`, `aud`
//! and `sub` must all be present and valid. The token only says who the
//! user is (`sub`); what they may do comes from their memberships, stored
//! by revos.

use crate::Failure;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::PathBuf;
use std::str::FromStr;

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
    /// Seconds of clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_seconds: u64,
}

fn default_leeway() -> u64 {
    30
}

/// Why a configuration cannot verify tokens.
fn config_error(message: String) -> Failure {
    Failure::input(400, "configuration", format!("[jwt]: {message}"))
}

/// What revos reads from a verified token.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserClaims {
    /// The user's stable id at the identity provider.
    pub sub: String,
    /// Their e-mail address, when the provider sends it.
    #[serde(default)]
    pub email: Option<String>,
}

/// Verifies tokens under one configuration.
pub struct JwtVerifier {
    validation: Validation,
    keys: Keys,
}

enum Keys {
    Secret(DecodingKey),
    ByKid(HashMap<String, DecodingKey>),
}

impl std::fmt::Debug for JwtVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtVerifier")
            .field("algorithms", &self.validation.algorithms)
            .finish_non_exhaustive()
    }
}

impl JwtVerifier {
    /// Checks the configuration and loads the keys.
    pub fn new(config: &JwtConfig) -> Result<JwtVerifier, Failure> {
        let algorithm = Algorithm::from_str(config.algorithm.trim()).map_err(|_| {
            config_error(format!(
                "unknown algorithm `{}`; use one of HS256, RS256, ES256, EdDSA, …",
                config.algorithm
            ))
        })?;
        if config.issuer.trim().is_empty() || config.audience.trim().is_empty() {
            return Err(config_error("issuer and audience must not be empty".into()));
        }
        let keys = match (algorithm.family(), &config.secret, &config.jwks_file) {
            (AlgorithmFamily::Hmac, Some(secret), None) => {
                if secret.len() < 32 {
                    return Err(config_error(
                        "secret must be at least 32 bytes for an HS algorithm".into(),
                    ));
                }
                Keys::Secret(DecodingKey::from_secret(secret.as_bytes()))
            }
            (AlgorithmFamily::Hmac, _, _) => {
                return Err(config_error(format!(
                    "{algorithm:?} needs `secret` (and no jwks_file)"
                )));
            }
            (_, None, Some(path)) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    config_error(format!("cannot read jwks_file {}: {e}", path.display()))
                })?;
                let set: JwkSet = serde_json::from_str(&text).map_err(|e| {
                    config_error(format!("jwks_file {} is not a JWKS: {e}", path.display()))
                })?;
                let mut by_kid = HashMap::new();
                for jwk in &set.keys {
                    let Some(kid) = jwk.common.key_id.clone() else {
                        return Err(config_error("every key in the JWKS needs a `kid`".into()));
                    };
                    let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                        config_error(format!("key `{kid}` in the JWKS is unusable: {e}"))
                    })?;
                    by_kid.insert(kid, key);
                }
                if by_kid.is_empty() {
                    return Err(config_error("the JWKS holds no keys".into()));
                }
                Keys::ByKid(by_kid)
            }
            (_, _, _) => {
                return Err(config_error(format!(
                    "{algorithm:?} needs `jwks_file` with the public keys (and no secret)"
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
    /// audit trail (never echoed in detail to the client).
    pub fn verify(&self, token: &str) -> Result<UserClaims, String> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| format!("malformed: {e}"))?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(format!("algorithm {:?} is not accepted", header.alg));
        }
        let key = match &self.keys {
            Keys::Secret(key) => key,
            Keys::ByKid(keys) => {
                let kid = header.kid.as_deref().ok_or("no `kid` in the header")?;
                keys.get(kid)
                    .ok_or_else(|| format!("unknown kid `{kid}`"))?
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

    #[test]
    fn a_good_hs256_token_passes() {
        let v = JwtVerifier::new(&hs_config()).unwrap();
        assert_eq!(v.verify(&hs_token(&claims())).unwrap().sub, "user-1");
    }

    #[test]
    fn hs256_attack_set_is_refused() {
        let v = JwtVerifier::new(&hs_config()).unwrap();
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
        for (name, token) in cases {
            assert!(v.verify(&token).is_err(), "{name} was accepted");
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
            leeway_seconds: 0,
        };
        (JwtVerifier::new(&config).unwrap(), seed, public, dir)
    }

    fn ed_token(seed: &[u8; 32], kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&ed_pkcs8(seed))).unwrap()
    }

    #[test]
    fn eddsa_keys_are_chosen_by_kid() {
        let (v, seed, public, _dir) = eddsa_setup();
        assert_eq!(
            v.verify(&ed_token(&seed, Some("key-1"), &claims()))
                .unwrap()
                .sub,
            "user-1"
        );
        assert!(
            v.verify(&ed_token(&seed, Some("key-2"), &claims()))
                .is_err(),
            "unknown kid"
        );
        assert!(
            v.verify(&ed_token(&seed, None, &claims())).is_err(),
            "no kid"
        );
        let other = [9u8; 32];
        assert!(
            v.verify(&ed_token(&other, Some("key-1"), &claims()))
                .is_err(),
            "wrong key"
        );
        // Algorithm confusion: HS256 "signed" with the public key as the secret.
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some("key-1".into());
        let confused =
            jsonwebtoken::encode(&header, &claims(), &EncodingKey::from_secret(&public)).unwrap();
        assert!(v.verify(&confused).is_err(), "HS256 with the public key");
        assert!(
            v.verify(&unsigned(json!({"alg": "none", "kid": "key-1"}), &claims()))
                .is_err()
        );
    }

    #[test]
    fn bad_configurations_are_explained() {
        let mut c = hs_config();
        c.algorithm = "HS999".into();
        assert!(JwtVerifier::new(&c).is_err());
        let mut c = hs_config();
        c.secret = Some("short".into());
        assert!(JwtVerifier::new(&c).is_err());
        let mut c = hs_config();
        c.algorithm = "RS256".into();
        assert!(
            JwtVerifier::new(&c).is_err(),
            "RS256 needs a JWKS, not a secret"
        );
        let mut c = hs_config();
        c.algorithm = "EdDSA".into();
        c.secret = None;
        c.jwks_file = Some("/nonexistent/jwks.json".into());
        assert!(JwtVerifier::new(&c).is_err());
    }
}
