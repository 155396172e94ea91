//! `hookledger bench …`: one variant per benchmark of [`crate::bench`], each printing figures
//! for BENCHMARKS.md.

use std::process::ExitCode;

use clap::Subcommand;

use crate::Config;

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// HTTP throughput and p99 of POST and GET /v1/webhooks at N concurrent clients: in-process
    /// (throw-away prefix and database), or against `--url` with `--key`.
    Api {
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Seconds per phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        #[arg(long)]
        url: Option<String>,
        #[arg(long)]
        key: Option<String>,
    },
    /// End-to-end delivery (publish on NATS → signed POST to a local receiver → facts): 1
    /// webhook, 10 per event, half failing, and a steady rate; then isolation (a healthy
    /// tenant alone and beside failing and hanging ones); throw-away prefix on the configured
    /// NATS.
    Delivery {
        /// Events of the first scenario (the fan-out scenarios publish a tenth as many).
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Events per second of the steady scenario.
        #[arg(long, default_value_t = 1_000)]
        rate: u64,
        /// Seconds of the steady scenario.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Seconds of each isolation scenario (0 skips them).
        #[arg(long, default_value_t = 30)]
        isolation_seconds: u64,
        /// Only the isolation scenarios.
        #[arg(long)]
        isolation_only: bool,
    },
    /// Delivery throughput of a running server (`--against`), as deployed: webhooks created
    /// over its API pointing at a `bench receiver` process, events published on the
    /// configured NATS, CPU of the processes named with `--pid`, the deliveries view's lag.
    Deployed {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        against: String,
        #[arg(long, default_value = "http://127.0.0.1:9100")]
        receiver: String,
        /// The server's `http.operator_token`.
        #[arg(long, env = "HOOKLEDGER_HTTP__OPERATOR_TOKEN", default_value = "")]
        operator_token: String,
        #[arg(long, default_value_t = 20_000)]
        events: usize,
        /// Webhooks per event.
        #[arg(long, default_value_t = 1)]
        fanout: usize,
        /// A process (or group) whose CPU is reported: NAME=PID[,PID…], or NAME=@COMM for
        /// every process of that command name (e.g. postgres=@postgres); repeat the flag.
        #[arg(long = "pid", value_parser = crate::bench::deployed::parse_pids)]
        pids: Vec<(String, crate::bench::deployed::Procs)>,
        /// nats-server's HTTP monitoring (`-m` port), e.g. http://127.0.0.1:8222: also report
        /// its messages per delivery (its counters are server-wide).
        #[arg(long)]
        nats_monitor: Option<String>,
        /// Only delete the configured prefix's streams (after a run, with the server stopped).
        #[arg(long)]
        delete_streams: bool,
    },
    /// `POST /v1/events` of a running server (`--against`) at N clients with one key: one
    /// event a request, then batches.
    Ingest {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        against: String,
        #[arg(long, env = "HOOKLEDGER_HTTP__OPERATOR_TOKEN", default_value = "")]
        operator_token: String,
        #[arg(long, default_value_t = 32)]
        clients: usize,
        /// Seconds of each phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Events per request of the batch phase.
        #[arg(long, default_value_t = 100)]
        batch: usize,
    },
    /// A counting webhook receiver for `bench deployed`, answering 200 at once.
    Receiver {
        #[arg(long, default_value = "127.0.0.1:9100")]
        listen: std::net::SocketAddr,
    },
    /// Export and verify rates over a ledger of N events, and `--as-of` latency (view and
    /// fold) on a webhook with V versions; throw-away prefix and database.
    Audit {
        #[arg(long, default_value_t = 1_000_000)]
        events: usize,
        #[arg(long, default_value_t = 10_000)]
        versions: usize,
        #[arg(long, default_value_t = 1_000)]
        webhooks: usize,
        #[arg(long, default_value_t = 10)]
        tenants: usize,
        /// Publishes awaiting their ack at most while writing.
        #[arg(long, default_value_t = 4_096)]
        window: usize,
        /// `--as-of` samples per method.
        #[arg(long, default_value_t = 50)]
        samples: usize,
    },
    /// Commit rate and load latency of the ledger, on the configured NATS under a throw-away
    /// prefix.
    Ledger {
        #[arg(long, default_value_t = 10_000)]
        commands: usize,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
    },
    /// Rebuild rate and live projection lag, on the configured NATS (throw-away prefix) and a
    /// throw-away database created from `postgres.url`.
    Projections {
        /// Webhook commands written before the rebuild.
        #[arg(long, default_value_t = 20_000)]
        commands: usize,
        #[arg(long, default_value_t = 200)]
        webhooks: usize,
        #[arg(long, default_value_t = 3)]
        tenants: usize,
        #[arg(long, default_value_t = 32)]
        writers: usize,
        /// Live-lag phase: commands per second.
        #[arg(long, default_value_t = 1_000)]
        rate: u32,
        /// Live-lag phase: duration in seconds.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Rebuild rate of the deliveries view at each size of `--deliveries` (attempt + end per
    /// delivery, one in ten redelivered); throw-away prefix and database per size.
    Rebuild {
        #[arg(long, value_delimiter = ',', default_value = "20000,200000")]
        deliveries: Vec<usize>,
        #[arg(long, default_value_t = 200)]
        webhooks: usize,
        /// Deliveries being recorded at once.
        #[arg(long, default_value_t = 512)]
        window: usize,
    },
    /// Server-side time of each console page for a tenant with N webhooks and M deliveries
    /// (throw-away prefix and database).
    Console {
        #[arg(long, default_value_t = 1_000)]
        webhooks: usize,
        #[arg(long, default_value_t = 100_000)]
        deliveries: usize,
        /// Requests per page.
        #[arg(long, default_value_t = 200)]
        requests: usize,
    },
}

