//! The publish pipeline (`/v1/tenants/{id}/posts`, `revos posts`): a post
//! goes from draft through its checks to people's approval, and only then
//! to its channel.
//!
//! 1. A draft holds a channel, a kind (`news`, `announcement`, `update`: its
//!    priority on the `publish` queue), a title, a body, its source URLs
//!    and the claims it makes. Its content hash
//!    ([`revos_policy::publish::content_hash`]) names exactly that content.
//! 2. Checks: revos computes `source_urls` and `claims`; an agent or a
//!    person attaches `fact_check` and `tone_check` (pass or fail, with
//!    notes), each tied to the content hash it was made on. An edit that
//!    changes the content leaves the earlier checks in the history, where
//!    they no longer count.
//! 3. Submitting asks for the `publish_post` tool through the agent-action
//!    gate ([`crate::ops::actions`]): a draft with a failing or missing
//!    check is refused (400, every reason named); the tenant's Cedar tool
//!    policies may block it; otherwise it always waits for a person's
//!    approval, whatever the policies say. Its job waits on the `publish`
//!    queue. A submitted, published or failed post cannot be edited (409).
//! 4. Approved, the job delivers the post as a signed webhook to the
//!    tenant's endpoint `publish.<channel>`, or else `publish` (none: no
//!    delivery), then writes the published record: a frozen copy of
//!    everything that was checked, who approved it and when. A delivery
//!    that fails leaves the post `failed` (the job may be redriven).
//!    Rejected or expired, the post says so and may be edited and
//!    submitted again.
//!
//! Every change is audited: `post.create`, `post.edit`, `post.check`,
//! `post.submit`, `post.decided`, `post.publish`, `post.fail`.

use chrono::{DateTime, Utc};
use revos_contracts::validation::Violation;
use revos_contracts::{ErrorCode, ErrorKind, TenantId};
use revos_policy::publish::{self, AttachedCheck, CheckOutcome, Content, Readiness};
use revos_queue::Job;
use revos_store::identity::Scope;
use revos_store::listing::{Cursor, Listed};
use revos_store::ops::AgentActionRecord;
use revos_store::posts::{PostFilter, PostRecord};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::delivery::outbound::{DeliveryError, OutboundWebhook};
use crate::delivery::worker::JobError;
use crate::identity::auth::Principal;
use crate::ops::actions::{AgentActionRequest, AgentActionView};
use crate::{Failure, Kernel};

/// The webhook endpoint that receives published posts when the channel
/// has none of its own (`publish.<channel>`).
pub const PUBLISH_ENDPOINT: &str = "publish";

/// A post's statuses.
pub const STATUSES: [&str; 6] = [
    "draft",
    "submitted",
    "published",
    "rejected",
    "expired",
    "failed",
];

/// The statuses in which a post may be edited, checked and submitted.
const OPEN: [&str; 3] = ["draft", "rejected", "expired"];

/// How many times a write that lost a race is tried again on fresh data.
const WRITE_TRIES: usize = 5;

/// A draft to create.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPost {
    /// Where it is published: 1–50 of `a-z 0-9 _`, starting with a letter.
    #[schema(pattern = "^[a-z][a-z0-9_]{0,49}$")]
    pub channel: String,
    /// `news` (default), `announcement` or `update`: its priority on the
    /// `publish` queue.
    #[serde(default)]
    #[schema(pattern = "^(news|announcement|update)$")]
    pub kind: Option<String>,
    /// The title (one line, 1–300 characters).
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "^[^\\n\\r]*\\S[^\\n\\r]*$"
    )]
    pub title: String,
    /// The text (1–20,000 characters).
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub body: String,
    /// Where its information comes from: absolute http(s) URLs (at most 100).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub source_urls: Vec<String>,
    /// The statements it makes, one each (at most 100, 1–1,000 characters).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub claims: Vec<String>,
}

