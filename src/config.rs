//! The environment, read once and validated. Production refuses to start with weak secrets or
//! without a real way for customers to sign in (WeChat, or an SMS provider that delivers); the
//! development defaults make `cargo run` work on a bare machine.
//!
//! Longer than most files: every setting, its default and its validation live here in one
//! place (an operator reads one file to learn them all), and half the file is their unit tests.

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
    /// Receipt uploads one customer may have waiting for review at once (9001); at least 1.
    pub pending_uploads: u32,
    /// Receipt uploads one customer may make in any 24 hours (9001); at least 1.
    pub daily_uploads: u32,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    pub database_url: String,
    pub db_pool_size: u32,
    /// How long a request waits for a database connection before answering 503.
    pub db_acquire_timeout: Duration,
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
    /// `COUPON_VALID_DAYS` (30): how long a won coupon can be used, 1–3650 days.
    pub coupon_valid_days: i64,
    /// Seed the demo wheel and shop into an empty database at start (development default).
    pub seed_demo: bool,
    /// Test-only endpoints (fault injection). Refused in production.
    pub test_hooks: bool,
    /// How many proxies of the operator's stand in front (`TRUST_PROXY_HOPS`): the client address
    /// is the peer with 0, else the N-th `X-Forwarded-For` entry from the right.
    pub trust_proxy_hops: usize,
    /// A fixed seed for the wheel's random generator (repeatable draws in tests); unset = OS seed.
    pub wheel_seed: Option<u64>,
    pub ws: WsSettings,
    pub http: HttpSettings,
    /// Sessions: access-token lifetime and the absolute refresh-family lifetime.
    pub sessions: SessionSettings,
    pub actors: ActorSettings,
    /// Committer tasks per write kind (group commit); default 2 on MySQL, 1 on SQLite.
    pub group_commit_workers: Option<usize>,
    /// S3-compatible object storage; `None` = the local `upload_dir`.
    pub s3: Option<S3Settings>,
    /// Prefix for URLs the server signs itself (`https://api.example.com`); empty = relative.
    pub public_base_url: Option<String>,
    /// WeChat mini-program sign-in; `None` when `WECHAT_APPID`/`WECHAT_SECRET` are unset.
    pub wechat: Option<WechatSettings>,
    /// Who delivers sign-in codes by SMS.
    pub sms: SmsProvider,
    /// `Authorization: Bearer` that opens `/metrics` to non-loopback scrapers; unset = loopback only.
    pub metrics_token: Option<Secret>,
    /// `BUSINESS_TZ` (default Asia/Shanghai): the days, weeks and months of check-in, tasks and
    /// leaderboards.
    pub business_tz: crate::domain::loyalty::BusinessTz,
    /// `CHECKIN_BASE` (10): a check-in earns this × min(streak, 7) × the level multiplier.
    pub checkin_base: i64,
    /// Cluster mode (`CLUSTER_NATS_URL`); `None` = the single node.
    pub cluster: Option<ClusterSettings>,
}

/// One node of several (DESIGN.md "Cluster"): `CLUSTER_NATS_URL`, `NODE_ID` (default: the host
/// name), `CLUSTER_LEASE_MS` (5000: how long a silent node keeps its customers), `CLUSTER_NAME`
/// (`rl`: the first token of every NATS subject, so several deployments can share one NATS).
#[derive(Debug, Clone)]
pub struct ClusterSettings {
    pub nats_url: String,
    pub name: String,
    pub node_id: String,
    pub lease: Duration,
}

/// The mini-program's credentials, for `jscode2session`, `cgi-bin/token` and the phone number.
#[derive(Debug, Clone)]
pub struct WechatSettings {
    pub appid: String,
    pub secret: Secret,
    /// `https://api.weixin.qq.com`, or a local server that speaks WeChat's protocol (tests).
    pub api_base: String,
}

/// `SMS_PROVIDER`: where sign-in codes go.
#[derive(Debug, Clone)]
pub enum SmsProvider {
    /// The code goes to the log (development); in production it is not delivered at all.
    Log,
    Tencent(TencentSmsSettings),
    Aliyun(AliyunSmsSettings),
}

/// Tencent Cloud SMS (API 3.0 `SendSms`).
#[derive(Debug, Clone)]
pub struct TencentSmsSettings {
    pub secret_id: String,
    pub secret_key: Secret,
    pub sdk_app_id: String,
    pub sign_name: String,
    /// A template with two parameters: `{1}` the code, `{2}` its lifetime in minutes.
    pub template_id: String,
    pub region: String,
    pub endpoint: String,
}

