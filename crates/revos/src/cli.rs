//! The command line: what `revos --help` shows.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// How a list is paged: newest first unless `--oldest-first`, continued
/// with the `--cursor` the previous page printed.
#[derive(Debug, Clone, Default, Args)]
pub struct PageArgs {
    /// List the oldest first (default: the newest first).
    #[arg(long)]
    pub oldest_first: bool,
    /// Continue after the page that printed this cursor.
    #[arg(long, value_name = "C")]
    pub cursor: Option<String>,
}

impl PageArgs {
    /// The order asked for.
    pub fn order(&self) -> revos_store::listing::Order {
        revos_store::listing::Order::oldest_first_if(self.oldest_first)
    }

    /// The cursor read back, or a failure naming `--cursor`.
    fn decoded(&self) -> Result<Option<revos_store::listing::Cursor>, revos_kernel::Failure> {
        self.cursor
            .as_deref()
            .map(|text| {
                revos_store::listing::Cursor::decode(text)
                    .map_err(|err| revos_kernel::Failure::bad_cursor("--cursor", &err))
            })
            .transpose()
    }

    /// The (time, id) key of the cursor of a list keyed by time.
    pub fn after(
        &self,
    ) -> Result<Option<(chrono::DateTime<chrono::Utc>, uuid::Uuid)>, revos_kernel::Failure> {
        self.decoded()?
            .map(|c| {
                c.at()
                    .map_err(|err| revos_kernel::Failure::bad_cursor("--cursor", &err))
            })
            .transpose()
    }

    /// The sequence number of the cursor of the audit log.
    pub fn past_seq(&self) -> Result<Option<u64>, revos_kernel::Failure> {
        self.decoded()?
            .map(|c| {
                c.seq()
                    .map_err(|err| revos_kernel::Failure::bad_cursor("--cursor", &err))
            })
            .transpose()
    }
}

/// revos — the Revenue OS kernel.
///
/// Serves the kernel's HTTP API and administers its database. With no
/// configuration it uses an embedded SQLite file, `revos.db`, in the
/// current directory.
#[derive(Debug, Parser)]
#[command(name = "revos", version, propagate_version = true)]
pub struct Cli {
    /// Database URL: sqlite://FILE (default sqlite://revos.db) or postgres://USER@HOST/DB.
    #[arg(long, global = true, env = "DATABASE_URL", value_name = "URL")]
    pub database: Option<String>,

