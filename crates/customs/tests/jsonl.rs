//! The JSON-lines path (`check_stream_jsonl`, records written by hand on the worker threads)
//! against the serde path (`check_stream` + `write_chunk_jsonl`): the same bytes and totals on
//! generated entries, the sample, rows whose text needs escaping and rows refused; findings
//! written as they are found (nothing keeps them) give the same bytes too, and a worker cache
//! emptied at every line gives the same outcome as the default one.

use hashward_customs::{
    Cache, Checker, Chunk, InputFormat, JsonChunk, Rules, check_stream, check_stream_jsonl, generate,
    write_chunk_jsonl,
};

fn both(csv: &str, chunk_lines: usize) {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    let mut serde_out = Vec::new();
    let mut serde_findings = Vec::new();
    let (t1, _) = check_stream(
        &c,
        csv.as_bytes(),
        InputFormat::Csv,
        chunk_lines,
        &mut |ch: Chunk<'_>| {
            write_chunk_jsonl(&ch, &mut serde_out)?;
            serde_findings.extend(ch.findings);
            Ok::<(), std::io::Error>(())
        },
    )
    .unwrap();
    let mut fast_out = Vec::new();
    let mut fast_findings = Vec::new();
    let (t2, _) = check_stream_jsonl(
        &c,
        csv.as_bytes(),
        InputFormat::Csv,
        chunk_lines,
        true,
        &mut |ch: JsonChunk| {
            for p in &ch.parts {
                fast_out.extend_from_slice(p);
            }
            fast_findings.extend(ch.findings);
            Ok::<(), std::io::Error>(())
        },
    )
    .unwrap();
    // Without keeping the findings they are written as they are found, never built.
    let mut direct_out = Vec::new();
    let (t3, _) = check_stream_jsonl(
        &c,
        csv.as_bytes(),
        InputFormat::Csv,
        chunk_lines,
        false,
        &mut |ch: JsonChunk| {
            assert!(ch.findings.is_empty());
            for p in &ch.parts {
                direct_out.extend_from_slice(p);
            }
            Ok::<(), std::io::Error>(())
        },
    )
    .unwrap();
    if direct_out != fast_out {
        let a = String::from_utf8_lossy(&fast_out);
        let b = String::from_utf8_lossy(&direct_out);
        for (x, y) in a.lines().zip(b.lines()) {
            assert_eq!(x, y, "findings written directly differ");
        }
        panic!(
            "findings written directly differ in length: {} vs {}",
            a.len(),
            b.len()
        );
    }
    assert_eq!(
        serde_json::to_string(&t1).unwrap(),
        serde_json::to_string(&t3).unwrap()
    );
    assert!(!serde_out.is_empty());
    if serde_out != fast_out {
        let a = String::from_utf8_lossy(&serde_out);
        let b = String::from_utf8_lossy(&fast_out);
        for (x, y) in a.lines().zip(b.lines()) {
            assert_eq!(x, y);
        }
        panic!("outputs differ in length: {} vs {}", a.len(), b.len());
    }
    assert_eq!(
        serde_json::to_string(&t1).unwrap(),
        serde_json::to_string(&t2).unwrap()
    );
    assert_eq!(serde_findings, fast_findings);
}

#[test]
fn generated_entries_give_the_same_bytes() {
    let mut csv = Vec::new();
    generate(6000, 7, &mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    both(&csv, 700);
    both(&csv, 1);
}

#[test]
fn the_sample_and_text_that_needs_escaping_give_the_same_bytes() {
    both(&hashward_customs::sample_entries(), 8192);
    let header = hashward_customs::sample::HEADER;
    let rows = [
        // Quotes, a backslash, a tab and non-ASCII text in the free-text fields.
        "E\\1,2025-06-10,ocean,2704,1,8543.70.98.60,\"Miner \"\"S21\"\" \\ with\ttab, 日本\",Antminer S21 XP,3,16200.05,CN,VN,\"Bitmain \"\"Shenzhen\"\"\",9903.01.24;9903.01.25,10.01,CNBITMAI1SHE,CNSZX,",
        // Legacy number, odd cents, a PRC maker for a SE Asian origin.
        "E2,2025-12-01,air,2720,1,8471.50.01.50,Bitcoin mining machine,Whatsminer M60S,7,0.07,MY,MY,Shenzhen MicroBT,,0.01,MYMICRO1KUL,HKHKG,0.03",
        "E2,2025-12-01,air,2720,2,8473.30.1180,Hashboard,,1,123456789012.34,TH,TH,Acme,,,,,",
        // Refused rows.
        "E3,2025-13-01,ocean,2704,1,8543.70.98.60,x,y,1,5,CN,CN,z,,,,,",
        "E4,2025-06-10,ocean,2704,1,8543.70.98.60,x",
    ];
    both(&format!("{header}\n{}\n", rows.join("\n")), 2);
}

#[test]
fn a_capped_cache_gives_the_outcome_of_an_uncached_check() {
    let c = Checker::new(Rules::embedded().unwrap(), None);
    let mut csv = Vec::new();
    generate(3000, 11, &mut csv).unwrap();
    let rows = hashward_customs::entry::read_all(&csv, InputFormat::Csv).unwrap();
    let lines: Vec<_> = rows.into_iter().filter_map(Result::ok).collect();
    let (mut tiny, mut big) = (Cache::new(1), Cache::default());
    for entry in lines.chunk_by(|a, b| a.entry_number == b.entry_number) {
        let plain = c.check_entry(entry);
        let text = |o: &hashward_customs::EntryOutcome<'_>| {
            serde_json::to_string(&(&o.lines, &o.entry, &o.findings, &o.errors)).unwrap()
        };
        assert_eq!(text(&c.check_entry_cached(entry, &mut tiny)), text(&plain));
        assert_eq!(text(&c.check_entry_cached(entry, &mut big)), text(&plain));
        assert_eq!(
            text(&c.check_entry_cached(entry, &mut Cache::new(0))),
            text(&plain)
        );
    }
}
