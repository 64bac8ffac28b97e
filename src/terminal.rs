//! The terminal `client submit --wait` draws its progress line on: is
//! stderr a terminal at all, and how many columns wide is it.
//!
//! OS idea: a terminal is a device with its own requests. `isatty(3)` asks
//! the kernel whether a descriptor is a terminal (underneath, an `ioctl`
//! that fails with `ENOTTY` on a file or a pipe), so the client can tell a
//! person watching from a log being written. `ioctl(fd, TIOCGWINSZ, &ws)`
//! asks the terminal driver for the window size that the terminal emulator
//! (or tmux, or sshd) last set with `TIOCSWINSZ`. A line longer than that
//! wraps, and `\r` then returns only to the start of its last row, so a
//! redraw in place must know the width. The kernel sends `SIGWINCH` when it
//! changes; asking again before each redraw follows a resize without a
//! signal handler. std has neither call for a raw descriptor, so this file
//! declares the two C library functions itself, as `net/keepalive.rs` does
//! for `setsockopt`, and keeps each `unsafe` block to the one call.

use std::os::fd::AsRawFd;

/// The width assumed when neither the kernel nor `$COLUMNS` says.
pub const DEFAULT_COLUMNS: usize = 80;

/// Is `fd` a terminal (not a file, a pipe or `/dev/null`)?
pub fn is_terminal(fd: &impl AsRawFd) -> bool {
    sys::is_tty(fd.as_raw_fd())
}

/// The width of the terminal on `fd`, in columns: the kernel's window
/// size, else `$COLUMNS`, else `DEFAULT_COLUMNS`.
pub fn columns(fd: &impl AsRawFd) -> usize {
    let env = std::env::var("COLUMNS").ok();
    columns_from(sys::window_columns(fd.as_raw_fd()), env.as_deref())
}

/// The choice `columns` makes, apart from where its inputs come from. A
/// width of 0 (a pseudo-terminal nobody gave a size) is no answer.
fn columns_from(kernel: Option<u16>, env: Option<&str>) -> usize {
    let given = |width: &usize| *width > 0;
    kernel
        .map(usize::from)
        .filter(given)
        .or_else(|| env.and_then(|text| text.trim().parse().ok()).filter(given))
        .unwrap_or(DEFAULT_COLUMNS)
}

mod sys {
    use std::ffi::c_int;
    #[cfg(target_os = "linux")]
    use std::ffi::c_ulong;

    // From <asm-generic/ioctls.h> on Linux.
    #[cfg(target_os = "linux")]
    const TIOCGWINSZ: c_ulong = 0x5413;

    /// `struct winsize` from <asm-generic/termios.h>.
    #[cfg(target_os = "linux")]
    #[repr(C)]
    #[derive(Default)]
    struct WinSize {
        rows: u16,
        cols: u16,
        x_pixels: u16,
        y_pixels: u16,
    }

    extern "C" {
        fn isatty(fd: c_int) -> c_int;
    }

    #[cfg(target_os = "linux")]
    extern "C" {
        fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    }

    pub fn is_tty(fd: c_int) -> bool {
        // SAFETY: `isatty` takes the descriptor by number and touches no
        // memory of ours; on one that is not open it returns 0 (EBADF).
        unsafe { isatty(fd) == 1 }
    }

    /// The columns of the window on `fd`, or `None` if it has none (not a
    /// terminal) or its size was never set.
    #[cfg(target_os = "linux")]
    pub fn window_columns(fd: c_int) -> Option<u16> {
        let mut size = WinSize::default();
        // SAFETY: for TIOCGWINSZ the kernel writes one `struct winsize`
        // (four u16, the layout `WinSize` repeats) through the pointer, which
        // points at a live local for the whole call.
        let r = unsafe { ioctl(fd, TIOCGWINSZ, &mut size as *mut WinSize) };
        (r == 0 && size.cols > 0).then_some(size.cols)
    }

    /// Elsewhere the request has another number: `$COLUMNS` decides.
    #[cfg(not(target_os = "linux"))]
    pub fn window_columns(_: c_int) -> Option<u16> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernel_first_then_columns_then_80() {
        assert_eq!(columns_from(Some(132), Some("100")), 132);
        assert_eq!(columns_from(None, Some("100")), 100);
        assert_eq!(columns_from(None, Some(" 61\n")), 61);
        assert_eq!(columns_from(None, Some("wide")), DEFAULT_COLUMNS);
        assert_eq!(columns_from(None, Some("0")), DEFAULT_COLUMNS);
        assert_eq!(columns_from(Some(0), None), DEFAULT_COLUMNS);
        assert_eq!(columns_from(Some(0), Some("100")), 100);
        assert_eq!(columns_from(None, None), DEFAULT_COLUMNS);
    }

    #[test]
    fn a_file_is_not_a_terminal_and_has_no_window() {
        let file = std::fs::File::open("Cargo.toml").unwrap();
        assert!(!is_terminal(&file));
        assert_eq!(sys::window_columns(file.as_raw_fd()), None);
    }
}