/// A change to a draft: the fields given replace the stored ones.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PostEdit {
    /// A new channel.
    #[serde(default)]
    #[schema(pattern = "^[a-z][a-z0-9_]{0,49}$")]
    pub channel: Option<String>,
    /// A new kind.
    #[serde(default)]
    #[schema(pattern = "^(news|announcement|update)$")]
    pub kind: Option<String>,
    /// A new title.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 300,
        pattern = "^[^\\n\\r]*\\S[^\\n\\r]*$"
    )]
    pub title: Option<String>,
    /// A new text.
    #[serde(default)]
    #[schema(min_length = 1, max_length = 20000, pattern = "\\S")]
    pub body: Option<String>,
    /// New source URLs (the whole list).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub source_urls: Option<Vec<String>>,
    /// New claims (the whole list).
    #[serde(default)]
    #[schema(max_items = 100)]
    pub claims: Option<Vec<String>>,
}

/// A check to attach.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    /// `fact_check` or `tone_check`.
    #[schema(pattern = "^(fact_check|tone_check)$")]
    pub name: String,
    /// `pass` or `fail`.
    #[schema(pattern = "^(pass|fail)$")]
    pub result: String,
    /// What the checker found (1–5,000 characters).
    #[schema(min_length = 1, max_length = 5000, pattern = "\\S")]
    pub notes: String,
}

/// What a submitter may add.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitInput {
    /// Why, as a code (default `publish`; 1–100 of a-z, 0-9, `_`, `.`, `-`).
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_.-]{1,100}$")]
    pub reason_code: Option<String>,
}

/// Filters of the post list.
#[derive(Debug, Clone, Default)]
pub struct PostQuery {
    /// Only this status.
    pub status: Option<String>,
    /// Continue after this key.
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many (1–200, default 50).
    pub limit: Option<u32>,
}

/// A post as revos shows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostView {
    /// Its id.
    pub id: Uuid,
    /// `draft`, `submitted`, `published`, `rejected`, `expired` or `failed`.
    pub status: String,
    /// Where it is published.
    pub channel: String,
    /// `news`, `announcement` or `update`.
    pub kind: String,
    /// The title.
    pub title: String,
    /// The text.
    pub body: String,
    /// Where its information comes from.
    pub source_urls: Vec<String>,
    /// The statements it makes.
    pub claims: Vec<String>,
    /// SHA-256 of the content the checks are tied to.
    pub content_hash: String,
    /// Each check on the current content: `{name, status: pass|fail|missing,
    /// computed, notes, by?, at?}`.
    #[schema(value_type = Vec<Object>)]
    pub checks: Vec<CheckOutcome>,
    /// Whether every check passes (it may be submitted).
    pub ready: bool,
    /// Why it may not be submitted yet, one sentence per check.
    pub problems: Vec<String>,
    /// Every check attached, oldest first, with the content hash it was
    /// made on.
    #[schema(value_type = Vec<Object>)]
    pub check_history: Vec<AttachedCheck>,
    /// The latest submission: `{action_id, approval_id?, status, reasons,
    /// by, at, content_hash}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub submission: Option<Value>,
    /// People's decision when they rejected it or let it expire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub decision: Option<Value>,
    /// The published record: a frozen copy of what was checked, who
    /// approved it, when, and where it was delivered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub published: Option<Value>,
    /// Why the approved post could not be delivered (status `failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub failure: Option<Value>,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A post's content and checks, read from its document.
struct Parts {
    kind: String,
    title: String,
    body: String,
    source_urls: Vec<String>,
    claims: Vec<String>,
    checks: Vec<AttachedCheck>,
}

impl Parts {
    fn of(post: &PostRecord) -> Parts {
        let d = &post.doc;
        let text = |k: &str| d[k].as_str().unwrap_or("").to_owned();
        let list =
            |k: &str| -> Vec<String> { serde_json::from_value(d[k].clone()).unwrap_or_default() };
        Parts {
            kind: d["kind"].as_str().unwrap_or("news").to_owned(),
            title: text("title"),
            body: text("body"),
            source_urls: list("source_urls"),
            claims: list("claims"),
            checks: serde_json::from_value(d["checks"].clone()).unwrap_or_default(),
        }
    }

