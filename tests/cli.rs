//! End-to-end: the binary as a user runs it.

use spam_e2e::run_cli;

#[test]
fn help_lists_the_subcommands() {
    let (code, stdout, _) = run_cli(&["--help"]);
    assert_eq!(code, 0);
    assert!(stdout.contains("Usage"), "{stdout}");
}

#[test]
fn runs_from_any_directory() {
    // The rpath to libtorch is absolute, so the binary starts from outside the project.
    let out = std::process::Command::new(spam_e2e::spam_cli())
        .arg("--version")
        .current_dir(std::env::temp_dir())
        .env_remove("LD_LIBRARY_PATH")
        .output()
        .expect("could not start spam-cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("spam-cli "));
}
