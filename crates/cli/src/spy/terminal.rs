//! The full-screen terminal of `eventcast spy`: raw mode and the alternate screen, left
//! however the view ends (return, error, panic, signal), with stderr held back meanwhile.
//!
//! While the view is up, stderr (log lines, warnings) goes to an unlinked temporary file
//! instead of scribbling over the screen; what was written there is printed on the real
//! stderr once the terminal is back (the last 64 KB).

use std::fs::File;
use std::io::{self, Read, Seek, Stdout, Write};
use std::os::fd::AsRawFd;
use std::sync::{Mutex, Once};

use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::cursor::{Hide, Show};
use ratatui::crossterm::execute;
use ratatui::crossterm::terminal::{EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode};

/// The most of the held-back stderr printed after the view.
const STDERR_TAIL: u64 = 64 * 1024;

/// What [`restore`] undoes: `None` while the terminal is in its normal state.
static ACTIVE: Mutex<Option<Held>> = Mutex::new(None);

/// The state to put back.
struct Held {
    /// A duplicate of the original stderr, and the file standing in for it.
    stderr: Option<(libc::c_int, File)>,
}

/// The terminal in raw mode on the alternate screen; dropping it restores the terminal.
pub struct Screen {
    /// The ratatui terminal drawing on stdout.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Enters raw mode and the alternate screen, holds back stderr, and installs a panic
    /// hook that restores the terminal before the panic message is printed.
    pub fn enter() -> io::Result<Screen> {
        install_panic_hook();
        let stderr = hold_stderr();
        *lock() = Some(Held { stderr });
        let entered = enable_raw_mode().and_then(|()| execute!(io::stdout(), EnterAlternateScreen, Hide));
        if let Err(e) = entered {
            restore();
            return Err(e);
        }
        match Terminal::new(CrosstermBackend::new(io::stdout())) {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

fn lock() -> std::sync::MutexGuard<'static, Option<Held>> {
    ACTIVE.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Leaves the alternate screen and raw mode, shows the cursor, gives stderr back and
/// prints what was written to it meanwhile. Does nothing when the terminal is not held.
pub fn restore() {
    let Some(held) = lock().take() else { return };
    let _ = execute!(io::stdout(), LeaveAlternateScreen, Show);
    let _ = disable_raw_mode();
    let _ = io::stdout().flush();
    if let Some((saved, mut file)) = held.stderr {
        // SAFETY: `saved` is a descriptor this module duplicated and still owns; dup2 onto
        // 2 puts the original stderr back, then the duplicate is closed once.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
        let len = file.seek(io::SeekFrom::End(0)).unwrap_or(0);
        if len > 0 && file.seek(io::SeekFrom::Start(len.saturating_sub(STDERR_TAIL))).is_ok() {
            let mut text = Vec::new();
            let _ = file.read_to_end(&mut text);
            let _ = io::stderr().write_all(&text);
        }
    }
}

/// Points fd 2 at an unlinked temporary file; the original stderr's duplicate and the file.
/// `None` (stderr left alone) if any step fails.
fn hold_stderr() -> Option<(libc::c_int, File)> {
    let path = std::env::temp_dir().join(format!("eventcast-spy-{}.stderr", std::process::id()));
    let file = File::options().read(true).write(true).create_new(true).open(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let _ = io::stderr().flush();
    // SAFETY: plain descriptor calls on descriptors we own or on 2; failures are checked.
    unsafe {
        let saved = libc::dup(2);
        if saved < 0 {
            return None;
        }
        if libc::dup2(file.as_raw_fd(), 2) < 0 {
            libc::close(saved);
            return None;
        }
        Some((saved, file))
    }
}

fn install_panic_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
    });
}
