//! Build script shared by every package that links libtorch.
//!
//! tch links libtorch dynamically but records no run-time search path, so a binary
//! would only start with `LD_LIBRARY_PATH` set by hand. We embed the library folder as an
//! rpath instead, so `target/release/spam-cli` and every test binary run from anywhere.
//! `LIBTORCH` comes from the environment or from `.cargo/config.toml`.
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    println!("cargo:rerun-if-env-changed=LIBTORCH_LIB");
    let lib = match (
        std::env::var_os("LIBTORCH_LIB"),
        std::env::var_os("LIBTORCH"),
    ) {
        (Some(lib), _) => PathBuf::from(lib),
        (None, Some(root)) => PathBuf::from(root).join("lib"),
        (None, None) => return,
    };
    if cfg!(target_os = "linux") || cfg!(target_os = "macos") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
    }
}