    fn content<'a>(&'a self, channel: &'a str) -> Content<'a> {
        Content {
            channel,
            title: &self.title,
            body: &self.body,
            source_urls: &self.source_urls,
            claims: &self.claims,
        }
    }

    fn readiness(&self, post: &PostRecord) -> Readiness {
        publish::evaluate(
            &self.content(&post.channel),
            &post.content_hash,
            &self.checks,
        )
    }
}

fn invalid(message: &str, violations: Vec<Violation>) -> Result<(), Failure> {
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Failure::invalid(message, &violations))
    }
}

fn field(path: &str, message: impl Into<String>) -> Violation {
    Violation::new("post", path, message, ErrorCode::InvalidInput)
}

fn frozen(post: &PostRecord, what: &str) -> Failure {
    Failure::of(
        ErrorKind::Conflict,
        format!(
            "post {} is {}: {what} only a draft, or a rejected or expired post",
            post.id, post.status
        ),
    )
    .with_detail("status", post.status.clone())
}

fn raced(id: Uuid) -> Failure {
    Failure::of(
        ErrorKind::Conflict,
        format!("post {id} kept changing meanwhile; read it again"),
    )
}

/// The id of the post a `publish_post` action names.
fn post_id_of(args: &Value) -> Option<Uuid> {
    args["post_id"].as_str().and_then(|s| s.parse().ok())
}