/// Alibaba Cloud SMS (Dysmsapi `SendSms`).
#[derive(Debug, Clone)]
pub struct AliyunSmsSettings {
    pub access_key_id: String,
    pub access_key_secret: Secret,
    pub sign_name: String,
    /// A template with `${code}` (and optionally `${minutes}`, the lifetime).
    pub template_code: String,
    pub endpoint: String,
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

/// How long a client may take, and how many requests run at once.
#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// The request line and headers must arrive within this (`HTTP_HEADER_TIMEOUT_SECS`).
    pub header_timeout: Duration,
    /// A whole request, body included (`HTTP_REQUEST_TIMEOUT_SECS`); uploads get [`Self::upload_timeout`].
    pub request_timeout: Duration,
    pub upload_timeout: Duration,
    /// A keep-alive connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// Requests processed at once; beyond it the answer is 9002 at once (`MAX_IN_FLIGHT`).
    pub max_in_flight: usize,
    /// How long shutdown waits for requests in flight before it closes their connections.
    pub drain_deadline: Duration,
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
    /// A send the client does not take within this long drops the socket (it stopped reading).
    pub write_timeout: Duration,
    /// Notable wins on the ticker per second at most, for everyone (`TICKER_MAX_PER_SEC`, 0 = off).
    pub ticker_per_sec: u32,
}

