//! [`revos_store::posts::PostStore`] on this backend: the `posts` table of
//! migration 0018.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::posts_statements!`].

revos_store_sql::posts_statements!(crate::PostgresStore);
