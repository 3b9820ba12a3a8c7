//! `--device auto|cpu|cuda[:N]`.
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use tch::{Cuda, Device};

use crate::error::{ModelError, Result};

/// A device choice from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceChoice {
    /// CUDA device 0 when one is available, else the CPU.
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// A CUDA device (index 0 unless given as `cuda:N`).
    Cuda(usize),
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
        match self {
            Self::Auto => f.write_str("auto"),
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(0) => f.write_str("cuda"),
            Self::Cuda(i) => write!(f, "cuda:{i}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = ModelError;
    fn from_str(s: &str) -> Result<Self> {
        let t = s.trim().to_ascii_lowercase();
        match t.as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda(0)),
            other => other
                .strip_prefix("cuda:")
                .and_then(|i| i.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| {
                    ModelError::Device(format!(
                        "unknown device {s:?}: expected auto, cpu, cuda or cuda:N"
                    ))
                }),
        }
    }
}

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
