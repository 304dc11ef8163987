//! What each command does.

use crate::cli::{
    AuditCommand, BenchCommand, Cli, Command, JobsCommand, KernelCommand, KeysCommand, LabCommand,
    MembersCommand, MetricsCommand, OptimizerCommand, OptimizerConfigCommand, QueuesCommand,
    SecretsCommand, ServeArgs, TenantsCommand, WebhooksCommand, WorkerArgs,
};
use crate::import::{self, RowError};
use crate::output;
use crate::runtime_cmds;
use indicatif::{ProgressBar, ProgressStyle};
use revos_contracts::ErrorKind;
use revos_contracts::TenantId;
use revos_contracts::metrics;
use revos_contracts::runtime::KernelMode;
use revos_kernel::config::{LogFormat, Overrides};
use revos_kernel::{Config, Failure, Kernel};
use revos_store::{NewTenant, Page};
use std::process::ExitCode;
use std::time::{Duration, Instant};

/// Runs a parsed command line.
///
/// `explicit_database`: `--database` was typed on the command line (not
/// taken from the environment or a file).
pub async fn run(cli: Cli, explicit_database: bool) -> Result<(), ExitCode> {
    let as_json = cli.json;
    let fail = |f: Failure| output::failure(&f, as_json);
    let mut overrides = Overrides {
        database_url: cli.database.clone(),
        ..Default::default()
    };
    if let Command::Serve(ServeArgs { listen, mode }) = &cli.command {
        overrides.listen = listen.clone();
        if let Some(mode) = mode {
            overrides.kernel_mode = Some(mode.parse::<KernelMode>().map_err(|_| {
                fail(Failure::of(
                    ErrorKind::Configuration,
                    format!("--mode must be shadow or enforce, got `{mode}`"),
                ))
            })?);
        }
    }
    let mut config = Config::from_process(cli.config.as_deref(), &overrides)
        .map_err(|e| fail(Failure::of(ErrorKind::Configuration, e.to_string())))?;
    // `validate` and `demo` create test tenants: on a scratch database,
    // unless a named one is asked for on the command line.
    let _scratch = match &cli.command {
        Command::Validate { .. } | Command::Demo { .. } if !explicit_database => {
            Some(scratch_database(&mut config, as_json).map_err(fail)?)
        }
        _ => None,
    };

    match cli.command {
        Command::Serve(_) => serve(config).await.map_err(fail),
        Command::Migrate => {
            let kernel = open(config).await.map_err(fail)?;
            let database_url = kernel.config().redacted().database_url;
            let backend = kernel.store().backend();
            if as_json {
                output::json(&serde_json::json!({
                    "migrated": true,
                    "database_url": database_url,
                    "backend": backend.to_string(),
                }));
            } else {
                println!("migrations applied to {database_url} ({backend})");
            }
            Ok(())
        }
        Command::Config => {
            let shown = config.redacted();
            if as_json {
                output::json(&shown);
            } else {
                let text = toml::to_string(&shown).unwrap_or_default();
                println!("# effective configuration (defaults < revos.toml < environment < flags)");
                print!("{text}");
            }
            Ok(())
        }
        Command::Tenants(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            tenants(&kernel, cmd, as_json).await.map_err(fail)
        }
        Command::Audit(AuditCommand::Keygen) => keygen(as_json).map_err(fail),
        Command::Audit(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            audit(&kernel, cmd, as_json).await
        }
        Command::Webhooks(WebhooksCommand::Endpoints(cmd)) => {
            let kernel = open(config).await.map_err(fail)?;
            runtime_cmds::endpoints(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Validate { today } => {
            let kernel = open(config).await.map_err(fail)?;
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            crate::kernel_cmds::validate(&kernel, today, as_json).await
        }
        Command::Demo {
            days,
            output,
            today,
        } => {
            crate::demo_cmd::check_days(days).map_err(fail)?;
            let kernel = open(config).await.map_err(fail)?;
            let today = today.unwrap_or_else(|| chrono::Utc::now().date_naive());
            crate::demo_cmd::run(&kernel, days, today, &output, as_json).await
        }
        Command::Stats(cmd) => crate::stats_cmd::run(cmd, as_json).map_err(fail),
        Command::Lab(LabCommand::Evaluate {
            worlds,
            cycles,
            cycle_days,
            seed,
            trace: Some(world),
            kind: Some(kind),
        }) => {
            use revos_sim::world::Constraint;
            let kind = match kind {
                crate::cli::ConstraintKind::Demand => Constraint::Demand,
                crate::cli::ConstraintKind::Conversion => Constraint::Conversion,
                crate::cli::ConstraintKind::Economics => Constraint::Economics,
                crate::cli::ConstraintKind::DataQuality => Constraint::DataQuality,
            };
            let options = revos_lab::evaluate::Options {
                worlds_per_kind: worlds,
                cycles,
                cycle_days,
                seed,
            };
            let trace = revos_lab::evaluate::trace::trace(world, kind, &options);
            if as_json {
                output::json(&trace);
            } else {
                print!("{}", trace.to_text());
            }
            Ok(())
        }
        Command::Lab(LabCommand::Evaluate {
            worlds,
            cycles,
            cycle_days,
            seed,
            ..
        }) => {
            lab_evaluate(
                revos_lab::evaluate::Options {
                    worlds_per_kind: worlds,
                    cycles,
                    cycle_days,
                    seed,
                },
                as_json,
            );
            Ok(())
        }
        Command::Kernel(KernelCommand::Plan {
            input,
            now,
            explain,
        }) => crate::kernel_cmds::plan(input.as_deref(), now.as_deref(), explain, as_json),
        Command::Kernel(KernelCommand::Example { now }) => {
            crate::kernel_cmds::example(now.as_deref()).map_err(fail)
        }
        Command::Optimizer(OptimizerCommand::Config(cmd)) => {
            let kernel = open(config).await.map_err(fail)?;
            optimizer_config(&kernel, cmd, as_json).await.map_err(fail)
        }
        Command::Kernel(cmd) => {
            init_logging(&config, false);
            crate::kernel_cmds::on_database(config, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Events(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            runtime_cmds::events(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Replay(args) => {
            let kernel = open(config).await.map_err(fail)?;
            runtime_cmds::replay(&kernel, args, as_json)
                .await
                .map_err(fail)
        }
        Command::Policies(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            runtime_cmds::policies(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Guard(args) => {
            let kernel = open(config).await.map_err(fail)?;
            let verdict = runtime_cmds::guard(&kernel, args, as_json)
                .await
                .map_err(fail)?;
            match runtime_cmds::guard_exit_code(verdict) {
                0 => Ok(()),
                code => Err(ExitCode::from(code)),
            }
        }
        Command::Tasks(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            runtime_cmds::tasks(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Bench(BenchCommand::Cycles {
            backend,
            tenants,
            days,
            metrics,
            concurrency,
        }) => {
            init_logging(&config, false);
            let admin_url = bench_admin_url(cli.database.as_deref());
            crate::cycles_bench::run(
                crate::cycles_bench::CyclesBench {
                    backend,
                    admin_url,
                    tenants,
                    days,
                    metrics,
                    concurrency,
                },
                as_json,
            )
            .await
            .map_err(fail)
        }
        Command::Bench(BenchCommand::WebhookOracle { backend, requests }) => {
            init_logging(&config, false);
            let admin_url = bench_admin_url(cli.database.as_deref());
            crate::oracle_bench::run(backend, &admin_url, requests, as_json)
                .await
                .map_err(fail)
        }
        Command::Bench(BenchCommand::Ingest {
            backend,
            events,
            concurrency,
            mode,
            tenants,
        }) => {
            init_logging(&config, false);
            let admin_url = bench_admin_url(cli.database.as_deref());
            let mode = mode
                .parse::<KernelMode>()
                .map_err(|e| fail(Failure::of(ErrorKind::Validation, e.to_string())))?;
            crate::ingest_bench::run(
                crate::ingest_bench::IngestBench {
                    backend,
                    admin_url,
                    events,
                    concurrency,
                    mode,
                    tenants,
                },
                as_json,
            )
            .await
            .map_err(fail)
        }
        Command::Forms(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            crate::forms_cmd::forms(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Templates(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            crate::templates_cmd::templates(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Tickets(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            crate::tickets_cmd::tickets(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Posts(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            crate::posts_cmd::posts(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Suppressions(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            crate::templates_cmd::suppressions(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Webhooks(WebhooksCommand::Secrets(cmd)) => {
            let kernel = open(config).await.map_err(fail)?;
            webhook_secrets(&kernel, cmd, as_json).await.map_err(fail)
        }
        Command::Worker(args) => worker(config, args).await.map_err(fail),
        Command::Queues(QueuesCommand::TenantSettings { tenant, set }) => {
            let kernel = open(config).await.map_err(fail)?;
            tenant_queue_settings(&kernel, &tenant, set.as_deref(), as_json)
                .await
                .map_err(fail)
        }
        Command::Queues(QueuesCommand::Stats { tenant }) => {
            let kernel = open(config).await.map_err(fail)?;
            queue_stats(&kernel, tenant, as_json).await.map_err(fail)
        }
        Command::Queues(QueuesCommand::Pause { queue, tenant }) => {
            let kernel = open(config).await.map_err(fail)?;
            pause_queue(&kernel, &queue, tenant, true, as_json)
                .await
                .map_err(fail)
        }
        Command::Queues(QueuesCommand::Resume { queue, tenant }) => {
            let kernel = open(config).await.map_err(fail)?;
            pause_queue(&kernel, &queue, tenant, false, as_json)
                .await
                .map_err(fail)
        }
        Command::Jobs(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            jobs(&kernel, cmd, as_json).await.map_err(fail)
        }
        Command::Tools(cmd) => {
            if let crate::cli::ToolsCommand::List = cmd {
                crate::ops_cmds::list_tools(as_json);
                return Ok(());
            }
            let kernel = open(config).await.map_err(fail)?;
            crate::ops_cmds::tools(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Approvals(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            crate::ops_cmds::approvals(&kernel, cmd, as_json)
                .await
                .map_err(fail)
        }
        Command::Bench(BenchCommand::Queue {
            backend,
            jobs,
            concurrency,
            batch,
            tenants,
        }) => {
            init_logging(&config, false);
            let admin_url = bench_admin_url(cli.database.as_deref());
            crate::bench::run(
                crate::bench::QueueBench {
                    backend,
                    admin_url,
                    jobs,
                    concurrency,
                    batch,
                    tenants,
                },
                as_json,
            )
            .await
            .map_err(fail)
        }
        Command::Members(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            members(&kernel, cmd, as_json).await.map_err(fail)
        }
        Command::Keys(cmd) => {
            let kernel = open(config).await.map_err(fail)?;
            keys(&kernel, cmd, as_json).await.map_err(fail)
        }
        Command::Spine(crate::cli::SpineCommand::Import {
            file,
            tenant,
            table,
            format,
        }) => {
            init_logging(&config, false);
            crate::spine_cmd::import(config, &file, &tenant, &table, format, as_json)
                .await
                .map_err(fail)
        }
        Command::Metrics(MetricsCommand::List) => {
            list_dictionary(as_json);
            Ok(())
        }
        Command::Metrics(MetricsCommand::Import {
            file,
            tenant,
            format,
        }) => {
            init_logging(&config, false);
            import_metrics(config, &file, &tenant, format, as_json)
                .await
                .map_err(fail)
        }
        Command::Metrics(MetricsCommand::Compute { tenant, from, to }) => {
            let kernel = open(config).await.map_err(fail)?;
            compute_metrics(&kernel, &tenant, from, to, as_json)
                .await
                .map_err(fail)
        }
    }
}

/// Opens the kernel for a one-shot command (warnings only on the log).
/// Points `config` at a new SQLite file in a temporary directory (removed
/// when the returned guard is dropped), and says so on stderr.
fn scratch_database(config: &mut Config, as_json: bool) -> Result<tempfile::TempDir, Failure> {
    let dir = tempfile::Builder::new()
        .prefix("revos-scratch-")
        .tempdir()
        .map_err(|e| {
            Failure::of(
                ErrorKind::ScratchIo,
                format!("cannot make a scratch directory: {e}"),
            )
        })?;
    let file = dir.path().join("revos.db");
    config.database_url = format!("sqlite://{}", file.display());
    if !as_json {
        eprintln!(
            "using a scratch database, {} (removed at the end); your configured database is \
             not touched (--database URL runs on a named one, with simulated tenants in \
             shadow mode that the scheduler skips)",
            file.display()
        );
    }
    Ok(dir)
}

async fn open(config: Config) -> Result<Kernel, Failure> {
    init_logging(&config, false);
    crate::backend::start(config).await
}

fn init_logging(config: &Config, serving: bool) {
    use tracing_subscriber::EnvFilter;
    // Outside `serve`, only warnings: the command's own output is the point.
    let filter = if serving {
        EnvFilter::try_new(&config.log).unwrap_or_else(|_| EnvFilter::new("info"))
    } else {
        EnvFilter::new("warn")
    };
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

async fn serve(config: Config) -> Result<(), Failure> {
    init_logging(&config, true);
    let listen = config.listen.clone();
    let kernel = crate::backend::start(config).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await.map_err(|e| {
        Failure::of(
            ErrorKind::Configuration,
            format!("cannot listen on {listen}: {e}"),
        )
    })?;
    let addr = listener.local_addr().map_err(|e| Failure::internal(&e))?;
    let bootstrap = kernel.bootstrap_admin_key(chrono::Utc::now()).await?;
    let shown = kernel.config().redacted();
    println!(
        "revos {} listening on http://{addr}\n  database: {} ({})\n  mode:     {}\n  e-mail:   {}\n  API docs: http://{addr}/docs\n  dashboard: http://{addr}/ (sign in with a key or a token)\nPress Ctrl-C to stop.",
        env!("CARGO_PKG_VERSION"),
        shown.database_url,
        kernel.store().backend(),
        shown.kernel_mode,
        if shown.email.smtp_url.is_empty() {
            "off (set [email] smtp_url or REVOS_SMTP_URL; enforced e-mails fail until then)"
                .to_owned()
        } else {
            shown.email.smtp_url.clone()
        },
    );
    if let Some(issued) = bootstrap {
        println!(
            "\nThis database had no admin key, so one was created. It is shown only now:\n\n    {}\n\n\
             Send it as `Authorization: Bearer <key>`; for example:\n    \
             curl -H 'Authorization: Bearer {}' http://{addr}/v1/tenants\n\
             Create narrower keys with `revos keys create --name NAME --scopes read,write --tenant UUID`.\n",
            issued.token, issued.token
        );
    }
    let checkpoints = tokio::spawn(sign_checkpoints(kernel.clone()));
    let idempotency = tokio::spawn(purge_idempotency_keys(kernel.clone()));
    // Pending approvals past their time are expired (rejected) by a sweep.
    let expiry = tokio::spawn(revos_kernel::ops::approvals::run_expiry(
        kernel.clone(),
        revos_kernel::ops::approvals::EXPIRY_INTERVAL,
        std::future::pending::<()>(),
    ));
    let triggers = kernel
        .config()
        .serve_scheduler
        .then(|| tokio::spawn(run_cycle_triggers(kernel.clone())));
    // Workers run beside the API unless `serve_workers = false`; they stop
    // with it, finishing (or releasing) their jobs.
    let (stop_workers, workers_stopped) = tokio::sync::oneshot::channel::<()>();
    let workers = kernel.config().serve_workers.then(|| {
        let worker = revos_kernel::delivery::worker::Worker::new(
            kernel.clone(),
            revos_kernel::delivery::worker::builtin_handlers(&kernel),
            revos_kernel::delivery::worker::WorkerOptions::new(worker_id()),
        );
        tokio::spawn(worker.run(async {
            let _ = workers_stopped.await;
        }))
    });
    let rejections = tokio::spawn(settle_rejections(kernel.clone()));
    let (stop_sequencer, sequencer) = spawn_sequencer(&kernel);
    let served = revos_api::serve(kernel.clone(), listener, shutdown_signal()).await;
    rejections.abort();
    // Counted refusals of the open windows are written before we go.
    kernel.settle_rejections(chrono::Utc::now(), true).await;
    let _ = stop_workers.send(());
    if let Some(workers) = workers {
        match workers.await {
            Ok(Err(e)) => tracing::error!(error = %e.body, "workers stopped with an error"),
            Err(e) => tracing::error!(error = %e, "workers panicked"),
            Ok(Ok(())) => {}
        }
    }
    // Last: what the requests and workers recorded is chained before we go.
    stop_sequencer_and_wait(stop_sequencer, sequencer).await;
    checkpoints.abort();
    idempotency.abort();
    expiry.abort();
    if let Some(triggers) = triggers {
        triggers.abort();
    }
    served.map_err(|e| Failure::internal(&e))?;
    println!("revos stopped");
    Ok(())
}

/// The PostgreSQL server a benchmark makes its scratch database on: the
/// `--database` URL when it names PostgreSQL, else the local default.
fn bench_admin_url(database: Option<&str>) -> String {
    database
        .filter(|u| u.starts_with("postgres"))
        .unwrap_or(revos_store_postgres::scratch::DEFAULT_ADMIN_URL)
        .to_owned()
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}

/// A tenant id given on the command line.
pub(crate) fn parse_tenant(raw: &str) -> Result<TenantId, Failure> {
    raw.parse::<TenantId>()
        .map_err(|e| Failure::of(ErrorKind::Validation, e.to_string()))
}

async fn tenants(kernel: &Kernel, cmd: TenantsCommand, as_json: bool) -> Result<(), Failure> {
    match cmd {
        TenantsCommand::Create { name, id } => {
            let id = id.as_deref().map(parse_tenant).transpose()?;
            let tenant = kernel
                .create_tenant(
                    &revos_kernel::identity::auth::Principal::Service,
                    NewTenant { id, name },
                )
                .await?;
            if as_json {
                output::json(&tenant);
            } else {
                println!("created tenant {} ({})", tenant.id, tenant.name);
            }
        }
        TenantsCommand::List { limit, offset } => {
            let page = Page::new(limit, offset);
            let list = kernel.tenants(page).await?;
            if as_json {
                output::json(&list);
            } else if list.is_empty() {
                println!("no tenants yet; create one with `revos tenants create --name NAME`");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|t| {
                        vec![
                            t.id.to_string(),
                            t.name.clone(),
                            t.created_at.format("%Y-%m-%d %H:%M:%SZ").to_string(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "NAME", "CREATED"], &rows);
                output::more(
                    list.len(),
                    page.limit,
                    &format!(
                        "the next page: --offset {}",
                        u64::from(offset) + u64::from(page.limit)
                    ),
                );
            }
        }
    }
    Ok(())
}

fn list_dictionary(as_json: bool) {
    let dictionary = metrics::dictionary();
    if as_json {
        output::json(&dictionary);
        return;
    }
    let rows: Vec<Vec<String>> = dictionary
        .iter()
        .map(|m| {
            let plain = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
            vec![
                m.id.to_owned(),
                plain(serde_json::to_value(m.domain).unwrap_or_default()),
                plain(serde_json::to_value(m.unit).unwrap_or_default()),
                plain(serde_json::to_value(m.direction).unwrap_or_default()),
                m.name.to_owned(),
            ]
        })
        .collect();
    output::table(&["ID", "DOMAIN", "UNIT", "DIRECTION", "NAME"], &rows);
    println!(
        "\n{} metrics; `revos metrics list --json` shows definitions and derivations",
        rows.len()
    );
}

async fn import_metrics(
    config: Config,
    file: &std::path::Path,
    tenant: &str,
    format: Option<crate::cli::ImportFormat>,
    as_json: bool,
) -> Result<(), Failure> {
    let started = Instant::now();
    let tenant = parse_tenant(tenant)?;
    let format = import::detect(format, file);
    let import::Input { reader, bar, size } = import::open(file)?;
    let parsed =
        import::read(reader, format, &|bytes| bar.set_position(bytes.min(size))).map_err(|e| {
            Failure::of(
                ErrorKind::Io,
                format!("cannot read {}: {e}", file.display()),
            )
        })?;
    bar.finish_and_clear();

    let mut errors: Vec<RowError> = parsed.errors.clone();
    for v in revos_kernel::validate::metric_points(&parsed.points) {
        let line = import::index_of(&v.path)
            .and_then(|i| parsed.lines.get(i).copied())
            .unwrap_or(0);
        let field = v.path.split_once("].").map_or("", |(_, f)| f);
        errors.push(RowError {
            line,
            message: format!("{field}: {}", v.message),
        });
    }
    if !errors.is_empty() {
        errors.sort_by_key(|e| e.line);
        let violations: Vec<revos_contracts::validation::Violation> = errors
            .iter()
            .map(|e| revos_contracts::validation::Violation {
                rule: "data".into(),
                path: format!("line {}", e.line),
                message: e.message.clone(),
                code: revos_contracts::ErrorCode::InvalidInput,
            })
            .collect();
        return Err(Failure::invalid(
            format!(
                "{} bad row{} in {}; nothing was imported",
                errors.len(),
                if errors.len() == 1 { "" } else { "s" },
                file.display()
            ),
            &violations,
        ));
    }
    if parsed.points.is_empty() {
        return Err(Failure::of(
            ErrorKind::Validation,
            format!("{} holds no metric values", file.display()),
        ));
    }

    let kernel = crate::backend::start(config).await?;
    let spinner = ProgressBar::new_spinner().with_message(format!(
        "writing {} values in one transaction",
        parsed.points.len()
    ));
    spinner.enable_steady_tick(Duration::from_millis(120));
    let written = kernel.import_metrics(tenant, &parsed.points).await;
    spinner.finish_and_clear();
    let written = written?;

    let metrics: std::collections::BTreeSet<&str> =
        parsed.points.iter().map(|p| p.metric_id.as_str()).collect();
    let first = parsed.points.iter().map(|p| p.date).min();
    let last = parsed.points.iter().map(|p| p.date).max();
    if as_json {
        output::json(&serde_json::json!({
            "tenant_id": tenant,
            "written": written.written,
            "metrics": metrics,
            "from": first,
            "to": last,
        }));
    } else {
        println!(
            "imported {} values for tenant {tenant}: {} metric{}, {} to {}, in {:.1} s",
            written.written,
            metrics.len(),
            if metrics.len() == 1 { "" } else { "s" },
            first.map(|d| d.to_string()).unwrap_or_default(),
            last.map(|d| d.to_string()).unwrap_or_default(),
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// `revos metrics compute`: the analytics job, one line per metric.
async fn compute_metrics(
    kernel: &Kernel,
    tenant: &str,
    from: Option<chrono::NaiveDate>,
    to: Option<chrono::NaiveDate>,
    as_json: bool,
) -> Result<(), Failure> {
    let tenant = parse_tenant(tenant)?;
    let to = to.unwrap_or_else(|| chrono::Utc::now().date_naive());
    let from = from.unwrap_or(to - chrono::Duration::days(29));
    if !as_json {
        println!("computing metrics of tenant {tenant} for {from} to {to}");
    }
    let mut show = |p: &revos_kernel::optimize::analytics::MetricProgress| {
        if !as_json {
            println!(
                "  {:<22} {:>4} written  {:>4} kept (imported)  {:>4} undefined",
                p.metric_id, p.written, p.kept_imported, p.undefined
            );
        }
    };
    let report = kernel
        .compute_metrics_with_progress(
            &revos_kernel::identity::auth::Principal::Service,
            tenant,
            from,
            to,
            &mut show,
        )
        .await?;
    if as_json {
        output::json(&report);
    } else {
        for note in &report.untracked {
            println!("  {note}");
        }
        println!(
            "wrote {} computed values ({} metrics); {} day(s) kept their imported value",
            report.written,
            report.metrics.len(),
            report.skipped.len()
        );
    }
    Ok(())
}

async fn keys(kernel: &Kernel, cmd: KeysCommand, as_json: bool) -> Result<(), Failure> {
    use revos_kernel::identity::auth::{NewApiKey, Principal};
    use revos_store::identity::Scope;
    let operator = Principal::Service;
    let now = chrono::Utc::now();
    match cmd {
        KeysCommand::Create {
            name,
            scopes,
            tenant,
            agent,
        } => {
            let scopes = scopes
                .iter()
                .map(|s| {
                    Scope::parse(s).ok_or_else(|| {
                        Failure::of(
                            ErrorKind::Validation,
                            format!("unknown scope `{s}`: use read, write or admin"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let tenant_id = tenant.as_deref().map(parse_tenant).transpose()?;
            let issued = kernel
                .create_api_key(
                    &operator,
                    NewApiKey {
                        name,
                        tenant_id,
                        scopes,
                        agent,
                    },
                    now,
                )
                .await?;
            if as_json {
                output::json(&issued);
            } else {
                let scopes: Vec<&str> = issued.key.scopes.iter().map(|s| s.as_str()).collect();
                println!(
                    "created key rvs_{} ({}) with scopes {} for {}\n\n    {}\n\n\
                     Store it now: the secret is not shown again.",
                    issued.key.id,
                    issued.key.name,
                    scopes.join(","),
                    issued
                        .key
                        .tenant_id
                        .map_or("every tenant (platform key)".to_owned(), |t| format!(
                            "tenant {t}"
                        )),
                    issued.token
                );
            }
        }
        KeysCommand::List { tenant } => {
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            let list = kernel.api_keys(&operator, tenant).await?;
            if as_json {
                output::json(&list);
            } else if list.is_empty() {
                println!("no keys yet; `revos serve` creates a bootstrap admin key on first start");
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|k| {
                        vec![
                            format!("rvs_{}", k.id),
                            k.name.clone(),
                            k.tenant_id
                                .map_or("(platform)".to_owned(), |t| t.to_string()),
                            k.scopes
                                .iter()
                                .map(|s| s.as_str())
                                .collect::<Vec<_>>()
                                .join(","),
                            k.agent.clone().unwrap_or_default(),
                            k.last_used_at.map_or("never".to_owned(), |t| {
                                t.format("%Y-%m-%d %H:%M").to_string()
                            }),
                            if k.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                            .to_owned(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "KEY",
                        "NAME",
                        "TENANT",
                        "SCOPES",
                        "AGENT",
                        "LAST USED",
                        "STATE",
                    ],
                    &rows,
                );
            }
        }
        KeysCommand::Revoke { id } => {
            let key = kernel.revoke_api_key(&operator, &id, now).await?;
            if as_json {
                output::json(&key);
            } else {
                println!("revoked rvs_{} ({})", key.id, key.name);
            }
        }
    }
    Ok(())
}

/// Inside `revos serve`: every minute, writes the summaries of refused
/// requests whose audit window is over (see `revos_kernel::identity::rejections`).
async fn settle_rejections(kernel: Kernel) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        kernel.settle_rejections(chrono::Utc::now(), false).await;
    }
}

/// Inside `revos serve`: signs audit checkpoints every
/// `audit_checkpoint_minutes` when a signing key is configured.
/// Every ten minutes, forgets `Idempotency-Key`s past their retention.
async fn purge_idempotency_keys(kernel: Kernel) {
    let mut every = tokio::time::interval(Duration::from_secs(600));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match kernel.store().purge_idempotency(chrono::Utc::now()).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(count = n, "forgot expired idempotency keys"),
            Err(e) => tracing::warn!(error = %e, "could not purge idempotency keys"),
        }
    }
}

/// Inside `revos serve` (unless `serve_scheduler = false`): every five
/// minutes, runs the cycles the tenants' triggers call for (the daily
/// schedule, campaign launches, metric deviations; see
/// `revos_kernel::optimize::scheduler`).
async fn run_cycle_triggers(kernel: Kernel) {
    let mut every = tokio::time::interval(Duration::from_secs(300));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match kernel.run_triggers(chrono::Utc::now()).await {
            Ok(r) if r.ran.is_empty() && r.failed.is_empty() => {}
            Ok(r) => tracing::info!(
                ran = r.ran.len(),
                skipped = r.skipped.len(),
                failed = r.failed.len(),
                "cycle triggers"
            ),
            Err(e) => tracing::error!(error = %e.body, "could not check cycle triggers"),
        }
        match kernel.upkeep(chrono::Utc::now()).await {
            Ok(r) if r.executed == 0 && r.measured == 0 && r.failed.is_empty() => {}
            Ok(r) => tracing::info!(
                executed = r.executed,
                measured = r.measured,
                metrics = r.metrics_written,
                failed = r.failed.len(),
                "optimization upkeep"
            ),
            Err(e) => tracing::error!(error = %e.body, "could not run the optimization upkeep"),
        }
    }
}

async fn sign_checkpoints(kernel: Kernel) {
    let minutes = u64::from(kernel.config().audit_checkpoint_minutes);
    let mut every = tokio::time::interval(Duration::from_secs(minutes * 60));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match kernel.checkpoint_audit(chrono::Utc::now()).await {
            Ok(None) => {
                tracing::info!("no audit_signing_key configured: audit checkpoints are off");
                return;
            }
            Ok(Some(signed)) if !signed.is_empty() => {
                tracing::info!(count = signed.len(), "signed audit checkpoints");
            }
            Ok(Some(_)) => {}
            Err(e) => tracing::error!(error = %e.body, "could not sign audit checkpoints"),
        }
    }
}

fn keygen(as_json: bool) -> Result<(), Failure> {
    use revos_store::audit::revos_audit::{self, SigningKey};
    let mut seed = [0u8; 32];
    getrandom::fill(&mut seed).map_err(|e| Failure::internal(&e))?;
    let key = SigningKey::from_bytes(&seed);
    let secret = hex::encode(seed);
    let key_id = revos_audit::key_id(&key.verifying_key());
    if as_json {
        output::json(&serde_json::json!({"audit_signing_key": secret, "key_id": key_id}));
    } else {
        println!(
            "# Ed25519 key {key_id} for signing audit checkpoints. Keep it secret; put it in\n\
             # revos.toml or the environment (REVOS_AUDIT_SIGNING_KEY):\n\
             audit_signing_key = \"{secret}\""
        );
    }
    Ok(())
}

async fn audit(kernel: &Kernel, cmd: AuditCommand, as_json: bool) -> Result<(), ExitCode> {
    let fail = |f: Failure| output::failure(&f, as_json);
    match cmd {
        AuditCommand::Verify { tenant } => {
            let tenant = tenant
                .as_deref()
                .map(parse_tenant)
                .transpose()
                .map_err(fail)?;
            let keyed = kernel.audit_signing_key().map_err(fail)?.is_some();
            let reports = kernel.verify_audit(tenant).await.map_err(fail)?;
            let broken = reports.iter().filter(|(_, r, _)| !r.is_ok()).count();
            if as_json {
                let list: Vec<serde_json::Value> = reports
                    .iter()
                    .map(|(t, r, pending)| {
                        serde_json::json!({"tenant_id": t, "report": r, "unsequenced": pending})
                    })
                    .collect();
                output::json(&list);
            } else {
                for (t, report, pending) in &reports {
                    let name = if t.is_platform() {
                        "platform".to_owned()
                    } else {
                        t.to_string()
                    };
                    let waiting = if *pending > 0 {
                        format!(" ({pending} unsequenced, not yet covered)")
                    } else {
                        String::new()
                    };
                    match report {
                        revos_store::audit::revos_audit::VerifyReport::Ok {
                            entries,
                            checkpoints_checked,
                            ..
                        } => println!(
                            "OK      {name}: {entries} entries, {checkpoints_checked} checkpoints checked{waiting}"
                        ),
                        revos_store::audit::revos_audit::VerifyReport::Broken {
                            seq,
                            message,
                            ..
                        } => {
                            println!("BROKEN  {name}: at seq {seq}: {message}{waiting}")
                        }
                    }
                }
                if !keyed {
                    println!(
                        "note: no audit_signing_key is configured, so checkpoints were not checked \
                         and a cut-off tail would go unnoticed"
                    );
                }
            }
            if broken > 0 {
                if !as_json {
                    eprintln!("error: {broken} audit chain(s) failed verification");
                }
                return Err(ExitCode::from(2));
            }
            Ok(())
        }
        AuditCommand::Checkpoint => {
            let signed = kernel
                .checkpoint_audit(chrono::Utc::now())
                .await
                .map_err(fail)?
                .ok_or_else(|| {
                    fail(Failure::of(
                        ErrorKind::Configuration,
                        "no audit_signing_key is configured; `revos audit keygen` makes one",
                    ))
                })?;
            if as_json {
                output::json(&signed);
            } else {
                println!("signed {} checkpoint(s)", signed.len());
                for cp in &signed {
                    println!("  {} at seq {}", cp.tenant_id, cp.seq);
                }
            }
            Ok(())
        }
        AuditCommand::List {
            tenant,
            actor,
            action,
            after,
            limit,
            page,
        } => {
            let tenant = tenant
                .as_deref()
                .map(parse_tenant)
                .transpose()
                .map_err(fail)?;
            let filter = revos_store::audit::AuditFilter {
                actor,
                action,
                after_seq: after,
                order: page.order(),
                past_seq: page.past_seq().map_err(fail)?,
                limit: limit.clamp(1, 1000),
                ..Default::default()
            };
            let by = revos_kernel::identity::auth::Principal::Service;
            let entries = kernel
                .audit_entries(&by, tenant, &filter)
                .await
                .map_err(fail)?;
            if as_json {
                output::page_json(&entries);
            } else {
                let rows: Vec<Vec<String>> = entries
                    .items
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            e.occurred_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            e.actor.clone(),
                            e.action.clone(),
                            match (&e.resource_type, &e.resource_id) {
                                (Some(t), Some(id)) => format!("{t}:{id}"),
                                (Some(t), None) => t.clone(),
                                _ => String::new(),
                            },
                        ]
                    })
                    .collect();
                output::table(&["SEQ", "AT (UTC)", "ACTOR", "ACTION", "RESOURCE"], &rows);
                if entries.has_more {
                    let total = kernel
                        .audit_count(&by, tenant, &filter)
                        .await
                        .map_err(fail)?;
                    output::print_page_footer(&entries, total);
                }
            }
            Ok(())
        }
        AuditCommand::Keygen => keygen(as_json).map_err(fail),
    }
}

async fn webhook_secrets(
    kernel: &Kernel,
    cmd: SecretsCommand,
    as_json: bool,
) -> Result<(), Failure> {
    let operator = revos_kernel::identity::auth::Principal::Service;
    let now = chrono::Utc::now();
    match cmd {
        SecretsCommand::Create {
            tenant,
            source,
            secret,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let (info, shown) = kernel
                .create_webhook_secret(&operator, tenant, &source, secret.as_deref(), now)
                .await?;
            if as_json {
                output::json(&serde_json::json!({"secret": shown, "info": info}));
            } else {
                println!("created webhook secret {} for source `{source}`", info.id);
                if let Some(text) = shown {
                    println!(
                        "\n    {text}\n\nGive it to the sender; it is not shown again. {}",
                        delivery_hint(tenant, &source)
                    );
                }
            }
        }
        SecretsCommand::Import {
            tenant,
            source,
            secret,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let secret = match secret {
                Some(secret) => secret,
                None => read_secret_line()?,
            };
            let (info, _) = kernel
                .create_webhook_secret(&operator, tenant, &source, Some(&secret), now)
                .await?;
            if as_json {
                output::json(&serde_json::json!({"info": info}));
            } else {
                println!(
                    "imported webhook secret {} ({}) for source `{source}`. {}",
                    info.id,
                    info.fingerprint,
                    delivery_hint(tenant, &source)
                );
            }
        }
        SecretsCommand::List { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let list = kernel.webhook_secrets(&operator, tenant).await?;
            if as_json {
                output::json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|s| {
                        vec![
                            s.id.to_string(),
                            s.source.clone(),
                            s.fingerprint.clone(),
                            s.created_at.format("%Y-%m-%d %H:%M").to_string(),
                            if s.revoked_at.is_some() {
                                "revoked"
                            } else {
                                "active"
                            }
                            .to_owned(),
                        ]
                    })
                    .collect();
                output::table(&["ID", "SOURCE", "FINGERPRINT", "CREATED", "STATE"], &rows);
            }
        }
        SecretsCommand::Revoke { tenant, id } => {
            let tenant = parse_tenant(&tenant)?;
            let id = id.parse::<uuid::Uuid>().map_err(|_| {
                Failure::of(
                    ErrorKind::Validation,
                    format!("`{id}` is not a secret id (a UUID)"),
                )
            })?;
            kernel
                .revoke_webhook_secret(&operator, tenant, id, now)
                .await?;
            if as_json {
                output::json(&serde_json::json!({"revoked": id}));
            } else {
                println!("revoked webhook secret {id}");
            }
        }
    }
    Ok(())
}

/// Where a source's deliveries go and how they are signed, for the
/// secrets commands' output.
fn delivery_hint(tenant: TenantId, source: &str) -> String {
    use revos_kernel::runtime::SignatureScheme;
    let signed = match SignatureScheme::of(source) {
        SignatureScheme::StandardWebhooks => {
            "signed with the Standard Webhooks headers (webhook-id, webhook-timestamp, webhook-signature)"
        }
        SignatureScheme::Stripe => {
            "signed by Stripe (Stripe-Signature) with the endpoint's signing secret"
        }
        SignatureScheme::HubSpotV3 => {
            "signed by HubSpot (X-HubSpot-Signature-v3) with the app's client secret, over the \
             URL under the configured `public_url`"
        }
    };
    format!("Deliveries go to\n    POST /v1/webhooks/{tenant}/{source}\n{signed}.")
}

/// One line of standard input, for a secret kept off the command line.
fn read_secret_line() -> Result<String, Failure> {
    use std::io::IsTerminal as _;
    if std::io::stdin().is_terminal() {
        eprintln!("secret (one line, then Enter):");
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|err| {
        Failure::of(
            ErrorKind::Validation,
            format!("could not read the secret from standard input: {err}"),
        )
    })?;
    let line = line.trim().to_owned();
    if line.is_empty() {
        return Err(Failure::of(
            ErrorKind::Validation,
            "no secret: give `--secret` or one line on standard input".to_owned(),
        ));
    }
    Ok(line)
}

async fn members(kernel: &Kernel, cmd: MembersCommand, as_json: bool) -> Result<(), Failure> {
    use revos_store::identity::Role;
    let operator = revos_kernel::identity::auth::Principal::Service;
    match cmd {
        MembersCommand::Add {
            tenant,
            subject,
            role,
        } => {
            let tenant = parse_tenant(&tenant)?;
            let role = Role::parse(&role).ok_or_else(|| {
                Failure::of(
                    ErrorKind::Validation,
                    format!(
                        "unknown role `{role}`: use viewer, approver, operator, admin or owner"
                    ),
                )
            })?;
            let m = kernel
                .put_member(&operator, tenant, &subject, role, chrono::Utc::now())
                .await?;
            if as_json {
                output::json(&m);
            } else {
                println!(
                    "{} is now {} of tenant {}",
                    m.subject,
                    m.role.as_str(),
                    m.tenant_id
                );
            }
        }
        MembersCommand::List { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            let list = kernel.members(&operator, tenant).await?;
            if as_json {
                output::json(&list);
            } else if list.is_empty() {
                println!(
                    "no members yet; add one with `revos members add --tenant {tenant} --subject SUB --role owner`"
                );
            } else {
                let rows: Vec<Vec<String>> = list
                    .iter()
                    .map(|m| {
                        vec![
                            m.subject.clone(),
                            m.role.as_str().to_owned(),
                            m.granted_at.format("%Y-%m-%d %H:%M").to_string(),
                        ]
                    })
                    .collect();
                output::table(&["SUBJECT", "ROLE", "SINCE"], &rows);
            }
        }
        MembersCommand::Remove { tenant, subject } => {
            let tenant = parse_tenant(&tenant)?;
            kernel.remove_member(&operator, tenant, &subject).await?;
            if as_json {
                output::json(&serde_json::json!({"removed": subject}));
            } else {
                println!("removed {subject} from tenant {tenant}");
            }
        }
    }
    Ok(())
}

/// Starts the background audit sequencer; it stops (after a last pass)
/// when the returned sender is used or dropped.
fn spawn_sequencer(
    kernel: &Kernel,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(revos_kernel::audit::run_sequencer(
        kernel.store().clone(),
        revos_kernel::audit::SEQUENCE_INTERVAL,
        async {
            let _ = stopped.await;
        },
    ));
    (stop, handle)
}

/// Stops the audit sequencer and waits for its last pass.
async fn stop_sequencer_and_wait(
    stop: tokio::sync::oneshot::Sender<()>,
    sequencer: tokio::task::JoinHandle<()>,
) {
    let _ = stop.send(());
    if let Err(e) = sequencer.await {
        tracing::error!(error = %e, "the audit sequencer panicked");
    }
}

/// A worker's name: host and process id.
fn worker_id() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "revos".to_owned());
    format!("{host}-{}", std::process::id())
}

async fn worker(config: Config, args: WorkerArgs) -> Result<(), Failure> {
    init_logging(&config, true);
    let kernel = crate::backend::start(config).await?;
    let mut options =
        revos_kernel::delivery::worker::WorkerOptions::new(args.id.unwrap_or_else(worker_id));
    options.queues = args.queues;
    options.lease = Duration::from_secs(args.lease_seconds.max(5));
    println!(
        "revos worker {} running {} (database: {}); Ctrl-C to stop",
        options.id,
        if options.queues.is_empty() {
            "every queue".to_owned()
        } else {
            options.queues.join(", ")
        },
        kernel.config().redacted().database_url
    );
    let handlers = revos_kernel::delivery::worker::builtin_handlers(&kernel);
    let (stop_sequencer, sequencer) = spawn_sequencer(&kernel);
    // Pending approvals past their time are expired (rejected) here too,
    // not only when someone tries to decide them.
    let (stop_expiry, expiry_stopped) = tokio::sync::oneshot::channel::<()>();
    let expiry = tokio::spawn(revos_kernel::ops::approvals::run_expiry(
        kernel.clone(),
        revos_kernel::ops::approvals::EXPIRY_INTERVAL,
        async {
            let _ = expiry_stopped.await;
        },
    ));
    let worker = revos_kernel::delivery::worker::Worker::new(kernel, handlers, options);
    let ran = worker.run(shutdown_signal()).await;
    let _ = stop_expiry.send(());
    if let Err(e) = expiry.await {
        tracing::error!(error = %e, "the approval expiry sweep panicked");
    }
    stop_sequencer_and_wait(stop_sequencer, sequencer).await;
    ran?;
    println!("revos worker stopped");
    Ok(())
}

async fn queue_stats(
    kernel: &Kernel,
    tenant: Option<String>,
    as_json: bool,
) -> Result<(), Failure> {
    let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
    let stats = kernel
        .queue_stats(
            &revos_kernel::identity::auth::Principal::Service,
            tenant,
            chrono::Utc::now(),
        )
        .await?;
    if as_json {
        output::json(&stats);
        return Ok(());
    }
    let rows: Vec<Vec<String>> = stats
        .iter()
        .map(|q| {
            let n = |s: &str| q.depth.get(s).copied().unwrap_or(0).to_string();
            vec![
                q.queue.clone(),
                n("waiting"),
                n("delayed"),
                n("active"),
                n("failed"),
                n("dead"),
                n("awaiting_approval"),
                n("completed"),
                q.oldest_ready_age_seconds
                    .map_or("-".to_owned(), |s| format!("{s:.0}s")),
                q.completed_last_minute.to_string(),
                if q.paused { "paused" } else { "running" }.to_owned(),
            ]
        })
        .collect();
    output::table(
        &[
            "QUEUE",
            "WAITING",
            "DELAYED",
            "ACTIVE",
            "FAILED",
            "DEAD",
            "APPROVAL",
            "COMPLETED",
            "OLDEST",
            "DONE/MIN",
            "STATUS",
        ],
        &rows,
    );
    Ok(())
}

async fn pause_queue(
    kernel: &Kernel,
    queue: &str,
    tenant: Option<String>,
    pause: bool,
    as_json: bool,
) -> Result<(), Failure> {
    let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
    let outcome = kernel
        .pause_queue(
            &revos_kernel::identity::auth::Principal::Service,
            tenant,
            queue,
            pause,
            chrono::Utc::now(),
        )
        .await?;
    if as_json {
        output::json(&outcome);
        return Ok(());
    }
    let whose = match outcome.tenant_id {
        Some(t) => format!("tenant {t}'s jobs"),
        None => "every tenant's jobs".to_owned(),
    };
    let state = if pause { "paused" } else { "running" };
    if outcome.changed {
        println!("queue `{queue}` is now {state} for {whose}");
    } else {
        println!("queue `{queue}` was already {state} for {whose}; nothing changed");
    }
    Ok(())
}

/// The human form of a bulk step's answer.
fn print_bulk(outcome: &revos_kernel::delivery::jobs::BulkOutcome) {
    let whose = match outcome.tenant_id {
        Some(t) => format!("tenant {t}"),
        None => "every tenant".to_owned(),
    };
    let done = if outcome.step == "retry" {
        "redriven"
    } else {
        "cancelled"
    };
    println!(
        "{} of {} {} jobs on queue `{}` ({whose}) {done}; {} refused",
        output::count(outcome.changed),
        output::count(outcome.matched),
        outcome.state,
        outcome.queue,
        output::count(outcome.refused)
    );
    for r in &outcome.refusals {
        println!("  - job {}: {}", r.job_id, r.reason);
    }
    if (outcome.refusals.len() as u64) < outcome.refused {
        println!(
            "  … and {} more (the audit log has the counts)",
            output::count(outcome.refused - outcome.refusals.len() as u64)
        );
    }
}

fn parse_job_id(raw: &str) -> Result<uuid::Uuid, Failure> {
    raw.parse().map_err(|_| {
        Failure::of(
            ErrorKind::Validation,
            format!("`{raw}` is not a job id (a UUID)"),
        )
    })
}

async fn jobs(kernel: &Kernel, cmd: JobsCommand, as_json: bool) -> Result<(), Failure> {
    use revos_kernel::delivery::jobs::JobStep;
    let operator = revos_kernel::identity::auth::Principal::Service;
    let now = chrono::Utc::now();
    let bulk = match &cmd {
        JobsCommand::Retry { id: None, bulk } => Some((bulk, JobStep::Retry)),
        JobsCommand::Cancel { id: None, bulk } => Some((bulk, JobStep::Cancel)),
        _ => None,
    };
    if let Some((bulk, step)) = bulk {
        let (Some(queue), Some(state)) = (&bulk.queue, &bulk.state) else {
            return Err(Failure::of(
                ErrorKind::Validation,
                "give a job id, or --queue and --state to select jobs in bulk",
            ));
        };
        let selection = revos_kernel::delivery::jobs::BulkSelection {
            queue: queue.clone(),
            state: state.clone(),
            since: bulk
                .since
                .as_deref()
                .map(crate::runtime_cmds::parse_time)
                .transpose()?,
            until: bulk
                .until
                .as_deref()
                .map(crate::runtime_cmds::parse_time)
                .transpose()?,
        };
        let tenant = bulk.tenant.as_deref().map(parse_tenant).transpose()?;
        let outcome = kernel
            .steer_jobs(&operator, tenant, &selection, step, now)
            .await?;
        if as_json {
            output::json(&outcome);
        } else {
            print_bulk(&outcome);
        }
        return Ok(());
    }
    let step = match &cmd {
        JobsCommand::Retry { id: Some(id), .. } => Some((id, JobStep::Retry, None)),
        JobsCommand::Cancel { id: Some(id), .. } => Some((id, JobStep::Cancel, None)),
        JobsCommand::Approve { id, reason } => Some((id, JobStep::Approve, Some(reason.as_str()))),
        JobsCommand::Reject { id, reason } => Some((id, JobStep::Reject, Some(reason.as_str()))),
        _ => None,
    };
    if let Some((id, step, reason)) = step {
        let job = kernel
            .steer_job(&operator, parse_job_id(id)?, step, reason, now)
            .await?;
        if as_json {
            output::json(&job);
        } else {
            println!("job {} is now {}", job.id, job.state.as_str());
        }
        return Ok(());
    }
    match cmd {
        JobsCommand::List {
            tenant,
            queue,
            state,
            limit,
            page,
        } => {
            let tenant = tenant.as_deref().map(parse_tenant).transpose()?;
            let state = state
                .map(|s| {
                    revos_queue::JobState::parse(&s).ok_or_else(|| {
                        Failure::of(ErrorKind::Validation, format!("unknown job state `{s}`"))
                    })
                })
                .transpose()?;
            let filter = revos_queue::JobFilter {
                queue,
                state,
                order: page.order(),
                after: page.after()?,
                limit: Some(limit.clamp(1, 1000)),
                ..revos_queue::JobFilter::default()
            };
            let list = kernel.job_views(&operator, tenant, &filter).await?;
            if as_json {
                output::page_json(&list);
            } else {
                let rows: Vec<Vec<String>> = list
                    .items
                    .iter()
                    .map(|v| {
                        let j = &v.job;
                        vec![
                            j.id.to_string(),
                            j.queue.clone(),
                            j.state.as_str().to_owned(),
                            format!("{}/{}", j.attempts, j.max_attempts),
                            j.run_at.format("%Y-%m-%d %H:%M:%S").to_string(),
                            v.what.summary.clone(),
                            j.last_error.clone().unwrap_or_default(),
                        ]
                    })
                    .collect();
                output::table(
                    &[
                        "ID",
                        "QUEUE",
                        "STATE",
                        "ATTEMPTS",
                        "RUN AT (UTC)",
                        "WHAT",
                        "LAST ERROR",
                    ],
                    &rows,
                );
                if list.has_more {
                    let total = kernel.job_count(&operator, tenant, &filter).await?;
                    output::print_page_footer(&list, total);
                }
            }
        }
        JobsCommand::Show { id } => {
            let view = kernel.job_view(&operator, parse_job_id(&id)?).await?;
            if as_json {
                output::json(&view);
            } else {
                print_job(&view);
            }
        }
        _ => {}
    }
    Ok(())
}

async fn optimizer_config(
    kernel: &Kernel,
    cmd: OptimizerConfigCommand,
    as_json: bool,
) -> Result<(), Failure> {
    let operator = revos_kernel::identity::auth::Principal::Service;
    let (tenant, stored) = match cmd {
        OptimizerConfigCommand::Show { tenant } => {
            let tenant = parse_tenant(&tenant)?;
            if kernel.store().get_tenant(tenant).await?.is_none() {
                return Err(Failure::tenant_not_found(tenant));
            }
            (tenant, kernel.optimizer_config(tenant).await?)
        }
        OptimizerConfigCommand::Set { tenant, file } => {
            let tenant = parse_tenant(&tenant)?;
            let text = if file.as_os_str() == "-" {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                    .map_err(|e| Failure::of(ErrorKind::Io, format!("cannot read stdin: {e}")))?;
                text
            } else {
                std::fs::read_to_string(&file).map_err(|e| {
                    Failure::of(
                        ErrorKind::Io,
                        format!("cannot read {}: {e}", file.display()),
                    )
                })?
            };
            let parsed: revos_store::OptimizerConfig =
                revos_contracts::validation::parse_json(text.as_bytes())
                    .map_err(|v| Failure::invalid("not an optimizer configuration", &[v]))?;
            let stored = kernel
                .set_optimizer_config(&operator, tenant, parsed)
                .await?;
            if !as_json {
                println!("stored the optimizer configuration of tenant {tenant}");
            }
            (tenant, stored)
        }
    };
    if as_json {
        output::json(&stored);
        return Ok(());
    }
    let part =
        |name: &str, value: &serde_json::Value| match value.as_object().filter(|m| !m.is_empty()) {
            None => println!("{name}: not set"),
            Some(map) => {
                println!("{name}:");
                for (k, v) in map {
                    println!("  {k:<32} {v}");
                }
            }
        };
    println!("optimizer configuration of tenant {tenant}");
    part("targets", &stored.targets);
    part("guardrails", &stored.guardrails);
    part("config", &stored.config);
    Ok(())
}

/// A readable summary of one job.
fn print_job(view: &revos_kernel::delivery::jobs::JobView) {
    let j = &view.job;
    let w = &view.what;
    println!("job {} — {}", j.id, w.summary);
    println!("  state      {}", j.state.as_str());
    println!("  queue      {} ({})", j.queue, j.kind);
    println!("  tenant     {}", j.tenant_id);
    println!("  attempts   {} of {}", j.attempts, j.max_attempts);
    println!("  run at     {}", j.run_at.format("%Y-%m-%d %H:%M:%S UTC"));
    println!(
        "  created    {}",
        j.created_at.format("%Y-%m-%d %H:%M:%S UTC")
    );
    if let Some(action) = j.action_id {
        let status = w
            .action_status
            .map(|s| s.as_str().to_owned())
            .unwrap_or_else(|| "unknown".to_owned());
        println!("  action     {action} ({status})");
    }
    if let Some(status) = w.outbox_status {
        println!("  e-mail     {}", status.as_str());
    }
    if let Some(error) = &j.last_error {
        // A job that ended well keeps the error of an earlier attempt.
        let label = if j.state == revos_queue::JobState::Completed {
            "earlier error"
        } else {
            "last error"
        };
        println!("  {label} {error}");
    }
    if j.state == revos_queue::JobState::AwaitingApproval {
        println!(
            "  waiting for a person: revos jobs approve {id} --reason …  or  revos jobs reject {id} --reason …",
            id = j.id
        );
    }
}

async fn tenant_queue_settings(
    kernel: &Kernel,
    tenant: &str,
    set: Option<&str>,
    as_json: bool,
) -> Result<(), Failure> {
    let tenant = parse_tenant(tenant)?;
    let operator = revos_kernel::identity::auth::Principal::Service;
    let shown = match set {
        Some(text) => {
            let settings: serde_json::Map<String, serde_json::Value> =
                revos_contracts::validation::parse_json(text.as_bytes()).map_err(|v| {
                    Failure::of(
                        ErrorKind::Validation,
                        format!("--set is not a JSON object: {}", v.message),
                    )
                })?;
            kernel
                .set_tenant_queue_settings(&operator, tenant, settings, chrono::Utc::now())
                .await?
        }
        None => kernel.tenant_queue_settings(&operator, tenant).await?,
    };
    if as_json {
        output::json(&shown);
    } else if shown.is_empty() {
        println!("tenant {tenant} has no queue overrides: every queue's own settings apply");
    } else {
        println!("queue overrides of tenant {tenant}:");
        for (queue, fields) in &shown {
            let fields = fields
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k} = {v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_else(|| fields.to_string());
            println!("  {queue:<14} {fields}");
        }
    }
    Ok(())
}

/// `revos lab evaluate`: runs the closed-loop evaluation with a progress
/// bar on stderr, then prints the report (`--json`: all of it).
fn lab_evaluate(options: revos_lab::evaluate::Options, as_json: bool) {
    let total = u64::from(options.worlds_per_kind) * 4;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{msg} {bar:30} {pos}/{len} worlds ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("evaluating");
    let report = revos_lab::evaluate::evaluate(&options, |p| bar.set_position(u64::from(p.done)));
    bar.finish_and_clear();
    if as_json {
        output::json(&report);
    } else {
        print!("{}", report.to_text());
    }
}
