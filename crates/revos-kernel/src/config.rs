//! The effective configuration and where it comes from.
//!
//! Layers, each overriding the one before: built-in defaults → an optional
//! `revos.toml` (or the file `--config` / `REVOS_CONFIG` names) → the
//! environment (`REVOS_*`, plus `DATABASE_URL` and `REVENUE_OS_KERNEL_MODE`,
//! the names the seeds use) → command-line flags.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use revos_contracts::runtime::KernelMode;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub use crate::outbound_http::redact_url;

/// The database used when nothing else is configured: a file next to where
/// revos runs, created on first use.
const DEFAULT_DATABASE_URL: &str = "sqlite://revos.db";
/// Where `revos serve` listens by default.
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// The largest request body accepted by default (2 MiB).
const DEFAULT_MAX_BODY_BYTES: usize = 2 * 1024 * 1024;
/// The configuration file read when it exists.
const DEFAULT_CONFIG_FILE: &str = "revos.toml";

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Everything revos can be configured with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `sqlite://FILE` or `postgres://…`.
    pub database_url: String,
    /// Address `revos serve` binds.
    pub listen: String,
    /// Global runtime mode: `shadow` (record, execute nothing) or `enforce`.
    pub kernel_mode: KernelMode,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Log filter (`info`, `revos=debug,tower_http=info`, …).
    pub log: String,
    /// Log format.
    pub log_format: LogFormat,
    /// The Ed25519 key that signs audit checkpoints (64 hex digits or the
    /// base64 of 32 bytes; `revos audit keygen` makes one). Without it the
    /// audit chain is still hash-linked and verifiable, but truncation of
    /// its tail cannot be detected.
    #[serde(default)]
    pub audit_signing_key: Option<String>,
    /// Minutes between checkpoints signed by `revos serve`.
    pub audit_checkpoint_minutes: u32,
    /// Request rate limits per principal and endpoint class.
    #[serde(default)]
    pub rate_limits: RateLimitConfig,
    /// How users' JSON Web Tokens are verified; without it only API keys
    /// authenticate.
    #[serde(default)]
    pub jwt: Option<crate::identity::jwt::JwtConfig>,
    /// Changes to the queues' settings (`[queues.email] concurrency = 5`)
    /// and extra queues; six queues are built in.
    #[serde(default)]
    pub queues: serde_json::Map<String, serde_json::Value>,
    /// Whether `revos serve` also runs workers (a `revos worker` process
    /// can run them instead, or as well).
    pub serve_workers: bool,
    /// Whether `revos serve` runs the cycle triggers every five minutes
    /// (the daily schedule and metric deviations, see
    /// [`crate::optimize::scheduler`]); turn it off where another process schedules
    /// cycles, or in tests.
    pub serve_scheduler: bool,
    /// How outbox e-mails are sent (`[email] smtp_url = "smtp://…"`); the
    /// environment's `REVOS_SMTP_URL` and `REVOS_EMAIL_FROM` set the two
    /// most used fields.
    #[serde(default)]
    pub email: crate::delivery::email::EmailConfig,
    /// Hours an `Idempotency-Key` and its stored response are kept.
    pub idempotency_hours: u32,
    /// Where outbound HTTP requests (webhooks, JWKS) may go:
    /// `[outbound] allow = ["127.0.0.0/8", "::1/128"]` admits address
    /// ranges the policy refuses by default, and plain `http://` to them
    /// (see [`crate::outbound_http`]).
    #[serde(default)]
    pub outbound: crate::outbound_http::OutboundConfig,
    /// Bounds of tenant templates (`[templates] max_rendered_bytes`).
    #[serde(default)]
    pub templates: TemplatesConfig,
    /// The URL the API is reached at from the internet, scheme and host
    /// (and a path prefix, if a proxy adds one): `https://revos.example.com`.
    /// HubSpot signs the full URL it called, so the `hubspot` webhook source
    /// verifies against this base plus the request's path and query;
    /// without it HubSpot deliveries are refused (`public_url_unset`).
    /// Request headers (`Host`, `X-Forwarded-*`) are never trusted for it.
    #[serde(default)]
    pub public_url: Option<String>,
}

/// Bounds of tenant e-mail templates. A template's source is at most
/// [`revos_policy::MAX_TEMPLATE_BYTES`] (16 KiB), always; what one template
/// field may render to is configured here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TemplatesConfig {
    /// The largest rendered text of one template field (subject, text or
    /// HTML body), in bytes; default 65536 (64 KiB). A render that would
    /// exceed it makes the decision `error`; settings whose sample render
    /// exceeds it are refused.
    pub max_rendered_bytes: usize,
}

