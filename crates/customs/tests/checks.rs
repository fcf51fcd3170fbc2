//! Each CUS rule with a positive and a negative, the fee arithmetic at its edges, legacy codes,
//! origin signals, bad input (row errors naming row and field while other rows are checked),
//! the imported schedule, and the demo's sample entries.

use std::path::Path;

use hashward_customs::{Checker, Chunk, HtsTable, InputFormat, Rules, check_stream, sample_entries};

const HEADER: &str = "entry_number,entry_date,mode,port,line,declared_hts,description,model,quantity,entered_value,origin_country,export_country,manufacturer,chapter99,duties_paid,mid,port_of_lading,mpf_paid,hmf_paid,fees_paid,transshipment";

struct Run {
    lines: Vec<serde_json::Value>,
    entries: Vec<serde_json::Value>,
    findings: Vec<hashward_model::Finding>,
    errors: Vec<hashward_customs::RowError>,
}

fn run_with(c: &Checker, csv: &str) -> Run {
    let mut out = Run {
        lines: Vec::new(),
        entries: Vec::new(),
        findings: Vec::new(),
        errors: Vec::new(),
    };
    let mut sink = |ch: Chunk<'_>| -> Result<(), std::io::Error> {
        out.lines
            .extend(ch.lines.iter().map(|l| serde_json::to_value(l).unwrap()));
        out.entries
            .extend(ch.entries.iter().map(|l| serde_json::to_value(l).unwrap()));
        out.findings.extend(ch.findings);
        out.errors.extend(ch.errors);
        Ok(())
    };
    check_stream(c, csv.as_bytes(), InputFormat::Csv, 2, &mut sink).unwrap();
    out
}

fn run(rows: &[&str]) -> Run {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    run_with(&c, &format!("{HEADER}\n{}\n", rows.join("\n")))
}

fn rules_of(r: &Run) -> Vec<&str> {
    r.findings.iter().map(|f| f.rule.as_str()).collect()
}

// A clean Malaysian U3 in the Section 122 window: no finding at all.
const CLEAN: &str = "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625.00,MY,MY,Bitmain,9903.03.01,,MYBITMAI88KUL,MYPKG,,,,";

#[test]
fn a_clean_line_raises_nothing() {
    let r = run(&[CLEAN]);
    assert!(r.findings.is_empty(), "{:#?}", r.findings);
    assert_eq!(r.lines[0]["duty_total"], 2472.75);
    assert_eq!(r.lines[0]["expected_hts"], "8543.70.98.60");
    assert_eq!(r.lines[0]["measures"][1]["chapter99"], "9903.03.01");
}

