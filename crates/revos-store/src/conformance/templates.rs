//! Template storage: numbered versions that never change, renders kept
//! once under their hash, the suppression list, tenant isolation.

use super::{t0, tenant};
use crate::templates::{RenderRecord, TemplateRecord};
use crate::{Store, StoreError};
use chrono::Duration;
use revos_contracts::TenantId;
use serde_json::json;

fn template(key: &str, subject: &str) -> TemplateRecord {
    TemplateRecord {
        key: key.into(),
        version: 0,
        category: "marketing".into(),
        subject: subject.into(),
        text: "Hello {{ name }}".into(),
        html: Some("<p>Hello {{ name }}</p>".into()),
        compliance_flags: vec!["can_spam".into()],
        throttle_ms: 250,
        source_hash: format!("hash-of-{subject}"),
        created_by: "user:ops@acme.test".into(),
        created_at: t0(),
    }
}

/// Each save of a key is its next version; earlier versions read back as
/// they were; the latest of each key is listed by key.
pub async fn saves_are_numbered_versions_and_never_change(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let v1 = store
        .insert_template(acme, &template("welcome", "Hi"))
        .await
        .unwrap();
    assert_eq!(v1.version, 1);
    let v2 = store
        .insert_template(acme, &template("welcome", "Hello"))
        .await
        .unwrap();
    assert_eq!(v2.version, 2);
    store
        .insert_template(acme, &template("digest", "Your week"))
        .await
        .unwrap();

    let first = store.template(acme, "welcome", Some(1)).await.unwrap();
    assert_eq!(first, Some(v1.clone()));
    let latest = store.template(acme, "welcome", None).await.unwrap();
    assert_eq!(latest.map(|t| t.subject), Some("Hello".to_owned()));
    assert_eq!(
        store.template(acme, "welcome", Some(3)).await.unwrap(),
        None
    );
    assert_eq!(store.template(acme, "nope", None).await.unwrap(), None);

    let versions = store.template_versions(acme, "welcome").await.unwrap();
    assert_eq!(
        versions.iter().map(|t| t.version).collect::<Vec<_>>(),
        vec![2, 1]
    );
    let latest: Vec<(String, u32)> = store
        .latest_templates(acme)
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.key, t.version))
        .collect();
    assert_eq!(
        latest,
        vec![("digest".to_owned(), 1), ("welcome".to_owned(), 2)]
    );
    assert_eq!(v1.compliance_flags, vec!["can_spam".to_owned()]);
    assert_eq!(v1.throttle_ms, 250);
}

/// A render is kept under its hash; keeping it again changes nothing.
pub async fn renders_are_kept_once_under_their_hash(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    store
        .insert_template(acme, &template("welcome", "Hi"))
        .await
        .unwrap();
    let render = RenderRecord {
        render_hash: "a".repeat(64),
        template_key: "welcome".into(),
        template_version: 1,
        data: json!({ "name": "Ada", "nested": { "n": 1 } }),
        created_at: t0(),
    };
    assert!(
        !store
            .template_version_sent(acme, "welcome", 1)
            .await
            .unwrap()
    );
    store.record_render(acme, &render).await.unwrap();
    assert!(
        store
            .template_version_sent(acme, "welcome", 1)
            .await
            .unwrap()
    );
    assert!(
        !store
            .template_version_sent(acme, "welcome", 2)
            .await
            .unwrap()
    );
    let again = RenderRecord {
        created_at: t0() + Duration::hours(1),
        ..render.clone()
    };
    store.record_render(acme, &again).await.unwrap();
    assert_eq!(
        store.render(acme, &render.render_hash).await.unwrap(),
        Some(render)
    );
    assert_eq!(store.render(acme, &"b".repeat(64)).await.unwrap(), None);

    // A render of a template version that does not exist is refused.
    let orphan = RenderRecord {
        render_hash: "c".repeat(64),
        template_key: "welcome".into(),
        template_version: 9,
        data: json!({}),
        created_at: t0(),
    };
    assert!(store.record_render(acme, &orphan).await.is_err());
}

/// Suppressions are added once (the first reason stays), checked in bulk,
/// listed newest first and removed.
pub async fn suppressions_add_check_list_remove(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let a = store
        .add_suppression(acme, "ada@example.com", "unsubscribed", t0())
        .await
        .unwrap();
    assert_eq!(a.reason, "unsubscribed");
    let again = store
        .add_suppression(
            acme,
            "ada@example.com",
            "bounced",
            t0() + Duration::hours(1),
        )
        .await
        .unwrap();
    assert_eq!(again, a, "the first entry stays");
    store
        .add_suppression(
            acme,
            "bob@example.com",
            "bounced",
            t0() + Duration::hours(2),
        )
        .await
        .unwrap();
    let hit = store
        .suppressed(
            acme,
            &[
                "ada@example.com".into(),
                "cy@example.com".into(),
                "bob@example.com".into(),
            ],
        )
        .await
        .unwrap();
    assert_eq!(hit, vec!["ada@example.com", "bob@example.com"]);
    let list = store.list_suppressions(acme, 10).await.unwrap();
    assert_eq!(
        list.iter().map(|s| s.email.as_str()).collect::<Vec<_>>(),
        vec!["bob@example.com", "ada@example.com"]
    );
    assert_eq!(store.list_suppressions(acme, 1).await.unwrap().len(), 1);
    assert!(
        store
            .remove_suppression(acme, "ada@example.com")
            .await
            .unwrap()
    );
    assert!(
        !store
            .remove_suppression(acme, "ada@example.com")
            .await
            .unwrap()
    );
    assert!(store.suppressed(acme, &[]).await.unwrap().is_empty());
}

/// One tenant never sees another's templates, renders or suppressions;
/// a missing tenant is reported.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let acme = tenant(store, "Acme").await;
    let globex = tenant(store, "Globex").await;
    store
        .insert_template(acme, &template("welcome", "Hi"))
        .await
        .unwrap();
    store
        .add_suppression(acme, "ada@example.com", "manual", t0())
        .await
        .unwrap();
    assert!(store.latest_templates(globex).await.unwrap().is_empty());
    assert_eq!(store.template(globex, "welcome", None).await.unwrap(), None);
    assert!(
        store
            .suppressed(globex, &["ada@example.com".into()])
            .await
            .unwrap()
            .is_empty()
    );
    // Globex's first save of the same key is its own version 1.
    let g = store
        .insert_template(globex, &template("welcome", "Hey"))
        .await
        .unwrap();
    assert_eq!(g.version, 1);

    let missing = TenantId::new_random();
    assert!(matches!(
        store.latest_templates(missing).await,
        Err(StoreError::TenantNotFound(_))
    ));
    assert!(matches!(
        store.insert_template(missing, &template("x", "y")).await,
        Err(StoreError::TenantNotFound(_))
    ));
}