#[derive(Debug, Clone, Copy)]
pub struct ActorSettings {
    /// How long a request waits for an actor (`ACTOR_CALL_TIMEOUT_MS`, tests only; 15 s).
    pub call_timeout: Duration,
    /// How long a prize or stock reservation may stay unsettled (`RESERVATION_TTL_MS`, tests
    /// only; 60 s).
    pub reservation_ttl: Duration,
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Access-token lifetime: 2 h. `ACCESS_TTL_SECS` shortens it for tests only (refused in
    /// production, where clients count on the documented 2 h).
    pub access_ttl: Duration,
    /// A refresh family lives at most this long from its sign-in, however often it rotates.
    pub refresh_max_age: Duration,
}

/// The documented access-token lifetime.
pub const ACCESS_TTL: Duration = Duration::from_secs(2 * 60 * 60);

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0} is required")]
    Missing(&'static str),
    #[error("{0} must be at least 32 bytes in production")]
    TooShort(&'static str),
    #[error("{name} contains the placeholder `{word}`; set a real random secret")]
    Placeholder { name: &'static str, word: &'static str },
    /// Too few different characters, or too little information in them to be random.
    #[error("{name} looks weak ({rule}); set a real random secret, e.g. `openssl rand -base64 32`")]
    WeakSecret { name: &'static str, rule: String },
    #[error("{name} has an invalid value: {reason}")]
    Invalid { name: &'static str, reason: String },
    /// A setting that needs companions, without them: `SMS_PROVIDER=tencent needs …`.
    #[error("{what} needs {}", .missing.join(", "))]
    Incomplete { what: &'static str, missing: Vec<&'static str> },
    /// Production with neither WeChat nor an SMS provider that delivers: nobody could sign in.
    #[error(
        "production needs a real sign-in path: set WECHAT_APPID and WECHAT_SECRET, or SMS_PROVIDER \
         (tencent or aliyun) with its variables; missing: {}",
        .missing.join(", ")
    )]
    NoSignInPath { missing: Vec<&'static str> },
}

/// Phrases of sample configs. Each is at least six characters long, so a random base64 secret
/// contains one by chance about once in 10^7 (the short words once listed here, such as "jwt",
/// refused about one random pair in 300).
const PLACEHOLDERS: &[&str] = &[
    "changeme",
    "change-me",
    "change_me",
    "changethis",
    "placeholder",
    "example",
    "password",
    "secret",
    "default",
    "123456",
    "qwerty",
    "abcdef",
];
/// Distinct characters a random secret of 32+ bytes has (random base64 has about 20 or more).
const MIN_DISTINCT_CHARS: usize = 10;
/// Character entropy times length: random base64 of 32 characters measures 125 bits and more.
const MIN_SECRET_BITS: f64 = 96.0;

/// A name that can stand as one token of a NATS subject.
fn subject_token(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether a `DATABASE_URL` (unset = the SQLite default) names SQLite.
fn database_is_sqlite(url: Option<&str>) -> bool {
    url.is_none_or(|u| u.starts_with("sqlite:"))
}

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

        // A fixed seed makes every spin sequence predictable from start-up; tests only.
        if env == AppEnv::Production && var("WHEEL_SEED").is_some() {
            return Err(ConfigError::Invalid {
                name: "WHEEL_SEED",
                reason: "a fixed wheel seed makes draws predictable and is never allowed in production".into(),
            });
        }
        // Production keeps its data in a real database; the SQLite default is for `cargo run`.
        if env == AppEnv::Production && var("DATABASE_URL").is_none() {
            return Err(ConfigError::Missing("DATABASE_URL"));
        }

        let sessions = sessions(&var, env)?;
        let business_tz = match var("BUSINESS_TZ") {
            None => crate::domain::loyalty::BusinessTz::default(),
            Some(name) => crate::domain::loyalty::BusinessTz::parse(&name)
                .map_err(|reason| ConfigError::Invalid { name: "BUSINESS_TZ", reason })?,
        };
        let actors = ActorSettings {
            call_timeout: test_only_ms(&var, env, "ACTOR_CALL_TIMEOUT_MS", crate::actors::CALL_TIMEOUT)?,
            reservation_ttl: test_only_ms(&var, env, "RESERVATION_TTL_MS", crate::actors::RESERVATION_TTL)?,
        };
        let wechat = wechat(&var)?;
        let sms = sms_provider(&var)?;
        if env == AppEnv::Production && wechat.is_none() && matches!(sms, SmsProvider::Log) {
            let mut missing: Vec<&'static str> =
                ["WECHAT_APPID", "WECHAT_SECRET"].into_iter().filter(|k| var(k).is_none()).collect();
            missing.push("SMS_PROVIDER");
            return Err(ConfigError::NoSignInPath { missing });
        }

        let cluster = match var("CLUSTER_NATS_URL") {
            None => None,
            Some(nats_url) => {
                if database_is_sqlite(var("DATABASE_URL").as_deref()) {
                    return Err(ConfigError::Invalid {
                        name: "CLUSTER_NATS_URL",
                        reason: "cluster mode needs a shared MySQL/MariaDB (or TiDB) DATABASE_URL, not SQLite".into(),
                    });
                }
                let node_id = var("NODE_ID").or_else(|| var("HOSTNAME")).ok_or(ConfigError::Missing("NODE_ID"))?;
                if !subject_token(&node_id) {
                    return Err(ConfigError::Invalid {
                        name: "NODE_ID",
                        reason: "1-64 characters of letters, digits, - and _ (it is part of NATS subjects)".into(),
                    });
                }
                let lease_ms: u64 = positive(&var, "CLUSTER_LEASE_MS", 5000)?;
                if lease_ms < 500 {
                    return Err(ConfigError::Invalid { name: "CLUSTER_LEASE_MS", reason: "at least 500".into() });
                }
                let name = var("CLUSTER_NAME").unwrap_or_else(|| "rl".into());
                if !subject_token(&name) {
                    return Err(ConfigError::Invalid {
                        name: "CLUSTER_NAME",
                        reason: "1-64 characters of letters, digits, - and _ (it starts every NATS subject)".into(),
                    });
                }
                Some(ClusterSettings { nats_url, name, node_id, lease: Duration::from_millis(lease_ms) })
            }
        };

        Ok(Config {
            cluster,
            business_tz,
            checkin_base: i64::from(positive::<u32>(&var, "CHECKIN_BASE", 10)?),
            host: var("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: number(&var, "PORT", 3000)?,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://data/lottery.db".into()),
            db_pool_size: number(&var, "DB_POOL_SIZE", 16)?,
            db_acquire_timeout: Duration::from_millis(positive(
                &var,
                "DB_ACQUIRE_TIMEOUT_MS",
                crate::store::ACQUIRE_TIMEOUT.as_millis() as u64,
            )?),
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
                per_ip_per_min: positive(&var, "RATE_LIMIT_PER_IP_PER_MIN", 1200)?,
                draws_per_min: positive(&var, "DRAW_LIMIT_PER_MIN", 10)?,
                daily_draws: number(&var, "DAILY_DRAW_LIMIT", 0)?,
                sms_phone_interval_s: number(&var, "SMS_PHONE_INTERVAL_SECS", 60)?,
                sms_per_ip_per_hour: number(&var, "SMS_PER_IP_PER_HOUR", 10)?,
                pending_uploads: at_least_one(number(&var, "UPLOAD_PENDING_LIMIT", 20)?, "UPLOAD_PENDING_LIMIT")?,
                daily_uploads: at_least_one(number(&var, "UPLOAD_DAILY_LIMIT", 50)?, "UPLOAD_DAILY_LIMIT")?,
            },
            wallet_idle: Duration::from_secs(number(&var, "WALLET_IDLE_SECS", 600)?),
            coupon_valid_days: match number::<i64>(&var, "COUPON_VALID_DAYS", crate::domain::prize::COUPON_VALID_DAYS)?
            {
                days @ 1..=3650 => days,
                _ => {
                    return Err(ConfigError::Invalid {
                        name: "COUPON_VALID_DAYS",
                        reason: "must be 1-3650 days".into(),
                    })
                }
            },
            seed_demo: match var("SEED_DEMO") {
                Some(v) => flag(Some(&v)),
                None => env == AppEnv::Development,
            },
            test_hooks,
            // `TRUST_PROXY=1`, the old switch, means one proxy: the right-most entry, never the
            // left-most one the client writes itself.
            trust_proxy_hops: match var("TRUST_PROXY_HOPS") {
                Some(_) => number(&var, "TRUST_PROXY_HOPS", 0)?,
                None => usize::from(flag(var("TRUST_PROXY").as_deref())),
            },
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
            wechat,
            sms,
            metrics_token: var("METRICS_TOKEN").map(Secret),
            http: HttpSettings {
                header_timeout: Duration::from_secs(positive(&var, "HTTP_HEADER_TIMEOUT_SECS", 10)?),
                request_timeout: Duration::from_secs(positive(&var, "HTTP_REQUEST_TIMEOUT_SECS", 30)?),
                upload_timeout: Duration::from_secs(120),
                idle_timeout: Duration::from_secs(60),
                max_in_flight: positive(&var, "MAX_IN_FLIGHT", 4096)?,
                drain_deadline: Duration::from_secs(20),
            },
            ws: WsSettings {
                ping_every: Duration::from_secs(positive(&var, "WS_PING_SECS", 30)?),
                idle_timeout: Duration::from_secs(number(&var, "WS_IDLE_SECS", 90)?),
                queue: number(&var, "WS_QUEUE", 256)?,
                flush_every: Duration::from_millis(number(&var, "WS_FLUSH_MS", 100)?.max(1)),
                write_timeout: Duration::from_secs(number(&var, "WS_WRITE_TIMEOUT_SECS", 10)?.max(1)),
                ticker_per_sec: number(&var, "TICKER_MAX_PER_SEC", crate::notify::hub::TICKER_PER_SEC)?,
            },
            sessions,
            actors,
        })
    }

    pub fn is_production(&self) -> bool {
        self.env == AppEnv::Production
    }

    pub fn is_sqlite(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

/// WeChat is configured by its two credentials together; one without the other is a mistake.
fn wechat(var: &impl Fn(&str) -> Option<String>) -> Result<Option<WechatSettings>, ConfigError> {
    let (appid, secret) = (var("WECHAT_APPID"), var("WECHAT_SECRET"));
    let api_base = endpoint(var, "WECHAT_API_BASE", "https://api.weixin.qq.com")?;
    match (appid, secret) {
        (None, None) => Ok(None),
        (Some(appid), Some(secret)) => Ok(Some(WechatSettings { appid, secret: Secret(secret), api_base })),
        (appid, _) => Err(ConfigError::Incomplete {
            what: "WeChat sign-in",
            missing: vec![if appid.is_none() { "WECHAT_APPID" } else { "WECHAT_SECRET" }],
        }),
    }
}

fn sms_provider(var: &impl Fn(&str) -> Option<String>) -> Result<SmsProvider, ConfigError> {
    // Every missing variable is named at once, so an operator fixes them in one go.
    let required = |what: &'static str, names: &[&'static str]| -> Result<Vec<String>, ConfigError> {
        let missing: Vec<&'static str> = names.iter().copied().filter(|n| var(n).is_none()).collect();
        if missing.is_empty() {
            Ok(names.iter().map(|n| var(n).unwrap_or_default()).collect())
        } else {
            Err(ConfigError::Incomplete { what, missing })
        }
    };
    match var("SMS_PROVIDER").as_deref() {
        None | Some("log") => Ok(SmsProvider::Log),
        Some("tencent") => {
            let v = required(
                "SMS_PROVIDER=tencent",
                &[
                    "SMS_TENCENT_SECRET_ID",
                    "SMS_TENCENT_SECRET_KEY",
                    "SMS_TENCENT_SDK_APP_ID",
                    "SMS_TENCENT_SIGN_NAME",
                    "SMS_TENCENT_TEMPLATE_ID",
                ],
            )?;
            let [secret_id, secret_key, sdk_app_id, sign_name, template_id] =
                <[String; 5]>::try_from(v).map_err(|_| ConfigError::Missing("SMS_TENCENT_SECRET_ID"))?;
            Ok(SmsProvider::Tencent(TencentSmsSettings {
                secret_id,
                secret_key: Secret(secret_key),
                sdk_app_id,
                sign_name,
                template_id,
                region: var("SMS_TENCENT_REGION").unwrap_or_else(|| "ap-guangzhou".into()),
                endpoint: endpoint(var, "SMS_TENCENT_ENDPOINT", "https://sms.tencentcloudapi.com")?,
            }))
        }
        Some("aliyun") => {
            let v = required(
                "SMS_PROVIDER=aliyun",
                &[
                    "SMS_ALIYUN_ACCESS_KEY_ID",
                    "SMS_ALIYUN_ACCESS_KEY_SECRET",
                    "SMS_ALIYUN_SIGN_NAME",
                    "SMS_ALIYUN_TEMPLATE_CODE",
                ],
            )?;
            let [access_key_id, access_key_secret, sign_name, template_code] =
                <[String; 4]>::try_from(v).map_err(|_| ConfigError::Missing("SMS_ALIYUN_ACCESS_KEY_ID"))?;
            Ok(SmsProvider::Aliyun(AliyunSmsSettings {
                access_key_id,
                access_key_secret: Secret(access_key_secret),
                sign_name,
                template_code,
                endpoint: endpoint(var, "SMS_ALIYUN_ENDPOINT", "https://dysmsapi.aliyuncs.com")?,
            }))
        }
        Some(other) => Err(ConfigError::Invalid {
            name: "SMS_PROVIDER",
            reason: format!("`{other}` (expected log, tencent or aliyun)"),
        }),
    }
}

/// An http(s) base URL, without a trailing slash.
fn endpoint(var: &impl Fn(&str) -> Option<String>, name: &'static str, default: &str) -> Result<String, ConfigError> {
    let value = var(name).unwrap_or_else(|| default.to_string());
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {
            Ok(value.trim_end_matches('/').to_string())
        }
        _ => Err(ConfigError::Invalid { name, reason: format!("`{value}` is not an http(s) URL") }),
    }
}

