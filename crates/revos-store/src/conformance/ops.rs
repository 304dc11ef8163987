//! The operations kernel's storage: agent actions and their approvals
//! read back as written, idempotency and job keys are unique per tenant,
//! an approval is updated only over the version that was read, the
//! approval list filters and pages newest first, tenants are isolated.

use super::{t0, tenant};
use crate::ops::{
    AgentActionFilter, AgentActionRecord, ApprovalFilter, ApprovalRecord, ToolPolicyRecord,
};
use crate::{Store, StoreError};
use chrono::{DateTime, Duration, Utc};
use revos_contracts::TenantId;
use serde_json::json;
use uuid::Uuid;

fn action(key: &str, job_key: &str, at: DateTime<Utc>) -> AgentActionRecord {
    AgentActionRecord {
        id: Uuid::new_v4(),
        idempotency_key: key.into(),
        job_key: job_key.into(),
        tool: "update_deal".into(),
        agent: "growth-bot".into(),
        status: "awaiting_approval".into(),
        approval_id: None,
        job_id: None,
        body: json!({"entity": "deal:1", "args": {"deal_id": "1"}}),
        created_at: at,
        updated_at: at,
    }
}

fn approval(action: &AgentActionRecord, risk: &str, at: DateTime<Utc>) -> ApprovalRecord {
    ApprovalRecord {
        id: Uuid::new_v4(),
        action_id: action.id,
        status: "pending".into(),
        risk: risk.into(),
        tool: action.tool.clone(),
        requester: action.agent.clone(),
        queue: "webhook".into(),
        created_at: at,
        expires_at: at + Duration::hours(1),
        version: 1,
        body: json!({"decisions": []}),
    }
}

async fn gated(
    store: &dyn Store,
    t: TenantId,
    key: &str,
    risk: &str,
    at: DateTime<Utc>,
) -> (AgentActionRecord, ApprovalRecord) {
    let mut a = action(key, &format!("job-{key}"), at);
    let ap = approval(&a, risk, at);
    a.approval_id = Some(ap.id);
    store.insert_agent_action(t, &a, Some(&ap)).await.unwrap();
    (a, ap)
}

