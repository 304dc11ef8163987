//! `revos forms …` end to end, on SQLite and on PostgreSQL: create prints
//! the token and a form to paste, list shows tokens newest first (human and
//! `--json`), revoke by id alone, and bad origins are refused with the
//! field named and nothing stored.

use serde_json::Value;
use std::process::{Command, Output};

enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(revos_store_postgres::testing::TestDatabase),
}

impl Db {
    fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}", dir.path().join("revos.db").display()),
            Db::Postgres(db) => db.url().to_owned(),
        }
    }

    /// Runs `revos ARGS` on this database, in a scratch directory.
    fn revos(&self, args: &[&str]) -> Output {
        let scratch = tempfile::tempdir().unwrap();
        Command::new(env!("CARGO_BIN_EXE_revos"))
            .args(args)
            .current_dir(scratch.path())
            .env("DATABASE_URL", self.url())
            .env_remove("REVOS_CONFIG")
            .env_remove("REVOS_AUDIT_SIGNING_KEY")
            .output()
            .unwrap()
    }
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(out)))
}

async fn forms_from_the_command_line(db: Db) {
    let tenant = "6b2f3d1e-0c4a-4f5e-9a7b-1c2d3e4f5a6b";
    let out = db.revos(&["tenants", "create", "--name", "Acme", "--id", tenant]);
    assert!(out.status.success(), "{}", text(&out));

    let out = db.revos(&[
        "forms",
        "create",
        "--tenant",
        tenant,
        "--origin",
        "https://www.example.com",
        "--name",
        "Contact",
        "--honeypot",
        "website",
        "--api-url",
        "https://revos.example.com",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let human = text(&out);
    let token = human
        .lines()
        .find_map(|l| l.strip_prefix("token   "))
        .unwrap_or_else(|| panic!("no token line: {human}"))
        .to_owned();
    assert!(token.starts_with("rvf_"), "{human}");
    assert!(
        human.contains(&format!(
            "<form method=\"post\" action=\"https://revos.example.com/v1/forms/{token}/submit\">"
        )),
        "{human}"
    );
    assert!(
        human.contains("name=\"website\" tabindex=\"-1\""),
        "{human}"
    );

    let out = db.revos(&[
        "--json",
        "forms",
        "create",
        "--tenant",
        tenant,
        "--origin",
        "https://www.example.com",
        "--origin",
        "http://localhost:3000",
        "--redirect",
        "https://www.example.com/thanks",
        "--name",
        "Demo",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let created = json(&out);
    assert!(created["token"].as_str().unwrap().starts_with("rvf_"));
    assert_eq!(
        created["form"]["redirect_url"],
        "https://www.example.com/thanks"
    );
    assert!(
        created["html"]
            .as_str()
            .unwrap()
            .contains("<form method=\"post\"")
    );
    let demo = created["form"]["id"].as_str().unwrap().to_owned();

    // A bad origin names the field; nothing is stored.
    let out = db.revos(&[
        "forms",
        "create",
        "--tenant",
        tenant,
        "--origin",
        "http://www.example.com",
    ]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("origins: `http://www.example.com` is not an origin"),
        "{}",
        text(&out)
    );

    let out = db.revos(&["--json", "forms", "list", "--tenant", tenant]);
    assert!(out.status.success(), "{}", text(&out));
    let items = json(&out)["items"].as_array().unwrap().clone();
    let names: Vec<&str> = items.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Demo", "Contact"], "newest first");
    assert!(items.iter().all(|f| f.get("token").is_none()));

    let out = db.revos(&["forms", "revoke", &demo]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("revoked form {demo}")));
    let out = db.revos(&["forms", "revoke", &demo]);
    assert!(!out.status.success(), "revoking twice: {}", text(&out));

    let out = db.revos(&["forms", "list", "--tenant", tenant]);
    let listed = text(&out);
    assert!(out.status.success(), "{listed}");
    let demo_line = listed.lines().find(|l| l.contains(&demo)).unwrap();
    assert!(demo_line.contains("revoked"), "{listed}");
    assert!(listed.contains("active"), "{listed}");
    assert!(
        !listed.contains(&token),
        "the token is never listed: {listed}"
    );
}

#[tokio::test]
async fn sqlite_forms_from_the_command_line() {
    forms_from_the_command_line(Db::Sqlite(tempfile::tempdir().unwrap())).await;
}

#[tokio::test]
async fn postgres_forms_from_the_command_line() {
    forms_from_the_command_line(Db::Postgres(
        revos_store_postgres::testing::TestDatabase::create().await,
    ))
    .await;
}