impl Kernel {
    /// Creates a draft; audited. Needs `write`.
    pub async fn create_post(
        &self,
        by: &Principal,
        tenant: TenantId,
        new: NewPost,
        now: DateTime<Utc>,
    ) -> Result<PostView, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let kind = new.kind.unwrap_or_else(|| "news".to_owned());
        let content = Content {
            channel: &new.channel,
            title: &new.title,
            body: &new.body,
            source_urls: &new.source_urls,
            claims: &new.claims,
        };
        invalid("invalid post", publish::check_content(&content, &kind))?;
        let post = PostRecord {
            id: Uuid::new_v4(),
            status: "draft".to_owned(),
            channel: new.channel.clone(),
            content_hash: publish::content_hash(&content),
            version: 1,
            doc: json!({
                "kind": kind,
                "title": new.title,
                "body": new.body,
                "source_urls": new.source_urls,
                "claims": new.claims,
                "checks": [],
                "submissions": 0,
            }),
            created_by: by.actor(),
            created_at: now,
            updated_at: now,
        };
        self.store.insert_post(tenant, &post).await?;
        self.audit(
            tenant,
            &by.actor(),
            "post.create",
            Some(("post", &post.id.to_string())),
            json!({"channel": post.channel, "kind": post.doc["kind"],
                   "content_hash": post.content_hash}),
        )
        .await;
        Ok(view(post))
    }

    /// The tenant's posts, newest first; `has_more` and the cursor say what
    /// the page hides. Needs `read`.
    pub async fn posts(
        &self,
        by: &Principal,
        tenant: TenantId,
        query: PostQuery,
    ) -> Result<Listed<PostView>, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        if let Some(s) = &query.status
            && !STATUSES.contains(&s.as_str())
        {
            return Err(Failure::invalid(
                "invalid filter",
                &[Violation::new(
                    "posts",
                    "query.status",
                    format!("must be one of {}", STATUSES.join(", ")),
                    ErrorCode::InvalidInput,
                )],
            ));
        }
        let limit = query.limit.unwrap_or(50).clamp(1, 200);
        let mut rows = self
            .store
            .list_posts(
                tenant,
                &PostFilter {
                    status: query.status,
                    after: query.after,
                    limit: limit + 1,
                },
            )
            .await?;
        let has_more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let items = rows.into_iter().map(view).collect();
        Ok(Listed::new(items, has_more, |v: &PostView| {
            Cursor::At(v.created_at, v.id)
        }))
    }

    /// One post. Needs `read`.
    pub async fn post(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
    ) -> Result<PostView, Failure> {
        by.authorize_tenant(tenant, Scope::Read)?;
        Ok(view(self.stored_post(tenant, id).await?))
    }

    async fn stored_post(&self, tenant: TenantId, id: Uuid) -> Result<PostRecord, Failure> {
        self.store
            .post(tenant, id)
            .await?
            .ok_or_else(|| Failure::not_found("post", &id.to_string()))
    }

    /// Changes a draft (or a rejected or expired post, which becomes a draft
    /// again); a submitted, published or failed post is refused (409).
    /// Audited. Needs `write`.
    pub async fn edit_post(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
        edit: PostEdit,
        now: DateTime<Utc>,
    ) -> Result<PostView, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let mut post = self.stored_post(tenant, id).await?;
        if !OPEN.contains(&post.status.as_str()) {
            return Err(frozen(&post, "edit"));
        }
        let old = Parts::of(&post);
        let channel = edit.channel.unwrap_or_else(|| post.channel.clone());
        let kind = edit.kind.unwrap_or(old.kind);
        let title = edit.title.unwrap_or(old.title);
        let body = edit.body.unwrap_or(old.body);
        let source_urls = edit.source_urls.unwrap_or(old.source_urls);
        let claims = edit.claims.unwrap_or(old.claims);
        let content = Content {
            channel: &channel,
            title: &title,
            body: &body,
            source_urls: &source_urls,
            claims: &claims,
        };
        invalid("invalid post", publish::check_content(&content, &kind))?;
        let hash = publish::content_hash(&content);
        let changed = hash != post.content_hash;
        post.doc["kind"] = json!(kind);
        post.doc["title"] = json!(title);
        post.doc["body"] = json!(body);
        post.doc["source_urls"] = json!(source_urls);
        post.doc["claims"] = json!(claims);
        post.channel = channel;
        post.content_hash = hash;
        post.status = "draft".to_owned();
        post.updated_at = now;
        if !self.store.update_post(tenant, &post).await? {
            return Err(raced(id));
        }
        post.version += 1;
        self.audit(
            tenant,
            &by.actor(),
            "post.edit",
            Some(("post", &id.to_string())),
            json!({"content_hash": post.content_hash, "content_changed": changed}),
        )
        .await;
        Ok(view(post))
    }

    /// Attaches a fact or tone check to the post's current content;
    /// audited. Needs `write` (an agent or a person).
    pub async fn attach_check(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
        input: CheckInput,
        now: DateTime<Utc>,
    ) -> Result<PostView, Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let mut problems = Vec::new();
        if !publish::ATTACHED_CHECKS.contains(&input.name.as_str()) {
            problems.push(field(
                "$.name",
                format!(
                    "must be one of {} (revos computes {} itself)",
                    publish::ATTACHED_CHECKS.join(", "),
                    publish::COMPUTED_CHECKS.join(", ")
                ),
            ));
        }
        if !["pass", "fail"].contains(&input.result.as_str()) {
            problems.push(field("$.result", "must be `pass` or `fail`"));
        }
        let n = input.notes.chars().count();
        if input.notes.trim().is_empty() || n > 5000 || revos_contracts::text::has_nul(&input.notes)
        {
            problems.push(field(
                "$.notes",
                "must have 1 to 5,000 characters, not only spaces: say what was checked",
            ));
        }
        invalid("invalid check", problems)?;
        let mut post = self.stored_post(tenant, id).await?;
        if !OPEN.contains(&post.status.as_str()) {
            return Err(frozen(&post, "checks are attached to"));
        }
        let check = AttachedCheck {
            name: input.name,
            result: input.result,
            notes: input.notes.trim().to_owned(),
            by: crate::ops::actions::principal_name(by),
            at: now,
            content_hash: post.content_hash.clone(),
        };
        let mut checks = Parts::of(&post).checks;
        if checks.len() >= 200 {
            return Err(Failure::of(
                ErrorKind::Conflict,
                format!("post {id} holds 200 checks already; create a new post"),
            ));
        }
        checks.push(check.clone());
        post.doc["checks"] = serde_json::to_value(&checks).map_err(|e| Failure::internal(&e))?;
        post.updated_at = now;
        if !self.store.update_post(tenant, &post).await? {
            return Err(raced(id));
        }
        post.version += 1;
        self.audit(
            tenant,
            &by.actor(),
            "post.check",
            Some(("post", &id.to_string())),
            json!({"name": check.name, "result": check.result,
                   "content_hash": check.content_hash}),
        )
        .await;
        Ok(view(post))
    }

    /// Submits a post for publication through the `publish_post` tool:
    /// refused (400, every failing or missing check named) unless every
    /// check passes; then the tool's gate decides (blocked, or awaiting a
    /// person's approval — never run at once). Needs `write`.
    pub async fn submit_post(
        &self,
        by: &Principal,
        tenant: TenantId,
        id: Uuid,
        input: SubmitInput,
        now: DateTime<Utc>,
    ) -> Result<(PostView, AgentActionView), Failure> {
        by.authorize_tenant(tenant, Scope::Write)?;
        let post = self.stored_post(tenant, id).await?;
        if !OPEN.contains(&post.status.as_str()) {
            return Err(frozen(&post, "submit"));
        }
        let parts = Parts::of(&post);
        let readiness = parts.readiness(&post);
        let failing: Vec<Violation> = readiness
            .failing()
            .map(|c| {
                Violation::new(
                    format!("publish.{}", c.name),
                    format!("checks.{}", c.name),
                    format!("{}: {}", c.status, c.notes),
                    ErrorCode::InvalidInput,
                )
            })
            .collect();
        if !failing.is_empty() {
            return Err(Failure::invalid(
                format!(
                    "post {id} cannot be submitted: {}",
                    readiness.problems.join("; ")
                ),
                &failing,
            ));
        }
        // Each submission is the next version of the entity `post:<id>`,
        // so it has a job key of its own; the same submission sent twice
        // (the same key) is one action.
        let n = post.doc["submissions"].as_u64().unwrap_or(0) + 1;
        let request = AgentActionRequest {
            tool: "publish_post".to_owned(),
            args: json!({
                "post_id": id.to_string(),
                "channel": post.channel,
                "content_hash": post.content_hash,
            }),
            entity: format!("post:{id}"),
            entity_version: Some(u32::try_from(n).map_err(|e| Failure::internal(&e))?),
            evidence: vec![json!({
                "kind": "post_checks",
                "title": parts.title,
                "source_urls": parts.source_urls,
                "claims": parts.claims,
                "checks": readiness.checks,
            })],
            reason_code: input.reason_code.unwrap_or_else(|| "publish".to_owned()),
            idempotency_key: format!("post:{id}:submission:{n}"),
        };
        let action = self
            .request_agent_action(by, Some(tenant), request, now)
            .await?;
        let post = self.stored_post(tenant, id).await?;
        Ok((view(post), action))
    }

    /// Why a `publish_post` call may not go ahead (empty: it may, pending
    /// approval): the post must exist, be open, still have the content
    /// hash and channel the call names, and pass every check.
    pub(crate) async fn publish_gate(
        &self,
        tenant: TenantId,
        args: &Value,
    ) -> Result<Vec<String>, Failure> {
        let Some(id) = post_id_of(args) else {
            return Ok(vec!["`post_id` is not a post id".to_owned()]);
        };
        let Some(post) = self.store.post(tenant, id).await? else {
            return Ok(vec![format!("the tenant has no post {id}")]);
        };
        let mut out = Vec::new();
        if !OPEN.contains(&post.status.as_str()) {
            out.push(format!(
                "post {id} is {}; only a draft, or a rejected or expired post, is submitted",
                post.status
            ));
        }
        if args["content_hash"].as_str() != Some(post.content_hash.as_str()) {
            out.push(format!(
                "post {id} has content hash {}, not the one the call names: its content changed",
                post.content_hash
            ));
        }
        if args["channel"].as_str() != Some(post.channel.as_str()) {
            out.push(format!(
                "post {id} is for channel `{}`, not the one the call names",
                post.channel
            ));
        }
        let readiness = Parts::of(&post).readiness(&post);
        out.extend(readiness.problems);
        Ok(out)
    }

    /// Records on the post the submission `action` made (whatever its
    /// status); an action awaiting approval makes the post `submitted`.
    pub(crate) async fn note_submission(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        now: DateTime<Utc>,
    ) {
        let Some(id) = post_id_of(&action.body["args"]) else {
            return;
        };
        let version = action.body["entity_version"].as_u64().unwrap_or(1);
        let submission = json!({
            "action_id": action.id,
            "approval_id": action.approval_id,
            "status": action.status,
            "reasons": action.body["reasons"],
            "by": action.body["requester"],
            "at": now,
            "content_hash": action.body["args"]["content_hash"],
        });
        let result = self
            .rewrite_post(tenant, id, |post| {
                if !OPEN.contains(&post.status.as_str()) {
                    return false;
                }
                let n = post.doc["submissions"].as_u64().unwrap_or(0).max(version);
                post.doc["submissions"] = json!(n);
                post.doc["submission"] = submission.clone();
                if action.status == "awaiting_approval" {
                    post.status = "submitted".to_owned();
                    if let Some(d) = post.doc.as_object_mut() {
                        d.remove("decision");
                        d.remove("failure");
                    }
                }
                post.updated_at = now;
                true
            })
            .await;
        match result {
            Ok(true) => {
                self.audit(
                    tenant,
                    action.body["requester"].as_str().unwrap_or("service"),
                    "post.submit",
                    Some(("post", &id.to_string())),
                    json!({"action_id": action.id, "status": action.status,
                           "approval_id": action.approval_id}),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(%tenant, post = %id, error = %e.body, "recording a submission");
            }
        }
    }

    /// Tells the post that people decided its submission: approved (its
    /// job runs next), rejected or expired (it may be edited again).
    pub(crate) async fn note_decision(
        &self,
        tenant: TenantId,
        action: &AgentActionRecord,
        now: DateTime<Utc>,
    ) {
        let Some(id) = post_id_of(&action.body["args"]) else {
            return;
        };
        let decisions = match action.approval_id {
            Some(a) => match self.store.approval(tenant, a).await {
                Ok(Some(row)) => row.body["decisions"].clone(),
                _ => json!([]),
            },
            None => json!([]),
        };
        let status = action.status.clone();
        let result = self
            .rewrite_post(tenant, id, |post| {
                if post.doc["submission"]["action_id"] != json!(action.id)
                    || post.status != "submitted"
                {
                    return false;
                }
                post.doc["submission"]["status"] = json!(status);
                match status.as_str() {
                    "rejected" | "expired" => {
                        post.status = status.clone();
                        post.doc["decision"] = json!({
                            "status": status, "at": now, "decisions": decisions,
                        });
                    }
                    _ => {}
                }
                post.updated_at = now;
                true
            })
            .await;
        match result {
            Ok(true) => {
                self.audit(
                    tenant,
                    "service",
                    "post.decided",
                    Some(("post", &id.to_string())),
                    json!({"action_id": action.id, "status": status}),
                )
                .await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(%tenant, post = %id, error = %e.body, "recording a decision"),
        }
    }

    /// Reads the post, lets `change` edit it (false: leave it), and writes
    /// it over the version read, trying again on fresh data when another
    /// writer won; whether it was written.
    async fn rewrite_post(
        &self,
        tenant: TenantId,
        id: Uuid,
        mut change: impl FnMut(&mut PostRecord) -> bool,
    ) -> Result<bool, Failure> {
        for _ in 0..WRITE_TRIES {
            let Some(mut post) = self.store.post(tenant, id).await? else {
                return Ok(false);
            };
            if !change(&mut post) {
                return Ok(false);
            }
            if self.store.update_post(tenant, &post).await? {
                return Ok(true);
            }
        }
        Err(raced(id))
    }

    /// The priority class of a `publish_post` action's job: the post's kind.
    pub(crate) async fn publish_priority(&self, tenant: TenantId, args: &Value) -> String {
        let kind = match post_id_of(args) {
            Some(id) => match self.store.post(tenant, id).await {
                Ok(Some(post)) => Parts::of(&post).kind,
                _ => String::new(),
            },
            None => String::new(),
        };
        if publish::KINDS.contains(&kind.as_str()) {
            kind
        } else {
            "news".to_owned()
        }
    }

    /// Carries out an approved `publish_post` action: delivers the post to
    /// the tenant's publish endpoint (if it has one) and writes the
    /// published record. See the [module](self).
    pub(crate) async fn run_publish(
        &self,
        job: &Job,
        action: &AgentActionRecord,
    ) -> Result<Value, JobError> {
        let tenant = job.tenant_id;
        let retry =
            |what: &str, e: &dyn std::fmt::Display| JobError::Retryable(format!("{what}: {e}"));
        let args = &action.body["args"];
        let id = post_id_of(args)
            .ok_or_else(|| JobError::Fatal("the action names no post".to_owned()))?;
        let post = self
            .store
            .post(tenant, id)
            .await
            .map_err(|e| retry("reading the post", &e))?
            .ok_or_else(|| JobError::Fatal(format!("post {id} does not exist")))?;
        if post.doc["submission"]["action_id"] != json!(action.id) {
            return Err(JobError::Fatal(format!(
                "post {id} was submitted again since action {}; this one does not publish it",
                action.id
            )));
        }
        if !["submitted", "failed"].contains(&post.status.as_str()) {
            return Err(JobError::Fatal(format!(
                "post {id} is {}; only a submitted post is published",
                post.status
            )));
        }
        if args["content_hash"].as_str() != Some(post.content_hash.as_str()) {
            return Err(JobError::Fatal(format!(
                "post {id} changed after it was checked and approved; it is not published"
            )));
        }
        let parts = Parts::of(&post);
        let readiness = parts.readiness(&post);
        if !readiness.ready() {
            return Err(JobError::Fatal(format!(
                "post {id} no longer passes its checks: {}",
                readiness.problems.join("; ")
            )));
        }
        let approval = match action.approval_id {
            Some(a) => self
                .store
                .approval(tenant, a)
                .await
                .map_err(|e| retry("reading the approval", &e))?,
            None => None,
        };
        let approved_by: Vec<Value> = approval
            .as_ref()
            .and_then(|a| a.body["decisions"].as_array().cloned())
            .unwrap_or_default()
            .into_iter()
            .filter(|d| d["decision"] == "approve")
            .collect();
        let now = Utc::now();
        let record = json!({
            "post_id": id,
            "channel": post.channel,
            "kind": parts.kind,
            "title": parts.title,
            "body": parts.body,
            "source_urls": parts.source_urls,
            "claims": parts.claims,
            "content_hash": post.content_hash,
            "checks": readiness.checks,
            "attached_checks": parts
                .checks
                .iter()
                .filter(|c| c.content_hash == post.content_hash)
                .collect::<Vec<_>>(),
            "requested_by": action.body["requester"],
            "action_id": action.id,
            "approval_id": action.approval_id,
            "approved_by": approved_by,
            "published_at": now,
        });
        let delivery = match self.deliver_post(tenant, &post, action, &record).await {
            Ok(d) => d,
            Err((err, message)) => {
                let failure = json!({"at": now, "error": message, "job_id": job.id});
                let written = self
                    .rewrite_post(tenant, id, |p| {
                        if p.doc["submission"]["action_id"] != json!(action.id) {
                            return false;
                        }
                        p.status = "failed".to_owned();
                        p.doc["failure"] = failure.clone();
                        p.updated_at = now;
                        true
                    })
                    .await;
                if let Err(e) = written {
                    tracing::error!(%tenant, post = %id, error = %e.body, "recording a failed delivery");
                }
                self.audit(
                    tenant,
                    "worker",
                    "post.fail",
                    Some(("post", &id.to_string())),
                    json!({"action_id": action.id, "error": message}),
                )
                .await;
                return Err(err);
            }
        };
        let mut published = record;
        published["delivery"] = delivery.clone();
        let written = self
            .rewrite_post(tenant, id, |p| {
                if p.doc["submission"]["action_id"] != json!(action.id) {
                    return false;
                }
                p.status = "published".to_owned();
                p.doc["submission"]["status"] = json!("executed");
                p.doc["published"] = published.clone();
                if let Some(d) = p.doc.as_object_mut() {
                    d.remove("failure");
                }
                p.updated_at = now;
                true
            })
            .await
            .map_err(|e| retry("writing the published record", &e.body.message))?;
        if !written {
            return Err(JobError::Fatal(format!(
                "post {id} was submitted again while it was being published"
            )));
        }
        self.audit(
            tenant,
            "worker",
            "post.publish",
            Some(("post", &id.to_string())),
            json!({"action_id": action.id, "content_hash": post.content_hash,
                   "delivery": delivery}),
        )
        .await;
        Ok(json!({"post_id": id, "status": "published", "delivery": delivery}))
    }

    /// Posts the published record to `publish.<channel>`, or else
    /// `publish`, as a signed webhook (`revos.post.published`); without
    /// either endpoint, nothing is delivered.
    async fn deliver_post(
        &self,
        tenant: TenantId,
        post: &PostRecord,
        action: &AgentActionRecord,
        record: &Value,
    ) -> Result<Value, (JobError, String)> {
        let channel_endpoint = format!("{PUBLISH_ENDPOINT}.{}", post.channel);
        let mut found = None;
        for name in [channel_endpoint.as_str(), PUBLISH_ENDPOINT] {
            match self.store.webhook_endpoint(tenant, name).await {
                Ok(Some(e)) => {
                    found = Some((name.to_owned(), e));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    let m = format!("reading the endpoint `{name}`: {e}");
                    return Err((JobError::Retryable(m.clone()), m));
                }
            }
        }
        let Some((name, endpoint)) = found else {
            return Ok(json!({
                "endpoint": null,
                "note": format!(
                    "the tenant has no webhook endpoint `{channel_endpoint}` or \
                     `{PUBLISH_ENDPOINT}`: recorded, not delivered"
                ),
            }));
        };
        let secret = endpoint.secret.clone().unwrap_or_default();
        let msg_id = format!("msg_{}", action.id.simple());
        let hook = OutboundWebhook {
            url: &endpoint.url,
            secret: &secret,
            msg_id: &msg_id,
            event_type: "revos.post.published",
            body: record,
            timestamp: Utc::now().timestamp(),
        };
        match self.webhook_sender().deliver(&hook).await {
            Ok(status) => {
                Ok(json!({"endpoint": name, "http_status": status, "webhook_id": msg_id}))
            }
            Err(DeliveryError::Transient(m)) => Err((JobError::Retryable(m.clone()), m)),
            Err(DeliveryError::Permanent(m)) => Err((JobError::Fatal(m.clone()), m)),
        }
    }
}

/// A post as the API shows it, its checks evaluated on its current content.
fn view(post: PostRecord) -> PostView {
    let parts = Parts::of(&post);
    let readiness = parts.readiness(&post);
    let opt = |k: &str| post.doc.get(k).filter(|v| !v.is_null()).cloned();
    PostView {
        id: post.id,
        status: post.status.clone(),
        channel: post.channel.clone(),
        kind: parts.kind,
        title: parts.title,
        body: parts.body,
        source_urls: parts.source_urls,
        claims: parts.claims,
        content_hash: post.content_hash.clone(),
        ready: readiness.ready(),
        checks: readiness.checks,
        problems: readiness.problems,
        check_history: parts.checks,
        submission: opt("submission"),
        decision: opt("decision"),
        published: opt("published"),
        failure: opt("failure"),
        created_by: post.created_by,
        created_at: post.created_at,
        updated_at: post.updated_at,
    }
}