#[test]
fn cus_001_a_miner_declared_as_an_adp_machine() {
    let r = run(&[
        "E1,2025-04-20,ocean,2704,1,8471.50.0150,Bitcoin mining machine,Antminer U3S21EXPH,1,19625.00,CN,CN,Bitmain,9903.88.03;9903.01.24;9903.01.32,,,,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-001")
        .expect("CUS-001");
    assert!(
        f.message.contains("8543.70.98.60") && f.message.contains("N297495"),
        "{}",
        f.message
    );
    assert!(f.message.contains("$25,041.50"), "{}", f.message);
    assert_eq!(r.lines[0]["duty_difference"], 25041.5);
    assert_eq!(
        r.lines[0]["classification"]["rulings"].as_array().unwrap().len(),
        3
    );
    // Negative: the same machine under its heading; and a non-miner under 8471 is not flagged.
    let r = run(&[
        "E1,2025-04-20,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625.00,CN,CN,Bitmain,9903.88.02;9903.01.24,,,,,,,",
    ]);
    assert!(!rules_of(&r).contains(&"CUS-001"));
    let r = run(&[
        "E1,2025-04-20,ocean,2704,1,8471.50.0150,Server processing unit,R740,1,5000,CN,CN,Dell,9903.88.03;9903.01.24;9903.01.32,,,,,,,",
    ]);
    assert!(!rules_of(&r).contains(&"CUS-001"), "{:?}", r.findings);
}

#[test]
fn cus_001_low_a_legacy_number_after_2025() {
    let r = run(&[
        "E1,2025-06-10,ocean,2704,1,8543.70.9960,Bitcoin mining machine,Antminer S21,1,3000,MY,MY,Bitmain,9903.01.25,,,,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-001")
        .expect("legacy");
    assert_eq!(f.severity, hashward_model::Severity::Low);
    assert!(f.message.contains("8543.70.98.60"), "{}", f.message);
    assert_eq!(r.lines[0]["declared_hts_current"], "8543.70.98.60");
    assert_eq!(r.lines[0]["duty_difference"], 0.0);
    // Before the map's date the legacy number is still valid.
    let r = run(&[
        "E1,2024-12-02,ocean,2704,1,8543.70.9960,Bitcoin mining machine,Antminer S21,1,3000,MY,MY,Bitmain,,,,,,,,",
    ]);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[test]
fn cus_002_a_unit_value_far_below_the_band() {
    // 20 S21 XP for $15,000: against the $7/TH floor from Dec 2025, flagged below 50 % ($3.50).
    let r = run(&[
        "E1,2026-03-10,air,2720,1,8543.70.98.60,ASIC miner,Antminer S21 XP,20,15000,MY,MY,Bitmain,9903.03.01,,,,,,,",
    ]);
    // $15,000 / (20 × 270 TH) = $2.78/TH < $3.50.
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-002")
        .expect("CUS-002");
    assert!(
        f.message.contains("$2.78/TH") && f.message.contains("PB-S21-2025-12"),
        "{}",
        f.message
    );
    // Negative: $19,625 for a U3S21EXPH is $22.82/TH, inside its 2025 band.
    let r = run(&[
        "E1,2025-06-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.01.25,,,,,,,",
    ]);
    assert!(!rules_of(&r).contains(&"CUS-002"));
    assert_eq!(r.lines[0]["valuation"]["value_per_th"], 22.82);
}

#[test]
fn cus_003_a_mid_naming_another_country_and_prc_signals() {
    let r = run(&[
        "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.03.01,,CNBITMAI123SHE,,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-003")
        .expect("CUS-003");
    assert!(f.message.contains("MID CNBITMAI123SHE names CN"), "{}", f.message);
    assert_eq!(f.severity, hashward_model::Severity::High);
    let r = run(&[
        "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,TH,HK,Shenzhen Miner Co,9903.03.01,,,CNSZX,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-003")
        .expect("CUS-003");
    assert!(
        f.message.contains("exported from HK")
            && f.message.contains("PRC entity")
            && f.message.contains("CNSZX"),
        "{}",
        f.message
    );
    // Negative: everything points at Malaysia.
    assert!(!rules_of(&run(&[CLEAN])).contains(&"CUS-003"));
}

#[test]
fn cus_004_chapter99_headings_missing_or_wrong() {
    // CN 8543.70 without 9903.88.02, with 9903.01.32 claimed on 8543.
    let r = run(&[
        "E1,2025-06-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,CN,CN,Bitmain,9903.01.24;9903.01.32,,,,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-004")
        .expect("CUS-004");
    assert!(f.message.contains("9903.88.02 missing"), "{}", f.message);
    assert!(
        f.message.contains("9903.01.32 declared but does not apply"),
        "{}",
        f.message
    );
    // 9903.03.01 missing in the Section 122 window.
    let r = run(&[
        "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,,,,,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-004")
        .expect("S122");
    assert!(f.message.contains("9903.03.01 missing"), "{}", f.message);
    // An exemption heading claimed: Section 122 does not apply, and nothing is missing.
    let r = run(&[
        "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.03.05,,,,,,,",
    ]);
    assert!(!rules_of(&r).contains(&"CUS-004"));
    assert_eq!(r.lines[0]["duty_total"], 510.25);
    // 8471.50 from 2026-01-15 needs a 9903.79.0x declaration.
    let r = run(&["E1,2026-03-10,ocean,2704,1,8471.50.0150,Server,R740,1,5000,MY,MY,Dell,,,,,,,,"]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-004")
        .expect("232");
    assert!(f.message.contains("S232-DECL"), "{}", f.message);
    // Negative: the clean line.
    assert!(!rules_of(&run(&[CLEAN])).contains(&"CUS-004"));
}

#[test]
fn cus_005_fees_paid_against_fees_due() {
    // $19,625 ocean in FY2026: MPF 67.98 (0.3464 %), HMF 24.53.
    let r = run(&[
        "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.03.01,,,,60.00,24.53,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-005")
        .expect("CUS-005");
    assert!(f.message.contains("MPF paid $60.00, due $67.98"), "{}", f.message);
    assert!(!f.message.contains("HMF paid"), "{}", f.message);
    let r = run(&[
        "E1,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.03.01,,,,67.98,24.53,92.51,",
    ]);
    assert!(!rules_of(&r).contains(&"CUS-005"), "{:?}", r.findings);
}

#[test]
fn mpf_minimum_and_maximum_by_fiscal_year_and_hmf_by_mode() {
    let row = |e: &str, date: &str, mode: &str, value: &str| {
        format!(
            "{e},{date},{mode},2704,1,8543.70.98.60,Bitcoin mining machine,Antminer S21,1,{value},MY,MY,Bitmain,,,,,,,,"
        )
    };
    let rows = [
        row("A", "2026-03-10", "ocean", "1000"),   // FY2026 minimum
        row("B", "2026-03-10", "ocean", "500000"), // FY2026 maximum
        row("C", "2025-09-30", "air", "1000"),     // FY2025 minimum
        row("D", "2025-09-30", "air", "500000"),   // FY2025 maximum
        row("E", "2025-10-01", "air", "500000"),   // first day of FY2026
    ];
    let refs: Vec<&str> = rows.iter().map(String::as_str).collect();
    let r = run(&refs);
    let mpf: Vec<f64> = r
        .entries
        .iter()
        .map(|e| e["mpf"]["amount"].as_f64().unwrap())
        .collect();
    assert_eq!(mpf, [33.58, 651.50, 32.71, 634.62, 651.50]);
    assert_eq!(r.entries[0]["mpf"]["uncapped"], 3.46);
    // HMF: 0.125 % on ocean, nothing by air.
    assert_eq!(r.entries[0]["hmf"]["amount"], 1.25);
    assert_eq!(r.entries[1]["hmf"]["amount"], 625.0);
    assert!(r.entries[2]["hmf"].is_null());
    // MPF is per entry summary: two lines of one entry share one maximum.
    let r = run(&[
        "M,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,10,196250,MY,MY,Bitmain,9903.03.01,,,,,,,",
        "M,2026-03-10,ocean,2704,2,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,10,196250,MY,MY,Bitmain,9903.03.01,,,,,,,",
    ]);
    assert_eq!(r.entries.len(), 1);
    assert_eq!(r.entries[0]["mpf"]["amount"], 651.5);
    assert_eq!(r.lines[0]["fees"]["mpf"], 325.75);
    assert_eq!(r.lines[1]["fees"]["mpf"], 325.75);
}

#[test]
fn cus_006_ieepa_duties_are_refundable() {
    let r = run(&[
        "E1,2025-06-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,CN,CN,Bitmain,9903.88.02;9903.01.24,11304.00,,,,,,",
    ]);
    let f = r
        .findings
        .iter()
        .find(|f| f.rule.as_str() == "CUS-006")
        .expect("CUS-006");
    // Fentanyl 20 % + reciprocal 10 % = $5,887.50.
    assert!(f.message.contains("$5,887.50"), "{}", f.message);
    assert_eq!(r.lines[0]["refundable"], 5887.5);
    // Capped at what was paid.
    let r = run(&[
        "E1,2025-06-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,CN,CN,Bitmain,9903.88.02;9903.01.24,1000,,,,,,",
    ]);
    assert_eq!(r.lines[0]["refundable"], 1000.0);
    // Negative: after 2026-02-24 nothing is IEEPA.
    assert!(!rules_of(&run(&[CLEAN])).contains(&"CUS-006"));
}

#[test]
fn bad_rows_are_errors_naming_row_and_field_and_the_rest_is_checked() {
    let r = run(&[
        CLEAN,
        "E2,2026-03-10,ocean,2704,1,9999.99.9999,Widget,,1,10,MY,MY,Acme,,,,,,,,", // unknown HTS
        "E3,2019-01-01,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,S21,1,10,MY,MY,Bitmain,,,,,,,,", // outside every window
        "E4,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,S21,1,-10,MY,MY,Bitmain,,,,,,,,", // negative
        "E5,2026-03-10,ocean,2704,1,8543.70.98.60,broken row", // broken CSV row
        "E6,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,S21,1,,MY,MY,Bitmain,,,,,,,,", // empty required
        "E7,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.03.01,,,,,,,",
    ]);
    let errs: Vec<(u64, &str)> = r.errors.iter().map(|e| (e.row, e.field.as_str())).collect();
    assert_eq!(
        errs,
        [
            (2, "declared_hts"),
            (3, "entry_date"),
            (4, "entered_value"),
            (5, "(row)"),
            (6, "entered_value")
        ]
    );
    assert!(
        r.errors[0].message.contains("unknown HTS code 9999.99.99.99"),
        "{}",
        r.errors[0]
    );
    assert!(
        r.errors[1].message.contains("outside every window"),
        "{}",
        r.errors[1]
    );
    assert!(r.errors[2].message.contains("negative"), "{}", r.errors[2]);
    assert_eq!(r.lines.len(), 2, "E1 and E7 are checked");
    // A missing column: each row names it.
    let c = Checker::new(Rules::embedded().unwrap(), None);
    let r = run_with(&c, "entry_number,entry_date,line\nX,2026-03-10,1\n");
    assert_eq!(r.errors[0].field, "mode");
    // An entry whose lines are not contiguous.
    let r = run(&[
        CLEAN,
        "E9,2026-03-10,ocean,2704,1,8543.70.98.60,Bitcoin mining machine,Antminer U3S21EXPH,1,19625,MY,MY,Bitmain,9903.03.01,,,,,,,",
        &CLEAN.replace(",1,8543", ",2,8543"),
    ]);
    assert_eq!(r.errors.len(), 1);
    assert_eq!((r.errors[0].row, r.errors[0].field.as_str()), (3, "entry_number"));
}

#[test]
fn the_sample_entries_show_a_misclassified_and_an_undervalued_line() {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    let r = run_with(&c, &sample_entries());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.lines.len(), 3);
    let on = |e: &str, rule: &str| {
        r.findings.iter().any(|f| {
            f.rule.as_str() == rule
                && matches!(&f.subject, hashward_model::Subject::EntryLine { entry, .. } if entry == e)
        })
    };
    assert!(on("AB1-0000001-5", "CUS-001"));
    assert!(on("AB1-0000002-3", "CUS-002"));
    assert!(!r.findings.iter().any(|f| matches!(&f.subject, hashward_model::Subject::EntryLine { entry, .. } if entry == "AB1-0000003-1")), "{:#?}", r.findings);
}

fn shared_hts() -> Option<std::path::PathBuf> {
    hashward_model::shared_testdata_candidates(Path::new(env!("CARGO_MANIFEST_DIR")))
        .into_iter()
        .map(|d| d.join("customs/usitc-hts-2026-rev4.csv"))
        .find(|p| p.is_file())
}

#[test]
fn the_shared_usitc_export_imports_and_validates_declared_numbers() {
    let Some(path) = shared_hts() else {
        eprintln!("shared testdata not found: skipped");
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let t = HtsTable::from_usitc_csv("rev4", &bytes, hashward_customs::hts::MIN_ROWS).unwrap();
    // 35,766 physical lines after the header; 33 descriptions hold a quoted line break, so
    // the file has 35,733 records.
    assert_eq!(t.rows, 35_733);
    let get = |h: &str| t.get(&hashward_customs::Hts::parse(h).unwrap()).unwrap().clone();
    assert_eq!(get("8543.70.98.60").general, "2.6%");
    assert_eq!(get("8471.50.01.50").ad_valorem, Some(hashward_customs::Rate(0)));
    assert_eq!(
        get("9903.03.01").ch99_additional,
        Some(hashward_customs::Rate(100_000))
    );
    assert_eq!(
        get("9903.79.01").ch99_additional,
        Some(hashward_customs::Rate(250_000))
    );
    assert_eq!(get("9903.01.32").ch99_additional, Some(hashward_customs::Rate(0)));
    // The compact table round-trips and drives `check --hts`.
    let dir = tempfile::tempdir().unwrap();
    let compact = dir.path().join("hts.tsv");
    std::fs::write(&compact, t.to_compact()).unwrap();
    let t2 = HtsTable::from_compact("hts.tsv", &std::fs::read_to_string(&compact).unwrap()).unwrap();
    let c = Checker::new(Rules::embedded().unwrap(), Some(t2));
    let r = run_with(
        &c,
        &format!(
            "{HEADER}\n{CLEAN}\nE2,2026-03-10,ocean,2704,1,8543.70.98.99,Widget,,1,10,MY,MY,Acme,,,,,,,,\nE3,2026-03-10,air,2720,1,8517.13.00.00,Phone,,1,1000,VN,VN,Acme,9903.03.01,,,,,,,\n"
        ),
    );
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
    assert!(
        r.errors[0].message.contains("not in the imported schedule"),
        "{}",
        r.errors[0]
    );
    // A line the rules' short list does not know is checked with the schedule's MFN rate.
    assert_eq!(r.lines.len(), 2);
    // Truncated copies are refused: too few rows, a cut last row, a missing chapter.
    let text = String::from_utf8(bytes.clone()).unwrap();
    let half: String = text.lines().take(20_000).map(|l| format!("{l}\n")).collect();
    let e = HtsTable::from_usitc_csv("half", half.as_bytes(), hashward_customs::hts::MIN_ROWS).unwrap_err();
    assert!(
        e.to_string().contains("a complete export has at least 30000"),
        "{e}"
    );
    let cut = &bytes[..bytes.len() - 7];
    let e = HtsTable::from_usitc_csv("cut", cut, hashward_customs::hts::MIN_ROWS).unwrap_err();
    assert!(e.to_string().contains("cut"), "{e}");
    let no85: String = text
        .lines()
        .filter(|l| !l.starts_with("\"85"))
        .map(|l| format!("{l}\n"))
        .collect();
    let e = HtsTable::from_usitc_csv("no85", no85.as_bytes(), hashward_customs::hts::MIN_ROWS).unwrap_err();
    assert!(e.to_string().contains("85"), "{e}");
    // And from a file, as the CLI reads it.
    let p = dir.path().join("cut.csv");
    std::fs::write(&p, cut).unwrap();
    assert!(
        HtsTable::read_usitc(
            "cut.csv",
            std::fs::File::open(&p).unwrap(),
            hashward_customs::hts::MIN_ROWS
        )
        .is_err()
    );
}
