//! Logs (tracing, to stderr, pretty or JSON) and the Prometheus recorder behind `/metrics`.
//! Log lines never carry tokens, codes (outside the development SMS provider), passwords or full
//! phone numbers: those values are masked or left out where they are logged.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

pub fn init_tracing(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    // try_init: tests and benches may build several servers in one process.
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Pretty => builder.try_init(),
    };
}

/// How long a metric series survives without updates.
const METRICS_IDLE: std::time::Duration = std::time::Duration::from_secs(600);

/// The process-wide Prometheus recorder (installed once, shared by every server in the process).
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("http_request_duration_seconds".into()),
                    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
                )
                .unwrap_or_else(|_| PrometheusBuilder::new())
                // A series nobody updated for 10 minutes is dropped, so labels that stop
                // occurring (a route gone quiet, an old status) do not stay in memory for ever.
                .idle_timeout(metrics_util::MetricKindMask::ALL, Some(METRICS_IDLE));
            match builder.install_recorder() {
                Ok(handle) => handle,
                // Another recorder is already global: keep a private one so rendering still works.
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            }
        })
        .clone()
}
