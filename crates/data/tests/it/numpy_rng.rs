//! The RandomState port against values numpy itself produced (fixtures/numpy_random_state.json).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use crate::common;

use spam_data::RandomState;

fn fixture() -> serde_json::Value {
    let text = std::fs::read_to_string(common::fixtures().join("numpy_random_state.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn ints(v: &serde_json::Value, key: &str) -> Vec<i64> {
    v[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key}"))
        .iter()
        .map(|x| x.as_i64().unwrap())
        .collect()
}

fn floats(v: &serde_json::Value, key: &str) -> Vec<f64> {
    v[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn usizes(v: &[usize]) -> Vec<i64> {
    v.iter().map(|&x| x as i64).collect()
}

#[test]
fn raw_uint32_and_doubles() {
    let f = fixture();
    let mut rs = RandomState::new(123);
    let raw: Vec<i64> = (0..8).map(|_| i64::from(rs.next_u32())).collect();
    assert_eq!(raw, ints(&f, "seed123_uint32"));
    let mut rs = RandomState::new(123);
    let doubles: Vec<f64> = (0..6).map(|_| rs.random_sample()).collect();
    assert_eq!(doubles, floats(&f, "seed123_random_sample"));
    let mut rs = RandomState::new(u32::MAX);
    let doubles: Vec<f64> = (0..3).map(|_| rs.random_sample()).collect();
    assert_eq!(doubles, floats(&f, "seed4294967295_random_sample"));
}

#[test]
fn bounded_integers() {
    let f = fixture();
    let mut rs = RandomState::new(123);
    assert_eq!(
        (0..20).map(|_| rs.randint(0, 10)).collect::<Vec<_>>(),
        ints(&f, "seed123_randint_0_10")
    );
    let mut rs = RandomState::new(123);
    assert_eq!(
        (0..20).map(|_| rs.randint(5, 1000)).collect::<Vec<_>>(),
        ints(&f, "seed123_randint_5_1000")
    );
    let mut rs = RandomState::new(123);
    assert_eq!(
        (0..6).map(|_| rs.randint(0, 1 << 40)).collect::<Vec<_>>(),
        ints(&f, "seed123_randint_0_2pow40")
    );
}

#[test]
fn permutations_and_choice() {
    let f = fixture();
    assert_eq!(
        usizes(&RandomState::new(123).permutation(10)),
        ints(&f, "seed123_permutation_10")
    );
    assert_eq!(
        usizes(&RandomState::new(0).permutation(20)),
        ints(&f, "seed0_permutation_20")
    );
    let choice = RandomState::new(123).choice_without_replacement(4825, 747);
    assert_eq!(choice.len(), 747);
    assert_eq!(
        usizes(&choice[..25]),
        ints(&f, "seed123_choice_4825_747_head")
    );
    assert_eq!(
        usizes(&RandomState::new(123).permutation(1494)[..25]),
        ints(&f, "seed123_permutation_1494_head")
    );
}

#[test]
fn array_seeds() {
    let f = fixture();
    let mut rs = RandomState::from_key(&[1, 2, 3]);
    assert_eq!(
        (0..5).map(|_| i64::from(rs.next_u32())).collect::<Vec<_>>(),
        ints(&f, "key_1_2_3_uint32")
    );
    assert_eq!(
        usizes(&RandomState::from_key(&[123, 0, 7]).permutation(12)),
        ints(&f, "key_123_0_7_permutation_12")
    );
}
