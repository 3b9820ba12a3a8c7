//! `--precision` of the commands that run a model (classify, eval, serve, generate).

use clap::Args;
use spam_model::{Precision, Predictor};

use crate::values::named;

#[derive(Args, Debug)]
pub struct PrecisionArg {
    /// `fp32` (exact) or `bf16` (matrix products and activations in bf16: faster on GPUs and
    /// CPUs with bf16 matrix units, probabilities within about a percent).
    #[arg(long, value_name = "PRECISION", value_parser = named::<Precision>(),
          default_value_t = Precision::default())]
    pub precision: Precision,
}

impl PrecisionArg {
    pub fn apply(&self, predictor: &mut Predictor) {
        predictor.set_precision(self.precision);
    }
}
