//! The environment, read once and validated. Production refuses to start with weak secrets; the
//! development defaults make `cargo run` work on a bare machine.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use rand::distr::{Alphanumeric, SampleString};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

#[derive(Debug, Clone)]
pub struct Limits {
    /// General per-IP limit for the whole API (9001).
    pub per_ip_per_min: u32,
    /// Draw requests per user per minute (3002).
    pub draws_per_min: u32,
    /// Draws per user per day, 0 = none (3003); the admin's wheel setting overrides it.
    pub daily_draws: u32,
    /// Minimum seconds between two sign-in codes for one phone (1004).
    pub sms_phone_interval_s: u64,
    /// Sign-in codes one IP may ask for per hour (1004).
    pub sms_per_ip_per_hour: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub database_url: String,
    pub db_pool_size: u32,
    pub env: AppEnv,
    pub jwt_secret: Secret,
    pub jwt_refresh_secret: Secret,
    /// True when the JWT secrets were generated for this run (development only).
    pub jwt_generated: bool,
    pub upload_dir: PathBuf,
    pub log_format: LogFormat,
    pub limits: Limits,
    /// A wallet actor that has had no message for this long stops; the next request reloads it.
    pub wallet_idle: Duration,
    /// Seed the demo wheel and shop into an empty database at start (development default).
    pub seed_demo: bool,
    /// Test-only endpoints (fault injection). Refused in production.
    pub test_hooks: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a proxy you run).
    pub trust_proxy: bool,
    /// A fixed seed for the wheel's random generator (repeatable draws in tests); unset = OS seed.
    pub wheel_seed: Option<u64>,
    pub ws: WsSettings,
    /// Committer tasks per write kind (group commit); default 2 on MySQL, 1 on SQLite.
    pub group_commit_workers: Option<usize>,
    /// S3-compatible object storage; `None` = the local `upload_dir`.
    pub s3: Option<S3Settings>,
    /// Prefix for URLs the server signs itself (`https://api.example.com`); empty = relative.
    pub public_base_url: Option<String>,
}

#[derive(Debug, Clone)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key: Secret,
    pub secret_key: Secret,
    pub force_path_style: bool,
}

#[derive(Debug, Clone)]
pub struct WsSettings {
    /// The server pings every socket this often.
    pub ping_every: Duration,
    /// A socket silent for this long is closed.
    pub idle_timeout: Duration,
    /// Messages a socket may have queued before it is closed as too slow.
    pub queue: usize,
    /// How often coalesced values (stock, prize stock, the win ticker) go out to every socket.
    pub flush_every: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} must be at least 32 bytes in production")]
    TooShort(&'static str),
    #[error("{0} is a known placeholder; set a real random secret")]
    Placeholder(&'static str),
    #[error("{name} has an invalid value: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Words that real random secrets do not contain; copied sample configs always do.
const PLACEHOLDER_WORDS: &[&str] =
    &["secret", "change", "placeholder", "example", "your", "default", "password", "jwt", "token", "12345", "qwerty"];

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads configuration through `get`, so tests can feed a map instead of the environment.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let var = |k: &str| get(k).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let env = match var("APP_ENV").as_deref() {
            None | Some("development") | Some("dev") | Some("test") => AppEnv::Development,
            Some("production") | Some("prod") => AppEnv::Production,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    name: "APP_ENV",
                    reason: format!("`{other}` (expected development or production)"),
                })
            }
        };

        let (jwt_secret, g1) = secret(env, "JWT_SECRET", var("JWT_SECRET"))?;
        let (jwt_refresh_secret, g2) = secret(env, "JWT_REFRESH_SECRET", var("JWT_REFRESH_SECRET"))?;
        if env == AppEnv::Production && jwt_secret.expose() == jwt_refresh_secret.expose() {
            return Err(ConfigError::Invalid {
                name: "JWT_REFRESH_SECRET",
                reason: "must differ from JWT_SECRET".into(),
            });
        }

        let test_hooks = flag(var("ENABLE_TEST_HOOKS").as_deref());
        if test_hooks && env == AppEnv::Production {
            return Err(ConfigError::Invalid {
                name: "ENABLE_TEST_HOOKS",
                reason: "test hooks are never allowed in production".into(),
            });
        }

        Ok(Config {
            host: var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: number(&var, "PORT", 3000)?,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/lottery.db".into()),
            db_pool_size: number(&var, "DB_POOL_SIZE", 16)?,
            env,
            jwt_secret,
            jwt_refresh_secret,
            jwt_generated: g1 || g2,
            upload_dir: PathBuf::from(var("UPLOAD_DIR").unwrap_or_else(|| "data/uploads".into())),
            log_format: match var("LOG_FORMAT").as_deref() {
                None | Some("pretty") => LogFormat::Pretty,
                Some("json") => LogFormat::Json,
                Some(other) => {
                    return Err(ConfigError::Invalid {
                        name: "LOG_FORMAT",
                        reason: format!("`{other}` (expected pretty or json)"),
                    })
                }
            },
            limits: Limits {
                per_ip_per_min: number(&var, "RATE_LIMIT_PER_IP_PER_MIN", 1200)?,
                draws_per_min: number(&var, "DRAW_LIMIT_PER_MIN", 10)?,
                daily_draws: number(&var, "DAILY_DRAW_LIMIT", 0)?,
                sms_phone_interval_s: number(&var, "SMS_PHONE_INTERVAL_SECS", 60)?,
                sms_per_ip_per_hour: number(&var, "SMS_PER_IP_PER_HOUR", 10)?,
            },
            wallet_idle: Duration::from_secs(number(&var, "WALLET_IDLE_SECS", 600)?),
            seed_demo: match var("SEED_DEMO") {
                Some(v) => flag(Some(&v)),
                None => env == AppEnv::Development,
            },
            test_hooks,
            trust_proxy: flag(var("TRUST_PROXY").as_deref()),
            wheel_seed: match var("WHEEL_SEED") {
                Some(v) => Some(v.parse().map_err(|_| ConfigError::Invalid {
                    name: "WHEEL_SEED",
                    reason: format!("`{v}` is not an unsigned integer"),
                })?),
                None => None,
            },
            s3: match var("S3_BUCKET") {
                None => None,
                Some(bucket) => Some(S3Settings {
                    endpoint: var("S3_ENDPOINT"),
                    bucket,
                    region: var("S3_REGION").unwrap_or_else(|| "us-east-1".into()),
                    access_key: Secret(var("S3_ACCESS_KEY").ok_or(ConfigError::Missing("S3_ACCESS_KEY"))?),
                    secret_key: Secret(var("S3_SECRET_KEY").ok_or(ConfigError::Missing("S3_SECRET_KEY"))?),
                    // Path-style is what MinIO and most S3-compatible servers expect.
                    force_path_style: var("S3_FORCE_PATH_STYLE").map(|v| flag(Some(&v))).unwrap_or(true),
                }),
            },
            group_commit_workers: match var("GROUP_COMMIT_WORKERS") {
                Some(_) => Some(number(&var, "GROUP_COMMIT_WORKERS", 1)?),
                None => None,
            },
            public_base_url: var("PUBLIC_BASE_URL").map(|u| u.trim_end_matches('/').to_string()),
            ws: WsSettings {
                ping_every: Duration::from_secs(number(&var, "WS_PING_SECS", 30)?),
                idle_timeout: Duration::from_secs(number(&var, "WS_IDLE_SECS", 90)?),
                queue: number(&var, "WS_QUEUE", 256)?,
                flush_every: Duration::from_millis(number(&var, "WS_FLUSH_MS", 100)?.max(1)),
            },
        })
    }

    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