/// Runs one benchmark.
pub async fn run(config: &Config, command: BenchCommand) -> anyhow::Result<ExitCode> {
    match command {
        BenchCommand::Api {
            concurrency,
            seconds,
            url,
            key,
        } => {
            let settings = crate::bench::api::Settings {
                concurrency,
                seconds,
                url,
                key,
            };
            crate::bench::api::api(config, &settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Delivery {
            events,
            rate,
            seconds,
            isolation_seconds,
            isolation_only,
        } => {
            let settings = crate::bench::delivery::Settings {
                events,
                rate,
                seconds,
                throughput: !isolation_only,
                isolation_seconds,
            };
            crate::bench::delivery::delivery(config, &settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Deployed {
            against,
            receiver,
            operator_token,
            events,
            fanout,
            pids,
            nats_monitor,
            delete_streams,
        } => {
            if delete_streams {
                crate::bench::deployed::delete_streams(config).await?;
                return Ok(ExitCode::SUCCESS);
            }
            let settings = crate::bench::deployed::Settings {
                against,
                receiver,
                operator_token,
                events,
                fanout,
                pids,
                nats_monitor,
            };
            crate::bench::deployed::deployed(config, settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Ingest {
            against,
            operator_token,
            clients,
            seconds,
            batch,
        } => {
            let settings = crate::bench::ingest::Settings {
                against,
                operator_token,
                clients,
                seconds,
                batch,
            };
            crate::bench::ingest::ingest(settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Receiver { listen } => {
            crate::bench::receiver::run(listen).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Audit {
            events,
            versions,
            webhooks,
            tenants,
            window,
            samples,
        } => {
            let settings = crate::bench::audit::Settings {
                events,
                versions,
                webhooks,
                tenants,
                window,
                samples,
            };
            crate::bench::audit::audit(config, &settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Ledger {
            commands,
            concurrency,
        } => {
            crate::bench::ledger::ledger(config, commands, concurrency).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Projections {
            commands,
            webhooks,
            tenants,
            writers,
            rate,
            seconds,
        } => {
            let settings = crate::bench::projections::Settings {
                commands,
                webhooks,
                tenants,
                writers,
                rate,
                seconds,
            };
            crate::bench::projections::projections(config, &settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Rebuild {
            deliveries,
            webhooks,
            window,
        } => {
            let settings = crate::bench::rebuild::Settings {
                deliveries,
                webhooks,
                window,
            };
            crate::bench::rebuild::rebuild(config, &settings).await?;
            Ok(ExitCode::SUCCESS)
        }
        BenchCommand::Console {
            webhooks,
            deliveries,
            requests,
        } => {
            let settings = crate::bench::console::Settings {
                webhooks,
                deliveries,
                requests,
            };
            crate::bench::console::console(config, &settings).await?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
