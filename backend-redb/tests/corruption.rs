//! 200 randomised corruptions of a valid file: a typed error or the correct
//! rows each time, never a panic, an abort or wrong bytes. redb itself can
//! panic on a damaged file; the store turns that into `Error::Corrupt`.

mod support;

#[test]
fn random_corruptions_give_typed_errors_or_correct_rows() {
    let good = cachestore_conformance::corruption::random_corruptions(&support::BACKEND, 200)
        .unwrap_or_else(|e| panic!("{e}"));
    println!("200 corruptions: {good} correct rows read back, no panic, no wrong bytes");
}