impl Default for TemplatesConfig {
    fn default() -> Self {
        TemplatesConfig {
            max_rendered_bytes: revos_policy::DEFAULT_MAX_RENDERED_BYTES,
        }
    }
}

impl TemplatesConfig {
    /// The limits policies render within.
    pub(crate) fn limits(&self) -> revos_policy::TemplateLimits {
        revos_policy::TemplateLimits {
            max_rendered_bytes: self.max_rendered_bytes,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            database_url: DEFAULT_DATABASE_URL.to_owned(),
            listen: DEFAULT_LISTEN.to_owned(),
            kernel_mode: KernelMode::Shadow,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            log: "info".to_owned(),
            log_format: LogFormat::Text,
            audit_signing_key: None,
            audit_checkpoint_minutes: 60,
            rate_limits: RateLimitConfig::default(),
            jwt: None,
            queues: serde_json::Map::new(),
            serve_workers: true,
            serve_scheduler: true,
            email: crate::delivery::email::EmailConfig::default(),
            idempotency_hours: 24,
            outbound: crate::outbound_http::OutboundConfig::default(),
            templates: TemplatesConfig::default(),
            public_url: None,
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Overrides {
    /// `--database`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// `--listen`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listen: Option<String>,
    /// `--mode`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kernel_mode: Option<KernelMode>,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

impl Config {
    /// Loads the layers. `file` is the explicit `--config` path (it must
    /// exist); without it `revos.toml` in the current directory is read if
    /// present. `env` is the process environment, passed in for tests.
    fn load(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        let explicit = file
            .map(Path::to_path_buf)
            .or_else(|| lookup(env, "REVOS_CONFIG").map(PathBuf::from));
        match explicit {
            Some(path) => {
                if !path.is_file() {
                    return Err(ConfigError(format!(
                        "configuration file {} does not exist",
                        path.display()
                    )));
                }
                figment = figment.merge(Toml::file_exact(path));
            }
            None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
                figment = figment.merge(Toml::file_exact(DEFAULT_CONFIG_FILE));
            }
            None => {}
        }
        // The environment is passed in rather than read so tests stay
        // independent of the process they run in.
        let mut from_env = serde_json::Map::new();
        for (key, field) in [
            ("DATABASE_URL", "database_url"),
            ("REVENUE_OS_KERNEL_MODE", "kernel_mode"),
        ] {
            if let Some(v) = lookup(env, key) {
                from_env.insert(field.to_owned(), v.into());
            }
        }
        // The e-mail settings most often given by the environment.
        let mut email_env = serde_json::Map::new();
        for (key, field) in [("REVOS_SMTP_URL", "smtp_url"), ("REVOS_EMAIL_FROM", "from")] {
            if let Some(v) = lookup(env, key) {
                email_env.insert(field.to_owned(), v.into());
            }
        }
        // Only variables naming a setting are read: other REVOS_* variables
        // (REVOS_CONFIG, the tests' REVOS_TEST_*) are not settings.
        let known =
            serde_json::to_value(Config::default()).map_err(|e| ConfigError(e.to_string()))?;
        for (key, value) in env {
            if let Some(field) = key.strip_prefix("REVOS_") {
                let field = field.to_ascii_lowercase();
                // Tables (`[email]`, `[queues]`) are not set this way.
                if known
                    .get(&field)
                    .is_none_or(|v| v.is_object() || v.is_array())
                {
                    continue;
                }
                let value = if known[&field].is_number() {
                    value
                        .parse::<u64>()
                        .map(serde_json::Value::from)
                        .map_err(|_| {
                            ConfigError(format!("{key} must be a whole number, got `{value}`"))
                        })?
                } else if known[&field].is_boolean() {
                    match value.trim().to_ascii_lowercase().as_str() {
                        "true" | "1" | "yes" | "on" => serde_json::Value::Bool(true),
                        "false" | "0" | "no" | "off" => serde_json::Value::Bool(false),
                        _ => {
                            return Err(ConfigError(format!(
                                "{key} must be true or false, got `{value}`"
                            )));
                        }
                    }
                } else {
                    value.clone().into()
                };
                from_env.insert(field, value);
            }
        }
        if !email_env.is_empty() {
            figment = figment.merge(Serialized::default(
                "email",
                serde_json::Value::Object(email_env),
            ));
        }
        figment = figment
            .merge(Serialized::defaults(serde_json::Value::Object(from_env)))
            .merge(Serialized::defaults(overrides));
        let config: Config = figment.extract().map_err(|e| ConfigError(e.to_string()))?;
        config.check()?;
        Ok(config)
    }

    /// Loads from the real process environment.
    pub fn from_process(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Config::load(file, &env, overrides)
    }

    fn check(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!(
                "listen must be an address such as 127.0.0.1:8080, got `{}`",
                self.listen
            )));
        }
        revos_queue::QueueSettings::default()
            .merged(&serde_json::Value::Object(self.queues.clone()))
            .map_err(|e| ConfigError(format!("queues: {e}")))?;
        self.rate_limits
            .validate()
            .map_err(|e| ConfigError(format!("rate_limits: {e}")))?;
        if self.audit_checkpoint_minutes == 0 {
            return Err(ConfigError(
                "audit_checkpoint_minutes must be at least 1".to_owned(),
            ));
        }
        if self.idempotency_hours < 24 {
            return Err(ConfigError(format!(
                "idempotency_hours must be at least 24 (keys are kept a day at least), got {}",
                self.idempotency_hours
            )));
        }
        crate::delivery::email::Mailer::new(&self.email)
            .map_err(|e| ConfigError(format!("email: {e}")))?;
        crate::outbound_http::OutboundPolicy::new(&self.outbound).map_err(ConfigError)?;
        if !(1024..=16 * 1024 * 1024).contains(&self.templates.max_rendered_bytes) {
            return Err(ConfigError(format!(
                "templates.max_rendered_bytes must be between 1024 and 16777216, got {}",
                self.templates.max_rendered_bytes
            )));
        }
        if let Some(public_url) = &self.public_url {
            check_public_url(public_url)?;
        }
        if self.max_body_bytes < 1024 {
            return Err(ConfigError(format!(
                "max_body_bytes must be at least 1024, got {}",
                self.max_body_bytes
            )));
        }
        Ok(())
    }

