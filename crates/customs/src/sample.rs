//! Sample entries for the demo and a deterministic generator of large entry files for the
//! benchmark (`hashward customs generate`).

use std::io::{self, Write};

/// The CSV header the sample and the generator write (the input contract's names, plus the
/// optional `mid`, `port_of_lading` and `mpf_paid`).
pub const HEADER: &str = "entry_number,entry_date,mode,port,line,declared_hts,description,model,quantity,entered_value,origin_country,export_country,manufacturer,chapter99,duties_paid,mid,port_of_lading,mpf_paid";

/// Three entries for the demo: a miner declared 8471.50.0150 (misclassified, CUS-001), a miner
/// entered far below its price band (undervalued, CUS-002), and a clean line.
pub fn sample_entries() -> String {
    let rows = [
        // China-origin U3S21EXPH declared as an ADP processing unit in the 125 % window.
        "AB1-0000001-5,2025-04-15,ocean,2704,1,8471.50.0150,Bitcoin mining machine,Antminer U3S21EXPH,1,19625.00,CN,CN,Bitmain Technologies,9903.88.03;9903.01.24;9903.01.32,8831.25,CNBITMAI123SHE,CNSZX,",
        // Malaysian S21 XP units at $750 each: $2.78/TH, under half the $7/TH floor (Dec 2025 on).
        "AB1-0000002-3,2026-03-10,air,2720,1,8543.70.9860,ASIC miner,Antminer S21 XP,20,15000.00,MY,MY,Bitmain Technologies,9903.03.01,,MYBITMAI88KUL,MYPKG,",
        // Malaysian U3S21EXPH correctly entered in the Section 122 window, fees paid right.
        "AB1-0000003-1,2026-03-12,ocean,2704,1,8543.70.98.60,Bitcoin mining machine (hydro),Antminer U3S21EXPH,4,78500.00,MY,MY,Bitmain Technologies,9903.03.01,,MYBITMAI88KUL,MYPKG,271.92",
    ];
    let mut s = String::from(HEADER);
    s.push('\n');
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s
}

/// A small deterministic generator (SplitMix64): the same seed gives the same file.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Write `lines` entry lines (CSV, with [`HEADER`]) in entries of 1 to 4 lines: mostly correct
/// entries across the covered dates and origins, with about 5 % misclassified, 3 %
/// undervalued, 2 % with origin signals and 1 % broken rows. Returns the number of lines.
pub fn generate(lines: u64, seed: u64, mut w: impl Write) -> io::Result<u64> {
    const MODELS: [(&str, u64, u64); 4] = [
        // (model, typical unit value in cents, TH/s)
        ("Antminer U3S21EXPH", 1_962_500, 860),
        ("Antminer S21 XP", 540_000, 270),
        ("Antminer S21", 300_000, 200),
        ("Antminer T21", 266_000, 190),
    ];
    const DATES: [&str; 8] = [
        "2024-12-02",
        "2025-03-20",
        "2025-04-21",
        "2025-06-10",
        "2025-09-15",
        "2025-12-01",
        "2026-03-02",
        "2026-06-30",
    ];
    let mut rng = Mix(seed);
    writeln!(w, "{HEADER}")?;
    let mut written = 0u64;
    let mut entry = 0u64;
    while written < lines {
        entry += 1;
        let date = DATES[(rng.below(DATES.len() as u64)) as usize];
        let ocean = rng.below(3) != 0;
        let origin = ["CN", "MY", "TH", "ID"][rng.below(4) as usize];
        let n = (1 + rng.below(4)).min(lines - written);
        for line in 1..=n {
            let (model, unit, _ths) = MODELS[rng.below(MODELS.len() as u64) as usize];
            let qty = 1 + rng.below(40);
            let roll = rng.below(100);
            let mut value = unit * qty;
            if roll < 3 {
                value /= 5; // undervalued
            }
            let hts = if (3..8).contains(&roll) {
                "8471.50.0150"
            } else {
                "8543.70.98.60"
            };
            // The headings a careful filer declares for the number, origin and date.
            let adp = hts.starts_with("8471");
            let mut ch99: Vec<&str> = Vec::new();
            if origin == "CN" {
                ch99.push(if adp { "9903.88.03" } else { "9903.88.02" });
                if ("2025-02-04".."2026-02-24").contains(&date) {
                    ch99.push("9903.01.24");
                }
            }
            if ("2025-04-05".."2026-02-24").contains(&date) {
                if adp {
                    ch99.push("9903.01.32");
                } else if origin != "CN" && date < "2025-08-07" {
                    ch99.push("9903.01.25");
                }
            }
            if date >= "2026-01-15" && adp {
                ch99.push("9903.79.02");
            }
            if date >= "2026-02-24" && !adp {
                ch99.push("9903.03.01");
            }
            let mid_country = if (8..10).contains(&roll) { "CN" } else { origin };
            if roll == 99 {
                // A broken row: too few fields.
                writeln!(w, "GEN{entry:09},{date},ocean,2704,{line},{hts},broken")?;
            } else {
                writeln!(
                    w,
                    "GEN{entry:09},{date},{},2704,{line},{hts},Bitcoin mining machine,{model},{qty},{}.{:02},{origin},{origin},Bitmain Technologies,{},,{mid_country}BITMAI88KUL,,",
                    if ocean { "ocean" } else { "air" },
                    value / 100,
                    value % 100,
                    ch99.join(";"),
                )?;
            }
            written += 1;
        }
    }
    Ok(written)
}
