//! Turns a [`Report`] into terminal text, markdown (for a pull request) or JSON.
//!
//! Text and markdown share one layout: the report becomes a list of [`Block`]s (headings,
//! notes, tables) which each format then draws. No colour, so output is the same on a TTY
//! and in a pipe.

use comfy_table::{ContentArrangement, Table, presets};

use super::{CoverageSection, MergedPattern, Report, SuggestionSection, Usage};

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
            ("By slowest single run", &s.top_patterns.by_max),
        ] {
            out.push(Block::Subheading(title.into()));
            out.push(pattern_table(rows));
        }
    }
    pgss_blocks(report, &mut out);
    index_blocks(report, &mut out);
    findings_blocks(report, &mut out);
    coverage_blocks(&s.index_coverage, &mut out);
    suggestion_blocks(&s.index_suggestions, &mut out);
    out
}

fn coverage_blocks(section: &CoverageSection, out: &mut Vec<Block>) {
    out.push(Block::Heading("Index coverage".into()));
    push_note(out, section.note.as_deref());
    if !section.available {
        return;
    }
    let headers = vec!["pattern", "table", "calls", "total ms", "predicate columns → index"];
    let rows = section
        .rows
        .iter()
        .map(|r| {
            let columns: Vec<String> = r
                .predicates
                .iter()
                .map(|p| {
                    let by = p.covered_by.as_deref().unwrap_or("NOT COVERED");
                    let why = p.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default();
                    format!("{} {} → {by}{why}", p.column, usage(&p.usage))
                })
                .collect();
            vec![
                short(&r.pattern),
                r.table.clone(),
                r.calls.to_string(),
                ms(r.total_ms),
                columns.join("\n"),
            ]
        })
        .collect();
    out.push(Block::Table { headers, rows });
}

fn usage(u: &Usage) -> String {
    match u {
        Usage::Equality => "=".into(),
        Usage::Join => "join =".into(),
        Usage::Range => "range".into(),
        Usage::LikePrefix => "LIKE 'x%'".into(),
        Usage::LikeUnanchored => "LIKE (no prefix)".into(),
        Usage::Expression(e) => format!("as {e}"),
        Usage::OrderByLimit { desc: true } => "ORDER BY DESC + LIMIT".into(),
        Usage::OrderByLimit { desc: false } => "ORDER BY + LIMIT".into(),
    }
}

fn suggestion_blocks(section: &SuggestionSection, out: &mut Vec<Block>) {
    let title = match (&section.hypopg, section.available) {
        (Some(v), _) => format!("Index suggestions (verified with hypopg {v})"),
        (None, true) => "Index suggestions (UNVERIFIED)".to_string(),
        (None, false) => "Index suggestions".to_string(),
    };
    out.push(Block::Heading(title));
    push_note(out, section.note.as_deref());
    if !section.available {
        return;
    }
    let headers = vec!["create", "helps (calls, total ms)", "cost / size", "table"];
    let rows = section
        .rows
        .iter()
        .map(|s| {
            let helps: Vec<String> = s
                .patterns
                .iter()
                .map(|p| {
                    format!("{} ({} calls, {} ms)", short(&p.pattern), p.calls, ms(p.total_ms))
                })
                .collect();
            let mut cost = s.reason.clone();
            if let Some(size) = &s.size {
                cost.push_str(&format!("\nsize ~{size}"));
            }
            let writes = match (s.table_writes, s.writes_per_sec) {
                (Some(w), Some(rate)) => format!("{w} writes ({rate:.1}/s)"),
                (Some(w), None) => format!("{w} writes"),
                _ => "writes unknown".into(),
            };
            let table = format!(
                "{}\n~{:.0} rows\n{writes}\nindexes today: {}",
                s.table, s.table_rows, s.existing_indexes
            );
            vec![s.create.clone(), helps.join("\n"), cost, table]
        })
        .collect();
    out.push(Block::Table { headers, rows });
    if !section.skipped.is_empty() {
        out.push(Block::Subheading("Uncovered, no suggestion".into()));
        let headers = vec!["pattern id", "table", "why"];
        let rows = section
            .skipped
            .iter()
            .map(|k| vec![k.pattern_id.clone(), k.table.clone(), k.reason.clone()])
            .collect();
        out.push(Block::Table { headers, rows });
    }
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
            let pattern = if p.sidecars == 0 {
                format!("[pg_stat_statements] {}", p.pattern)
            } else {
                p.pattern.clone()
            };
            vec![
                short(&pattern),
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
        Block::Note(n) => wrap(&format!("note: {n}"), usize::from(TEXT_WIDTH)),
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

/// Word-wraps `text` to `width` columns, continuation lines indented; ends with a newline.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let len = line.chars().count();
        if len > 0 && len + 1 + word.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line = "      ".to_string();
        } else if len > 0 && line.trim() != "" {
            line.push(' ');
        }
        line.push_str(word);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// A markdown table cell: pipes escaped, line breaks as `<br>`.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\r', "").replace('\n', "<br>")
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
    fn notes_wrap_to_the_text_width() {
        let long = format!("note: {}", "word ".repeat(60));
        let wrapped = wrap(&long, 40);
        assert!(wrapped.lines().all(|l| l.chars().count() <= 40), "{wrapped}");
        assert!(wrapped.lines().nth(1).is_some_and(|l| l.starts_with("      word")));
        assert_eq!(wrap("note: short", 40), "note: short\n");
    }

    #[test]
    fn markdown_tables_escape_pipes() {
        let block =
            Block::Table { headers: vec!["a", "b"], rows: vec![vec!["x|y".into(), "z".into()]] };
        assert_eq!(markdown_block(&block), "| a | b |\n|---|---|\n| x\\|y | z |\n\n");
    }
}
