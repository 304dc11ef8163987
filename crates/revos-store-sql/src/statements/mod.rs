//! The statements both SQL backends run, written once.
//!
//! Most of what the two backends do is the same: bind the same arguments to
//! the same statement, decode the same rows, map the same errors. SQLite
//! and PostgreSQL differ in how they store some values (a uuid is TEXT or
//! `uuid`, a time RFC 3339 TEXT or `timestamptz`, a JSON document TEXT or
//! `jsonb`, a list a JSON array read with `json_each` or an array read with
//! `any`), and sqlx's SQLite driver binds `$N` placeholders by number, as
//! PostgreSQL does, so one statement text serves both wherever the dialect
//! does not really differ.
//!
//! Why macros and not functions generic over `sqlx::Database`: a generic
//! statement needs a bound for every value it binds and every row it
//! decodes, plus a higher-ranked bound for the connection as an executor,
//! and the futures of the store's `async_trait` methods must still come out
//! `Send`; the signatures would outgrow the bodies. Each macro here
//! expands, in the backend's own module, to ordinary code on that backend's
//! concrete types, so each backend runs exactly the statements and round
//! trips it ran before. The body calls the backend's encodings by name from
//! `crate::dialect` of the crate it expands in:
//!
//! | name | SQLite | PostgreSQL |
//! |---|---|---|
//! | `Conn` | `SqliteConnection` | `PgConnection` |
//! | `tid(TenantId)` | hyphenated text | `uuid` |
//! | `ts(DateTime<Utc>)` | fixed-width RFC 3339 text | `timestamptz` |
//! | `doc(&T)` | JSON text | `Json<&T>` (`jsonb`) |
//! | `count(what, u32)` | `i64` | `i32`, or [`revos_store::StoreError::Invalid`] beyond it |
//! | `text_list`, `id_list` | one JSON array | the slice, as an array |
//! | `in_list!("$N")` | `in (select value from json_each($N))` | `= any($N)` |
//! | `is_set!("c")` | `c = 1` (the term of the partial indexes) | `c` |
//! | `bytewise!()` | `collate binary` | `collate "C"` |
//! | `BACKEND`, `BATCH` | which backend; records per batch statement (all of them) | which backend; `CHUNK` (1000) |
//! | `store_error`, `is_unique_violation`, `corrupt` | the backend's error mapping | the same |
//!
//! and, on the store type, `read_tenant` and `write_tenant` (a transaction
//! in which the tenant is known to exist). Ids bind as [`crate::DbId`].
//! Each module below names the further hooks its macro calls (a lock, a
//! statement fragment, a writer); they are the places where the backends
//! really differ.
//! What really differs (`SKIP LOCKED`, `unnest`, advisory locks, `NOTIFY`,
//! the upsert forms, how a conditional write is made atomic) stays in the
//! backend, which the shared code calls where it needs it.

pub mod audit;
pub mod cycles;
pub mod events;
pub mod forms;
pub mod memberships;
pub mod ops;
pub mod posts;
pub mod queue;
pub mod store;
pub mod templates;
pub mod tickets;
pub mod webhooks;