    /// Configuration file (default: ./revos.toml if it exists).
    #[arg(long, global = true, env = "REVOS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Print data as JSON instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP API (applies migrations first).
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate,
    /// Run workers for the job queues (until Ctrl-C or SIGTERM).
    Worker(WorkerArgs),
    /// Numbers per job queue.
    #[command(subcommand)]
    Queues(QueuesCommand),
    /// Look at and steer jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// The tools AI agents call, and a tenant's Cedar tool policies.
    #[command(subcommand)]
    Tools(ToolsCommand),
    /// Approvals that gate agents' actions: list, show, approve, reject.
    ///
    /// The CLI decides as the operator of the server (`service` in the
    /// audit log): one decider, however many times it runs.
    #[command(subcommand)]
    Approvals(ApprovalsCommand),
    /// Benchmarks that print figures.
    #[command(subcommand)]
    Bench(BenchCommand),
    /// Create and list tenants.
    #[command(subcommand)]
    Tenants(TenantsCommand),
    /// The metric dictionary and metric values.
    #[command(subcommand)]
    Metrics(MetricsCommand),
    /// The spine: the tenant's campaigns, channels, opportunities, accounts,
    /// CRM activities and revenue events, imported from its own systems.
    #[command(subcommand)]
    Spine(SpineCommand),
    /// API keys for services and AI agents.
    ///
    /// The CLI works on the database directly, as the operator of the
    /// server: it may create, list and revoke any key.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Users' memberships of tenants (who may sign in to which tenant, in which role).
    #[command(subcommand)]
    Members(MembersCommand),
    /// The tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Inbound webhooks: the secrets senders sign with.
    #[command(subcommand)]
    Webhooks(WebhooksCommand),
    /// Public lead forms: publishable tokens a web page posts leads with,
    /// without an API key.
    #[command(subcommand)]
    Forms(crate::forms_cmd::FormsCommand),
    /// Versioned e-mail templates: save, list, show, preview, and render
    /// again a sent e-mail from its hash.
    #[command(subcommand)]
    Templates(crate::templates_cmd::TemplatesCommand),
    /// The suppression list: addresses marketing mail never reaches.
    #[command(subcommand)]
    Suppressions(crate::templates_cmd::SuppressionsCommand),
    /// Support tickets: list (status, risk, overdue), show with messages,
    /// reply, close, escalate.
    #[command(subcommand)]
    Tickets(crate::tickets_cmd::TicketsCommand),
    /// The publish pipeline: drafts, their fact and tone checks, submission
    /// (a person always approves it) and the published record.
    #[command(subcommand)]
    Posts(crate::posts_cmd::PostsCommand),
    /// Send and look at events: ingest, timelines, correlations.
    #[command(subcommand)]
    Events(EventsCommand),
    /// Re-run recorded events through a policy version (in memory) and
    /// print where it decides otherwise than the versions that decided
    /// them, re-run with today's settings at the recorded decision time.
    Replay(ReplayArgs),
    /// Policies: list them, set modes (shadow/enforce) and settings.
    #[command(subcommand)]
    Policies(PoliciesCommand),
    /// Run a guard (deal_update, send_invoice, …) and print its verdict.
    ///
    /// Exit status: 0 ALLOW, 3 ALLOW_WITH_OVERRIDE, 4 BLOCK, 1 an error
    /// (an unknown or mistyped input field, a missing required one, …).
    #[command(
        after_help = "Exit status: 0 ALLOW, 3 ALLOW_WITH_OVERRIDE, 4 BLOCK (after any \
                      override), 1 an error such as an unknown input field.\n\
                      Input fields of each guard: docs/POLICIES.md, or GET /v1/guards."
    )]
    Guard(GuardArgs),
    /// Tasks created by policies (TASK_CREATE).
    #[command(subcommand)]
    Tasks(TasksCommand),
    /// The optimization kernel: plan a KernelInput offline, run a tenant's
    /// cycle, look at past cycles.
    #[command(subcommand)]
    Kernel(KernelCommand),
    /// A tenant's optimizer settings: targets, guardrails and config.
    #[command(subcommand)]
    Optimizer(OptimizerCommand),
    /// Run the optimizer's validation loop on simulated test tenants A and
    /// B (all five steps, in order) and print a pass/fail table; exit 0
    /// only if all pass.
    ///
    /// Runs on a scratch SQLite database, removed at the end, whatever is
    /// configured: `--database URL` on the command line runs it on a named
    /// one instead, where A and B are simulated tenants in shadow mode that
    /// the scheduler skips.
    Validate {
        /// The day the loop runs on (YYYY-MM-DD; default today, UTC): the
        /// simulated history ends the day before, so a fixed day gives the
        /// same run every time.
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
    },
    /// Experiment statistics (GrowthBook gbstats' computations), in words
    /// (`--json`: the numbers).
    #[command(subcommand)]
    Stats(crate::stats_cmd::StatsCommand),
    /// Run the optimization loop on simulated tenants A and B for N days (a
    /// cycle on day 1 and weekly), print each cycle, and chart each
    /// tenant's priority metric as SVG.
    ///
    /// Runs on a scratch SQLite database, removed at the end, whatever is
    /// configured: `--database URL` on the command line runs it on a named
    /// one instead, where A and B are simulated tenants in shadow mode that
    /// the scheduler skips.
    Demo {
        /// Simulated days (1-365), the last one `--today`.
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// The last simulated day (YYYY-MM-DD; default today, UTC): a fixed
        /// day gives the same run every time.
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        /// Directory for the charts (tenant_a.svg, tenant_b.svg).
        #[arg(long, default_value = "revos-demo")]
        output: PathBuf,
    },
    /// The lab: the planner evaluated in a closed loop on simulated worlds.
    #[command(subcommand)]
    Lab(LabCommand),
    /// Print the effective configuration, secrets redacted.
    Config,
}

