//! [`revos_store::templates::TemplateStore`] on this backend: the
//! `email_templates`, `template_renders` and `suppressions` tables of
//! migration 0016.
//!
//! The statements both backends run are written once, in
//! [`revos_store_sql::template_statements!`].

revos_store_sql::template_statements!(crate::SqliteStore);