/// An action and its approval read back equal, by id, key and job key;
/// a taken key or job key is a conflict that writes nothing; tool
/// policies are put and replaced.
pub async fn actions_and_approvals_read_back_and_keys_are_unique(store: &dyn Store) {
    let t = tenant(store, "Ops").await;
    assert!(store.tool_policies(t).await.unwrap().is_none());
    let mut policies = ToolPolicyRecord {
        text: "permit(principal, action, resource);".into(),
        settings: json!({"approvers": {"high": 2}}),
        updated_by: "user:ana".into(),
        updated_at: t0(),
    };
    store.put_tool_policies(t, &policies).await.unwrap();
    policies.text = String::new();
    store.put_tool_policies(t, &policies).await.unwrap();
    assert_eq!(store.tool_policies(t).await.unwrap(), Some(policies));

    let (a, ap) = gated(store, t, "k1", "high", t0()).await;
    assert_eq!(store.agent_action(t, a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.agent_action_by_key(t, "k1", false).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        store.agent_action_by_key(t, "job-k1", true).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(store.approval(t, ap.id).await.unwrap(), Some(ap.clone()));

    for (key, job_key) in [("k1", "job-other"), ("k-other", "job-k1")] {
        let twin = action(key, job_key, t0());
        let twin_approval = approval(&twin, "low", t0());
        match store
            .insert_agent_action(t, &twin, Some(&twin_approval))
            .await
        {
            Err(StoreError::Conflict { .. }) => {}
            other => panic!("{key}/{job_key}: expected a conflict, got {other:?}"),
        }
        assert!(store.approval(t, twin_approval.id).await.unwrap().is_none());
    }

    let mut changed = a.clone();
    changed.status = "executed".into();
    changed.job_id = Some(Uuid::new_v4());
    changed.body["result"] = json!({"outcome": "succeeded"});
    changed.updated_at = t0() + Duration::seconds(5);
    store.update_agent_action(t, &changed).await.unwrap();
    assert_eq!(store.agent_action(t, a.id).await.unwrap(), Some(changed));
}

/// Agent actions list newest first, filtered by status, tool and agent,
/// and page by (time, id).
pub async fn agent_actions_are_filtered_and_paged_newest_first(store: &dyn Store) {
    let t = tenant(store, "Ops").await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut a = action(
            &format!("k{i}"),
            &format!("job-{i}"),
            t0() + Duration::seconds(i),
        );
        if i % 2 == 0 {
            a.status = "executed".into();
            a.tool = "send_email".into();
        }
        if i == 4 {
            a.agent = "optimizer".into();
        }
        store.insert_agent_action(t, &a, None).await.unwrap();
        ids.push(a.id);
    }
    let list = |filter: AgentActionFilter| async move {
        store
            .list_agent_actions(t, &filter)
            .await
            .unwrap()
            .into_iter()
            .map(|a| a.id)
            .collect::<Vec<_>>()
    };
    let all = list(AgentActionFilter {
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(all, ids.iter().rev().copied().collect::<Vec<_>>());
    let executed = list(AgentActionFilter {
        status: Some("executed".into()),
        tool: Some("send_email".into()),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(executed, vec![ids[4], ids[2], ids[0]]);
    let optimizer = list(AgentActionFilter {
        agent: Some("optimizer".into()),
        limit: 10,
        ..Default::default()
    })
    .await;
    assert_eq!(optimizer, vec![ids[4]]);
    let first = list(AgentActionFilter {
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(first, vec![ids[4], ids[3]]);
    let next = list(AgentActionFilter {
        after: Some((t0() + Duration::seconds(3), ids[3])),
        limit: 2,
        ..Default::default()
    })
    .await;
    assert_eq!(next, vec![ids[2], ids[1]]);
    let other = tenant(store, "Other").await;
    assert!(
        store
            .list_agent_actions(
                other,
                &AgentActionFilter {
                    limit: 10,
                    ..Default::default()
                }
            )
            .await
            .unwrap()
            .is_empty()
    );
}

/// An update names the version it read: the first writer wins, a second
/// writer over the same version changes nothing.
pub async fn approval_updates_are_conditional(store: &dyn Store) {
    let t = tenant(store, "Ops").await;
    let (_, mut ap) = gated(store, t, "k1", "high", t0()).await;
    ap.status = "approved".into();
    ap.body = json!({"decisions": [{"by": "user:ana"}]});
    assert!(store.update_approval(t, &ap).await.unwrap());
    let mut late = ap.clone();
    late.status = "rejected".into();
    assert!(!store.update_approval(t, &late).await.unwrap());
    let stored = store.approval(t, ap.id).await.unwrap().unwrap();
    assert_eq!(stored.status, "approved");
    assert_eq!(stored.version, 2);
    assert_eq!(stored.body, ap.body);
}

/// Filters combine; the list is newest first and pages by (time, id).
pub async fn approvals_are_filtered_and_paged_newest_first(store: &dyn Store) {
    let t = tenant(store, "Ops").await;
    let mut all = Vec::new();
    for (i, risk) in ["low", "high", "high", "medium", "high"].iter().enumerate() {
        let (_, ap) = gated(
            store,
            t,
            &format!("k{i}"),
            risk,
            t0() + Duration::minutes(i as i64),
        )
        .await;
        all.push(ap);
    }
    let ids = |rows: &[ApprovalRecord]| rows.iter().map(|a| a.id).collect::<Vec<_>>();
    let everything = store
        .list_approvals(
            t,
            &ApprovalFilter {
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    let newest_first: Vec<Uuid> = all.iter().rev().map(|a| a.id).collect();
    assert_eq!(ids(&everything), newest_first);

    let high = store
        .list_approvals(
            t,
            &ApprovalFilter {
                risk: Some("high".into()),
                status: Some("pending".into()),
                tool: Some("update_deal".into()),
                requester: Some("growth-bot".into()),
                queue: Some("webhook".into()),
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&high), vec![all[4].id, all[2].id, all[1].id]);
    let none = store
        .list_approvals(
            t,
            &ApprovalFilter {
                queue: Some("email".into()),
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(none.is_empty());
    let old = store
        .list_approvals(
            t,
            &ApprovalFilter {
                created_before: Some(t0() + Duration::minutes(2)),
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&old), vec![all[1].id, all[0].id]);
    let due = store
        .list_approvals(
            t,
            &ApprovalFilter {
                expires_by: Some(t0() + Duration::minutes(61)),
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(&due), vec![all[1].id, all[0].id]);

    let first = store
        .list_approvals(
            t,
            &ApprovalFilter {
                limit: 2,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    let last = first.last().unwrap();
    let next = store
        .list_approvals(
            t,
            &ApprovalFilter {
                after: Some((last.created_at, last.id)),
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    let mut paged = ids(&first);
    paged.extend(ids(&next));
    assert_eq!(paged, newest_first);
}

/// Another tenant sees none of it, and may use the same keys.
pub async fn tenants_are_isolated(store: &dyn Store) {
    let a = tenant(store, "A").await;
    let b = tenant(store, "B").await;
    let (act, ap) = gated(store, a, "k1", "high", t0()).await;
    assert!(store.agent_action(b, act.id).await.unwrap().is_none());
    assert!(store.approval(b, ap.id).await.unwrap().is_none());
    assert!(
        store
            .agent_action_by_key(b, "k1", false)
            .await
            .unwrap()
            .is_none()
    );
    let listed = store
        .list_approvals(
            b,
            &ApprovalFilter {
                limit: 100,
                ..ApprovalFilter::default()
            },
        )
        .await
        .unwrap();
    assert!(listed.is_empty());
    gated(store, b, "k1", "low", t0()).await;
    let mut foreign = ap.clone();
    foreign.status = "approved".into();
    assert!(!store.update_approval(b, &foreign).await.unwrap());
    assert_eq!(
        store.approval(a, ap.id).await.unwrap().unwrap().status,
        "pending"
    );
}

/// Every call on a tenant that does not exist says so.
pub async fn a_missing_tenant_is_reported(store: &dyn Store) {
    let ghost = TenantId::new_random();
    let missing = |r: Result<(), StoreError>| {
        assert!(matches!(r, Err(StoreError::TenantNotFound(_))), "{r:?}");
    };
    missing(store.tool_policies(ghost).await.map(|_| ()));
    missing(store.agent_action(ghost, Uuid::new_v4()).await.map(|_| ()));
    missing(
        store
            .list_approvals(
                ghost,
                &ApprovalFilter {
                    limit: 1,
                    ..ApprovalFilter::default()
                },
            )
            .await
            .map(|_| ()),
    );
    let a = action("k", "j", t0());
    missing(store.insert_agent_action(ghost, &a, None).await);
}