/// `ACCESS_TTL_SECS` (tests only, 1…7200) and `REFRESH_MAX_AGE_DAYS` (1…365, default 30).
fn sessions(var: &impl Fn(&str) -> Option<String>, env: AppEnv) -> Result<SessionSettings, ConfigError> {
    let access_ttl = match var("ACCESS_TTL_SECS") {
        None => ACCESS_TTL,
        Some(_) if env == AppEnv::Production => {
            return Err(ConfigError::Invalid {
                name: "ACCESS_TTL_SECS",
                reason: "is for tests only; production tokens live the documented 2 hours".into(),
            })
        }
        Some(_) => {
            let secs: u64 = number(var, "ACCESS_TTL_SECS", 0)?;
            if !(1..=ACCESS_TTL.as_secs()).contains(&secs) {
                return Err(ConfigError::Invalid {
                    name: "ACCESS_TTL_SECS", reason: "must be 1…7200 seconds".into()
                });
            }
            Duration::from_secs(secs)
        }
    };
    let days: u64 = number(var, "REFRESH_MAX_AGE_DAYS", 30)?;
    if !(1..=365).contains(&days) {
        return Err(ConfigError::Invalid { name: "REFRESH_MAX_AGE_DAYS", reason: "must be 1…365 days".into() });
    }
    Ok(SessionSettings { access_ttl, refresh_max_age: Duration::from_secs(days * 24 * 60 * 60) })
}