    /// The configuration with secrets hidden, for `revos config` and logs.
    pub fn redacted(&self) -> Config {
        Config {
            database_url: redact_url(&self.database_url),
            audit_signing_key: self.audit_signing_key.as_ref().map(|_| "***".to_owned()),
            email: crate::delivery::email::EmailConfig {
                // No URL (e-mail off) stays empty rather than "unparseable".
                smtp_url: if self.email.smtp_url.is_empty() {
                    String::new()
                } else {
                    redact_url(&self.email.smtp_url)
                },
                ..self.email.clone()
            },
            jwt: self.jwt.clone().map(|jwt| crate::identity::jwt::JwtConfig {
                secret: jwt.secret.map(|_| "***".to_owned()),
                jwks_url: jwt.jwks_url.as_deref().map(redact_url),
                ..jwt
            }),
            ..self.clone()
        }
    }
}

/// Checks `public_url`: an absolute `http` or `https` URL with a host and
/// no credentials, query or fragment (a path prefix is allowed).
fn check_public_url(text: &str) -> Result<(), ConfigError> {
    let refuse = |why: &str| {
        Err(ConfigError(format!(
            "public_url must be the http(s) URL the API is reached at, such as \
             https://revos.example.com: `{text}` {why}"
        )))
    };
    let Ok(url) = url::Url::parse(text) else {
        return refuse("is not an absolute URL");
    };
    if !matches!(url.scheme(), "http" | "https") {
        return refuse("is not http or https");
    }
    if url.host_str().is_none_or(str::is_empty) {
        return refuse("has no host");
    }
    if !url.username().is_empty() || url.password().is_some() {
        return refuse("holds credentials");
    }
    if url.query().is_some() || url.fragment().is_some() {
        return refuse("has a query or fragment");
    }
    Ok(())
}

fn lookup<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Default sustained rate of read requests per principal, per minute.
const DEFAULT_READ_PER_MINUTE: u32 = 600;
/// Default burst of read requests per principal.
const DEFAULT_READ_BURST: u32 = 100;
/// Default sustained rate of write requests per principal, per minute.
const DEFAULT_WRITE_PER_MINUTE: u32 = 300;
/// Default burst of write requests per principal.
const DEFAULT_WRITE_BURST: u32 = 50;
/// Default sustained rate of webhook deliveries per tenant and source, per
/// minute.
const DEFAULT_WEBHOOK_PER_MINUTE: u32 = 600;
/// Default burst of webhook deliveries per tenant and source.
const DEFAULT_WEBHOOK_BURST: u32 = 100;
/// Default sustained rate of requests without credentials per peer address,
/// per minute.
const DEFAULT_UNAUTHENTICATED_PER_MINUTE: u32 = 60;
/// Default burst of requests without credentials per peer address.
const DEFAULT_UNAUTHENTICATED_BURST: u32 = 20;
/// Default public form submissions per peer address per minute.
const DEFAULT_FORM_PER_MINUTE: u32 = 30;
/// Default public form submissions an idle peer address may send at once.
const DEFAULT_FORM_BURST: u32 = 10;

