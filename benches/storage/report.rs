//! The bench's tables, as Markdown-ish text on stdout. The first layout is
//! ours and the second the exporter's: ratios are to the exporter's.

use std::time::Duration;

use super::server::Size;
use super::tables::Layout;

fn per_row(bytes: u64, size: &Size) -> f64 {
    bytes as f64 / size.rows as f64
}

/// Bytes per row on disk, then per column and per skip index.
pub fn sizes(layouts: &[Layout], sizes: &[Size]) {
    let exporter_disk = per_row(sizes[1].disk, &sizes[1]);
    println!("\n## Bytes per row on disk (active parts, after OPTIMIZE FINAL)\n");
    println!(
        "{:<22} {:>6} {:>9} {:>9} {:>9} {:>12}",
        "layout", "parts", "disk", "columns", "skip idx", "vs exporter"
    );
    for (layout, size) in layouts.iter().zip(sizes) {
        println!(
            "{:<22} {:>6} {:>9.2} {:>9.2} {:>9.2} {:>12.3}",
            layout.name,
            size.parts,
            per_row(size.disk, size),
            per_row(size.data, size),
            per_row(size.indexes, size),
            per_row(size.disk, size) / exporter_disk
        );
    }
    println!("\n## Compressed bytes per row, by column and skip index\n");
    let mut names: Vec<&String> = Vec::new();
    for size in sizes {
        for name in size.columns.keys() {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    let biggest = |n: &String| sizes.iter().filter_map(|s| s.columns.get(n)).max().copied();
    names.sort_by_key(|n| std::cmp::Reverse(biggest(n)));
    print!("{:<22}", "column");
    for layout in layouts {
        print!(" {:>12}", short(&layout.name));
    }
    println!();
    for name in names {
        print!("{name:<22}");
        for size in sizes {
            match size.columns.get(name) {
                Some(b) => print!(" {:>12.3}", per_row(*b, size)),
                None => print!(" {:>12}", "-"),
            }
        }
        println!();
    }
    for (layout, size) in layouts.iter().zip(sizes) {
        if size.index_sizes.is_empty() {
            continue;
        }
        let list: Vec<String> = size
            .index_sizes
            .iter()
            .map(|(n, b)| format!("{n} {:.3}", per_row(*b, size)))
            .collect();
        println!("skip indexes, {}: {}", layout.name, list.join(", "));
    }
}

fn short(name: &str) -> &str {
    &name[..name.len().min(12)]
}

/// The header of the reads table: a share and a latency per layout.
pub fn read_header(layouts: &[Layout]) {
    print!("{:<14}", "query");
    for layout in layouts {
        print!(
            " {:>9}",
            format!("{}%", &layout.name[..layout.name.len().min(8)])
        );
    }
    for layout in layouts {
        print!(
            " {:>9}",
            format!("{}ms", &layout.name[..layout.name.len().min(7)])
        );
    }
    println!("  target");
}

/// One query's row: shares (fractions) and latencies per layout.
pub fn read_row(name: &str, shares: &[f64], times: &[Duration], verdict: &str) {
    print!("{name:<14}");
    for share in shares {
        print!(" {:>9.3}", share * 100.0);
    }
    for time in times {
        print!(" {:>9.1}", time.as_secs_f64() * 1000.0);
    }
    println!("  {verdict}");
}