/// `revos lab …`.
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Run the planner in a closed loop on generated tenant worlds, each
    /// with one planted binding constraint, beside doing nothing, a random
    /// policy of the same size and an oracle that knows the constraint;
    /// print the planner's share of the oracle's improvement per constraint
    /// kind and every guardrail it broke.
    ///
    /// Pure simulation: no database, no e-mail, no webhook. The same
    /// arguments give the same figures.
    Evaluate {
        /// Worlds per constraint kind (four kinds).
        #[arg(long, default_value_t = 18, value_parser = clap::value_parser!(u32).range(1..=500))]
        worlds: u32,
        /// Optimization cycles per world.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=52))]
        cycles: u32,
        /// Days between cycles.
        #[arg(long, default_value_t = 14, value_parser = clap::value_parser!(u32).range(1..=90))]
        cycle_days: u32,
        /// Seed of the first world.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Instead of scoring, follow the planner in the one world of this
        /// seed, cycle by cycle: its diagnosis, actions with their notes,
        /// the results it learned from, and each campaign's true marginal
        /// return. Needs `--kind`.
        #[arg(long, value_name = "SEED", requires = "kind")]
        trace: Option<u64>,
        /// The planted constraint of the traced world.
        #[arg(long, value_enum, requires = "trace")]
        kind: Option<ConstraintKind>,
    },
}

/// A planted binding constraint, for `revos lab evaluate --trace`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ConstraintKind {
    /// Efficient campaigns held back by their budgets.
    Demand,
    /// One funnel stage far below what the tenant could reach.
    Conversion,
    /// Campaigns that waste spend; CAC above its cap.
    Economics,
    /// A required metric that stops being reported, or unattributed revenue.
    DataQuality,
}

/// `revos optimizer …`.
#[derive(Debug, Subcommand)]
pub enum OptimizerCommand {
    /// Show or set a tenant's targets, guardrails and config.
    #[command(subcommand)]
    Config(OptimizerConfigCommand),
}

/// `revos optimizer config …`.
#[derive(Debug, Subcommand)]
pub enum OptimizerConfigCommand {
    /// Print the tenant's targets, guardrails and config.
    Show {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Replace them from a JSON file `{"targets": {…}, "guardrails": {…},
    /// "config": {…}}` (a part left out is emptied). Checked before it is
    /// stored: an unknown field, a negative target or spend cap, or an
    /// exposure above 100 % is refused, naming the field.
    #[command(
        after_help = "Example file:\n  {\"targets\": {\"pipeline_total\": 500000, \
                            \"cac_max\": 1200},\n   \"guardrails\": {\"max_daily_spend\": 2000, \
                            \"allowed_levers\": [\"campaigns\", \"channels\"]},\n   \
                            \"config\": {\"risk_tolerance\": \"medium\"}}"
    )]
    Set {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The JSON file (`-` reads stdin).
        #[arg(long, value_name = "FILE")]
        file: PathBuf,
    },
}

