//! Drawing the full-screen view, and its loop: draw, wait for a key or the next tick, again.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use eventcast::Stats;
use ratatui::Frame;
use ratatui::crossterm::event::{self, Event as TermEvent};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Modifier, Style, Stylize};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row as TableRow, Table as TableWidget, TableState, Wrap};

use super::app::{Action, App, Mode};
use super::table::{Row, SortKey, Table};
use super::terminal::Screen;
use super::{StatsSummary, lock};

/// Time between two redraws when no key comes.
const TICK: Duration = Duration::from_millis(250);
/// The most characters of one string drawn.
const MAX_DRAWN: usize = 512;

/// What the view reads, shared with the instance's listeners and the stats poller.
pub struct Shared {
    /// The statistics, fed by the listeners.
    pub table: Arc<Mutex<Table>>,
    /// The instance's last counters.
    pub stats: Arc<Mutex<Option<Stats>>>,
    /// Set when the view must end (SIGINT, SIGTERM).
    pub stop: Arc<AtomicBool>,
}

/// Runs the view until a quit key, `shared.stop`, or `deadline`; the terminal is restored
/// whichever way it ends.
pub fn run(shared: &Shared, place: &str, sort: SortKey, deadline: Option<Instant>) -> io::Result<()> {
    let mut screen = Screen::enter()?;
    let mut app = App::new(sort);
    let mut names = Vec::new();
    loop {
        if shared.stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        screen.terminal.draw(|frame| names = draw(frame, &mut app, shared, place))?;
        if event::poll(TICK)? {
            // every queued input before the next drawing
            loop {
                if let TermEvent::Key(key) = event::read()? {
                    if app.key(key, &names) == Action::Quit {
                        return Ok(());
                    }
                }
                if !event::poll(Duration::ZERO)? {
                    break;
                }
            }
        }
    }
}

