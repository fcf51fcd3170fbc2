//! The worked duty stacks of the research brief (section 2.2): one Antminer U3S21EXPH entered at
//! $19,625, every entry window × {CN correct, CN declared 8471.50.0150, MY correct, MY declared
//! 8471.50.0150}, to the cent; the measure ids and headings behind each total.

use hashward_customs::{Cents, Checker, EntryLine, InputFormat, Rules, entry::read_all};

const HEADER: &str = "entry_number,entry_date,mode,port,line,declared_hts,description,model,quantity,entered_value,origin_country,export_country,manufacturer,chapter99";

fn line(date: &str, hts: &str, origin: &str) -> EntryLine {
    let csv = format!(
        "{HEADER}\nW1,{date},ocean,2704,1,{hts},Bitcoin mining machine,Antminer U3S21EXPH,1,19625.00,{origin},{origin},Bitmain,\n"
    );
    let mut rows = read_all(csv.as_bytes(), InputFormat::Csv).unwrap();
    rows.remove(0).unwrap()
}

/// (expected stack total in cents, rate in millionths, measure ids) for one cell.
fn cell(c: &Checker, date: &str, hts: &str, origin: &str) -> (Cents, i64, Vec<String>, Cents) {
    let mut findings = Vec::new();
    let r = c.check_line(&line(date, hts, origin), &mut findings).unwrap();
    (
        r.declared_duty_total,
        r.declared_measures
            .as_ref()
            .unwrap_or(&r.measures)
            .iter()
            .map(|m| m.rate.0)
            .sum(),
        r.declared_measures
            .as_ref()
            .unwrap_or(&r.measures)
            .iter()
            .map(|m| m.id.to_owned())
            .collect(),
        r.duty_total,
    )
}

fn pct(p: &str) -> i64 {
    hashward_customs::Rate::parse_percent(p).unwrap().0
}

#[test]
fn every_window_and_column_of_the_worked_table_to_the_cent() {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    // (window date, CN correct, CN 8471, MY correct, MY 8471) as percents of $19,625.
    let table = [
        ("2025-01-15", "27.6%", "25%", "2.6%", "0%"),
        ("2025-03-20", "47.6%", "45%", "2.6%", "0%"),
        ("2025-04-20", "172.6%", "45%", "12.6%", "0%"),
        ("2025-06-10", "57.6%", "45%", "12.6%", "0%"),
        ("2025-09-01", "57.6%", "45%", "21.6%", "0%"),
        ("2025-12-15", "47.6%", "35%", "21.6%", "0%"),
        ("2026-03-10", "37.6%", "25%", "12.6%", "0%"),
    ];
    let value = Cents(1_962_500);
    for (date, cn, cn_adp, my, my_adp) in table {
        for (hts, origin, want) in [
            ("8543.70.98.60", "CN", cn),
            ("8471.50.0150", "CN", cn_adp),
            ("8543.70.98.60", "MY", my),
            ("8471.50.0150", "MY", my_adp),
        ] {
            let (declared_total, rate, ids, expected_total) = cell(&c, date, hts, origin);
            assert_eq!(rate, pct(want), "{date} {origin} {hts}: {ids:?}");
            assert_eq!(
                declared_total,
                value.times(hashward_customs::Rate(pct(want))),
                "{date} {origin} {hts}"
            );
            // The expected stack of a misdeclared line is the correct column's.
            if hts.starts_with("8471") {
                let correct = if origin == "CN" { cn } else { my };
                assert_eq!(
                    expected_total,
                    value.times(hashward_customs::Rate(pct(correct))),
                    "{date} {origin}"
                );
            }
        }
    }
}

#[test]
fn the_brief_s_dollar_figures() {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    let t = |d: &str, h: &str, o: &str| cell(&c, d, h, o).0;
    assert_eq!(t("2025-01-15", "8543.70.98.60", "CN"), Cents(541_650)); // 27.6 % = $5,416.50
    assert_eq!(t("2025-04-20", "8543.70.98.60", "CN"), Cents(3_387_275)); // 172.6 % = $33,872.75
    assert_eq!(t("2025-04-20", "8471.50.0150", "CN"), Cents(883_125)); // 45 % = $8,831.25
    assert_eq!(t("2025-06-10", "8543.70.98.60", "CN"), Cents(1_130_400)); // 57.6 % = $11,304.00
    assert_eq!(t("2025-09-01", "8543.70.98.60", "MY"), Cents(423_900)); // 21.6 % = $4,239.00
    assert_eq!(t("2025-12-15", "8543.70.98.60", "CN"), Cents(934_150)); // 47.6 % = $9,341.50
    assert_eq!(t("2026-03-10", "8543.70.98.60", "CN"), Cents(737_900)); // 37.6 % = $7,379.00
    assert_eq!(t("2026-03-10", "8543.70.98.60", "MY"), Cents(247_275)); // 12.6 % = $2,472.75
    // Before the fentanyl tariff (2025-02-04) the same line is MFN + List 2 only.
    assert_eq!(t("2025-02-03", "8543.70.98.60", "CN"), Cents(541_650));
    // The day IEEPA collection ended: 2.6 + 25 + Section 122 10 %.
    assert_eq!(t("2026-02-24", "8543.70.98.60", "CN"), Cents(737_900));
}

#[test]
fn the_stacks_name_their_measures_and_headings() {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    let mut f = Vec::new();
    let r = c
        .check_line(&line("2025-04-20", "8543.70.98.60", "CN"), &mut f)
        .unwrap();
    let got: Vec<(&str, &str, i64)> = r
        .measures
        .iter()
        .map(|m| (m.id, m.chapter99, m.amount.0))
        .collect();
    assert_eq!(
        got,
        [
            ("MFN", "", 51_025),
            ("S301-L2", "9903.88.02", 490_625),
            ("FENT-CN-20", "9903.01.24", 392_500),
            ("RECIP-CN-125", "9903.01.63", 2_453_125),
        ]
    );
    // CN declared 8471 in the same window: List 3, fentanyl, and the semiconductor exception.
    let r = c
        .check_line(&line("2025-04-20", "8471.50.0150", "CN"), &mut f)
        .unwrap();
    let ids: Vec<(&str, &str)> = r
        .declared_measures
        .as_ref()
        .unwrap()
        .iter()
        .map(|m| (m.id, m.chapter99))
        .collect();
    assert_eq!(
        ids,
        [
            ("MFN", ""),
            ("S301-L3", "9903.88.03"),
            ("FENT-CN-20", "9903.01.24"),
            ("RECIP-SEMI-EXCL", "9903.01.32"),
        ]
    );
    assert_eq!(r.expected_hts.to_string(), "8543.70.98.60");
    assert_eq!(r.duty_difference, Cents(3_387_275 - 883_125));
    // Transshipment (CBP determination) takes the reciprocal slot at 40 % from 2025-08-07.
    let mut l = line("2025-09-01", "8543.70.98.60", "MY");
    l.transshipment = true;
    let r = c.check_line(&l, &mut f).unwrap();
    assert!(r.measures.iter().any(|m| m.id == "TRANSSHIP-40"));
    assert_eq!(r.duty_rate.0, pct("42.6%"));
    // Section 232 only when the line declares the article (9903.79.01).
    let mut l = line("2026-03-10", "8471.50.0150", "MY");
    l.chapter99 = vec!["9903.79.01".into()];
    let r = c.check_line(&l, &mut f).unwrap();
    assert!(
        r.declared_measures
            .unwrap()
            .iter()
            .any(|m| m.id == "S232-SEMI" && m.rate.0 == pct("25%"))
    );
}