/// `revos kernel …`.
#[derive(Debug, Subcommand)]
pub enum KernelCommand {
    /// Plan a KernelInput without a database: validate it (all rules but
    /// tenant existence and cycle recency), plan, validate the output, and
    /// print a summary (`--json`: the KernelOutput) — or a KernelError JSON
    /// and a non-zero exit.
    Plan {
        /// The KernelInput JSON file (`-` or absent: stdin).
        #[arg(long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// The clock (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
        /// Also print the candidates the CFO gate and the guardrails set aside.
        #[arg(long)]
        explain: bool,
    },
    /// Print a sample KernelInput JSON to start from: simulated test tenant
    /// B's last 30 days, triggered now (`revos kernel example > input.json`,
    /// then `revos kernel plan --input input.json`).
    Example {
        /// The trigger time (RFC 3339; default: now).
        #[arg(long, value_name = "TIME")]
        now: Option<String>,
    },
    /// Run a cycle of a tenant on its stored data.
    Run {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Run even if a cycle completed in the last 12 hours.
        #[arg(long)]
        force: bool,
        /// Days of data to analyse.
        #[arg(long, default_value_t = 30)]
        window_days: u32,
    },
    /// A tenant's cycles, newest first (`--oldest-first` reverses).
    Cycles {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        #[command(flatten)]
        page: PageArgs,
    },
    /// One cycle with its actions and their results (`--json`: the
    /// cycle, its actions and results as stored).
    Show {
        /// The cycle id.
        id: String,
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Execute a tenant's pending actions now: baselines are recorded and
    /// changes applied (enforce mode) or only recorded (shadow mode).
    Execute {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Measure a tenant's executing actions now: abort checks, and results
    /// for those whose observation window is over.
    Measure {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Judge every executing action now, even inside its window.
        #[arg(long)]
        force: bool,
    },
    /// Run one scheduler tick of `revos serve` now, for every tenant: the
    /// cycle triggers (daily schedule, campaign launches, metric
    /// deviations), then the upkeep (analytics job, measurement,
    /// execution).
    Tick,
}

/// `revos events …`.
#[derive(Debug, Subcommand)]
pub enum EventsCommand {
    /// Ingest the event(s) of a JSON file (one event or an array; `-` reads stdin).
    Send {
        /// The file.
        file: PathBuf,
        /// The tenant the events belong to.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        #[command(flatten)]
        how: IngestHow,
    },
    /// Ingest an NDJSON file, one event per line, with a progress bar.
    /// Each event stands alone (and is idempotent): bad lines are reported
    /// with their numbers and the rest are ingested.
    ///
    /// Importing history? Use --record-only (or --dry-run first): policies
    /// also skip events older than their `max_event_age`, but only
    /// --record-only guarantees that nothing is sent.
    Import {
        /// The file (`-` reads stdin).
        file: PathBuf,
        /// The tenant the events belong to.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        #[command(flatten)]
        how: IngestHow,
    },
    /// List events, newest first (`--oldest-first` reverses).
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this type.
        #[arg(long = "type")]
        event_type: Option<String>,
        /// Recorded at or after (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        since: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        page: PageArgs,
    },
    /// An event with its decisions, actions, jobs, e-mails and tasks.
    Show {
        /// The event id.
        id: String,
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Every event sharing a correlation id, with what followed.
    Correlation {
        /// The correlation id.
        id: String,
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
}

/// How `revos events send|import` takes its events.
#[derive(Debug, Clone, Copy, Args)]
pub struct IngestHow {
    /// Store the events without running policies: no decision, no e-mail,
    /// task or webhook (a backfill of history). Idempotent like an ingest.
    #[arg(long, conflicts_with = "dry_run")]
    pub record_only: bool,
    /// Check and decide every event in memory, print counts by outcome and
    /// the first actions, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// Options of `revos replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// The tenant.
    #[arg(long, value_name = "UUID")]
    pub tenant: String,
    /// Events recorded at or after (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub since: String,
    /// … and before (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// The policy version: ID@VERSION (or ID for the active version).
    #[arg(long)]
    pub policy: String,
    /// At most this many events (default 10,000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Print the counts only, not each changed event (with --json: the
    /// report without its items).
    #[arg(long)]
    pub summary: bool,
}

/// `revos policies …`.
#[derive(Debug, Subcommand)]
pub enum PoliciesCommand {
    /// The registered policies, every version.
    List,
    /// Show a tenant's modes, or set one: the tenant's, or (with --policy)
    /// its mode for one policy. `inherit` clears it.
    Mode {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this policy.
        #[arg(long)]
        policy: Option<String>,
        /// shadow, enforce or inherit; absent: show the modes.
        mode: Option<String>,
    },
    /// Show a tenant's policy and guard settings, or set one from a JSON file.
    Settings {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The policy or guard id (e.g. revenue_os.guard.deal_update).
        id: Option<String>,
        /// A JSON file with the settings (`-` reads stdin).
        #[arg(long, value_name = "FILE", conflicts_with = "clear")]
        set: Option<PathBuf>,
        /// Remove the settings (back to the defaults).
        #[arg(long)]
        clear: bool,
    },
}

/// Options of `revos guard`.
#[derive(Debug, Args)]
pub struct GuardArgs {
    /// The guard (deal_update, send_invoice).
    pub name: String,
    /// The tenant.
    #[arg(long, value_name = "UUID")]
    pub tenant: String,
    /// The guard's input as a JSON file (`-` reads stdin).
    #[arg(long, value_name = "FILE")]
    pub input: PathBuf,
    /// Override an ALLOW_WITH_OVERRIDE verdict, with this reason.
    #[arg(long, value_name = "REASON")]
    pub override_reason: Option<String>,
}

/// `revos tasks …`.
#[derive(Debug, Subcommand)]
pub enum TasksCommand {
    /// Tasks, newest first (`--oldest-first` reverses).
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this owner.
        #[arg(long)]
        owner: Option<String>,
        /// Only open or done tasks.
        #[arg(long)]
        status: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Mark a task done.
    Done {
        /// The task id.
        id: String,
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
}

/// Options of `revos serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (default 127.0.0.1:8080).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Runtime mode: shadow records decisions and executes nothing; enforce executes.
    #[arg(long, value_name = "MODE")]
    pub mode: Option<String>,
}

/// `revos tenants …`.
#[derive(Debug, Subcommand)]
pub enum TenantsCommand {
    /// Create a tenant.
    Create {
        /// Display name.
        #[arg(long)]
        name: String,
        /// A chosen UUID (random if absent).
        #[arg(long, value_name = "UUID")]
        id: Option<String>,
    },
    /// List tenants.
    List {
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        /// Skip this many.
        #[arg(long, default_value_t = 0)]
        offset: u32,
    },
}

/// Input file formats of `revos metrics import`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ImportFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

/// `revos metrics …`.
#[derive(Debug, Subcommand)]
pub enum MetricsCommand {
    /// List the canonical metric dictionary.
    List,
    /// Import daily metric values from a CSV or NDJSON file, all or nothing.
    ///
    /// CSV: a header row with `metric_id,date,value` and, optionally, more
    /// columns that become the value's dimension (`channel`, `region`, …).
    /// NDJSON: one `{"metric_id", "date", "value", "dimension"?}` per line.
    Import {
        /// The file to read (`-` for standard input).
        file: PathBuf,
        /// The tenant the values belong to.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The format (default: from the file extension, else CSV).
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
    },
    /// Derive daily metric values from the spine data (opportunities,
    /// revenue events) and store them as `computed`; days that hold an
    /// imported value are left alone and listed.
    Compute {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// First day (default: 29 days before `--to`).
        #[arg(long, value_name = "YYYY-MM-DD")]
        from: Option<chrono::NaiveDate>,
        /// Last day (default: today, UTC).
        #[arg(long, value_name = "YYYY-MM-DD")]
        to: Option<chrono::NaiveDate>,
    },
}

/// `revos spine …`.
#[derive(Debug, Subcommand)]
pub enum SpineCommand {
    /// Import rows into one spine table from a CSV or NDJSON file, all or
    /// nothing.
    ///
    /// Every row is checked first and each bad one is reported with its
    /// line; rows are keyed by their `id` (channels: by campaign and
    /// channel), so importing a file again adds nothing. An import never
    /// acts: no policy runs, an `active` campaign is not a launch.
    ///
    /// CSV: a header row naming the record's fields (`id,name,domain,…`;
    /// channels: `campaign_id,channel,status,budget_total,budget_spent`),
    /// an empty cell for an absent field. NDJSON: one record per line.
    Import {
        /// The file to read (`-` for standard input).
        file: PathBuf,
        /// The tenant the rows belong to.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The table: campaigns, channels, opportunities, accounts,
        /// activities, revenue-events.
        #[arg(long)]
        table: String,
        /// The format (default: from the file extension, else CSV).
        #[arg(long, value_enum)]
        format: Option<ImportFormat>,
    },
}

/// `revos keys …`.
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create a key; its secret is printed once.
    Create {
        /// A name to recognise it by.
        #[arg(long)]
        name: String,
        /// Comma-separated scopes: read, write, admin (each includes the ones before).
        #[arg(long, value_delimiter = ',', default_value = "read")]
        scopes: Vec<String>,
        /// The tenant it acts for (absent: a platform key for every tenant).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
        /// The AI agent it identifies.
        #[arg(long)]
        agent: Option<String>,
    },
    /// List keys (never their secrets).
    List {
        /// Only this tenant's keys.
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
    },
    /// Revoke a key; it fails on its next use.
    Revoke {
        /// The key id (as listed), with or without `rvs_`.
        id: String,
    },
}

/// `revos audit …`.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every chain (or one tenant's): OK, or the first bad entry and what is wrong.
    Verify {
        /// Only this tenant.
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
    },
    /// Sign a checkpoint over the head of every chain (needs `audit_signing_key`).
    Checkpoint,
    /// List a tenant's audit entries, newest first (`--oldest-first` reverses).
    List {
        /// The tenant (absent: the platform chain).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
        /// Only entries by this actor.
        #[arg(long)]
        actor: Option<String>,
        /// Only entries of this action (`key.create`, `auth.failure`, …).
        #[arg(long)]
        action: Option<String>,
        /// Only entries after this sequence number.
        #[arg(long, value_name = "SEQ")]
        after: Option<u64>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Print a new Ed25519 key for `audit_signing_key`.
    Keygen,
}

/// `revos webhooks …`.
#[derive(Debug, Subcommand)]
pub enum WebhooksCommand {
    /// Manage the per-tenant, per-source signing secrets.
    #[command(subcommand)]
    Secrets(SecretsCommand),
    /// Outbound endpoints the WEBHOOK action posts to.
    #[command(subcommand)]
    Endpoints(EndpointsCommand),
}

/// `revos webhooks endpoints …`.
#[derive(Debug, Subcommand)]
pub enum EndpointsCommand {
    /// Add an endpoint (its signing secret is printed once).
    Add {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The name policies refer to (e.g. crm_sync).
        #[arg(long)]
        name: String,
        /// The https:// URL (http:// only to an address in `[outbound] allow`).
        #[arg(long)]
        url: String,
        /// The receiver's own whsec_… secret, instead of a new one.
        #[arg(long, value_name = "WHSEC")]
        secret: Option<String>,
    },
    /// List a tenant's endpoints.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Deactivate an endpoint.
    Remove {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The endpoint id.
        id: String,
    },
}

/// `revos webhooks secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Create a `whsec_` secret for a source (printed once), or store the
    /// sender's own. `hubspot` has none to create: import its client secret.
    Create {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The source name used in the URL (`/v1/webhooks/{tenant}/{source}`).
        #[arg(long)]
        source: String,
        /// The sender's own `whsec_…` secret, instead of a new one.
        #[arg(long, value_name = "WHSEC")]
        secret: Option<String>,
    },
    /// Store a secret the sender issued: Stripe's endpoint signing secret
    /// (`whsec_…`) for `stripe`, the HubSpot app's client secret for
    /// `hubspot`, a `whsec_<base64>` secret for other sources. Read from
    /// standard input (one line) unless `--secret` gives it.
    Import {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The source name used in the URL (`/v1/webhooks/{tenant}/{source}`).
        #[arg(long)]
        source: String,
        /// The secret; without it, it is read from standard input, so it
        /// stays out of the shell's history.
        #[arg(long, value_name = "SECRET")]
        secret: Option<String>,
    },
    /// List a tenant's secrets (fingerprints only).
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Revoke a secret; deliveries signed with it fail from now on.
    Revoke {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The secret's id, as listed.
        id: String,
    },
}

/// `revos members …`.
#[derive(Debug, Subcommand)]
pub enum MembersCommand {
    /// Add a user to a tenant, or change their role.
    Add {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The user's `sub` claim at the identity provider.
        #[arg(long)]
        subject: String,
        /// viewer, approver, operator, admin or owner.
        #[arg(long)]
        role: String,
    },
    /// List a tenant's members.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Remove a user from a tenant.
    Remove {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The user's `sub`.
        #[arg(long)]
        subject: String,
    },
}

/// Options of `revos worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// Only these queues (comma-separated; default: all).
    #[arg(long, value_delimiter = ',')]
    pub queues: Vec<String>,
    /// The name this worker claims under (default: host and process id).
    #[arg(long)]
    pub id: Option<String>,
    /// Seconds a claim holds a job before another worker may take it.
    #[arg(long, default_value_t = 30)]
    pub lease_seconds: u64,
}

