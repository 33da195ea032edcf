//! The state of the full-screen view and what each key does to it (no drawing here).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::table::SortKey;

/// The longest filter text, in characters.
const MAX_FILTER: usize = 256;

/// Which screen is up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// The table of names.
    List,
    /// The table, with the filter being typed.
    Filter,
    /// One name opened: its last event and its senders.
    Detail(String),
}

/// What the caller should do after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Redraw and go on.
    Continue,
    /// Leave the view.
    Quit,
}

/// The view's state: sorting, filter, selection, scroll.
#[derive(Debug, Clone)]
pub struct App {
    /// The sort column.
    pub sort: SortKey,
    /// Whether the sort order is reversed.
    pub reverse: bool,
    /// The live filter (case-insensitive substring of the name).
    pub filter: String,
    /// The screen up.
    pub mode: Mode,
    /// The selected row, an index into the filtered and sorted rows.
    pub selected: usize,
    /// The first row shown.
    pub offset: usize,
    /// The first line of the detail's JSON shown.
    pub scroll: u16,
    /// Rows (or lines) a page moves; set from the last drawing.
    pub page: usize,
    /// The selected name: the selection follows it when rows move.
    selected_name: Option<String>,
}

impl App {
    /// The list, sorted by `sort`.
    pub fn new(sort: SortKey) -> Self {
        App {
            sort,
            reverse: false,
            filter: String::new(),
            mode: Mode::List,
            selected: 0,
            offset: 0,
            scroll: 0,
            page: 10,
            selected_name: None,
        }
    }

    /// Puts the selection back on the selected name among `names` (the rows as shown), or
    /// keeps it in range when that name is gone; then scrolls so it is within `height` rows.
    pub fn sync(&mut self, names: &[String], height: usize) {
        if let Some(i) = self.selected_name.as_ref().and_then(|n| names.iter().position(|x| x == n)) {
            self.selected = i;
        }
        self.selected = self.selected.min(names.len().saturating_sub(1));
        self.selected_name = names.get(self.selected).cloned();
        let height = height.max(1);
        self.page = height;
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(names.len().saturating_sub(height));
    }

    fn select(&mut self, index: usize, names: &[String]) {
        self.selected = index.min(names.len().saturating_sub(1));
        self.selected_name = names.get(self.selected).cloned();
    }

    fn sort_by(&mut self, key: SortKey) {
        if self.sort == key {
            self.reverse = !self.reverse;
        } else {
            self.sort = key;
            self.reverse = false;
        }
    }

