//! The publish pipeline's statements: [`revos_store::posts::PostStore`],
//! written once for both backends.
//!
//! [`posts_statements!`](crate::posts_statements) expands in a backend's
//! `posts.rs` to the `PostStore` implementation. The update is a
//! conditional `update … where version = $n`: of two writers that read the
//! same version, one changes the row and the other none.

/// Expands to the `PostStore` implementation for the store type `$store`
/// (see the [module](crate::statements::posts)).
#[macro_export]
#[allow(clippy::crate_in_macro_def)]
macro_rules! posts_statements {
    ($store:ty) => {
        /// The publish pipeline's statements both backends share, expanded
        /// from `revos_store_sql::posts_statements!` over this backend's
        /// encodings (`crate::dialect`).
        mod shared {
            use crate::dialect::{doc, is_unique_violation, store_error, tid, ts};
            use ::revos_contracts::TenantId;
            use ::revos_store::StoreError;
            use ::revos_store::posts::{PostFilter, PostRecord, PostStore};
            use ::uuid::Uuid;
            use $crate::DbId;
            use $crate::ops::version;
            use $crate::posts::PostRow;

            #[::async_trait::async_trait]
            impl PostStore for $store {
                async fn insert_post(
                    &self,
                    tenant: TenantId,
                    post: &PostRecord,
                ) -> Result<(), StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    ::sqlx::query(concat!(
                        "insert into posts (tenant_id, ",
                        $crate::post_columns!(),
                        ") values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(post.id))
                    .bind(&post.status)
                    .bind(&post.channel)
                    .bind(&post.content_hash)
                    .bind(version(post.version)?)
                    .bind(doc(&post.doc)?)
                    .bind(&post.created_by)
                    .bind(ts(post.created_at))
                    .bind(ts(post.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(|err| {
                        if is_unique_violation(&err) {
                            StoreError::Conflict {
                                entity: "post",
                                id: post.id.to_string(),
                            }
                        } else {
                            store_error(err)
                        }
                    })?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(())
                }

                async fn post(
                    &self,
                    tenant: TenantId,
                    id: Uuid,
                ) -> Result<Option<PostRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let row: Option<PostRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::post_columns!(),
                        " from posts where tenant_id = $1 and id = $2"
                    ))
                    .bind(tid(tenant))
                    .bind(DbId(id))
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(row.map(PostRecord::from))
                }

                async fn list_posts(
                    &self,
                    tenant: TenantId,
                    filter: &PostFilter,
                ) -> Result<Vec<PostRecord>, StoreError> {
                    let mut tx = self.read_tenant(tenant).await?;
                    let (after_at, after_id) = match filter.after {
                        Some((at, id)) => (Some(ts(at)), Some(DbId(id))),
                        None => (None, None),
                    };
                    let rows: Vec<PostRow> = ::sqlx::query_as(concat!(
                        "select ",
                        $crate::post_columns!(),
                        " from posts where tenant_id = $1
                           and ($2 is null or status = $2)
                           and ($3 is null or created_at < $3
                                or (created_at = $3 and id < $4))
                         order by created_at desc, id desc
                         limit $5"
                    ))
                    .bind(tid(tenant))
                    .bind(filter.status.as_deref())
                    .bind(after_at)
                    .bind(after_id)
                    .bind(i64::from(filter.limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(rows.into_iter().map(PostRecord::from).collect())
                }

                async fn update_post(
                    &self,
                    tenant: TenantId,
                    post: &PostRecord,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.write_tenant(tenant).await?;
                    let done = ::sqlx::query(
                        "update posts set status = $3, channel = $4, content_hash = $5,
                             doc = $6, updated_at = $7, version = version + 1
                         where tenant_id = $1 and id = $2 and version = $8",
                    )
                    .bind(tid(tenant))
                    .bind(DbId(post.id))
                    .bind(&post.status)
                    .bind(&post.channel)
                    .bind(&post.content_hash)
                    .bind(doc(&post.doc)?)
                    .bind(ts(post.updated_at))
                    .bind(version(post.version)?)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                    tx.commit().await.map_err(store_error)?;
                    Ok(done.rows_affected() == 1)
                }
            }
        }
    };
}