/// Text safe to draw: control characters as their Unicode pictures (or U+FFFD), direction
/// overrides replaced, at most [`MAX_DRAWN`] characters.
pub fn sanitize(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(MAX_DRAWN)
        .map(|c| match c {
            '\u{0}'..='\u{1f}' => char::from_u32(0x2400 + c as u32).unwrap_or('\u{fffd}'),
            '\u{7f}' => '\u{2421}',
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => '\u{fffd}',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    if text.chars().nth(MAX_DRAWN).is_some() {
        out.push('…');
    }
    out
}

/// A byte rate: 512 B, 1.5 KB, 3.2 MB (per second where shown).
pub fn human_bytes(bytes: f64) -> String {
    match bytes {
        b if b < 1024.0 => format!("{b:.0} B"),
        b if b < 1024.0 * 1024.0 => format!("{:.1} KB", b / 1024.0),
        b if b < 1024.0 * 1024.0 * 1024.0 => format!("{:.1} MB", b / (1024.0 * 1024.0)),
        b => format!("{:.1} GB", b / (1024.0 * 1024.0 * 1024.0)),
    }
}

fn millis(ms: Option<f64>) -> String {
    match ms {
        None => "-".into(),
        Some(ms) if ms < 1.0 => format!("{:.0}µs", ms * 1000.0),
        Some(ms) if ms < 1000.0 => format!("{ms:.1}ms"),
        Some(ms) => format!("{:.2}s", ms / 1000.0),
    }
}

/// Draws one frame; the names of the rows as shown (for the keys).
fn draw(frame: &mut Frame, app: &mut App, shared: &Shared, place: &str) -> Vec<String> {
    let now = Instant::now();
    let stats = lock(&shared.stats).as_ref().map(StatsSummary::from);
    let table = lock(&shared.table);
    let rows = table.rows(now, &app.filter, app.sort, app.reverse);
    let names: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
    let [head, body, foot] =
        Layout::vertical([Constraint::Length(3), Constraint::Min(1), Constraint::Length(1)]).areas(frame.area());
    draw_header(frame, head, app, &table, stats.as_ref(), place, now);
    match app.mode.clone() {
        Mode::Detail(name) => draw_detail(frame, body, app, &table, &name),
        Mode::List | Mode::Filter => draw_list(frame, body, app, &table, &rows, &names),
    }
    let help = match app.mode {
        Mode::List => " 1-8 sort (again: reverse)  Tab next column  / filter  ↑↓ move  Enter open  q quit".into(),
        Mode::Filter => format!(" filter: {}▏  Enter keep  Esc clear", sanitize(&app.filter)),
        Mode::Detail(_) => " ↑↓ PgUp PgDn scroll  Esc back  q quit".into(),
    };
    frame.render_widget(Paragraph::new(help).reversed(), foot);
    names
}

fn draw_header(
    frame: &mut Frame,
    area: Rect,
    app: &App,
    table: &Table,
    stats: Option<&StatsSummary>,
    place: &str,
    now: Instant,
) {
    let t = table.totals(now);
    let arrow = if app.reverse { "↑" } else { "↓" };
    let mut lines = vec![
        Line::from(vec![Span::from(" eventcast spy ").bold().reversed(), Span::from(format!("  {}", sanitize(place)))]),
        Line::from(format!(
            " events {}  {:.1} ev/s  {}/s   names {}  peers {}   sort {} {arrow}{}",
            t.events,
            t.rate_hz,
            human_bytes(t.bytes_per_sec),
            t.names,
            t.peers,
            format!("{:?}", app.sort).to_lowercase(),
            if app.filter.is_empty() { String::new() } else { format!("   filter \"{}\"", sanitize(&app.filter)) },
        )),
    ];
    let mut third = match stats {
        Some(s) => format!(" lost {}  dropped {}  undecodable {}", s.lost, s.dropped, s.undecodable),
        None => format!(" lost {}", t.lost),
    };
    if t.untracked_events + t.untracked_senders > 0 {
        third += &format!(
            "   untracked: {} events (over the name limit), {} (over a sender limit)",
            t.untracked_events, t.untracked_senders
        );
    }
    let style = if stats.is_some_and(|s| s.lost + s.dropped + s.undecodable > 0) || t.lost > 0 {
        Style::new().yellow()
    } else {
        Style::new()
    };
    lines.push(Line::styled(third, style));
    frame.render_widget(Paragraph::new(lines), area);
}

const TITLES: [&str; 9] = ["NAME", "COUNT", "RATE/s", "INTERVAL", "JITTER", "BYTES/s", "SENDERS", "LOST", "LAST ARGS"];

fn draw_list(frame: &mut Frame, area: Rect, app: &mut App, table: &Table, rows: &[Row], names: &[String]) {
    let block = Block::new().borders(Borders::TOP);
    let height = block.inner(area).height.saturating_sub(1) as usize;
    app.sync(names, height);
    if rows.is_empty() {
        let text = if table.totals(Instant::now()).names == 0 {
            " waiting for events…"
        } else {
            " no name matches the filter"
        };
        frame.render_widget(Paragraph::new(text).block(block), area);
        return;
    }
    let shown = &rows[app.offset.min(rows.len())..(app.offset + height).min(rows.len())];
    let longest = shown.iter().map(|r| sanitize(&r.name).chars().count()).max().unwrap_or(4);
    let columns = columns(area.width, longest);
    let header = TableRow::new(columns.iter().map(|&(i, _)| {
        let mut text = if i < 8 { format!("{}{}", i + 1, TITLES[i]) } else { TITLES[i].to_string() };
        if i == app.sort.index() {
            text += if app.reverse { "↑" } else { "↓" };
        }
        let cell = Cell::from(text);
        if i == app.sort.index() { cell.bold().underlined() } else { cell.bold() }
    }));
    let body = shown.iter().map(|r| {
        TableRow::new(columns.iter().map(|&(i, _)| match i {
            0 => Cell::from(sanitize(&r.name)),
            1 => Cell::from(r.count.to_string()),
            2 => Cell::from(format!("{:.1}", r.rate_hz)),
            3 => Cell::from(millis(r.interval_ms)),
            4 => Cell::from(millis(r.jitter_ms)),
            5 => Cell::from(human_bytes(r.bytes_per_sec)),
            6 => Cell::from(r.senders.to_string()),
            7 => Cell::from(r.lost.to_string()).style(if r.lost > 0 { Style::new().yellow() } else { Style::new() }),
            _ => Cell::from(sanitize(&table.last_args(&r.name).unwrap_or_default())),
        }))
    });
    let widths: Vec<Constraint> =
        columns.iter().map(|&(i, w)| if i == 8 { Constraint::Fill(1) } else { Constraint::Length(w) }).collect();
    let widget = TableWidget::new(body, widths)
        .header(header)
        .block(block)
        .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default().with_selected(Some(app.selected - app.offset.min(app.selected)));
    frame.render_stateful_widget(widget, area, &mut state);
}

/// The columns that fit in `width` (index into [`TITLES`], width), in display order: the
/// name first (as wide as the longest shown, 8 to 40), then by importance: count, rate,
/// bandwidth, lost, senders, interval, jitter; the last arguments take what is left.
fn columns(width: u16, longest_name: usize) -> Vec<(usize, u16)> {
    const WIDTHS: [u16; 9] = [0, 9, 9, 10, 9, 10, 9, 7, 12];
    let name = (longest_name.clamp(8, 40) as u16).min(width.saturating_sub(20).max(8));
    let mut used = name;
    let mut chosen = vec![(0, name)];
    for i in [1, 2, 5, 7, 6, 3, 4, 8] {
        // one space between columns
        if used + 1 + WIDTHS[i] <= width {
            used += 1 + WIDTHS[i];
            chosen.push((i, WIDTHS[i]));
        }
    }
    chosen.sort_unstable();
    chosen
}

fn draw_detail(frame: &mut Frame, area: Rect, app: &mut App, table: &Table, name: &str) {
    let senders = table.senders(name);
    let sender_height = (senders.len().min(8) as u16 + 3).min(area.height / 2);
    let [top, bottom] = Layout::vertical([Constraint::Min(3), Constraint::Length(sender_height)]).areas::<2>(area);
    let json = table.last_event(name).unwrap_or_default();
    let lines: Vec<Line> = json.lines().map(|l| Line::from(sanitize(l))).collect();
    let page = top.height.saturating_sub(2);
    app.page = page as usize;
    app.scroll = app.scroll.min((lines.len() as u16).saturating_sub(page));
    let title = format!(" {} — last event ", sanitize(name));
    frame.render_widget(
        Paragraph::new(lines).block(Block::bordered().title(title)).wrap(Wrap { trim: false }).scroll((app.scroll, 0)),
        top,
    );
    let header = TableRow::new(["SENDER", "SOURCE", "COUNT", "LOST"].map(|t| Cell::from(t).bold()));
    let rows = senders.iter().map(|s| {
        TableRow::new([
            s.id.to_string(),
            s.from.map_or_else(|| "-".into(), |a| a.to_string()),
            s.count.to_string(),
            s.lost.to_string(),
        ])
    });
    let widths = [Constraint::Length(18), Constraint::Length(42), Constraint::Length(10), Constraint::Length(10)];
    let title = format!(" senders: {} ", senders.len());
    frame.render_widget(TableWidget::new(rows, widths).header(header).block(Block::bordered().title(title)), bottom);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawn_text_is_sanitized() {
        assert_eq!(sanitize("a\u{1b}[2Jb\u{7}\u{7f}"), "a␛[2Jb␇␡");
        assert_eq!(sanitize("x\u{202e}y\u{85}"), "x\u{fffd}y\u{fffd}");
        let long = "é".repeat(MAX_DRAWN + 10);
        assert_eq!(sanitize(&long).chars().count(), MAX_DRAWN + 1);
        assert_eq!(human_bytes(2048.0), "2.0 KB");
        assert_eq!(millis(Some(0.5)), "500µs");
        assert_eq!(millis(None), "-");
        let fits = |w| columns(w, 11).iter().map(|c| c.0).collect::<Vec<_>>();
        assert_eq!(fits(120), (0..9).collect::<Vec<_>>());
        assert_eq!(fits(45), [0, 1, 2, 5]);
        assert_eq!(fits(5), [0]);
    }
}
