//! The `revos` binary end to end: the commands a person types, on SQLite
//! and on PostgreSQL, checked by their output and by what the database holds
//! afterwards.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

/// A database for one test, kept alive by the guard.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(revos_store_postgres::testing::TestDatabase),
}

impl Db {
    async fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres() -> Db {
        Db::Postgres(revos_store_postgres::testing::TestDatabase::create().await)
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}", dir.path().join("revos.db").display()),
            Db::Postgres(db) => db.url().to_owned(),
        }
    }

    /// The store itself, opened as the program opens it.
    async fn store(&self) -> std::sync::Arc<dyn revos_store::Store> {
        match self {
            Db::Sqlite(_) => std::sync::Arc::new(
                revos_store_sqlite::SqliteStore::connect(&self.url())
                    .await
                    .unwrap(),
            ),
            Db::Postgres(db) => std::sync::Arc::new(db.store().await),
        }
    }

    /// Runs `revos ARGS` with this database in `DATABASE_URL`, in a scratch
    /// directory so no `revos.toml` or `revos.db` of the caller is touched.
    fn revos(&self, args: &[&str]) -> Output {
        self.revos_with(args, &[])
    }

    fn revos_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let scratch = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_revos"))
            .args(args)
            .current_dir(scratch.path())
            .env("DATABASE_URL", self.url())
            .env_remove("REVOS_CONFIG")
            .env_remove("REVOS_AUDIT_SIGNING_KEY")
            .envs(env.iter().copied())
            .output()
            .unwrap()
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(out), stderr(out)))
}

