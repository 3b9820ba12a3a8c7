//! libtorch is linked and runs: a matmul with a known result.
use tch::{Device, Kind, Tensor};

#[test]
fn matmul_known_result() {
    let a = Tensor::from_slice(&[1.0f32, 2.0, 3.0, 4.0, 5.0, 6.0]).view([2, 3]);
    let b = Tensor::from_slice(&[7.0f32, 8.0, 9.0, 10.0, 11.0, 12.0]).view([3, 2]);
    let c = a.matmul(&b);
    assert_eq!(c.size(), vec![2, 2]);
    let mut out = [0f32; 4];
    c.copy_data(&mut out, 4);
    assert_eq!(out, [58.0, 64.0, 139.0, 154.0]);
    assert_eq!(c.kind(), Kind::Float);
    assert_eq!(c.device(), Device::Cpu);
}

/// The allocator keeps freed tensor memory (glibc): the settings must take, and calling
/// again must be harmless. Tensors still allocate and free normally afterwards.
#[test]
fn freed_memory_is_kept_for_reuse() {
    let first = spam_model::reuse_freed_memory();
    assert_eq!(
        first,
        cfg!(all(target_os = "linux", target_env = "gnu")),
        "mallopt should succeed on glibc and be skipped elsewhere"
    );
    assert_eq!(spam_model::reuse_freed_memory(), first);
    for _ in 0..3 {
        let t = Tensor::ones([40 << 20 >> 2], (Kind::Float, Device::Cpu));
        assert_eq!(t.sum(Kind::Float).double_value(&[]), (10u64 << 20) as f64);
    }
}