/// A duration in milliseconds that only tests may shorten (1 ms … `default`); production runs
/// with the documented value and refuses the setting.
fn test_only_ms(
    var: &impl Fn(&str) -> Option<String>,
    env: AppEnv,
    name: &'static str,
    default: Duration,
) -> Result<Duration, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(_) if env == AppEnv::Production => Err(ConfigError::Invalid {
            name,
            reason: format!("is for tests only; production uses {} ms", default.as_millis()),
        }),
        Some(_) => {
            let ms: u64 = number(var, name, 0)?;
            if ms == 0 || u128::from(ms) > default.as_millis() {
                return Err(ConfigError::Invalid { name, reason: format!("must be 1…{} ms", default.as_millis()) });
            }
            Ok(Duration::from_millis(ms))
        }
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

/// A number where 0 would not mean "off" but break something quietly: an unlimited API
/// (`RATE_LIMIT_PER_IP_PER_MIN`), no draws at all (`DRAW_LIMIT_PER_MIN`), or a panic in every
/// socket task (`WS_PING_SECS`). Refused at start with the reason.
fn positive<T: std::str::FromStr + PartialEq + Default>(
    var: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    let value = number(var, name, default)?;
    if value == T::default() {
        return Err(ConfigError::Invalid { name, reason: "0 is not allowed; it must be at least 1".into() });
    }
    Ok(value)
}

/// A cap of 0 would refuse every request it guards: a mistake, not a setting.
fn at_least_one(n: u32, name: &'static str) -> Result<u32, ConfigError> {
    if n == 0 {
        return Err(ConfigError::Invalid { name, reason: "must be at least 1".into() });
    }
    Ok(n)
}

fn secret(env: AppEnv, name: &'static str, value: Option<String>) -> Result<(Secret, bool), ConfigError> {
    match (env, value) {
        (AppEnv::Production, None) => Err(ConfigError::Missing(name)),
        (AppEnv::Production, Some(v)) => {
            if v.len() < 32 {
                Err(ConfigError::TooShort(name))
            } else if let Some(weak) = weakness(name, &v) {
                Err(weak)
            } else {
                Ok((Secret(v), false))
            }
        }
        (AppEnv::Development, Some(v)) => Ok((Secret(v), false)),
        (AppEnv::Development, None) => Ok((Secret(Alphanumeric.sample_string(&mut rand::rng(), 48)), true)),
    }
}

