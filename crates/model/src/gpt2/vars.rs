//! Variables of the model: creating them and finding them by their dotted names.

use tch::nn::{self, Init};
use tch::{Kind, Tensor};

/// Creates a float variable; `None` leaves its memory uninitialised.
pub(super) fn new_var(q: &nn::Path, name: &str, dims: &[i64], init: Option<Init>) -> Tensor {
    match init {
        Some(init) => q.var(name, dims, init),
        None => q.add(name, Tensor::empty(dims, (Kind::Float, q.device())), true),
    }
}

/// Resolves a dotted variable prefix such as `h.0.attn.c_attn` below `p`.
pub(super) fn sub_path<'a>(p: &nn::Path<'a>, dotted: &str) -> nn::Path<'a> {
    let mut parts = dotted.split('.');
    let first = parts.next().unwrap_or(dotted);
    parts.fold(p.sub(first), |acc, part| acc.sub(part))
}