/// `revos queues …`.
#[derive(Debug, Subcommand)]
pub enum QueuesCommand {
    /// Show or replace a tenant's overrides of queue settings.
    TenantSettings {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// New overrides as JSON, e.g. '{"email": {"max_attempts": 5}}' ('{}' clears them).
        #[arg(long, value_name = "JSON")]
        set: Option<String>,
    },
    /// Depth per state, oldest waiting job, failures and throughput per
    /// configured queue (idle ones with zeros), and whether it is paused.
    Stats {
        /// Only this tenant.
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
    },
    /// Pause a queue: it keeps accepting jobs and claims none until resumed.
    Pause {
        /// The queue.
        queue: String,
        /// Only this tenant's jobs (absent: every tenant's).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
    },
    /// Resume a paused queue.
    Resume {
        /// The queue.
        queue: String,
        /// The tenant it was paused for (absent: the pause for every tenant).
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
    },
}

/// `revos jobs …`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// List jobs, newest first (`--oldest-first` reverses).
    List {
        /// Only this tenant.
        #[arg(long, value_name = "UUID")]
        tenant: Option<String>,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only this state (waiting, delayed, active, completed, failed, dead, awaiting_approval, cancelled).
        #[arg(long)]
        state: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[command(flatten)]
        page: PageArgs,
    },
    /// Show one job.
    Show {
        /// The job id.
        id: String,
    },
    /// Redrive a dead, failed or cancelled job, or (with --queue and
    /// --state) every such job of a queue at once. A redriven e-mail job
    /// sends its e-mail (once).
    #[command(after_help = "Examples:\n  revos jobs retry 0b7c…\n  \
                            revos jobs retry --queue email --state dead --since 2026-12-01 \
                            --tenant UUID")]
    Retry {
        /// The job id (absent: every job --queue and --state select).
        #[arg(required_unless_present = "queue")]
        id: Option<String>,
        #[command(flatten)]
        bulk: BulkArgs,
    },
    /// Cancel a job that has not run, or (with --queue and --state) every
    /// such job of a queue at once; their e-mails are withdrawn.
    Cancel {
        /// The job id (absent: every job --queue and --state select).
        #[arg(required_unless_present = "queue")]
        id: Option<String>,
        #[command(flatten)]
        bulk: BulkArgs,
    },
    /// Approve a job awaiting approval.
    Approve {
        /// The job id.
        id: String,
        /// Why (required; kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Reject a job awaiting approval.
    Reject {
        /// The job id.
        id: String,
        /// Why (required; kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// `revos tools …`.
#[derive(Debug, Subcommand)]
pub enum ToolsCommand {
    /// List the tools: risk, queue and executor of each (`--json`: with
    /// the JSON Schema of their arguments and the Cedar schema).
    List,
    /// A tenant's tool policies.
    #[command(subcommand)]
    Policies(ToolPoliciesCommand),
    /// List a tenant's agent actions (tool calls), newest first.
    Actions {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this status (executed, awaiting_approval, blocked, rejected, expired).
        #[arg(long)]
        status: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this agent (`optimizer` for the optimizer's calls).
        #[arg(long)]
        agent: Option<String>,
        /// At most this many (1–200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after a page (its `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one agent action: arguments, evidence, risk, reasons, job and result.
    Action {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The action's id.
        id: String,
    },
}

/// `revos tools policies …`.
#[derive(Debug, Subcommand)]
pub enum ToolPoliciesCommand {
    /// Show the tenant's Cedar tool policies and approval settings.
    Show {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
    },
    /// Replace the tenant's tool policies with a Cedar file (validated
    /// against the tool schema; Cedar's message when it does not).
    #[command(
        after_help = "Example:\n  revos tools policies set --tenant UUID --file tools.cedar \
                            --settings '{\"approvers\": {\"high\": 2}}'"
    )]
    Set {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The Cedar policies.
        #[arg(long, value_name = "PATH")]
        file: std::path::PathBuf,
        /// Approval settings as JSON (defaults when absent).
        #[arg(long, value_name = "JSON")]
        settings: Option<String>,
    },
}

/// `revos approvals …`.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List approvals, newest first.
    List {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// Only this status (pending, approved, rejected, expired).
        #[arg(long)]
        status: Option<String>,
        /// Only this risk (low, medium, high).
        #[arg(long)]
        risk: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this agent.
        #[arg(long)]
        agent: Option<String>,
        /// Only this queue.
        #[arg(long)]
        queue: Option<String>,
        /// Only those older than this many minutes.
        #[arg(long, value_name = "MINUTES")]
        older_than: Option<u32>,
        /// At most this many (1–200).
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Continue after a page (its `next_cursor`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// Show one approval: evidence, arguments, risk, decisions.
    Show {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The approval id.
        id: String,
    },
    /// Approve (the job runs once enough people approved).
    Approve {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The approval id.
        id: String,
        /// Why (required; kept in the audit log).
        #[arg(long)]
        reason: String,
        /// The exact number of entities it affects, when it asks for it.
        #[arg(long)]
        confirm_count: Option<u32>,
    },
    /// Reject (the job is cancelled).
    Reject {
        /// The tenant.
        #[arg(long, value_name = "UUID")]
        tenant: String,
        /// The approval id.
        id: String,
        /// Why (required; kept in the audit log).
        #[arg(long)]
        reason: String,
    },
}

/// The selection of a bulk `jobs retry|cancel`.
#[derive(Debug, Clone, Args)]
pub struct BulkArgs {
    /// Every job of this queue …
    #[arg(long, conflicts_with = "id", requires = "state")]
    pub queue: Option<String>,
    /// … in this state (retry: dead, failed, cancelled; cancel: waiting,
    /// delayed, failed, dead) …
    #[arg(long, requires = "queue")]
    pub state: Option<String>,
    /// … created at or after this time (RFC 3339 or YYYY-MM-DD) …
    #[arg(long, requires = "queue")]
    pub since: Option<String>,
    /// … and before this one.
    #[arg(long, requires = "queue")]
    pub until: Option<String>,
    /// … of this tenant (absent: every tenant's).
    #[arg(long, value_name = "UUID", requires = "queue")]
    pub tenant: Option<String>,
}

/// Which storage backend a benchmark runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchBackend {
    /// A new SQLite file in a temporary directory.
    Sqlite,
    /// A new database on the PostgreSQL server of `--database` (default
    /// postgres://postgres@127.0.0.1:5432/postgres), dropped afterwards.
    Postgres,
}

/// `revos bench …`.
#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Enqueue and process no-op jobs; prints jobs/s and latency percentiles.
    Queue {
        /// The backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BenchBackend,
        /// Jobs to run.
        #[arg(long, default_value_t = 10_000)]
        jobs: u32,
        /// Concurrent claimers.
        #[arg(long, default_value_t = 4)]
        concurrency: u32,
        /// Jobs per claim and per enqueue transaction.
        #[arg(long, default_value_t = 100)]
        batch: u32,
        /// Tenants the jobs are spread over.
        #[arg(long, default_value_t = 4)]
        tenants: u32,
    },
    /// Ingest lead_captured events over HTTP against a real server;
    /// prints events/s and latency percentiles.
    Ingest {
        /// The backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BenchBackend,
        /// Events to send.
        #[arg(long, default_value_t = 5_000)]
        events: u32,
        /// Concurrent HTTP clients.
        #[arg(long, default_value_t = 16)]
        concurrency: u32,
        /// Runtime mode of the server (enforce also writes outbox rows, tasks and jobs).
        #[arg(long, default_value = "shadow")]
        mode: String,
        /// Tenants the events are spread over.
        #[arg(long, default_value_t = 1)]
        tenants: u32,
    },
    /// Post unsigned webhook deliveries to a known and an unknown tenant,
    /// interleaved; prints the latency of each (does timing tell whether
    /// a tenant exists?).
    WebhookOracle {
        /// The backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BenchBackend,
        /// Deliveries to send (half to each tenant).
        #[arg(long, default_value_t = 400)]
        requests: u32,
    },
    /// Seed tenants with days × metrics of snapshots, then run one
    /// optimization cycle per tenant on stored data; prints cycles/s.
    Cycles {
        /// The backend.
        #[arg(long, value_enum, default_value = "sqlite")]
        backend: BenchBackend,
        /// Tenants (one cycle each).
        #[arg(long, default_value_t = 1000)]
        tenants: u32,
        /// Days of snapshots per tenant.
        #[arg(long, default_value_t = 90)]
        days: u32,
        /// Metrics per day.
        #[arg(long, default_value_t = 35)]
        metrics: u32,
        /// Concurrent cycles.
        #[arg(long, default_value_t = 4)]
        concurrency: u32,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every subcommand's arguments are well-formed (unique names, no clash
    /// with `--help` or `--version`): clap checks this only when a command
    /// is used, so a mistake would otherwise panic in a user's hands.
    #[test]
    fn the_command_line_is_well_formed() {
        super::Cli::command().debug_assert();
    }
}
