//! C4: the committed golden vectors are what the reference generates now. Set
//! `HSNN_UPDATE_VECTORS=1` to rewrite them after an intended change (and say why in the commit).

use hsnn_conformance::golden::{
    assert_vectors_agree, generate_json, parse, GOLDEN_JSON, GOLDEN_PATH,
};

#[test]
fn c4_golden_vectors_are_up_to_date() {
    let generated = generate_json().expect("the reference generates the vectors");
    if std::env::var_os("HSNN_UPDATE_VECTORS").is_some() {
        let path = format!("{}/../{GOLDEN_PATH}", env!("CARGO_MANIFEST_DIR"));
        hsnn_spec::model::write_atomically(std::path::Path::new(&path), generated.as_bytes())
            .expect("write the golden vectors");
        return;
    }
    if generated != GOLDEN_JSON {
        // Text can differ in the last digit of a libm result on another platform; the contract
        // is the exact level: same problems, same counts, reals within 1e-12.
        let committed = parse(GOLDEN_JSON).expect("committed vectors parse");
        let regenerated = parse(&generated).expect("generated vectors parse");
        assert_vectors_agree(&committed, &regenerated);
    }
}

#[test]
fn c4_golden_vectors_reject_other_versions() {
    let other = GOLDEN_JSON.replacen("\"format_version\": 2", "\"format_version\": 3", 1);
    let error = parse(&other).expect_err("version 3 is not read");
    assert!(error.to_string().contains("version 3"), "{error}");
}

/// C4 (issue: a fused multiply-add hid under the tolerance): the comparison of the committed
/// vectors is exact where no libm function is involved. One ulp added to one integrator value
/// of the relu case is refused; the same ulp in a tanh case passes at C1's 1e-12.
#[test]
fn c4_golden_comparison_is_exact_where_the_values_are_exact() {
    let committed = parse(GOLDEN_JSON).expect("committed vectors parse");
    let nudge = |name_prefix: &str| {
        let mut nudged = committed.clone();
        let case = nudged
            .quantizer
            .iter_mut()
            .find(|case| case.name.starts_with(name_prefix))
            .expect("the case exists");
        let value = case
            .expected
            .integrator
            .iter_mut()
            .find(|value| **value != 0.0)
            .expect("a non-zero integrator value");
        *value = f64::from_bits(value.to_bits() + 1);
        nudged
    };
    let relu = nudge("relu");
    let refused = std::panic::catch_unwind(|| assert_vectors_agree(&committed, &relu));
    assert!(
        refused.is_err(),
        "a one-ulp change in a relu run must be caught"
    );
    let tanh = nudge("tanh_dt_1");
    assert_vectors_agree(&committed, &tanh);
}

/// C4, H12: the committed fixed-point golden vectors are what the reference's fixed-point mode
/// generates now (integers, so to the byte; a platform whose tanh differs in the last bit could
/// write another table and is told so). `HSNN_UPDATE_VECTORS=1` rewrites them.
#[test]
fn h12_fixed_golden_vectors_are_up_to_date() {
    use hsnn_conformance::golden_fixed::{generate_json, FIXED_GOLDEN_JSON, FIXED_GOLDEN_PATH};
    let generated = generate_json().expect("the reference generates the fixed vectors");
    if std::env::var_os("HSNN_UPDATE_VECTORS").is_some() {
        let path = format!("{}/../{FIXED_GOLDEN_PATH}", env!("CARGO_MANIFEST_DIR"));
        hsnn_spec::model::write_atomically(std::path::Path::new(&path), generated.as_bytes())
            .expect("write the fixed golden vectors");
        return;
    }
    assert!(
        generated == FIXED_GOLDEN_JSON,
        "{FIXED_GOLDEN_PATH} differs from what the reference converts and runs now (if only a \
         tanh table differs, this platform's libm rounds differently: the committed file stays \
         the contract); rerun with HSNN_UPDATE_VECTORS=1 after an intended change"
    );
}

/// H12: both fixed-point implementations reproduce every integer of the committed fixed-point
/// golden vectors from the stored fixed models; one changed integer in the file is caught.
#[test]
fn h12_fixed_golden_vectors() {
    use hsnn_conformance::golden_fixed::{check_fixed_vectors, parse, FIXED_GOLDEN_JSON};
    let vectors = parse(FIXED_GOLDEN_JSON).expect("the committed fixed vectors parse");
    assert_eq!(vectors.cases.len(), 15);
    check_fixed_vectors(hsnn_reference::fixed::run, &vectors).expect("reference");
    check_fixed_vectors(chip_run, &vectors).expect("hardware");
    let mut changed = vectors.clone();
    changed.cases[3].expected.memory[5] += 1;
    let message = check_fixed_vectors(chip_run, &changed)
        .map(drop)
        .map_err(|error| error.to_string())
        .expect_err("a changed integer is caught");
    assert!(message.contains("memory[5]"), "{message}");
}

/// C4, E2: the version 1 golden vectors, committed before the memory-state site existed, still
/// read and still pass: each of their cases is in version 2 with the same name and values
/// (regenerating changed no old case), and the reference and the optimized backend reproduce
/// them at their levels.
#[test]
fn c4_version_1_vectors_still_pass() {
    use hsnn_conformance::golden::{check_vectors, GOLDEN_V1_JSON};
    use hsnn_conformance::levels::Level;
    let old = parse(GOLDEN_V1_JSON).expect("version 1 still reads");
    assert_eq!(old.format_version, 1);
    let new = parse(GOLDEN_JSON).expect("version 2 reads");
    assert_eq!(new.format_version, 2);
    let mut same_names = new.clone();
    same_names
        .network
        .retain(|case| old.network.iter().any(|o| o.name == case.name));
    assert_eq!(same_names.network.len(), old.network.len());
    assert!(
        new.network.len() > old.network.len(),
        "version 2 adds cases"
    );
    assert_vectors_agree(&old, &same_names);
    check_vectors(&hsnn_reference::ReferenceBackend, Level::Exact, &old);
    check_vectors(
        &hsnn_optimized::OptimizedBackend,
        hsnn_conformance::levels::F32_EXPLAINED,
        &old,
    );
}

/// H12, E2: the version 1 fixed-point golden vectors still read and pass on both fixed-point
/// implementations, and each of their cases is in version 2 unchanged.
#[test]
fn h12_version_1_fixed_vectors_still_pass() {
    use hsnn_conformance::golden_fixed::{
        check_fixed_vectors, parse, FIXED_GOLDEN_JSON, FIXED_GOLDEN_V1_JSON,
    };
    let old = parse(FIXED_GOLDEN_V1_JSON).expect("version 1 still reads");
    assert_eq!(old.format_version, 1);
    let new = parse(FIXED_GOLDEN_JSON).expect("version 2 reads");
    for case in &old.cases {
        let same = new
            .cases
            .iter()
            .find(|c| c.name == case.name)
            .expect("kept in version 2");
        assert_eq!(same, case, "{}", case.name);
    }
    check_fixed_vectors(hsnn_reference::fixed::run, &old).expect("reference");
    check_fixed_vectors(chip_run, &old).expect("hardware");
}

/// A fixed model run on the modeled chip, its integers (H12), as the golden checks take it.
fn chip_run(
    model: &hsnn_spec::fixed::FixedModel,
    batch: &hsnn_spec::SequenceBatch,
    full: bool,
) -> hsnn_spec::Result<hsnn_spec::fixed::FixedRun> {
    let chip = hsnn_hardware::Chip::new(model.clone())?;
    hsnn_hardware::run_batch(&chip, batch, full, 2).map(|(run, _)| run)
}