/// The top-level keys of a JSON object, in order.
fn keys(value: &Value) -> Vec<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Asserts that `text` holds each phrase, in this order.
fn in_order(text: &str, phrases: &[&str]) {
    let mut at = 0;
    for phrase in phrases {
        let found = text[at..]
            .find(phrase)
            .unwrap_or_else(|| panic!("`{phrase}` missing or out of order in:\n{text}"));
        at += found + phrase.len();
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

async fn tenants_and_import(db: Db) {
    let out = db.revos(&["migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("migrations applied"));
    let out = db.revos(&["--json", "migrate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keys(&json(&out)), ["migrated", "database_url", "backend"]);

    let tenant = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
    let out = db.revos(&["tenants", "create", "--name", "Tenant A", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(tenant));
    let out = db.revos(&["tenants", "create", "--name", "again", "--id", tenant]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));

    let out = db.revos(&["--json", "tenants", "list"]);
    assert!(out.status.success());
    assert_eq!(json(&out)[0]["name"], "Tenant A");
    let out = db.revos(&["tenants", "list"]);
    assert!(stdout(&out).contains("Tenant A"));
    assert!(
        !stdout(&out).contains("there may be more"),
        "{}",
        stdout(&out)
    );
    // A list cut off at its limit says so, and how to see the rest.
    let out = db.revos(&["tenants", "list", "--limit", "1"]);
    assert!(
        stdout(&out)
            .contains("(showing the first 1; there may be more — the next page: --offset 1)"),
        "{}",
        stdout(&out)
    );

    let files = tempfile::tempdir().unwrap();
    let good = write(
        files.path(),
        "good.csv",
        "metric_id,date,value,channel\n\
         pipeline_total,2026-11-01,125000,\n\
         bookings_new,2026-11-01,4,\n\
         cac_blended,2026-11-01,910.5,\n\
         leads_new,2026-11-01,40,paid_search\n\
         leads_new,2026-11-01,25,email\n",
    );
    let out = db.revos(&["--json", "metrics", "import", &good, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["written"], 5);

    // A file with bad rows: every one reported by line, nothing written.
    let bad = write(
        files.path(),
        "bad.csv",
        "metric_id,date,value\n\
         win_rate,2026-11-02,0.3\n\
         pipline_total,2026-11-02,1\n\
         leads_new,2026-11-02,lots\n",
    );
    let out = db.revos(&["metrics", "import", &bad, "--tenant", tenant]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("2 bad rows"), "{err}");
    assert!(
        err.contains("line 3") && err.contains("pipline_total"),
        "{err}"
    );
    assert!(
        err.contains("line 4") && err.contains("not a number"),
        "{err}"
    );

    let ndjson = write(
        files.path(),
        "more.ndjson",
        "{\"metric_id\":\"win_rate\",\"date\":\"2026-11-02\",\"value\":0.31}\n",
    );
    let out = db.revos(&["--json", "metrics", "import", &ndjson, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["written"], 1);

    // What the database holds: the good file and the NDJSON line, not the bad file.
    let store = db.store().await;
    let stored = store
        .list_metric_snapshots(tenant.parse().unwrap(), &Default::default())
        .await
        .unwrap();
    assert_eq!(stored.len(), 6, "{stored:?}");
    assert!(
        !stored
            .iter()
            .any(|s| s.date.to_string() == "2026-11-02" && s.metric_id != "win_rate")
    );

    let missing = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
    let out = db.revos(&["--json", "metrics", "import", &ndjson, "--tenant", missing]);
    assert!(!out.status.success());
    assert_eq!(json(&out)["code"], "TENANT_NOT_FOUND");
}

/// `revos spine import`: a bad line names itself and writes nothing; a
/// good file writes its rows; importing it again adds none; channels join
/// their campaigns; and no campaign import counts as a launch.
async fn spine_import(db: Db) {
    let tenant = "cccccccc-cccc-cccc-cccc-cccccccccccc";
    let out = db.revos(&["tenants", "create", "--name", "Spine", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let files = tempfile::tempdir().unwrap();
    let bad = write(
        files.path(),
        "bad.csv",
        "id,name,stage,status,amount,expected_close_date,win_probability\n\
         o1,Acme,proposal,open,12000,2026-12-20,0.4\n\
         o2,Beta,proposal,open,lots,2026-12-20,0.4\n\
         o3,Gamma,proposal,maybe,500,2026-12-20,0.4\n",
    );
    let out = db.revos(&[
        "spine",
        "import",
        &bad,
        "--tenant",
        tenant,
        "--table",
        "opportunities",
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("line 3") && err.contains("not a number"),
        "{err}"
    );
    let out = db.revos(&[
        "spine", "import", "--table", "deals", &bad, "--tenant", tenant,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("revenue-events"), "{}", stderr(&out));

    let good = write(
        files.path(),
        "opps.csv",
        "id,name,stage,status,amount,expected_close_date,win_probability,created_date\n\
         o1,Acme,proposal,open,12000,2026-12-20,0.4,2026-11-02\n\
         o2,Beta,closed_won,won,8000,2026-11-20,1,2026-10-01\n",
    );
    for _ in 0..2 {
        let out = db.revos(&[
            "--json",
            "spine",
            "import",
            &good,
            "--tenant",
            tenant,
            "--table",
            "opportunities",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(json(&out)["rows"], 2);
    }
    let store = db.store().await;
    let t = tenant.parse().unwrap();
    let opps = store
        .list_opportunities(t, None, revos_store::Page::new(100, 0))
        .await
        .unwrap();
    assert_eq!(opps.len(), 2, "a repeated import adds nothing: {opps:?}");
    // A row whose status is not one of open, won, lost: named, nothing written.
    let out = db.revos(&[
        "spine",
        "import",
        &bad,
        "--tenant",
        tenant,
        "--table",
        "opportunities",
    ]);
    assert!(!out.status.success());

    let campaigns = write(
        files.path(),
        "campaigns.ndjson",
        "{\"id\":\"c1\",\"name\":\"Spring\",\"status\":\"active\",\"objective\":\"demand_gen\",\"budget_total\":5000,\"budget_spent\":1200,\"start_date\":\"2026-11-01\"}\n",
    );
    let out = db.revos(&[
        "spine",
        "import",
        &campaigns,
        "--tenant",
        tenant,
        "--table",
        "campaigns",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("no policy ran"), "{}", stdout(&out));
    let channels = write(
        files.path(),
        "channels.csv",
        "campaign_id,channel,status,budget_total,budget_spent\n\
         c1,paid_search,active,3000,800\n\
         c1,linkedin,active,2000,400\n",
    );
    let out = db.revos(&[
        "spine", "import", &channels, "--tenant", tenant, "--table", "channels",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let missing = write(
        files.path(),
        "orphans.csv",
        "campaign_id,channel,status,budget_total,budget_spent\nc9,email,active,10,0\n",
    );
    let out = db.revos(&[
        "spine", "import", &missing, "--tenant", tenant, "--table", "channels",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("line 2") && stderr(&out).contains("c9"),
        "{}",
        stderr(&out)
    );
    let c1 = store.get_campaign(t, "c1").await.unwrap().unwrap();
    assert_eq!(c1.channels.len(), 2, "{c1:?}");
    // No launch was recorded for the active campaign: no event at all.
    let events = store.list_events(t, &Default::default()).await.unwrap();
    assert!(events.is_empty(), "{events:?}");
}

async fn keys_webhooks_and_audit(db: Db) {
    let tenant = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
    let out = db.revos(&["tenants", "create", "--name", "Tenant A", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = db.revos(&[
        "--json",
        "keys",
        "create",
        "--name",
        "crm sync",
        "--scopes",
        "read,write",
        "--tenant",
        tenant,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let issued = json(&out);
    assert!(issued["token"].as_str().unwrap().starts_with("rvs_"));
    let key_id = issued["key"]["id"].as_str().unwrap().to_owned();
    let out = db.revos(&["keys", "create", "--name", "x", "--scopes", "superuser"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("unknown scope"), "{}", stderr(&out));
    let out = db.revos(&["keys", "list"]);
    assert!(
        stdout(&out).contains(&format!("rvs_{key_id}")),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains(issued["token"].as_str().unwrap()));
    let out = db.revos(&["keys", "revoke", &format!("rvs_{key_id}")]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["--json", "keys", "list", "--tenant", tenant]);
    assert!(json(&out)[0]["revoked_at"].is_string());

    let out = db.revos(&[
        "--json", "webhooks", "secrets", "create", "--tenant", tenant, "--source", "billing",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let created = json(&out);
    assert!(created["secret"].as_str().unwrap().starts_with("whsec_"));
    let out = db.revos(&["webhooks", "secrets", "list", "--tenant", tenant]);
    assert!(stdout(&out).contains("billing") && stdout(&out).contains("active"));
    let secret_id = created["info"]["id"].as_str().unwrap();
    let out = db.revos(&[
        "webhooks", "secrets", "revoke", "--tenant", tenant, secret_id,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The audit trail of all that verifies; with a key, checkpoints are signed and checked.
    let out = db.revos(&[
        "--json",
        "audit",
        "list",
        "--tenant",
        tenant,
        "--oldest-first",
    ]);
    let listed = json(&out);
    assert_eq!(listed["has_more"], false, "{listed}");
    let actions: Vec<String> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        [
            "tenant.create",
            "key.create",
            "key.revoke",
            "webhook_secret.create",
            "webhook_secret.revoke"
        ]
    );
    let out = db.revos(&["audit", "verify"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("OK      {tenant}: 5 entries")),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("no audit_signing_key"));
    let out = db.revos(&["--json", "audit", "keygen"]);
    let key = json(&out)["audit_signing_key"].as_str().unwrap().to_owned();
    let env = [("REVOS_AUDIT_SIGNING_KEY", key.as_str())];
    let out = db.revos_with(&["audit", "checkpoint"], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos_with(&["--json", "audit", "verify", "--tenant", tenant], &env);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)[0]["report"]["checkpoints_checked"], 1);
    let out = db.revos(&["audit", "checkpoint"]);
    assert!(!out.status.success(), "checkpoints need a key");
}

/// `revos tools` and `revos approvals`: the catalog, policies that are
/// validated when set, and an agent's gated action listed, shown and
/// decided from the command line.
async fn tools_and_approvals(db: Db) {
    let tenant = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
    let out = db.revos(&["tenants", "create", "--name", "Tenant B", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["tools", "list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    in_order(
        &stdout(&out),
        &[
            "TOOL",
            "send_email",
            "update_deal",
            "endpoint `crm`",
            "12 tools",
        ],
    );
    let out = db.revos(&["--json", "tools", "list"]);
    assert_eq!(json(&out)["items"].as_array().unwrap().len(), 12);

    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.cedar",
        "permit(principal, action == Action::\"send_email\", resource) when { context.args.amout < 1 };",
    );
    let out = db.revos(&[
        "tools", "policies", "set", "--tenant", tenant, "--file", &bad,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("amout"), "{}", stderr(&out));
    let good = write(
        dir.path(),
        "tools.cedar",
        "@id(\"mail\") @approval(\"required\")\npermit(principal == Agent::\"growth-bot\", action == Action::\"send_email\", resource);",
    );
    let out = db.revos(&[
        "tools",
        "policies",
        "set",
        "--tenant",
        tenant,
        "--file",
        &good,
        "--settings",
        "{\"confirm_count_above\": 1}",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["tools", "policies", "show", "--tenant", tenant]);
    in_order(
        &stdout(&out),
        &["tool policies", "@id(\"mail\")", "exact count above 1"],
    );

    // The agent asks (through the kernel, as the API would).
    let out = db.revos(&[
        "--json",
        "keys",
        "create",
        "--name",
        "bot",
        "--scopes",
        "write",
        "--tenant",
        tenant,
        "--agent",
        "growth-bot",
    ]);
    let token = json(&out)["token"].as_str().unwrap().to_owned();
    let config = revos_kernel::Config {
        database_url: db.url(),
        ..revos_kernel::Config::default()
    };
    let kernel = revos_kernel::Kernel::start(db.store().await, config)
        .await
        .unwrap();
    let agent = kernel
        .authenticate(&token, "test", chrono::Utc::now())
        .await
        .unwrap();
    let request: revos_kernel::ops::actions::AgentActionRequest = serde_json::from_value(serde_json::json!({
        "tool": "send_email",
        "args": {"to": ["a@client.example", "b@client.example"], "subject": "Hi", "text": "Hello"},
        "entity": "lead:a", "reason_code": "follow_up", "idempotency_key": "cli-1",
    }))
    .unwrap();
    let asked = kernel
        .request_agent_action(&agent, None, request, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(asked.status, "awaiting_approval");
    let id = asked.approval_id.unwrap().to_string();

    let out = db.revos(&[
        "approvals",
        "list",
        "--tenant",
        tenant,
        "--status",
        "pending",
    ]);
    in_order(
        &stdout(&out),
        &[
            "APPROVAL",
            &id,
            "pending",
            "low",
            "send_email",
            "growth-bot",
            "0/1",
        ],
    );
    let out = db.revos(&["approvals", "show", "--tenant", tenant, &id]);
    in_order(
        &stdout(&out),
        &["pending", "growth-bot", "send_email", "--confirm-count 2"],
    );
    let out = db.revos(&[
        "approvals",
        "approve",
        "--tenant",
        tenant,
        &id,
        "--reason",
        "ok",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("confirm_count"), "{}", stderr(&out));
    let out = db.revos(&[
        "approvals",
        "approve",
        "--tenant",
        tenant,
        &id,
        "--reason",
        "ok",
        "--confirm-count",
        "2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is now approved"), "{}", stdout(&out));
    let out = db.revos(&[
        "approvals",
        "reject",
        "--tenant",
        tenant,
        &id,
        "--reason",
        "no",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("already approved"),
        "{}",
        stderr(&out)
    );
    let out = db.revos(&["--json", "approvals", "list", "--tenant", tenant]);
    assert_eq!(json(&out)["items"][0]["status"], "approved");
}

/// `revos posts`: a draft written, refused at submit with its missing
/// checks, checked, submitted by an agent, shown waiting for approval,
/// approved from the command line; edits of a submitted post refused.
async fn posts_from_the_command_line(db: Db) {
    let tenant = "cccccccc-cccc-cccc-cccc-cccccccccccc";
    let out = db.revos(&["tenants", "create", "--name", "Tenant C", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&[
        "--json",
        "posts",
        "create",
        "--tenant",
        tenant,
        "--channel",
        "blog",
        "--title",
        "Spring release",
        "--body",
        "Reports are twice as fast.",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = json(&out)["id"].as_str().unwrap().to_owned();
    let out = db.revos(&["posts", "submit", "--tenant", tenant, &id]);
    assert!(!out.status.success());
    in_order(
        &stderr(&out),
        &[
            "cannot be submitted",
            "no source URLs",
            "no claims listed",
            "fact_check",
        ],
    );
    let out = db.revos(&[
        "posts",
        "edit",
        "--tenant",
        tenant,
        &id,
        "--source",
        "https://acme.example/changelog",
        "--claim",
        "Reports are twice as fast",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    for name in ["fact_check", "tone_check"] {
        let out = db.revos(&[
            "posts",
            "check",
            "--tenant",
            tenant,
            &id,
            "--name",
            name,
            "--result",
            "pass",
            "--notes",
            "checked against the changelog",
        ]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = db.revos(&["posts", "show", "--tenant", tenant, &id]);
    in_order(
        &stdout(&out),
        &[
            "draft",
            "Spring release",
            "CHECK",
            "source_urls",
            "pass",
            "tone_check",
            "ready to submit",
        ],
    );

    // An agent submits (through the kernel, as the API would).
    let dir = tempfile::tempdir().unwrap();
    let policies = write(
        dir.path(),
        "publish.cedar",
        "permit(principal == Agent::\"writer\", action == Action::\"publish_post\", resource);",
    );
    let out = db.revos(&[
        "tools", "policies", "set", "--tenant", tenant, "--file", &policies,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&[
        "--json", "keys", "create", "--name", "writer", "--scopes", "write", "--tenant", tenant,
        "--agent", "writer",
    ]);
    let token = json(&out)["token"].as_str().unwrap().to_owned();
    let config = revos_kernel::Config {
        database_url: db.url(),
        ..revos_kernel::Config::default()
    };
    let kernel = revos_kernel::Kernel::start(db.store().await, config)
        .await
        .unwrap();
    let agent = kernel
        .authenticate(&token, "test", chrono::Utc::now())
        .await
        .unwrap();
    let (post, action) = kernel
        .submit_post(
            &agent,
            tenant.parse().unwrap(),
            id.parse().unwrap(),
            revos_kernel::ops::posts::SubmitInput::default(),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(post.status, "submitted");
    assert_eq!(action.status, "awaiting_approval");
    let approval = action.approval_id.unwrap().to_string();

    let out = db.revos(&["posts", "list", "--tenant", tenant, "--status", "submitted"]);
    in_order(
        &stdout(&out),
        &["POST", &id, "submitted", "blog", "Spring release"],
    );
    let out = db.revos(&[
        "posts", "edit", "--tenant", tenant, &id, "--title", "Changed",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("is submitted"), "{}", stderr(&out));
    let out = db.revos(&[
        "approvals",
        "approve",
        "--tenant",
        tenant,
        &approval,
        "--reason",
        "checked",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["--json", "posts", "show", "--tenant", tenant, &id]);
    let shown = json(&out);
    assert_eq!(shown["submission"]["status"], "executed", "{shown}");
    assert_eq!(shown["status"], "submitted");
}

#[tokio::test]
async fn sqlite_posts_from_the_command_line() {
    posts_from_the_command_line(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_posts_from_the_command_line() {
    posts_from_the_command_line(Db::postgres().await).await;
}

#[tokio::test]
async fn sqlite_tools_and_approvals() {
    tools_and_approvals(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_tools_and_approvals() {
    tools_and_approvals(Db::postgres().await).await;
}

#[tokio::test]
async fn sqlite_tenants_and_import() {
    tenants_and_import(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_tenants_and_import() {
    tenants_and_import(Db::postgres().await).await;
}

#[tokio::test]
async fn sqlite_spine_import() {
    spine_import(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_spine_import() {
    spine_import(Db::postgres().await).await;
}

#[tokio::test]
async fn sqlite_keys_webhooks_and_audit() {
    keys_webhooks_and_audit(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_keys_webhooks_and_audit() {
    keys_webhooks_and_audit(Db::postgres().await).await;
}

/// Each source's secrets take its sender's form: `create` makes a `whsec_`
/// secret for `stripe`, refuses `hubspot` (HubSpot issues the client
/// secret), and `import` stores a HubSpot client secret read from standard
/// input; listings show fingerprints only.
#[tokio::test]
async fn webhook_secrets_take_each_sender_s_form() {
    let db = Db::sqlite().await;
    let tenant = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
    assert!(
        db.revos(&["tenants", "create", "--name", "A", "--id", tenant])
            .status
            .success()
    );
    let out = db.revos(&[
        "--json", "webhooks", "secrets", "create", "--tenant", tenant, "--source", "stripe",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stripe = json(&out)["secret"].as_str().unwrap().to_owned();
    assert!(stripe.starts_with("whsec_"), "{stripe}");

    let out = db.revos(&[
        "webhooks", "secrets", "create", "--tenant", tenant, "--source", "hubspot",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("import"), "{}", stderr(&out));

    let client_secret = "6d2a7c1e-0b4f-4a8e-9c3d-5f1e2b7a9d04";
    let scratch = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_revos"))
        .args([
            "webhooks", "secrets", "import", "--tenant", tenant, "--source", "hubspot",
        ])
        .current_dir(scratch.path())
        .env("DATABASE_URL", db.url())
        .env_remove("REVOS_CONFIG")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "{client_secret}").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("…9d04"), "{}", stdout(&out));
    assert!(!stdout(&out).contains(client_secret), "{}", stdout(&out));

    // A client secret is not a Standard Webhooks secret.
    let out = db.revos(&[
        "webhooks",
        "secrets",
        "import",
        "--tenant",
        tenant,
        "--source",
        "salesforce",
        "--secret",
        client_secret,
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("whsec_"), "{}", stderr(&out));

    let out = db.revos(&["--json", "webhooks", "secrets", "list", "--tenant", tenant]);
    let listed = json(&out);
    let text = listed.to_string();
    assert!(
        !text.contains(client_secret) && !text.contains(&stripe[6..]),
        "{text}"
    );
    let by_source = |source: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["source"] == source)
            .unwrap_or_else(|| panic!("{source}: {listed}"))["fingerprint"]
            .clone()
    };
    assert_eq!(by_source("hubspot"), "…9d04");
    assert!(by_source("stripe").as_str().unwrap().starts_with("whsec_…"));
}

#[tokio::test]
async fn audit_verify_names_the_first_bad_entry() {
    let db = Db::sqlite().await;
    let tenant = "aaaaaaaa-aaaa-aaaa-aaaa-aaaaaaaaaaaa";
    assert!(
        db.revos(&["tenants", "create", "--name", "A", "--id", tenant])
            .status
            .success()
    );
    for name in ["one", "two", "three"] {
        assert!(
            db.revos(&["keys", "create", "--name", name, "--tenant", tenant])
                .status
                .success()
        );
    }
    // Tamper with entry 3 behind the kernel's back (dropping the trigger
    // that refuses updates, as someone with file access could).
    let Db::Sqlite(dir) = &db else { unreachable!() };
    let url = format!("sqlite://{}", dir.path().join("revos.db").display());
    let mut conn = <sqlx::SqliteConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let triggers: Vec<String> = sqlx::query_scalar(
        "select name from sqlite_master where type = 'trigger' and tbl_name = 'audit_log'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    for name in triggers {
        sqlx::query(sqlx::AssertSqlSafe(format!("drop trigger {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
    }
    sqlx::query(
        "update audit_log set details = json_object('name', 'forged') \
         where seq = 3 and tenant_id = ?1",
    )
    .bind(tenant)
    .execute(&mut conn)
    .await
    .unwrap();
    let out = db.revos(&["audit", "verify", "--tenant", tenant]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("BROKEN") && stdout(&out).contains("seq 3"),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn metrics_list_and_config() {
    let db = Db::sqlite().await;
    let out = db.revos(&["metrics", "list"]);
    assert!(out.status.success());
    assert!(stdout(&out).contains("pipeline_total"));
    let out = db.revos(&["--json", "metrics", "list"]);
    let list = json(&out);
    assert!(list.as_array().unwrap().len() >= 30);
    assert!(list[0]["definition"].is_string());

    let scratch = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_revos"))
        .args(["--json", "config"])
        .current_dir(scratch.path())
        .env(
            "DATABASE_URL",
            "postgres://revos:hunter2@db.internal:5432/revos",
        )
        .env("REVENUE_OS_KERNEL_MODE", "enforce")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let config = json(&out);
    assert_eq!(
        config["database_url"],
        "postgres://revos:***@db.internal:5432/revos"
    );
    assert_eq!(config["kernel_mode"], "enforce");
    assert!(!stdout(&out).contains("hunter2"));

    let out = Command::new(env!("CARGO_BIN_EXE_revos"))
        .args(["--json", "tenants", "list"])
        .current_dir(scratch.path())
        .env("DATABASE_URL", "mysql://nope")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert_eq!(json(&out)["code"], "INVALID_INPUT");
}

/// A worker killed with SIGKILL in the middle of a job: the job runs again
/// once its lease expires, and completes exactly once; enqueueing it again
/// under the same idempotency key creates nothing.
async fn a_killed_worker_loses_its_job_to_the_next(db: Db) {
    use revos_kernel::delivery::jobs::JobRequest;
    use std::process::Stdio;
    let store = {
        let config = revos_kernel::Config {
            database_url: db.url(),
            ..revos_kernel::Config::default()
        };
        revos_kernel::Kernel::start(db.store().await, config)
            .await
            .unwrap()
    };
    let tenant = store
        .store()
        .create_tenant(revos_store::NewTenant {
            id: None,
            name: "A".into(),
        })
        .await
        .unwrap()
        .id;
    let request = JobRequest {
        queue: "webhook".into(),
        kind: "noop".into(),
        payload: serde_json::json!({"sleep_ms": 2500}),
        priority: None,
        run_at: None,
        idempotency_key: Some(revos_queue::idempotency_id("notify_crm", "deal-7", 1)),
        action_id: Some(uuid::Uuid::new_v4()),
    };
    let service = revos_kernel::identity::auth::Principal::Service;
    let id = store
        .enqueue(&service, tenant, &request, chrono::Utc::now())
        .await
        .unwrap()
        .job_id();
    let spawn_worker = || {
        let scratch = tempfile::tempdir().unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_revos"))
            .args(["worker", "--queues", "webhook", "--lease-seconds", "5"])
            .current_dir(scratch.path())
            .env("DATABASE_URL", db.url())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        (child, scratch)
    };
    let job = || {
        let store = store.store().clone();
        async move { store.get_job(Some(tenant), id).await.unwrap().unwrap() }
    };
    // Bounded waits on another process: poll the job's state.
    async fn wait_for(what: &str, mut done: impl AsyncFnMut() -> bool) {
        for _ in 0..150 {
            if done().await {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}");
    }

    let (mut first, _dir1) = spawn_worker();
    wait_for("the first claim", async || {
        job().await.state == revos_queue::JobState::Active
    })
    .await;
    first.kill().unwrap();
    let _ = first.wait();
    assert_eq!(job().await.attempts, 1);
    // The same work enqueued again is recognised.
    let again = store
        .enqueue(&service, tenant, &request, chrono::Utc::now())
        .await
        .unwrap();
    assert!(matches!(again, revos_queue::EnqueueOutcome::Duplicate { job_id } if job_id == id));

    let (mut second, _dir2) = spawn_worker();
    wait_for("the second worker to finish it", async || {
        job().await.state == revos_queue::JobState::Completed
    })
    .await;
    // The worker writes the outcome's audit entry just after the job's
    // completion (not in its transaction): let it, before stopping it.
    let completions = || {
        let store = store.store().clone();
        async move {
            let filter = revos_store::audit::AuditFilter {
                action: Some("job.completed".into()),
                limit: 10,
                ..Default::default()
            };
            store.list_audit(tenant, &filter).await.unwrap().len()
        }
    };
    wait_for("the completion to be audited", async || {
        completions().await > 0
    })
    .await;
    let _ = second.kill();
    let _ = second.wait();
    let done = job().await;
    assert_eq!(done.attempts, 2, "the lost attempt counted");
    let jobs = store
        .store()
        .list_jobs(Some(tenant), &Default::default())
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1, "one job for the key");
    assert_eq!(completions().await, 1, "completed exactly once");

    let out = db.revos(&["--json", "queues", "stats"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let stats = json(&out);
    let webhook = stats
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "webhook")
        .unwrap();
    assert_eq!(webhook["depth"]["completed"], 1);
    let out = db.revos(&["jobs", "list", "--state", "completed"]);
    assert!(stdout(&out).contains(&id.to_string()), "{}", stdout(&out));
    let out = db.revos(&["jobs", "cancel", &id.to_string()]);
    assert!(!out.status.success(), "a completed job cannot be cancelled");
    assert!(stderr(&out).contains("completed"), "{}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_killed_worker_loses_its_job_to_the_next() {
    a_killed_worker_loses_its_job_to_the_next(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_killed_worker_loses_its_job_to_the_next() {
    a_killed_worker_loses_its_job_to_the_next(Db::postgres().await).await;
}

/// The event runtime from the command line: send, import with bad lines,
/// show, correlation, modes, tasks, guard and replay.
async fn events_policies_and_replay(db: Db) {
    let tenant = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
    let out = db.revos(&["tenants", "create", "--name", "Tenant B", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let lead = |key: &str, email: &str| {
        format!(
            r#"{{"type": "lead_captured", "source": "cmo_campaigns", "idempotency_key": "{key}", "correlation_id": "lead/{key}", "payload": {{"email": "{email}", "name": "Ana", "company": "Client Co"}}}}"#
        )
    };

    // Enforce the lead policy for this tenant only, then send one event.
    let out = db.revos(&[
        "policies",
        "mode",
        "--tenant",
        tenant,
        "--policy",
        "revenue_os.growth.lead_response_v1",
        "enforce",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("set for this policy"),
        "{}",
        stdout(&out)
    );
    let one = write(dir.path(), "one.json", &lead("cli-1", "ana@client.example"));
    let out = db.revos(&["--json", "events", "send", &one, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let receipts = json(&out);
    let event_id = receipts[0]["event_id"].as_str().unwrap().to_owned();
    assert_eq!(receipts[0]["decisions"][0]["mode"], "enforce");

    // An NDJSON import: good lines go in, bad ones are named by line.
    let ndjson = format!(
        "{}\n{}\nnot json\n{}\n",
        lead("cli-2", "bo@client.example"),
        lead("cli-1", "ana@client.example"),
        r#"{"type": "Bad", "source": "x", "idempotency_key": "k"}"#
    );
    let file = write(dir.path(), "events.ndjson", &ndjson);
    let out = db.revos(&["events", "import", &file, "--tenant", tenant]);
    assert!(!out.status.success(), "bad lines fail the command");
    let err = stderr(&out);
    assert!(err.contains("line 3:"), "{err}");
    assert!(err.contains("line 4:"), "{err}");
    assert!(
        stdout(&out).contains("1 events ingested, 1 duplicates, 2 failed"),
        "{}",
        stdout(&out)
    );

    // The timeline and the correlation.
    let out = db.revos(&["events", "show", &event_id, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("revenue_os.growth.lead_response_v1@1"),
        "{text}"
    );
    assert!(text.contains("TASK_CREATE → succeeded"), "{text}");
    assert!(text.contains("e-mail to ana@client.example"), "{text}");
    // The event, then each decision with its reasons and its actions.
    in_order(
        &text,
        &[
            "event lead_captured from cmo_campaigns at ",
            "correlation lead/cli-1",
            "decision revenue_os.growth.lead_response_v1@1 → ",
            "[enforce]",
            "    - ",
            "    action ",
            "      task for ",
        ],
    );
    let out = db.revos(&["--json", "events", "show", &event_id, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keys(&json(&out)), ["event", "decisions", "actions"]);
    let out = db.revos(&[
        "--json",
        "events",
        "correlation",
        "lead/cli-1",
        "--tenant",
        tenant,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["events"].as_array().unwrap().len(), 1);
    let out = db.revos(&["events", "show", "not-a-uuid", "--tenant", tenant]);
    assert!(!out.status.success());

    // Tasks: the follow-ups of both leads; one is done.
    let out = db.revos(&["--json", "tasks", "list", "--tenant", tenant]);
    let tasks = json(&out)["items"].clone();
    assert_eq!(tasks.as_array().unwrap().len(), 2, "{tasks}");
    let task = tasks[0]["id"].as_str().unwrap();
    let out = db.revos(&["tasks", "done", task, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&[
        "--json", "tasks", "list", "--tenant", tenant, "--status", "open",
    ]);
    assert_eq!(json(&out)["items"].as_array().unwrap().len(), 1);

    // A guard from the command line; the exit status tells the verdict.
    let guard = |name: &str, body: &str| {
        let input = write(dir.path(), &format!("{name}.json"), body);
        db.revos(&[
            "guard",
            "deal-update",
            "--tenant",
            tenant,
            "--input",
            &input,
        ])
    };
    let out = guard("override", r#"{"deal_id": "d-1", "discount_pct": 30}"#);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("ALLOW_WITH_OVERRIDE"),
        "{}",
        stdout(&out)
    );
    let out = guard(
        "allow",
        r#"{"deal_id": "d-1", "discount_pct": 5, "correlation_id": "deal/d-1"}"#,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("deal_update: ALLOW\n"),
        "{}",
        stdout(&out)
    );
    let out = guard(
        "block",
        r#"{"deal_id": "d-1", "stage_new": "closed_won", "amount": 0}"#,
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stdout(&out).contains("BLOCK"), "{}", stdout(&out));
    // A misspelt field is an error (exit 1) naming it, not an ALLOW.
    let out = guard("typo", r#"{"deal_id": "d-1", "discount_percent": 90}"#);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("$.discount_percent"),
        "{}",
        stderr(&out)
    );
    assert!(stderr(&out).contains("discount_pct"), "{}", stderr(&out));

    // Replay: version 1 matches what was recorded, version 2 differs.
    let out = db.revos(&[
        "replay",
        "--tenant",
        tenant,
        "--since",
        "2000-01-01",
        "--policy",
        "revenue_os.growth.lead_response_v1@1",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("unchanged 2  changed 0"),
        "{}",
        stdout(&out)
    );
    let out = db.revos(&[
        "replay",
        "--tenant",
        tenant,
        "--since",
        "2000-01-01",
        "--policy",
        "revenue_os.growth.lead_response_v1@2",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("changed 2"), "{text}");
    // One line per changed event: its id, its type, what differs.
    in_order(
        &text,
        &[
            "unchanged 0  changed 2  (outcomes 0, actions +0 -0 ~4)",
            "not compared: no policy 0  baseline unavailable 0",
            &format!(
                "{event_id}  lead_captured  params of follow_up_task changed: due_at; params of response_email changed: text\n"
            ),
        ],
    );
    let out = db.revos(&[
        "replay",
        "--tenant",
        tenant,
        "--since",
        "yesterday",
        "--policy",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", stderr(&out));

    let out = db.revos(&["policies", "list"]);
    assert!(stdout(&out).contains("replay only"), "{}", stdout(&out));

    // Settings: words by default, the stored JSON with --json.
    let out = db.revos(&["policies", "settings", "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("no policy or guard settings are stored"),
        "{}",
        stdout(&out)
    );
    let out = db.revos(&["--json", "policies", "settings", "--tenant", tenant]);
    assert!(json(&out).as_object().unwrap().is_empty());
    let schedule = write(
        dir.path(),
        "schedule.json",
        r#"{"daily_at_utc": "07:30", "deviation_threshold_pct": 25}"#,
    );
    let id = "revenue_os.optimizer.schedule";
    let out = db.revos(&[
        "--json", "policies", "settings", "--tenant", tenant, id, "--set", &schedule,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["stored"], id);
    let out = db.revos(&["policies", "settings", "--tenant", tenant]);
    in_order(
        &stdout(&out),
        &[
            &format!("{id}:"),
            "  daily_at_utc = \"07:30\"",
            "deviation_threshold_pct = 25",
        ],
    );
    let out = db.revos(&["--json", "policies", "settings", "--tenant", tenant, id]);
    assert_eq!(json(&out)["deviation_threshold_pct"], 25);
    let out = db.revos(&[
        "--json", "policies", "settings", "--tenant", tenant, id, "--clear",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["removed"], id);
    let out = db.revos(&["policies", "settings", "--tenant", tenant, id]);
    assert!(
        stdout(&out).contains("no settings of revenue_os.optimizer.schedule are stored"),
        "{}",
        stdout(&out)
    );
}

/// `revos replay --summary` prints the counts only; the default prints a
/// line per changed event after them, and `--json` the full report.
async fn replay_summary_prints_the_counts_only(db: Db) {
    let tenant = "cccccccc-cccc-cccc-cccc-cccccccccccc";
    let out = db.revos(&["tenants", "create", "--name", "Tenant C", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let events = write(
        dir.path(),
        "leads.ndjson",
        concat!(
            r#"{"type": "lead_captured", "source": "cmo_campaigns", "idempotency_key": "s-1", "payload": {"email": "ana@client.example", "name": "Ana"}}"#,
            "\n",
            r#"{"type": "lead_captured", "source": "cmo_campaigns", "idempotency_key": "s-2", "payload": {"email": "info@client.example", "name": "Info"}}"#,
            "\n",
        ),
    );
    let out = db.revos(&["events", "import", &events, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The settings change after the events were recorded: the replay of
    // the active version against itself still finds nothing.
    let settings = write(
        dir.path(),
        "settings.json",
        r#"{"response_sla_minutes": 90}"#,
    );
    let lead = "revenue_os.growth.lead_response_v1";
    let out = db.revos(&[
        "policies", "settings", "--tenant", tenant, lead, "--set", &settings,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let replay = |version: &str, extra: &[&str]| {
        let policy = format!("{lead}@{version}");
        let mut args = vec![
            "replay",
            "--tenant",
            tenant,
            "--since",
            "2000-01-01",
            "--policy",
            &policy,
        ];
        args.extend_from_slice(extra);
        let out = db.revos(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        out
    };
    let text = stdout(&replay("1", &[]));
    assert!(text.contains("unchanged 2  changed 0"), "{text}");

    let summary = stdout(&replay("2", &["--summary"]));
    assert_eq!(
        summary.lines().count(),
        3,
        "the counts and nothing else:\n{summary}"
    );
    in_order(
        &summary,
        &[
            "replayed revenue_os.growth.lead_response_v1@2 over 2 events",
            "  unchanged 1  changed 1  (outcomes 0, actions +0 -1 ~0)\n",
            "  not compared: no policy 0  baseline unavailable 0\n",
        ],
    );
    // The same counts (the window's end is another "now"), then a line
    // per changed event.
    let full = stdout(&replay("2", &[]));
    let lines: Vec<&str> = full.lines().collect();
    assert_eq!(
        lines[1..3],
        summary.lines().collect::<Vec<_>>()[1..3],
        "{full}"
    );
    assert_eq!(lines.len(), 5, "{full}");
    assert_eq!(lines[3], "");
    assert!(
        lines[4].ends_with("  lead_captured  action response_email (OUTBOUND_EMAIL) removed"),
        "{full}"
    );

    let report = json(&replay("2", &["--json"]));
    assert_eq!(report["counts"]["changed"], 1);
    assert_eq!(report["items"].as_array().unwrap().len(), 1);
    assert_eq!(
        report["items"][0]["changes"][0],
        serde_json::json!({"change": "action_removed", "key": "response_email", "type": "OUTBOUND_EMAIL"})
    );
    let brief = json(&replay("2", &["--json", "--summary"]));
    assert_eq!(brief["counts"], report["counts"]);
    assert!(brief.get("items").is_none(), "{brief}");
}

#[tokio::test]
async fn sqlite_replay_summary_prints_the_counts_only() {
    replay_summary_prints_the_counts_only(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_replay_summary_prints_the_counts_only() {
    replay_summary_prints_the_counts_only(Db::postgres().await).await;
}

/// `revos events list` and `revos audit list`: newest first; a page that
/// leaves records out ends with "showing N of M (use --limit / --cursor C
/// for more)", and that cursor continues; `--oldest-first` reverses;
/// `--json` is the API's `{items, next_cursor, has_more}`.
async fn lists_page_newest_first(db: Db) {
    let tenant = "cccccccc-cccc-cccc-cccc-cccccccccccc";
    let out = db.revos(&["tenants", "create", "--name", "Pager", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let ndjson: String = (1..=5)
        .map(|n| {
            format!(
                r#"{{"type": "page_test", "source": "cli", "idempotency_key": "page-{n}", "payload": {{"n": {n}}}}}"#
            ) + "\n"
        })
        .collect();
    let file = write(dir.path(), "pages.ndjson", &ndjson);
    let out = db.revos(&["events", "import", &file, "--tenant", tenant]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));

    let ids = |out: &Output| -> Vec<String> {
        json(out)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = |extra: &[&str]| {
        let mut args = vec!["--json", "events", "list", "--tenant", tenant];
        args.extend_from_slice(extra);
        db.revos(&args)
    };
    let out = list(&[]);
    let whole = json(&out);
    assert_eq!(whole["has_more"], false, "{whole}");
    assert!(whole.get("next_cursor").is_none(), "{whole}");
    let newest = ids(&out);
    assert_eq!(newest.len(), 5);
    let recorded: Vec<String> = whole["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["recorded_at"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        recorded.windows(2).all(|w| w[0] >= w[1]),
        "newest first: {recorded:?}"
    );
    let mut oldest = newest.clone();
    oldest.reverse();
    assert_eq!(ids(&list(&["--oldest-first"])), oldest);

    // In words, page by page: the footer names the count and the cursor.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for page in 0..3 {
        let mut args = vec!["events", "list", "--tenant", tenant, "--limit", "2"];
        if let Some(c) = &cursor {
            args.extend_from_slice(&["--cursor", c]);
        }
        let out = db.revos(&args);
        assert!(out.status.success(), "{}", stderr(&out));
        let text = stdout(&out);
        seen.extend(
            newest
                .iter()
                .filter(|id| text.contains(id.as_str()))
                .cloned(),
        );
        let footer = text.lines().last().unwrap_or_default().to_owned();
        if page < 2 {
            let prefix = "showing 2 of 5 (use --limit / --cursor ";
            assert!(
                footer.starts_with(prefix) && footer.ends_with(" for more)"),
                "{text}"
            );
            cursor = Some(footer[prefix.len()..footer.len() - " for more)".len()].to_owned());
        } else {
            assert!(!text.contains("showing "), "the last page: {text}");
        }
    }
    assert_eq!(
        seen, newest,
        "the pages hold every event once, newest first"
    );

    // The same through --json, oldest first.
    let out = list(&["--oldest-first", "--limit", "3"]);
    let first = json(&out);
    assert_eq!(first["has_more"], true, "{first}");
    let next = first["next_cursor"].as_str().unwrap().to_owned();
    let out = list(&["--oldest-first", "--limit", "3", "--cursor", &next]);
    let mut both = ids(&list(&["--oldest-first", "--limit", "3"]));
    both.extend(ids(&out));
    assert_eq!(both, oldest);
    assert_eq!(json(&out)["has_more"], false);

    // A cursor that is not one is refused, naming the flag.
    let out = db.revos(&["events", "list", "--tenant", tenant, "--cursor", "nonsense"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--cursor"), "{}", stderr(&out));

    // The audit log reads newest first too.
    let out = db.revos(&["--json", "audit", "list", "--tenant", tenant]);
    let seqs: Vec<u64> = json(&out)["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
}

#[tokio::test]
async fn sqlite_lists_page_newest_first() {
    lists_page_newest_first(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_lists_page_newest_first() {
    lists_page_newest_first(Db::postgres().await).await;
}

#[tokio::test]
async fn sqlite_events_policies_and_replay() {
    events_policies_and_replay(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_events_policies_and_replay() {
    events_policies_and_replay(Db::postgres().await).await;
}

/// `revos kernel plan` is pure and deterministic for a fixed `--now`; its
/// errors are KernelError JSON with a non-zero exit.
#[test]
fn kernel_plan_is_pure_and_deterministic() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../revos-contracts/fixtures/kernel_input.json"
    );
    let scratch = tempfile::tempdir().unwrap();
    let plan = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_revos"))
            .args(args)
            .current_dir(scratch.path())
            // No database is touched: an unusable URL proves it.
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env_remove("REVOS_CONFIG")
            .output()
            .unwrap()
    };
    let args = [
        "--json",
        "kernel",
        "plan",
        "--input",
        fixture,
        "--now",
        "2024-12-12T07:00:00Z",
    ];
    let first = plan(&args);
    assert!(first.status.success(), "{}", stderr(&first));
    let output = json(&first);
    // `--json` prints the KernelOutput, key for key.
    let mut top: Vec<&str> = keys(&output);
    top.retain(|k| *k != "data_quality_actions");
    assert_eq!(
        top,
        [
            "tenant_id",
            "cycle_id",
            "executed_at",
            "version",
            "cycle_summary",
            "actions",
            "learning_plan"
        ]
    );
    assert_eq!(output["version"], "revenue_os_v1");
    assert_eq!(output["tenant_id"], "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
    let n = output["actions"].as_array().unwrap().len();
    assert!((1..=7).contains(&n), "{n}");
    let again = plan(&args);
    assert_eq!(
        first.stdout, again.stdout,
        "same input and clock, same output"
    );
    let explained = plan(&[&args[..], &["--explain"]].concat());
    assert_eq!(keys(&json(&explained)), ["output", "gated", "skipped"]);

    // Without --json: the summary a person reads, one line per action.
    let human = plan(&args[1..]);
    assert!(human.status.success(), "{}", stderr(&human));
    let text = stdout(&human);
    in_order(
        &text,
        &[
            "Binding constraint: ",
            "Why: ",
            &format!("Actions ({n}):"),
            "  1. ",
            " → ",
            " | expected ",
            "(confidence ",
            "Watch ",
            "Notes for humans:",
            "--explain",
        ],
    );
    let action_lines = text.lines().filter(|l| l.contains(" | expected ")).count();
    assert_eq!(action_lines, n, "{text}");
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let explained = plan(&[&args[1..], &["--explain"]].concat());
    let text = stdout(&explained);
    assert!(text.contains("Set aside by the CFO gate"), "{text}");
    assert!(text.contains("Set aside by the guardrails"), "{text}");

    // Triggered more than 24 hours before --now: 400, as JSON, exit 1.
    let stale = plan(&[
        "kernel",
        "plan",
        "--input",
        fixture,
        "--now",
        "2024-12-20T07:00:00Z",
    ]);
    assert!(!stale.status.success());
    assert_eq!(json(&stale)["code"], "INVALID_INPUT");
    // Missing required metrics: INSUFFICIENT_DATA.
    let mut input: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    input["metrics"]
        .as_array_mut()
        .unwrap()
        .retain(|m| m["metric_id"] != "bookings_new");
    let path = write(scratch.path(), "missing.json", &input.to_string());
    let missing = plan(&[
        "kernel",
        "plan",
        "--input",
        &path,
        "--now",
        "2024-12-12T07:00:00Z",
    ]);
    assert!(!missing.status.success());
    assert_eq!(json(&missing)["code"], "INSUFFICIENT_DATA");
    let broken = write(scratch.path(), "broken.json", "{\"tenant_id\": ");
    let out = plan(&["kernel", "plan", "--input", &broken]);
    assert!(!out.status.success());
    assert_eq!(json(&out)["code"], "INVALID_INPUT");
}

/// `revos stats` says the result in words; `--json` prints gbstats'
/// computations; bad input is a KernelError.
#[test]
fn stats_in_words_and_as_json() {
    let scratch = tempfile::tempdir().unwrap();
    let stats = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_revos"))
            .arg("stats")
            .args(args)
            .current_dir(scratch.path())
            .env_remove("REVOS_CONFIG")
            .output()
            .unwrap()
    };
    let ttest = [
        "ttest",
        "--control-n",
        "3407",
        "--control-mean",
        "0.41",
        "--control-sd",
        "3.9",
        "--treatment-n",
        "3461",
        "--treatment-mean",
        "0.70",
        "--treatment-sd",
        "6.2",
    ];
    let out = stats(&[&ttest[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", stderr(&out));
    let result = json(&out);
    assert_eq!(
        keys(&result),
        ["expected", "ci", "p_value", "uplift", "error"]
    );
    assert!((result["expected"].as_f64().unwrap() - 0.29).abs() < 1e-9);
    assert!(
        (result["p_value"].as_f64().unwrap() - 0.02016).abs() < 1e-5,
        "{result}"
    );
    let out = stats(&ttest);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    in_order(
        &text,
        &[
            "Treatment averages 0.7 vs 0.41 for control: +0.29 (95 % interval +0.04",
            "p = 0.020 (significant at the 5 % level); ",
            " % chance to beat control.",
            "Sample ratio OK for an even split (3,407 control / 3,461 treatment units",
        ],
    );

    let proportions = [
        "proportions",
        "--control-n",
        "1000",
        "--control-successes",
        "101",
        "--treatment-n",
        "1000",
        "--treatment-successes",
        "124",
        "--relative",
    ];
    let text = stdout(&stats(&proportions));
    assert!(
        text.starts_with(
            "Treatment converts 12.4 % vs 10.1 % for control: +22.8 % relative (95 % interval "
        ),
        "{text}"
    );
    assert!(
        text.contains("(not significant at the 5 % level)"),
        "{text}"
    );
    let out = stats(&[&["--json"], &proportions[..]].concat());
    assert_eq!(
        keys(&json(&out)),
        ["expected", "ci", "p_value", "uplift", "error"]
    );

    let mut bayes = proportions;
    bayes[0] = "bayes";
    let text = stdout(&stats(&bayes));
    assert!(text.contains("credible interval"), "{text}");
    assert!(text.contains("Expected loss: "), "{text}");
    let out = stats(&[&bayes[..], &["--json"]].concat());
    assert_eq!(
        keys(&json(&out)),
        [
            "expected",
            "ci",
            "chance_to_win",
            "risk",
            "risk_type",
            "uplift",
            "error"
        ]
    );

    let out = stats(&["srm", "--observed", "1000,1200", "--weights", "0.5,0.5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("Sample ratio MISMATCH: observed 1,000 / 1,200 units where the weights expect 1,100 / 1,100; p < 0.001"),
        "{}",
        stdout(&out)
    );
    let out = stats(&[
        "--json",
        "srm",
        "--observed",
        "1000,1020",
        "--weights",
        "0.5,0.5",
    ]);
    assert_eq!(keys(&json(&out)), ["p_value"]);
    let out = stats(&["srm", "--observed", "1000,1200", "--weights", "0.5"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("error: "), "{}", stderr(&out));
    let out = stats(&[
        "--json",
        "srm",
        "--observed",
        "1000,1200",
        "--weights",
        "0.5",
    ]);
    assert!(!out.status.success());
    assert_eq!(json(&out)["code"], "INVALID_INPUT");
}

/// `revos kernel example > input.json` then `revos kernel plan --input
/// input.json`: the sample plans, now and at a chosen clock.
#[test]
fn kernel_example_plans() {
    let scratch = tempfile::tempdir().unwrap();
    let revos = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_revos"))
            .args(args)
            .current_dir(scratch.path())
            .env("DATABASE_URL", "postgres://nobody@127.0.0.1:1/none")
            .env_remove("REVOS_CONFIG")
            .output()
            .unwrap()
    };
    let out = revos(&["kernel", "example"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let input = json(&out);
    assert_eq!(input["tenant_id"], "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb");
    let path = write(scratch.path(), "input.json", &stdout(&out));
    let out = revos(&["kernel", "plan", "--input", &path]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    in_order(
        &stdout(&out),
        &["Binding constraint: ", "Actions (", "Notes for humans:"],
    );
    let out = revos(&["--json", "kernel", "plan", "--input", &path]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!json(&out)["actions"].as_array().unwrap().is_empty());

    // At a chosen clock the sample is the same every time, and plans at it.
    let at = "2026-11-23T07:00:00Z";
    let first = revos(&["kernel", "example", "--now", at]);
    let again = revos(&["kernel", "example", "--now", at]);
    assert_eq!(first.stdout, again.stdout);
    assert_eq!(
        json(&first)["trigger"]["triggered_at"],
        "2026-11-23T07:00:00Z"
    );
    let path = write(scratch.path(), "fixed.json", &stdout(&first));
    let out = revos(&["kernel", "plan", "--input", &path, "--now", at]);
    assert!(out.status.success(), "{}", stderr(&out));
    // … and a day later it is too old for the contract.
    let out = revos(&[
        "kernel",
        "plan",
        "--input",
        &path,
        "--now",
        "2026-11-24T08:00:00Z",
    ]);
    assert!(!out.status.success());
    assert_eq!(json(&out)["code"], "INVALID_INPUT");
    let out = revos(&["kernel", "example", "--now", "soon"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("YYYY-MM-DD"), "{}", stderr(&out));
}

/// `revos validate`: seed 002's loop on tenants A and B passes, and a
/// second run on the same database passes again.
async fn validation_loop_passes(db: Db) {
    // A named database must be asked for on the command line.
    let url = db.url();
    let out = db.revos(&["--database", &url, "validate", "--today", "2026-11-18"]);
    assert!(
        out.status.success(),
        "validate failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("validation passed"), "{text}");
    assert!(!text.contains("FAIL "), "{text}");
    let progress = stderr(&out);
    for step in [
        "run_cycle_1",
        "execute_actions",
        "record_results",
        "run_cycle_2",
        "verify_all",
    ] {
        assert!(progress.contains(step), "{progress}");
    }
    let again = db.revos(&[
        "--json",
        "--database",
        &url,
        "validate",
        "--today",
        "2026-11-18",
    ]);
    assert!(again.status.success(), "{}", stderr(&again));
    let reports = json(&again);
    assert_eq!(reports.as_array().unwrap().len(), 5);
    assert_eq!(reports[4]["passed"], true, "{reports}");
    // The cycles are there to look at.
    let out = db.revos(&[
        "--json",
        "kernel",
        "cycles",
        "--tenant",
        "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb",
    ]);
    assert!(json(&out)["items"].as_array().unwrap().len() >= 4);

    // A and B are simulated tenants (shadow mode, skipped by the scheduler).
    let listed = json(&db.revos(&["--json", "tenants", "list"]));
    let simulated: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["simulation"] == true)
        .collect();
    assert_eq!(simulated.len(), 2, "{listed}");

    // The executor by hand: cycle 2's pending actions are executed (a
    // simulated tenant's changes reach its simulated world), then judged at
    // once with --force.
    let b = "bbbbbbbb-bbbb-bbbb-bbbb-bbbbbbbbbbbb";
    let out = db.revos(&["kernel", "execute", "--tenant", b]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("executed in enforce mode"),
        "{}",
        stdout(&out)
    );
    let out = db.revos(&["--json", "kernel", "measure", "--tenant", b, "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let measured = json(&out);
    assert_eq!(measured["still_observing"], 0, "{measured}");
    assert!(
        !measured["measured"].as_array().unwrap().is_empty(),
        "{measured}"
    );
    let out = db.revos(&["kernel", "measure", "--tenant", "not-a-tenant"]);
    assert!(!out.status.success());
    // One scheduler tick: A and B are simulated, so the schedule leaves
    // them alone (no trigger checked, no upkeep).
    let out = db.revos(&["kernel", "tick"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("0 tenant(s) checked, 0 cycle(s) run"),
        "{}",
        stdout(&out)
    );

    // The executed cycle: a summary with its actions' statuses and
    // results; --json is the stored cycle.
    let out = db.revos(&["--json", "kernel", "cycles", "--tenant", b]);
    let cycle = json(&out)["items"][0]["id"].as_str().unwrap().to_owned();
    let out = db.revos(&["kernel", "show", &cycle, "--tenant", b]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    in_order(
        &text,
        &[
            &format!("Cycle {cycle} of tenant {b}: completed"),
            "Binding constraint: ",
            "Why: ",
            "Actions (",
            "  1. [",
            "Results (",
            "(confidence ",
            "Notes for humans:",
        ],
    );
    assert!(serde_json::from_str::<Value>(&text).is_err());
    let out = db.revos(&["--json", "kernel", "show", &cycle, "--tenant", b]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&out);
    assert_eq!(keys(&shown), ["cycle", "actions", "results"]);
    assert_eq!(shown["cycle"]["id"], cycle.as_str());

    // A run prints the same summary for its new cycle; --json the view.
    let out = db.revos(&["kernel", "run", "--tenant", b, "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    in_order(
        &stdout(&out),
        &[
            "Cycle ",
            ": completed, triggered ",
            "Binding constraint: ",
            "Actions (",
        ],
    );
    let out = db.revos(&["--json", "kernel", "run", "--tenant", b, "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(keys(&json(&out)), ["cycle", "actions", "results"]);
    let out = db.revos(&["kernel", "cycles", "--tenant", b, "--limit", "2"]);
    assert!(
        stdout(&out).contains("showing 2 of ") && stdout(&out).contains("(use --limit / --cursor "),
        "{}",
        stdout(&out)
    );
}

#[tokio::test]
async fn sqlite_validation_loop_passes() {
    validation_loop_passes(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_validation_loop_passes() {
    validation_loop_passes(Db::postgres().await).await;
}

/// `revos demo`: eight simulated days give two cycles per tenant (days 1
/// and 8), a report for each, and a chart per tenant.
async fn demo_reports_cycles_and_draws_charts(db: Db) {
    let charts = tempfile::tempdir().unwrap();
    let dir = charts.path().join("charts");
    let out = db.revos(&[
        "demo",
        "--days",
        "8",
        "--today",
        "2026-11-18",
        "--output",
        dir.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "demo failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    for tenant in ["Tenant A", "Tenant B"] {
        let cycles = text
            .lines()
            .filter(|l| l.starts_with(&format!("== {tenant}")))
            .count();
        assert_eq!(cycles, 2, "{tenant}:\n{text}");
    }
    assert!(text.contains("binding constraint:"), "{text}");
    assert!(text.contains("priority metric:"), "{text}");
    for file in ["tenant_a.svg", "tenant_b.svg"] {
        let path = dir.join(file);
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("<svg"), "{svg}");
        assert!(svg.contains(r#"class="series""#), "{svg}");
        assert!(text.contains(&path.display().to_string()), "{text}");
    }
    // It ran on a scratch database, said so, and left the configured one
    // alone: no tenant A or B there.
    assert!(
        stderr(&out).contains("scratch database"),
        "{}",
        stderr(&out)
    );
    let listed = json(&db.revos(&["--json", "tenants", "list"]));
    assert_eq!(listed, serde_json::json!([]), "{listed}");
    // A bad --days is refused before anything runs.
    let bad = db.revos(&["demo", "--days", "0"]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("--days must be between 1 and 365"));
}

#[tokio::test]
async fn sqlite_demo_reports_cycles_and_draws_charts() {
    demo_reports_cycles_and_draws_charts(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_demo_reports_cycles_and_draws_charts() {
    demo_reports_cycles_and_draws_charts(Db::postgres().await).await;
}

/// Backfills: `--dry-run` writes nothing and says what would happen;
/// `--record-only` stores events without decisions; old events are
/// skipped. Queues: pause, stats, bulk cancel. The optimizer config.
async fn backfills_queues_and_optimizer_config(db: Db) {
    let tenant = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
    let out = db.revos(&["tenants", "create", "--name", "Tenant C", "--id", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["policies", "mode", "--tenant", tenant, "enforce"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let dir = tempfile::tempdir().unwrap();
    let lead = |key: &str, email: &str, at: &str| {
        format!(
            r#"{{"type": "lead_captured", "source": "cmo_campaigns", "idempotency_key": "{key}", "occurred_at": "{at}", "payload": {{"email": "{email}", "name": "Ana"}}}}"#
        )
    };
    let now = chrono::Utc::now().to_rfc3339();
    let ndjson = format!(
        "{}\n{}\n{}\n",
        lead("h-1", "old1@client.example", "2025-01-15T09:00:00Z"),
        lead("h-2", "old2@client.example", "2025-01-16T09:00:00Z"),
        lead("h-3", "new@client.example", &now),
    );
    let file = write(dir.path(), "history.ndjson", &ndjson);

    // A dry run: counts by outcome, the first actions, nothing written.
    let out = db.revos(&["events", "import", &file, "--tenant", tenant, "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("nothing was written"), "{text}");
    assert!(text.contains("skipped 2"), "{text}");
    assert!(text.contains("act 1"), "{text}");
    assert!(text.contains("e-mail to new@client.example"), "{text}");
    let listed = db.revos(&["--json", "events", "list", "--tenant", tenant]);
    assert_eq!(
        json(&listed)
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| json(&listed)["items"].as_array().unwrap().len()),
        0,
        "a dry run writes nothing"
    );

    // Record only: stored, no decisions, no jobs.
    let out = db.revos(&[
        "--json",
        "events",
        "import",
        &file,
        "--tenant",
        tenant,
        "--record-only",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json(&out)["ingested"], 3, "{}", stdout(&out));
    assert_eq!(json(&out)["mode"], "record_only");
    let jobs = db.revos(&["--json", "jobs", "list", "--tenant", tenant]);
    let jobs = json(&jobs);
    let count = jobs
        .as_array()
        .map(Vec::len)
        .unwrap_or_else(|| jobs["items"].as_array().unwrap().len());
    assert_eq!(count, 0, "{jobs}");

    // Ingested for real under new keys: the old leads are skipped.
    let fresh = ndjson.replace("\"h-", "\"r-");
    let file = write(dir.path(), "again.ndjson", &fresh);
    let out = db.revos(&["queues", "pause", "email", "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is now paused"), "{}", stdout(&out));
    let out = db.revos(&["--json", "events", "import", &file, "--tenant", tenant]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["queues", "stats", "--tenant", tenant]);
    let text = stdout(&out);
    let email = text
        .lines()
        .find(|l| l.starts_with("email"))
        .unwrap_or_default();
    assert!(email.contains("paused"), "{text}");
    for queue in [
        "embedding",
        "webhook",
        "notification",
        "approval",
        "publish",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(queue)),
            "{queue} in {text}"
        );
    }
    let out = db.revos(&["jobs", "list", "--tenant", tenant, "--queue", "email"]);
    assert!(
        stdout(&out).contains("e-mail to new@client.example"),
        "{}",
        stdout(&out)
    );
    assert!(
        !stdout(&out).contains("old1@client.example"),
        "{}",
        stdout(&out)
    );
    // Bulk cancel of the waiting e-mail.
    let out = db.revos(&[
        "jobs", "cancel", "--queue", "email", "--state", "waiting", "--tenant", tenant,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("1 of 1 waiting jobs on queue `email`"),
        "{}",
        stdout(&out)
    );
    // A bulk step needs a queue and a state it applies to.
    let out = db.revos(&["jobs", "retry", "--queue", "email", "--state", "waiting"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("$.state"), "{}", stderr(&out));
    let out = db.revos(&["jobs", "retry"]);
    assert!(!out.status.success());

    // The optimizer config: shown, set from a file, checked.
    let good = write(
        dir.path(),
        "config.json",
        r#"{"targets": {"pipeline_total": 500000}, "guardrails": {"max_daily_spend": 2000, "allowed_levers": ["campaigns"]}, "config": {"risk_tolerance": "medium"}}"#,
    );
    let out = db.revos(&[
        "optimizer",
        "config",
        "set",
        "--tenant",
        tenant,
        "--file",
        &good,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = db.revos(&["optimizer", "config", "show", "--tenant", tenant]);
    assert!(stdout(&out).contains("max_daily_spend"), "{}", stdout(&out));
    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"targets": {"pipeline_total": -5}, "guardrails": {"max_daily_spend": -1, "allowed_levers": []}}"#,
    );
    let out = db.revos(&[
        "optimizer",
        "config",
        "set",
        "--tenant",
        tenant,
        "--file",
        &bad,
    ]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("$.targets.pipeline_total"), "{err}");
    assert!(err.contains("$.guardrails.max_daily_spend"), "{err}");
    let out = db.revos(&["--json", "optimizer", "config", "show", "--tenant", tenant]);
    assert_eq!(
        json(&out)["guardrails"]["max_daily_spend"],
        2000.0,
        "unchanged"
    );
}

#[tokio::test]
async fn sqlite_backfills_queues_and_optimizer_config() {
    backfills_queues_and_optimizer_config(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_backfills_queues_and_optimizer_config() {
    backfills_queues_and_optimizer_config(Db::postgres().await).await;
}