    /// Handles one key; `names` are the rows as shown.
    pub fn key(&mut self, key: KeyEvent, names: &[String]) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::Continue;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if ctrl && matches!(key.code, KeyCode::Char('c' | 'C' | 'd' | 'D')) {
            return Action::Quit;
        }
        match self.mode.clone() {
            Mode::List => self.list_key(key, ctrl, names),
            Mode::Filter => {
                match key.code {
                    KeyCode::Enter => self.mode = Mode::List,
                    KeyCode::Esc => {
                        self.filter.clear();
                        self.mode = Mode::List;
                    }
                    KeyCode::Backspace => {
                        self.filter.pop();
                    }
                    KeyCode::Char(c)
                        if !ctrl
                            && !key.modifiers.contains(KeyModifiers::ALT)
                            && !c.is_control()
                            && self.filter.chars().count() < MAX_FILTER =>
                    {
                        self.filter.push(c);
                    }
                    _ => {}
                }
                Action::Continue
            }
            Mode::Detail(_) => {
                match key.code {
                    KeyCode::Char('q') => return Action::Quit,
                    KeyCode::Esc | KeyCode::Enter | KeyCode::Backspace | KeyCode::Left | KeyCode::Char('h') => {
                        self.mode = Mode::List;
                    }
                    KeyCode::Down | KeyCode::Char('j') => self.scroll = self.scroll.saturating_add(1),
                    KeyCode::Up | KeyCode::Char('k') => self.scroll = self.scroll.saturating_sub(1),
                    KeyCode::PageDown | KeyCode::Char(' ') => {
                        self.scroll = self.scroll.saturating_add(self.page as u16)
                    }
                    KeyCode::PageUp => self.scroll = self.scroll.saturating_sub(self.page as u16),
                    KeyCode::Home | KeyCode::Char('g') => self.scroll = 0,
                    _ => {}
                }
                Action::Continue
            }
        }
    }

    fn list_key(&mut self, key: KeyEvent, ctrl: bool, names: &[String]) -> Action {
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Esc if self.filter.is_empty() => return Action::Quit,
            KeyCode::Esc => self.filter.clear(),
            KeyCode::Char(c @ '1'..='8') if !ctrl => self.sort_by(SortKey::ALL[c as usize - '1' as usize]),
            KeyCode::Tab | KeyCode::Char('s') => self.sort_by(self.sort.cycle(true)),
            KeyCode::BackTab | KeyCode::Char('S') => self.sort_by(self.sort.cycle(false)),
            KeyCode::Char('r') => self.reverse = !self.reverse,
            KeyCode::Char('/') => self.mode = Mode::Filter,
            KeyCode::Down | KeyCode::Char('j') => self.select(self.selected + 1, names),
            KeyCode::Up | KeyCode::Char('k') => self.select(self.selected.saturating_sub(1), names),
            KeyCode::PageDown => self.select(self.selected + self.page, names),
            KeyCode::PageUp => self.select(self.selected.saturating_sub(self.page), names),
            KeyCode::Home | KeyCode::Char('g') => self.select(0, names),
            KeyCode::End | KeyCode::Char('G') => self.select(usize::MAX, names),
            KeyCode::Enter | KeyCode::Right | KeyCode::Char('l') => {
                if let Some(name) = names.get(self.selected) {
                    self.mode = Mode::Detail(name.clone());
                    self.scroll = 0;
                }
            }
            _ => {}
        }
        Action::Continue
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(app: &mut App, code: KeyCode, names: &[String]) -> Action {
        app.key(KeyEvent::new(code, KeyModifiers::NONE), names)
    }

    #[test]
    fn sort_keys_filter_selection_and_detail() {
        let names: Vec<String> = ["a", "b", "c"].map(String::from).into();
        let mut app = App::new(SortKey::Name);
        press(&mut app, KeyCode::Char('2'), &names);
        assert_eq!((app.sort, app.reverse), (SortKey::Count, false));
        press(&mut app, KeyCode::Char('2'), &names);
        assert_eq!((app.sort, app.reverse), (SortKey::Count, true));
        press(&mut app, KeyCode::Tab, &names);
        assert_eq!((app.sort, app.reverse), (SortKey::Rate, false));
        press(&mut app, KeyCode::Char('/'), &names);
        for c in "q1/".chars() {
            assert_eq!(press(&mut app, KeyCode::Char(c), &names), Action::Continue);
        }
        press(&mut app, KeyCode::Backspace, &names);
        press(&mut app, KeyCode::Enter, &names);
        assert_eq!((app.filter.as_str(), &app.mode), ("q1", &Mode::List));
        // Esc clears the filter first, then quits
        assert_eq!(press(&mut app, KeyCode::Esc, &names), Action::Continue);
        assert!(app.filter.is_empty());
        press(&mut app, KeyCode::Char('j'), &names);
        press(&mut app, KeyCode::Down, &names);
        press(&mut app, KeyCode::Down, &names);
        assert_eq!(app.selected, 2);
        // the selection follows its name when rows move
        let moved: Vec<String> = ["c", "a", "b"].map(String::from).into();
        app.sync(&moved, 2);
        assert_eq!((app.selected, app.offset), (0, 0));
        press(&mut app, KeyCode::Enter, &moved);
        assert_eq!(app.mode, Mode::Detail("c".into()));
        press(&mut app, KeyCode::Esc, &moved);
        assert_eq!(app.mode, Mode::List);
        assert_eq!(press(&mut app, KeyCode::Esc, &moved), Action::Quit);
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        app.mode = Mode::Filter;
        assert_eq!(app.key(ctrl_c, &moved), Action::Quit);
        // nothing to open in an empty list, and no panic moving in it
        let mut empty = App::new(SortKey::Name);
        for code in [KeyCode::Down, KeyCode::End, KeyCode::PageUp, KeyCode::Enter] {
            press(&mut empty, code, &[]);
        }
        empty.sync(&[], 0);
        assert_eq!((empty.mode, empty.selected, empty.offset), (Mode::List, 0, 0));
    }
}
