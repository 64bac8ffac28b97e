//! Record expressions: the `Expr` tree, its static check, and its
//! evaluation against one record.
//!
//! Read `tree` first (what a checked expression is: nodes, operators, the
//! function table, static types), then `compile` (a parsed `Syn` to an
//! `Expr`: every check that needs no record, and constants computed once),
//! then `eval` (the per-record hot path, which borrows rather than copies).
//! Strings that `concat` and `replace` make are capped, and so is the work
//! of computing a job's constants. `tests` checks parse, compile and eval
//! together, and holds the helpers the tests of `compile` and `eval` share.

mod compile;
mod eval;
#[cfg(test)]
mod tests;
mod tree;

pub(super) use compile::{compile, Context, Scope};
pub use eval::RecordCtx;
pub(super) use tree::{function_names, Ty};
pub use tree::{BinOp, Expr, UnOp};