/// The rate limits: for each endpoint class (`read`, `write`, `webhook`, `unauthenticated`), a sustained rate per minute
/// and a burst (how many requests an idle principal may send at once).
///
/// Every field has a default, so a configuration file names only what it
/// changes; an unknown field is an error rather than a silently ignored
/// typo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Whether requests are limited at all.
    pub enabled: bool,
    /// Read requests per principal per minute, sustained.
    pub read_per_minute: u32,
    /// Read requests an idle principal may send at once.
    pub read_burst: u32,
    /// Write requests per principal per minute, sustained.
    pub write_per_minute: u32,
    /// Write requests an idle principal may send at once.
    pub write_burst: u32,
    /// Webhook deliveries per tenant and source per minute, sustained.
    pub webhook_per_minute: u32,
    /// Webhook deliveries an idle tenant and source may send at once.
    pub webhook_burst: u32,
    /// Requests without credentials per peer address per minute, sustained.
    pub unauthenticated_per_minute: u32,
    /// Requests without credentials an idle peer address may send at once.
    pub unauthenticated_burst: u32,
    /// Public form submissions (`/v1/forms/{token}/submit`) per peer
    /// address per minute, sustained.
    pub form_per_minute: u32,
    /// Public form submissions an idle peer address may send at once.
    pub form_burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: true,
            read_per_minute: DEFAULT_READ_PER_MINUTE,
            read_burst: DEFAULT_READ_BURST,
            write_per_minute: DEFAULT_WRITE_PER_MINUTE,
            write_burst: DEFAULT_WRITE_BURST,
            webhook_per_minute: DEFAULT_WEBHOOK_PER_MINUTE,
            webhook_burst: DEFAULT_WEBHOOK_BURST,
            unauthenticated_per_minute: DEFAULT_UNAUTHENTICATED_PER_MINUTE,
            unauthenticated_burst: DEFAULT_UNAUTHENTICATED_BURST,
            form_per_minute: DEFAULT_FORM_PER_MINUTE,
            form_burst: DEFAULT_FORM_BURST,
        }
    }
}

impl RateLimitConfig {
    /// Checks that an enabled configuration has no zero rate or burst (a
    /// zero would refuse every request of the class; to turn limits off,
    /// set `enabled = false`). The error names every offending field.
    pub fn validate(&self) -> Result<(), String> {
        if !self.enabled {
            return Ok(());
        }
        let zero: Vec<&str> = [
            ("read_per_minute", self.read_per_minute),
            ("read_burst", self.read_burst),
            ("write_per_minute", self.write_per_minute),
            ("write_burst", self.write_burst),
            ("webhook_per_minute", self.webhook_per_minute),
            ("webhook_burst", self.webhook_burst),
            (
                "unauthenticated_per_minute",
                self.unauthenticated_per_minute,
            ),
            ("unauthenticated_burst", self.unauthenticated_burst),
            ("form_per_minute", self.form_per_minute),
            ("form_burst", self.form_burst),
        ]
        .into_iter()
        .filter(|(_, value)| *value == 0)
        .map(|(name, _)| name)
        .collect();
        if zero.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "rate limits must be at least 1 when enabled (set `enabled = false` to turn them off): {} is 0",
                zero.join(", ")
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("revos.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\nkernel_mode = \"enforce\"\nlog = \"debug\"\n",
        )
        .unwrap();
        let defaults = Config::load(Some(&file), &[], &Overrides::default()).unwrap();
        assert_eq!(defaults.listen, "127.0.0.1:9000");
        assert_eq!(defaults.kernel_mode, KernelMode::Enforce);
        assert_eq!(defaults.database_url, DEFAULT_DATABASE_URL);

        let e = env(&[
            ("REVENUE_OS_KERNEL_MODE", "shadow"),
            ("DATABASE_URL", "postgres://u:secret@localhost/db"),
            ("REVOS_LOG", "warn"),
        ]);
        let with_env = Config::load(Some(&file), &e, &Overrides::default()).unwrap();
        assert_eq!(with_env.kernel_mode, KernelMode::Shadow);
        assert_eq!(with_env.log, "warn");
        assert_eq!(with_env.database_url, "postgres://u:secret@localhost/db");

        let flags = Overrides {
            listen: Some("0.0.0.0:1".into()),
            ..Default::default()
        };
        let with_flags = Config::load(Some(&file), &e, &flags).unwrap();
        assert_eq!(with_flags.listen, "0.0.0.0:1");
        assert_eq!(
            with_flags.redacted().database_url,
            "postgres://u:***@localhost/db"
        );
    }