fn flag(v: Option<&str>) -> bool {
    matches!(v, Some("1") | Some("true") | Some("yes") | Some("on"))
}

fn number<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(v) => v.parse().map_err(|_| ConfigError::Invalid { name, reason: format!("`{v}` is not a valid number") }),
    }
}

fn secret(env: AppEnv, name: &'static str, value: Option<String>) -> Result<(Secret, bool), ConfigError> {
    match (env, value) {
        (AppEnv::Production, None) => Err(ConfigError::Missing(name)),
        (AppEnv::Production, Some(v)) => {
            if v.len() < 32 {
                Err(ConfigError::TooShort(name))
            } else if is_placeholder(&v) {
                Err(ConfigError::Placeholder(name))
            } else {
                Ok((Secret(v), false))
            }
        }
        (AppEnv::Development, Some(v)) => Ok((Secret(v), false)),
        (AppEnv::Development, None) => Ok((Secret(Alphanumeric.sample_string(&mut rand::rng(), 48)), true)),
    }
}

fn is_placeholder(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    distinct.len() < 8 || PLACEHOLDER_WORDS.iter().any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    const GOOD: &str = "k3J9q0s8Vb2LmX5nR7tY1wZ4pA6dF8hG";
    const GOOD2: &str = "Q1w2E3r4T5y6U7i8O9p0AaSsDdFfGgHh";

    #[test]
    fn development_defaults_work_on_a_bare_machine() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.env, AppEnv::Development);
        assert_eq!(c.port, 3000);
        assert_eq!(c.database_url, "sqlite://data/lottery.db");
        assert!(c.jwt_generated);
        assert!(c.jwt_secret.expose().len() >= 32);
        assert!(c.seed_demo);
        assert_eq!(c.limits.per_ip_per_min, 1200);
        assert_eq!(c.limits.draws_per_min, 10);
    }

    #[test]
    fn production_refuses_missing_short_and_placeholder_secrets() {
        let prod = ("APP_ENV", "production");
        assert!(matches!(cfg(&[prod]), Err(ConfigError::Missing("JWT_SECRET"))));
        assert!(matches!(
            cfg(&[prod, ("JWT_SECRET", "short"), ("JWT_REFRESH_SECRET", GOOD2)]),
            Err(ConfigError::TooShort("JWT_SECRET"))
        ));
        for ph in [
            "your-secret-key-change-me-in-production",
            "changeme",
            "secretsecretsecretsecretsecretsecret",
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(
                matches!(
                    cfg(&[prod, ("JWT_SECRET", ph), ("JWT_REFRESH_SECRET", GOOD2)]),
                    Err(ConfigError::Placeholder(_)) | Err(ConfigError::TooShort(_))
                ),
                "{ph}"
            );
        }
        let ok = cfg(&[prod, ("JWT_SECRET", GOOD), ("JWT_REFRESH_SECRET", GOOD2)]).unwrap();
        assert!(ok.is_production());
        assert!(!ok.jwt_generated);
        assert!(!ok.seed_demo);
    }

    #[test]
    fn production_refuses_test_hooks_and_bad_values() {
        let base = [("APP_ENV", "production"), ("JWT_SECRET", GOOD), ("JWT_REFRESH_SECRET", GOOD2)];
        let mut with_hooks = base.to_vec();
        with_hooks.push(("ENABLE_TEST_HOOKS", "1"));
        assert!(cfg(&with_hooks).is_err());
        assert!(cfg(&[("PORT", "http")]).is_err());
        assert!(cfg(&[("APP_ENV", "staging")]).is_err());
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }
}
