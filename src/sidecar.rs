//! A running pgscope: the proxy, the analysis thread and the HTTP server, started together and
//! stopped together. `pgscope proxy`, `pgscope demo` and the tests all start one of these.
//!
//! Analysis runs on its own OS thread (with a small single-threaded runtime for its timer),
//! not on the threads that relay bytes: its work then never sits between a readable socket
//! and the loop that forwards it, and on a machine with a spare core it runs beside the
//! data path instead of in turn with it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{Admin, AdminState};
use crate::analysis::Analysis;
use crate::config::Config;
use crate::detect::Detectors;
use crate::event::{self, EventCounters};
use crate::fingerprint::Fingerprinter;
use crate::http::{self, HttpState};
use crate::metrics::{MetricSources, Metrics};
use crate::proxy::{self, AdminConsole, ProxyContext, ProxyCounters};
use crate::stats::StatsStore;

/// Handles to a started sidecar.
pub struct Sidecar {
    pub proxy_addr: SocketAddr,
    pub http_addr: Option<SocketAddr>,
    pub stats: Arc<Mutex<StatsStore>>,
    pub detectors: Arc<Mutex<Detectors>>,
    pub proxy_counters: Arc<ProxyCounters>,
    pub event_counters: Arc<EventCounters>,
    shutdown: watch::Sender<bool>,
    proxy_task: JoinHandle<std::io::Result<()>>,
    http_task: Option<JoinHandle<std::io::Result<()>>>,
    analysis_thread: Option<std::thread::JoinHandle<()>>,
}

impl Sidecar {
    /// Binds the listeners and starts every task.
    pub async fn start(config: Config) -> std::io::Result<Sidecar> {
        let config = Arc::new(config);
        let listener = TcpListener::bind(config.listen).await?;
        let proxy_addr = listener.local_addr()?;
        let (sender, receiver, event_counters) = event::channel(config.event_queue);
        let stats = Arc::new(Mutex::new(StatsStore::new(config.max_patterns)));
        let detectors = Detectors::new(&config.rules).map_err(std::io::Error::other)?;
        let detectors = Arc::new(Mutex::new(detectors));
        let analysis = Analysis {
            fingerprinter: Fingerprinter::new(config.memo_capacity),
            stats: stats.clone(),
            detectors: detectors.clone(),
            explain: crate::explain::spawn(config.explain.clone(), detectors.clone()),
            counters: event_counters.clone(),
        };
        let (shutdown, stop) = watch::channel(false);
        let analysis_thread = if config.analysis_enabled {
            Some(spawn_analysis(receiver, analysis, stop.clone())?)
        } else {
            None // dropping the receiver closes the queue: sends become no-ops
        };
        let mut ctx = ProxyContext::new(config.clone(), sender)?;
        ctx.admin = config.admin_password.clone().map(|password| {
            let state = AdminState {
                stats: stats.clone(),
                detectors: detectors.clone(),
                clients: ctx.clients.clone(),
                proxy: ctx.counters.clone(),
                events: event_counters.clone(),
                started: Instant::now(),
            };
            Arc::new(Admin::new(state, password)) as Arc<dyn AdminConsole>
        });
        let ctx = Arc::new(ctx);
        let proxy_counters = ctx.counters.clone();
        let proxy_task = tokio::spawn(proxy::serve(listener, ctx, stop.clone()));
        let (http_addr, http_task) = match config.http {
            Some(addr) => {
                let listener = TcpListener::bind(addr).await?;
                let bound = listener.local_addr()?;
                let metrics = Metrics::new(MetricSources {
                    stats: stats.clone(),
                    proxy: proxy_counters.clone(),
                    events: event_counters.clone(),
                    top_k: config.metrics_top_k,
                    extra: Some(crate::metrics::detector_families(detectors.clone())),
                });
                let state = HttpState {
                    stats: stats.clone(),
                    detectors: detectors.clone(),
                    started: Instant::now(),
                    metrics: Some(Arc::new(metrics)),
                };
                let mut stop = stop.clone();
                let signal = async move {
                    let _ = stop.wait_for(|s| *s).await;
                };
                (Some(bound), Some(tokio::spawn(http::serve(listener, state, signal))))
            }
            None => (None, None),
        };
        Ok(Sidecar {
            proxy_addr,
            http_addr,
            stats,
            detectors,
            proxy_counters,
            event_counters,
            shutdown,
            proxy_task,
            http_task,
            analysis_thread,
        })
    }

    /// Stops accepting, lets sessions drain (bounded by the grace period), and waits for
    /// the analysis thread to stop.
    pub async fn shutdown(self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let proxy = self.proxy_task.await.map_err(std::io::Error::other)?;
        if let Some(http) = self.http_task {
            http.await.map_err(std::io::Error::other)??;
        }
        // The analysis thread sees the same signal within one drain interval.
        if let Some(analysis) = self.analysis_thread {
            let _ = tokio::task::spawn_blocking(move || analysis.join()).await;
        }
        proxy
    }
}

/// Starts the analysis thread. It ends when `stop` turns true or every event sender is gone
/// (the proxy and its sessions ended).
fn spawn_analysis(
    receiver: crate::event::EventReceiver,
    analysis: Analysis,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build()?;
    std::thread::Builder::new().name("pgscope-analysis".into()).spawn(move || {
        runtime.block_on(async move {
            let stopped = async move {
                // A dropped sender (no explicit shutdown) is not a stop: run until the
                // senders are gone instead.
                if stop.wait_for(|s| *s).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                () = crate::analysis::run(receiver, analysis) => {}
                () = stopped => {}
            }
        });
    })
}
