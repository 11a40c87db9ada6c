//! rofs audit (placeholder: the audit helper's crate replaces this file).

pub mod positions;
