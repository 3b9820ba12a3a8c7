//! `--device auto|cpu|cuda[:N]`.
use std::fmt;
use std::str::FromStr;

use spam_data::Named;
use tch::{Cuda, Device};

use crate::error::{ModelError, Result};

/// A device choice from the command line (files spell it the same way: `"cuda:1"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 when one is available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA device (index 0 unless given as `cuda:N`).
    Cuda(usize),
}

impl Named for DeviceChoice {
    const WHAT: &'static str = "device";
    const NAMES: &'static [(Self, &'static str, &'static [&'static str])] = &[
        (Self::Auto, "auto", &[]),
        (Self::Cpu, "cpu", &[]),
        (Self::Cuda(0), "cuda", &["gpu"]),
    ];
    const FORMS: &'static [&'static str] = &["`cuda:N`"];
}

impl DeviceChoice {
    /// The tch device; an error when CUDA is asked for but not available.
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Auto => Ok(Device::cuda_if_available()),
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda(i) => {
                if !Cuda::is_available() {
                    return Err(ModelError::Device(
                        "CUDA was requested but is not available (no GPU, or libtorch was built without CUDA); use --device cpu or auto".into(),
                    ));
                }
                let n = Cuda::device_count() as usize;
                if i >= n {
                    return Err(ModelError::Device(format!(
                        "CUDA device {i} was requested but only {n} device(s) exist"
                    )));
                }
                Ok(Device::Cuda(i))
            }
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.name_of(), self) {
            (Some(name), _) => f.write_str(name),
            (None, Self::Cuda(i)) => write!(f, "cuda:{i}"),
            (None, other) => write!(f, "{other:?}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = ModelError;
    /// A name or alias of [`Named::NAMES`] or `cuda:N`; trimmed, in any case.
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        Self::from_name(&t)
            .or_else(|| t.strip_prefix("cuda:")?.parse().ok().map(Self::Cuda))
            .ok_or_else(|| ModelError::Device(Self::unknown(s)))
    }
}

spam_data::serde_by_name!(DeviceChoice);

/// Shorthand for `s.parse::<DeviceChoice>()?.resolve()`.
pub fn parse_device(s: &str) -> Result<Device> {
    s.parse::<DeviceChoice>()?.resolve()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(
            "auto".parse::<DeviceChoice>().ok(),
            Some(DeviceChoice::Auto)
        );
        assert_eq!("CPU".parse::<DeviceChoice>().ok(), Some(DeviceChoice::Cpu));
        assert_eq!(
            "cuda:1".parse::<DeviceChoice>().ok(),
            Some(DeviceChoice::Cuda(1))
        );
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert_eq!(DeviceChoice::Cpu.resolve().ok(), Some(Device::Cpu));
        assert!(DeviceChoice::Auto.resolve().is_ok());
        for c in [
            DeviceChoice::Auto,
            DeviceChoice::Cpu,
            DeviceChoice::Cuda(0),
            DeviceChoice::Cuda(2),
        ] {
            assert_eq!(c.to_string().parse::<DeviceChoice>().ok(), Some(c));
        }
    }
}
