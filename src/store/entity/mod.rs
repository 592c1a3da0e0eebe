//! SeaORM entities, one per table. Enums are stored by their domain names as plain strings,
//! which behave the same on SQLite and PostgreSQL.

pub mod comment;
pub mod event;
pub mod sequence;
pub mod tag;
pub mod ticket;
