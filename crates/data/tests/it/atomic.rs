//! Atomic writes: the content lands, no temporary file is left behind (after success or
//! failure), the parent folder is created, and the file gets `File::create`'s permissions.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use spam_data::{DataError, parent_dir, write_atomic, write_atomic_via_path, write_atomic_with};

/// Every entry of `dir`, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn writes_bytes_and_replaces_the_old_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.txt");
    write_atomic(&path, b"first").unwrap();
    write_atomic(&path, b"second").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"second");
    assert_eq!(entries(dir.path()), ["a.txt"]);
}

#[test]
fn creates_the_parent_folder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x/y/z.bin");
    write_atomic(&path, b"z").unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"z");
    let path = dir.path().join("w/v.bin");
    write_atomic_with(&path, |w| w.write_all(b"v")).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"v");
}

#[test]
fn writer_closure_content_lands() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.bin");
    let chunk = vec![7u8; 300_000];
    write_atomic_with(&path, |w| {
        for _ in 0..5 {
            w.write_all(&chunk)?;
        }
        Ok(())
    })
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap().len(), 1_500_000);
    assert_eq!(entries(dir.path()), ["big.bin"]);
}

#[test]
fn failing_writer_leaves_old_file_and_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("keep.txt");
    std::fs::write(&path, b"old").unwrap();
    let err = write_atomic_with(&path, |w| {
        w.write_all(b"half")?;
        Err(std::io::Error::other("disk on fire"))
    })
    .unwrap_err();
    // The cause is the error's source, printed after it in the chain (as spam-cli prints).
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.contains("keep.txt") && msg.contains("disk on fire"),
        "{msg}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"old");
    assert_eq!(entries(dir.path()), ["keep.txt"]);
}

#[test]
fn via_path_writer_gets_a_sibling_with_the_same_extension() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plot.png");
    let mut seen = PathBuf::new();
    write_atomic_via_path(&path, |tmp| {
        seen = tmp.to_path_buf();
        std::fs::write(tmp, b"png bytes")
    })
    .unwrap();
    assert_eq!(seen.parent(), Some(dir.path()));
    assert_eq!(seen.extension().unwrap(), "png");
    assert_ne!(seen, path);
    assert_eq!(std::fs::read(&path).unwrap(), b"png bytes");
    assert_eq!(entries(dir.path()), ["plot.png"]);
}

#[test]
fn failing_via_path_writer_names_the_file_and_leaves_no_temp() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plot.png");
    let err = write_atomic_via_path(&path, |tmp| {
        std::fs::write(tmp, b"partial").unwrap();
        Err("the encoder gave up")
    })
    .unwrap_err();
    assert!(matches!(err, DataError::Write { .. }), "{err:?}");
    let msg = format!("{:#}", anyhow::Error::from(err));
    assert!(
        msg.contains("plot.png") && msg.contains("the encoder gave up"),
        "{msg}"
    );
    assert!(entries(dir.path()).is_empty(), "{:?}", entries(dir.path()));
}

#[cfg(unix)]
#[test]
fn permissions_are_those_of_file_create() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let reference = dir.path().join("reference");
    std::fs::File::create(&reference).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let expected = mode(&reference);
    let a = dir.path().join("a");
    write_atomic(&a, b"a").unwrap();
    let b = dir.path().join("b");
    write_atomic_with(&b, |w| w.write_all(b"b")).unwrap();
    let c = dir.path().join("c");
    write_atomic_via_path(&c, |p| std::fs::write(p, b"c")).unwrap();
    for p in [&a, &b, &c] {
        assert_eq!(mode(p), expected, "{}", p.display());
    }
}

#[test]
fn parent_of_a_bare_file_name_is_the_current_folder() {
    assert_eq!(parent_dir(Path::new("model.safetensors")), Path::new("."));
    assert_eq!(
        parent_dir(Path::new("runs/a/config.json")),
        Path::new("runs/a")
    );
    assert_eq!(parent_dir(Path::new("/config.json")), Path::new("/"));
}

#[test]
fn missing_folder_that_cannot_be_created_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"x").unwrap();
    let err = write_atomic(file.join("sub/out.txt"), b"y").unwrap_err();
    assert!(err.to_string().contains("file"), "{err}");
    assert_eq!(entries(dir.path()), ["file"]);
}