/// Why `v` cannot be a production secret, naming the rule; `None` when it may be.
fn weakness(name: &'static str, v: &str) -> Option<ConfigError> {
    let lower = v.to_ascii_lowercase();
    if let Some(word) = PLACEHOLDERS.iter().find(|w| lower.contains(*w)) {
        return Some(ConfigError::Placeholder { name, word });
    }
    let mut counts = std::collections::HashMap::<char, usize>::new();
    for c in v.chars() {
        *counts.entry(c).or_default() += 1;
    }
    if counts.len() < MIN_DISTINCT_CHARS {
        return Some(ConfigError::WeakSecret {
            name,
            rule: format!("only {} different characters, at least {MIN_DISTINCT_CHARS} needed", counts.len()),
        });
    }
    let len = v.chars().count() as f64;
    let bits: f64 = counts.values().map(|&n| n as f64 / len).map(|p| -p * p.log2()).sum::<f64>() * len;
    if bits < MIN_SECRET_BITS {
        return Some(ConfigError::WeakSecret {
            name,
            rule: format!("about {bits:.0} bits of character entropy, at least {MIN_SECRET_BITS:.0} needed"),
        });
    }
    None
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
        assert_eq!(c.http.header_timeout, Duration::from_secs(10));
        assert_eq!(c.http.request_timeout, Duration::from_secs(30));
        assert_eq!(c.http.max_in_flight, 4096);
    }

    #[test]
    fn upload_caps_default_to_20_pending_and_50_a_day_and_refuse_zero() {
        let c = cfg(&[]).unwrap();
        assert_eq!((c.limits.pending_uploads, c.limits.daily_uploads), (20, 50));
        let c = cfg(&[("UPLOAD_PENDING_LIMIT", "3"), ("UPLOAD_DAILY_LIMIT", "7")]).unwrap();
        assert_eq!((c.limits.pending_uploads, c.limits.daily_uploads), (3, 7));
        for name in ["UPLOAD_PENDING_LIMIT", "UPLOAD_DAILY_LIMIT"] {
            assert!(matches!(cfg(&[(name, "0")]), Err(ConfigError::Invalid { name: n, .. }) if n == name));
            assert!(matches!(cfg(&[(name, "-1")]), Err(ConfigError::Invalid { name: n, .. }) if n == name));
        }
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
                    Err(ConfigError::Placeholder { .. })
                        | Err(ConfigError::WeakSecret { .. })
                        | Err(ConfigError::TooShort(_))
                ),
                "{ph}"
            );
        }
        let ok = production(&[WECHAT.0, WECHAT.1]).unwrap();
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
    fn session_lifetimes_are_bounded_and_short_access_tokens_are_for_tests_only() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.sessions.access_ttl, ACCESS_TTL);
        assert_eq!(c.sessions.refresh_max_age, Duration::from_secs(30 * 86_400));
        assert_eq!(c.ws.write_timeout, Duration::from_secs(10));
        let short = cfg(&[("ACCESS_TTL_SECS", "2"), ("REFRESH_MAX_AGE_DAYS", "7")]).unwrap();
        assert_eq!(short.sessions.access_ttl, Duration::from_secs(2));
        assert_eq!(short.sessions.refresh_max_age, Duration::from_secs(7 * 86_400));
        for bad in [
            ("ACCESS_TTL_SECS", "0"),
            ("ACCESS_TTL_SECS", "7201"),
            ("REFRESH_MAX_AGE_DAYS", "0"),
            ("REFRESH_MAX_AGE_DAYS", "366"),
        ] {
            assert!(cfg(&[bad]).is_err(), "{bad:?}");
        }
        let prod = [
            ("APP_ENV", "production"),
            ("JWT_SECRET", GOOD),
            ("JWT_REFRESH_SECRET", GOOD2),
            ("DATABASE_URL", "mysql://lottery:pw@db:3306/lottery"),
            WECHAT.0,
            WECHAT.1,
        ];
        let mut with_ttl = prod.to_vec();
        with_ttl.push(("ACCESS_TTL_SECS", "60"));
        assert!(cfg(&with_ttl).is_err(), "a test-only lifetime in production");
        let mut with_age = prod.to_vec();
        with_age.push(("REFRESH_MAX_AGE_DAYS", "14"));
        assert_eq!(cfg(&with_age).unwrap().sessions.refresh_max_age, Duration::from_secs(14 * 86_400));
    }

    #[test]
    fn actor_timeouts_default_to_the_documented_values_and_only_tests_shorten_them() {
        let c = cfg(&[]).unwrap();
        assert_eq!(c.actors.call_timeout, Duration::from_secs(15));
        assert_eq!(c.actors.reservation_ttl, Duration::from_secs(60));
        assert_eq!(c.db_acquire_timeout, Duration::from_millis(1000));
        let short = cfg(&[("ACTOR_CALL_TIMEOUT_MS", "600"), ("RESERVATION_TTL_MS", "2000")]).unwrap();
        assert_eq!(short.actors.call_timeout, Duration::from_millis(600));
        assert_eq!(short.actors.reservation_ttl, Duration::from_millis(2000));
        for bad in [
            ("ACTOR_CALL_TIMEOUT_MS", "0"),
            ("ACTOR_CALL_TIMEOUT_MS", "15001"),
            ("RESERVATION_TTL_MS", "60001"),
            ("DB_ACQUIRE_TIMEOUT_MS", "0"),
        ] {
            assert!(cfg(&[bad]).is_err(), "{bad:?}");
        }
        for name in ["ACTOR_CALL_TIMEOUT_MS", "RESERVATION_TTL_MS"] {
            let refused = production(&[WECHAT.0, WECHAT.1, (name, "600")]).unwrap_err();
            assert!(refused.to_string().contains(name), "{refused}");
        }
        let tuned = production(&[WECHAT.0, WECHAT.1, ("DB_ACQUIRE_TIMEOUT_MS", "1500")]).unwrap();
        assert_eq!(tuned.db_acquire_timeout, Duration::from_millis(1500), "operators may tune the wait");
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
        let c = cfg(&[WECHAT.0, ("WECHAT_SECRET", "wx-secret-9f8e7d")]).unwrap();
        let printed = format!("{c:?}");
        assert!(!printed.contains("wx-secret-9f8e7d") && printed.contains("wx1234567890abcdef"), "{printed}");
    }

    const WECHAT: ((&str, &str), (&str, &str)) = (("WECHAT_APPID", "wx1234567890abcdef"), ("WECHAT_SECRET", "s3cr3t"));
    const TENCENT: &[(&str, &str)] = &[
        ("SMS_PROVIDER", "tencent"),
        ("SMS_TENCENT_SECRET_ID", "AKIDexample"),
        ("SMS_TENCENT_SECRET_KEY", "tencent-key"),
        ("SMS_TENCENT_SDK_APP_ID", "1400000000"),
        ("SMS_TENCENT_SIGN_NAME", "餐厅"),
        ("SMS_TENCENT_TEMPLATE_ID", "100001"),
    ];
    const ALIYUN: &[(&str, &str)] = &[
        ("SMS_PROVIDER", "aliyun"),
        ("SMS_ALIYUN_ACCESS_KEY_ID", "LTAIexample"),
        ("SMS_ALIYUN_ACCESS_KEY_SECRET", "aliyun-secret"),
        ("SMS_ALIYUN_SIGN_NAME", "餐厅"),
        ("SMS_ALIYUN_TEMPLATE_CODE", "SMS_100001"),
    ];

    fn production(extra: &[(&'static str, &'static str)]) -> Result<Config, ConfigError> {
        let mut pairs = vec![
            ("APP_ENV", "production"),
            ("JWT_SECRET", GOOD),
            ("JWT_REFRESH_SECRET", GOOD2),
            ("DATABASE_URL", "mysql://lottery:pw@db:3306/lottery"),
        ];
        pairs.extend_from_slice(extra);
        cfg(&pairs)
    }

    #[test]
    fn production_refuses_to_start_without_a_sign_in_path_and_names_what_is_missing() {
        let err = production(&[]).unwrap_err();
        assert!(matches!(&err, ConfigError::NoSignInPath { .. }), "{err}");
        let msg = err.to_string();
        for name in ["WECHAT_APPID", "WECHAT_SECRET", "SMS_PROVIDER"] {
            assert!(msg.contains(name), "{msg}");
        }
        // The log provider delivers nothing, so it is not a sign-in path.
        assert!(matches!(production(&[("SMS_PROVIDER", "log")]), Err(ConfigError::NoSignInPath { .. })));
        // Only what is really missing is named.
        let msg = production(&[WECHAT.1]).unwrap_err().to_string();
        assert!(msg.contains("WECHAT_APPID") && !msg.contains("missing: WECHAT_APPID, WECHAT_SECRET"), "{msg}");

        assert!(production(&[WECHAT.0, WECHAT.1]).is_ok());
        assert!(production(TENCENT).is_ok());
        assert!(production(ALIYUN).is_ok());
        // Development needs neither.
        assert!(matches!(cfg(&[]).unwrap().sms, SmsProvider::Log));
        assert!(cfg(&[]).unwrap().wechat.is_none());
    }

    #[test]
    fn wechat_needs_both_credentials_and_defaults_to_the_real_api() {
        let c = cfg(&[WECHAT.0, WECHAT.1]).unwrap();
        let w = c.wechat.expect("configured");
        assert_eq!((w.appid.as_str(), w.secret.expose()), ("wx1234567890abcdef", "s3cr3t"));
        assert_eq!(w.api_base, "https://api.weixin.qq.com");
        let c = cfg(&[WECHAT.0, WECHAT.1, ("WECHAT_API_BASE", "http://127.0.0.1:9/")]).unwrap();
        assert_eq!(c.wechat.expect("configured").api_base, "http://127.0.0.1:9");
        for (pairs, missing) in [(vec![WECHAT.0], "WECHAT_SECRET"), (vec![WECHAT.1], "WECHAT_APPID")] {
            match cfg(&pairs) {
                Err(ConfigError::Incomplete { missing: m, .. }) => assert_eq!(m, vec![missing]),
                other => panic!("{pairs:?}: {other:?}"),
            }
        }
        assert!(matches!(
            cfg(&[WECHAT.0, WECHAT.1, ("WECHAT_API_BASE", "api.weixin.qq.com")]),
            Err(ConfigError::Invalid { name: "WECHAT_API_BASE", .. })
        ));
    }

    #[test]
    fn sms_providers_name_every_missing_variable_and_take_defaults() {
        let c = cfg(TENCENT).unwrap();
        let SmsProvider::Tencent(t) = c.sms else { panic!("tencent expected") };
        assert_eq!(t.region, "ap-guangzhou");
        assert_eq!(t.endpoint, "https://sms.tencentcloudapi.com");
        assert_eq!(
            (t.secret_id.as_str(), t.secret_key.expose(), t.template_id.as_str()),
            ("AKIDexample", "tencent-key", "100001")
        );
        let c = cfg(ALIYUN).unwrap();
        let SmsProvider::Aliyun(a) = c.sms else { panic!("aliyun expected") };
        assert_eq!(a.endpoint, "https://dysmsapi.aliyuncs.com");
        assert_eq!(a.access_key_secret.expose(), "aliyun-secret");

        match cfg(&[("SMS_PROVIDER", "tencent"), ("SMS_TENCENT_SECRET_ID", "x")]) {
            Err(ConfigError::Incomplete { missing, .. }) => assert_eq!(
                missing,
                vec![
                    "SMS_TENCENT_SECRET_KEY",
                    "SMS_TENCENT_SDK_APP_ID",
                    "SMS_TENCENT_SIGN_NAME",
                    "SMS_TENCENT_TEMPLATE_ID"
                ]
            ),
            other => panic!("{other:?}"),
        }
        let err = cfg(&[("SMS_PROVIDER", "aliyun")]).unwrap_err().to_string();
        assert!(err.contains("SMS_ALIYUN_ACCESS_KEY_ID") && err.contains("SMS_ALIYUN_TEMPLATE_CODE"), "{err}");
        assert!(matches!(cfg(&[("SMS_PROVIDER", "twilio")]), Err(ConfigError::Invalid { name: "SMS_PROVIDER", .. })));
        // Production counts a configured provider as a sign-in path, but not a half-configured one.
        assert!(matches!(production(&[("SMS_PROVIDER", "aliyun")]), Err(ConfigError::Incomplete { .. })));
    }

    #[test]
    fn production_refuses_a_wheel_seed_and_needs_a_database_url() {
        assert!(cfg(&[("WHEEL_SEED", "42")]).unwrap().wheel_seed == Some(42));
        assert!(matches!(
            production(&[WECHAT.0, WECHAT.1, ("WHEEL_SEED", "42")]),
            Err(ConfigError::Invalid { name: "WHEEL_SEED", .. })
        ));
        let no_db =
            cfg(&[("APP_ENV", "production"), ("JWT_SECRET", GOOD), ("JWT_REFRESH_SECRET", GOOD2), WECHAT.0, WECHAT.1]);
        assert!(matches!(no_db, Err(ConfigError::Missing("DATABASE_URL"))));
    }

    #[test]
    fn zero_where_zero_breaks_something_is_refused_with_the_name() {
        for name in [
            "RATE_LIMIT_PER_IP_PER_MIN",
            "WS_PING_SECS",
            "DRAW_LIMIT_PER_MIN",
            "HTTP_HEADER_TIMEOUT_SECS",
            "HTTP_REQUEST_TIMEOUT_SECS",
            "MAX_IN_FLIGHT",
        ] {
            match cfg(&[(name, "0")]) {
                Err(e @ ConfigError::Invalid { .. }) => {
                    let msg = e.to_string();
                    assert!(msg.contains(name) && msg.contains("at least 1"), "{msg}");
                }
                other => panic!("{name}=0: {other:?}"),
            }
            assert!(cfg(&[(name, "1")]).is_ok(), "{name}=1");
        }
    }

    #[test]
    fn trust_proxy_hops_defaults_to_the_peer_and_the_old_switch_means_one() {
        assert_eq!(cfg(&[]).unwrap().trust_proxy_hops, 0);
        assert_eq!(cfg(&[("TRUST_PROXY", "1")]).unwrap().trust_proxy_hops, 1);
        assert_eq!(cfg(&[("TRUST_PROXY_HOPS", "2")]).unwrap().trust_proxy_hops, 2);
        assert!(matches!(
            cfg(&[("TRUST_PROXY_HOPS", "-1")]),
            Err(ConfigError::Invalid { name: "TRUST_PROXY_HOPS", .. })
        ));
    }

    #[test]
    fn random_base64_secrets_are_all_accepted() {
        use rand::RngCore;
        use std::io::Write as _;
        let mut rng = rand::rng();
        for _ in 0..10_000 {
            let mut bytes = [0u8; 24];
            rng.fill_bytes(&mut bytes);
            let mut encoded = Vec::new();
            {
                let mut w = base64_writer(&mut encoded);
                let _ = w.write_all(&bytes);
            }
            let secret = String::from_utf8(encoded).unwrap_or_default();
            assert_eq!(secret.len(), 32);
            assert!(weakness("JWT_SECRET", &secret).is_none(), "{secret}: {:?}", weakness("JWT_SECRET", &secret));
        }
    }

    /// Standard base64 without padding concerns (24 bytes → 32 characters), so the test needs no
    /// base64 crate.
    fn base64_writer(out: &mut Vec<u8>) -> impl std::io::Write + '_ {
        struct W<'a>(&'a mut Vec<u8>);
        impl std::io::Write for W<'_> {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                for chunk in buf.chunks(3) {
                    let n = chunk.iter().fold(0u32, |acc, &b| (acc << 8) | u32::from(b)) << (8 * (3 - chunk.len()));
                    for i in 0..=chunk.len() {
                        self.0.push(A[((n >> (18 - 6 * i)) & 63) as usize]);
                    }
                }
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        W(out)
    }

    #[test]
    fn weak_secrets_are_refused_naming_the_rule() {
        let msg = |v: &str| weakness("JWT_SECRET", v).map(|e| e.to_string()).unwrap_or_default();
        assert!(
            msg("your-secret-key-change-me-in-production").contains("placeholder `change-me`")
                || msg("your-secret-key-change-me-in-production").contains("placeholder `secret`")
        );
        assert!(msg("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa").contains("different characters"));
        assert!(msg("abcdabcdabcdabcdabcdabcdabcdabcdWXYZWXYZ").contains("different characters"));
        assert!(msg("0a1b0a1b0a1b0a1b0a1b0a1b0a1b0a1b").contains("different characters"));
        assert!(msg("abcdefghijabcdefghijabcdefghijab").contains("placeholder `abcdef`"));
        // Words that only look like configuration are fine inside a random secret.
        for ok in [
            "k3J9q0s8jwtLmX5nR7tY1wZ4pA6dF8hG",
            "Q1w2E3r4TokenU7i8O9p0AaSsDdFfGgHh",
            "yourk3J9q0s8Vb2LmX5nR7tY1wZ4pA6d",
        ] {
            assert!(weakness("JWT_SECRET", ok).is_none(), "{ok}: {}", msg(ok));
        }
    }
}
