//! Record expressions (being split into tree, compile and eval).

mod eval;

pub(super) use eval::{compile, function_names, Context, Scope, Ty};
pub use eval::{BinOp, Expr, RecordCtx, UnOp};
