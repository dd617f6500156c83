//! Turns a [`Report`] into terminal text, markdown (for a pull request) or JSON.
//!
//! Text and markdown share one layout: the report becomes a list of [`Block`]s (headings,
//! notes, tables) which each format then draws. No colour, so output is the same on a TTY
//! and in a pipe.

use comfy_table::{ContentArrangement, Table, presets};

use super::{MergedPattern, Report};

/// Width the text tables are fitted to.
const TEXT_WIDTH: u16 = 100;

/// Longest pattern text shown in a table cell; JSON always has the full text.
const PATTERN_CHARS: usize = 80;

/// Output format of `pgscope report`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Terminal tables.
    Text,
    /// `##` headings and pipe tables, pasteable in a pull request.
    Markdown,
    /// One JSON object (see the module documentation for its shape).
    Json,
}

/// Renders the report in the given format; the result ends with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Json => {
            let mut json = serde_json::to_string_pretty(report)
                .expect("the report is plain structs with string keys");
            json.push('\n');
            json
        }
        Format::Text => blocks(report).iter().map(text_block).collect(),
        Format::Markdown => blocks(report).iter().map(markdown_block).collect(),
    }
}

/// One piece of the text and markdown layouts.
enum Block {
    Title(String),
    Heading(String),
    Subheading(String),
    Note(String),
    Table { headers: Vec<&'static str>, rows: Vec<Vec<String>> },
}

fn blocks(report: &Report) -> Vec<Block> {
    let s = &report.sections;
    let mut out = vec![Block::Title("pgscope report".into())];
    out.push(Block::Heading("Top patterns".into()));
    push_note(&mut out, s.top_patterns.note.as_deref());
    if s.top_patterns.available {
        for (title, rows) in [
            ("By total time", &s.top_patterns.by_total),
            ("By calls", &s.top_patterns.by_calls),
            ("By mean time", &s.top_patterns.by_mean),
        ] {
            out.push(Block::Subheading(title.into()));
            out.push(pattern_table(rows));
        }
    }
    pgss_blocks(report, &mut out);
    index_blocks(report, &mut out);
    findings_blocks(report, &mut out);
    out.push(Block::Heading("Index suggestions".into()));
    out.push(Block::Note(s.index_suggestions.note.clone()));
    out
}

fn push_note(out: &mut Vec<Block>, note: Option<&str>) {
    if let Some(note) = note {
        out.push(Block::Note(note.to_string()));
    }
}

fn pattern_table(rows: &[MergedPattern]) -> Block {
    let headers = vec!["pattern", "id", "calls", "total ms", "mean ms", "max ms", "rows", "errors"];
    let rows = rows
        .iter()
        .map(|p| {
            vec![
                short(&p.pattern),
                p.id.clone(),
                p.calls.to_string(),
                ms(p.total_ms),
                ms(p.mean_ms),
                ms(p.max_ms),
                p.rows.to_string(),
                p.errors.to_string(),
            ]
        })
        .collect();
    Block::Table { headers, rows }
}

fn pgss_blocks(report: &Report, out: &mut Vec<Block>) {
    let section = &report.sections.pg_stat_statements;
    let version = section.version.as_deref().map(|v| format!(" (extension {v})"));
    out.push(Block::Heading(format!("pg_stat_statements{}", version.unwrap_or_default())));
    push_note(out, section.note.as_deref());
    if !section.available {
        return;
    }
    let headers = vec![
        "query",
        "calls",
        "total ms",
        "mean ms",
        "shared hit/read",
        "temp r/w",
        "proxy calls/mean",
    ];
    let rows = section
        .rows
        .iter()
        .map(|r| {
            let proxy = match (r.proxy_calls, r.proxy_mean_ms) {
                (Some(calls), Some(mean)) => format!("{calls} / {} ms", ms(mean)),
                _ => "-".to_string(),
            };
            vec![
                short(&r.query),
                r.calls.to_string(),
                ms(r.total_ms),
                ms(r.mean_ms),
                format!("{} / {}", r.shared_blks_hit, r.shared_blks_read),
                format!("{} / {}", r.temp_blks_read, r.temp_blks_written),
                proxy,
            ]
        })
        .collect();
    out.push(Block::Table { headers, rows });
}

fn index_blocks(report: &Report, out: &mut Vec<Block>) {
    let unused = &report.sections.unused_indexes;
    out.push(Block::Heading("Unused indexes".into()));
    push_note(out, unused.note.as_deref());
    if unused.available {
        let rows = unused
            .rows
            .iter()
            .map(|i| {
                let name = format!("{}.{}", i.schema, i.index);
                vec![name, i.table.clone(), i.scans.to_string(), i.size.clone(), i.drop.clone()]
            })
            .collect();
        let headers = vec!["index", "table", "scans", "size", "drop"];
        out.push(Block::Table { headers, rows });
    }
    let dup = &report.sections.duplicate_indexes;
    out.push(Block::Heading("Duplicate indexes".into()));
    push_note(out, dup.note.as_deref());
    if dup.available {
        let rows = dup
            .rows
            .iter()
            .map(|i| {
                let name = format!("{}.{}", i.schema, i.index);
                vec![name, i.table.clone(), i.covered_by.clone(), i.size.clone(), i.drop.clone()]
            })
            .collect();
        let headers = vec!["index", "table", "covered by", "size", "drop"];
        out.push(Block::Table { headers, rows });
    }
}

fn findings_blocks(report: &Report, out: &mut Vec<Block>) {
    let findings = &report.sections.findings;
    out.push(Block::Heading("Findings".into()));
    push_note(out, findings.note.as_deref());
    if !findings.available {
        return;
    }
    if findings.rows.is_empty() {
        out.push(Block::Note("no findings".into()));
    }
    for kind in crate::detect::FindingKind::ALL {
        let group: Vec<_> = findings.rows.iter().filter(|f| f.kind == kind).collect();
        if group.is_empty() {
            continue;
        }
        out.push(Block::Subheading(kind.as_str().to_string()));
        let headers = vec!["severity", "pattern", "count", "route", "suggestion"];
        let rows = group
            .iter()
            .map(|f| {
                let what = match &f.rule_id {
                    Some(rule) => format!("[{rule}] {}", short(&f.pattern)),
                    None => short(&f.pattern),
                };
                let route = f.route.clone().unwrap_or_else(|| "-".into());
                vec![
                    f.severity.as_str().into(),
                    what,
                    f.count.to_string(),
                    route,
                    f.suggestion.clone(),
                ]
            })
            .collect();
        out.push(Block::Table { headers, rows });
    }
}

fn short(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() <= PATTERN_CHARS {
        return flat;
    }
    let mut cut: String = flat.chars().take(PATTERN_CHARS - 1).collect();
    cut.push('…');
    cut
}

fn ms(value: f64) -> String {
    format!("{value:.2}")
}

fn text_block(block: &Block) -> String {
    match block {
        Block::Title(t) => format!("{t}\n{}\n", "=".repeat(t.chars().count())),
        Block::Heading(t) => format!("\n{t}\n{}\n", "-".repeat(t.chars().count())),
        Block::Subheading(t) => format!("\n{t}:\n"),
        Block::Note(n) => format!("note: {n}\n"),
        Block::Table { rows, .. } if rows.is_empty() => "(none)\n".to_string(),
        Block::Table { headers, rows } => {
            let mut table = Table::new();
            table
                .load_style(presets::UTF8_FULL_CONDENSED)
                .set_content_arrangement(ContentArrangement::Dynamic)
                .set_width(TEXT_WIDTH)
                .set_header(headers.clone());
            for row in rows {
                table.add_row(row.clone());
            }
            format!("{table}\n")
        }
    }
}

fn markdown_block(block: &Block) -> String {
    match block {
        Block::Title(t) => format!("# {t}\n\n"),
        Block::Heading(t) => format!("## {t}\n\n"),
        Block::Subheading(t) => format!("### {t}\n\n"),
        Block::Note(n) => format!("> {}\n\n", cell(n)),
        Block::Table { rows, .. } if rows.is_empty() => "_(none)_\n\n".to_string(),
        Block::Table { headers, rows } => {
            let mut out = format!("| {} |\n", headers.join(" | "));
            out.push_str(&format!("|{}\n", "---|".repeat(headers.len())));
            for row in rows {
                let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
                out.push_str(&format!("| {} |\n", cells.join(" | ")));
            }
            out.push('\n');
            out
        }
    }
}

/// A markdown table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shortens_and_flattens_patterns() {
        assert_eq!(short("SELECT 1\n  FROM t"), "SELECT 1 FROM t");
        let long = "x".repeat(200);
        assert_eq!(short(&long).chars().count(), PATTERN_CHARS);
        assert!(short(&long).ends_with('…'));
    }

    #[test]
    fn markdown_tables_escape_pipes() {
        let block =
            Block::Table { headers: vec!["a", "b"], rows: vec![vec!["x|y".into(), "z".into()]] };
        assert_eq!(markdown_block(&block), "| a | b |\n|---|---|\n| x\\|y | z |\n\n");
    }
}