    #[test]
    fn bad_values_are_explained() {
        let e = env(&[("REVENUE_OS_KERNEL_MODE", "yolo")]);
        let err = Config::load(None, &e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("kernel_mode"), "{err}");
        let e = env(&[("REVOS_SERVE_WORKERS", "maybe")]);
        assert!(Config::load(None, &e, &Overrides::default()).is_err());
        let e = env(&[("REVOS_SERVE_WORKERS", "false")]);
        assert!(
            !Config::load(None, &e, &Overrides::default())
                .unwrap()
                .serve_workers
        );
        let e = env(&[("REVOS_SERVE_SCHEDULER", "off")]);
        assert!(
            !Config::load(None, &e, &Overrides::default())
                .unwrap()
                .serve_scheduler
        );
        assert!(Config::default().serve_scheduler);
        let e = env(&[("REVOS_LISTEN", "nowhere")]);
        let err = Config::load(None, &e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("listen"), "{err}");
        let missing = Config::load(
            Some(Path::new("/nonexistent/revos.toml")),
            &[],
            &Overrides::default(),
        );
        assert!(missing.is_err());
    }

    #[test]
    fn template_bounds_are_configured_in_their_own_table() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("revos.toml");
        assert_eq!(
            Config::default().templates.max_rendered_bytes,
            64 * 1024,
            "the default"
        );
        std::fs::write(&file, "[templates]\nmax_rendered_bytes = 4096\n").unwrap();
        let config = Config::load(Some(&file), &[], &Overrides::default()).unwrap();
        assert_eq!(config.templates.limits().max_rendered_bytes, 4096);
        std::fs::write(&file, "[templates]\nmax_rendered_byte = 4096\n").unwrap();
        let err = Config::load(Some(&file), &[], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("max_rendered_byte"), "{err}");
        std::fs::write(&file, "[templates]\nmax_rendered_bytes = 10\n").unwrap();
        let err = Config::load(Some(&file), &[], &Overrides::default()).unwrap_err();
        assert!(
            err.to_string().contains("templates.max_rendered_bytes"),
            "{err}"
        );
    }

    #[test]
    fn the_public_url_comes_from_the_environment_and_is_checked() {
        assert_eq!(Config::default().public_url, None);
        let e = env(&[("REVOS_PUBLIC_URL", "https://revos.example.com/api")]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://revos.example.com/api")
        );
        for bad in [
            "revos.example.com",
            "ftp://revos.example.com",
            "https://user:pw@revos.example.com",
            "https://revos.example.com/?a=1",
            "https://revos.example.com/#top",
        ] {
            let e = env(&[("REVOS_PUBLIC_URL", bad)]);
            let err = Config::load(None, &e, &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains("public_url"), "{bad}: {err}");
        }
    }

    #[test]
    fn redaction_keeps_an_empty_smtp_url_empty() {
        let mut config = Config::default();
        assert_eq!(config.redacted().email.smtp_url, "");
        config.email.smtp_url = "smtp://user:secret@mail.example:587".into();
        let shown = config.redacted().email.smtp_url;
        assert!(
            !shown.contains("secret") && shown.contains("mail.example"),
            "{shown}"
        );
    }

    #[test]
    fn the_outbound_allow_list_is_read_and_checked() {
        assert!(Config::default().outbound.allow.is_empty());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("revos.toml");
        std::fs::write(
            &file,
            "[outbound]\nallow = [\"127.0.0.0/8\", \"::1/128\", \"10.1.2.3\"]\n",
        )
        .unwrap();
        let config = Config::load(Some(&file), &[], &Overrides::default()).unwrap();
        assert_eq!(
            config.outbound.allow,
            vec!["127.0.0.0/8", "::1/128", "10.1.2.3"]
        );
        std::fs::write(
            &file,
            "[outbound]\nallow = [\"127.0.0.0/8\", \"intranet\"]\n",
        )
        .unwrap();
        let err = Config::load(Some(&file), &[], &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("`intranet`"), "{err}");
        std::fs::write(&file, "[outbound]\ndeny = [\"10.0.0.0/8\"]\n").unwrap();
        assert!(Config::load(Some(&file), &[], &Overrides::default()).is_err());
    }
}
