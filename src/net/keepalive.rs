//! TCP keepalive: the kernel's own probe of a connection that has gone
//! quiet, so that a peer that vanished without a word (a host black-holed,
//! powered off, or cut off by a partition: no FIN, no RST ever arrives) is
//! found out, and the blocked `read(2)` fails, instead of waiting forever.
//!
//! OS idea: socket options. `setsockopt(2)` turns on `SO_KEEPALIVE`; then
//! `TCP_KEEPIDLE` (seconds of silence before the first probe),
//! `TCP_KEEPINTVL` (seconds between probes) and `TCP_KEEPCNT` (unanswered
//! probes before the connection is declared dead, and `read` returns
//! `ETIMEDOUT`). The defaults (two hours of silence first) are far too long
//! for a batch job, and std has no setter for them, so this file calls the
//! C library's `setsockopt` itself, in an `unsafe` block kept to the one call,
//! on a file descriptor that the `TcpStream` it borrows keeps open.
//!
//! Keepalive finds a dead peer of an idle connection; a peer that is alive
//! but sends nothing (a frozen process: the kernel still acknowledges for
//! it) is what read timeouts are for (see `storage/shuffle.rs`).

use std::io;
use std::net::TcpStream;
use std::time::Duration;

/// Unanswered probes before the kernel gives the connection up.
const PROBES: i32 = 3;

/// Turns on keepalive for `stream`: the first probe after `idle` of
/// silence, then one every `idle / 3` (at least a second), so a vanished
/// peer is found out after about twice `idle`.
///
/// # Errors
/// The kernel refused an option (the message names it).
pub fn enable(stream: &TcpStream, idle: Duration) -> io::Result<()> {
    let idle = idle.as_secs().clamp(1, i32::MAX as u64) as i32;
    sys::set(
        stream,
        sys::SOL_SOCKET,
        sys::SO_KEEPALIVE,
        1,
        "SO_KEEPALIVE",
    )?;
    sys::set(
        stream,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPIDLE,
        idle,
        "TCP_KEEPIDLE",
    )?;
    let interval = (idle / 3).max(1);
    sys::set(
        stream,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPINTVL,
        interval,
        "TCP_KEEPINTVL",
    )?;
    sys::set(
        stream,
        sys::IPPROTO_TCP,
        sys::TCP_KEEPCNT,
        PROBES,
        "TCP_KEEPCNT",
    )
}

#[cfg(target_os = "linux")]
mod sys {
    use std::ffi::c_void;
    use std::io;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    // From <sys/socket.h>, <netinet/in.h> and <netinet/tcp.h> on Linux.
    pub const SOL_SOCKET: i32 = 1;
    pub const SO_KEEPALIVE: i32 = 9;
    pub const IPPROTO_TCP: i32 = 6;
    pub const TCP_KEEPIDLE: i32 = 4;
    pub const TCP_KEEPINTVL: i32 = 5;
    pub const TCP_KEEPCNT: i32 = 6;

    extern "C" {
        fn setsockopt(fd: i32, level: i32, name: i32, value: *const c_void, len: u32) -> i32;
    }

    #[cfg(test)]
    extern "C" {
        fn getsockopt(fd: i32, level: i32, name: i32, value: *mut c_void, len: *mut u32) -> i32;
    }

    pub fn set(
        stream: &TcpStream,
        level: i32,
        name: i32,
        value: i32,
        what: &str,
    ) -> io::Result<()> {
        // SAFETY: the descriptor is open for as long as `stream` is
        // borrowed, and the kernel reads exactly `len` (4) bytes of `value`.
        let r = unsafe {
            setsockopt(
                stream.as_raw_fd(),
                level,
                name,
                (&value as *const i32).cast::<c_void>(),
                std::mem::size_of::<i32>() as u32,
            )
        };
        match r {
            0 => Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                Err(io::Error::new(e.kind(), format!("setsockopt {what}: {e}")))
            }
        }
    }

    /// An option's value, for the tests.
    #[cfg(test)]
    pub fn get(stream: &TcpStream, level: i32, name: i32) -> io::Result<i32> {
        let mut value: i32 = 0;
        let mut len = std::mem::size_of::<i32>() as u32;
        // SAFETY: as in `set`; the kernel writes at most `len` bytes.
        let r = unsafe {
            getsockopt(
                stream.as_raw_fd(),
                level,
                name,
                (&mut value as *mut i32).cast::<c_void>(),
                &mut len,
            )
        };
        match r {
            0 => Ok(value),
            _ => Err(io::Error::last_os_error()),
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod sys {
    use std::io;
    use std::net::TcpStream;

    // Elsewhere: the kernel's defaults, and the read timeouts.
    pub const SOL_SOCKET: i32 = 0;
    pub const SO_KEEPALIVE: i32 = 0;
    pub const IPPROTO_TCP: i32 = 0;
    pub const TCP_KEEPIDLE: i32 = 0;
    pub const TCP_KEEPINTVL: i32 = 0;
    pub const TCP_KEEPCNT: i32 = 0;

    pub fn set(_: &TcpStream, _: i32, _: i32, _: i32, _: &str) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn the_kernel_takes_the_options() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let stream = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert_eq!(
            sys::get(&stream, sys::SOL_SOCKET, sys::SO_KEEPALIVE).unwrap(),
            0
        );
        enable(&stream, Duration::from_secs(9)).unwrap();
        let get = |level, name| sys::get(&stream, level, name).unwrap();
        assert_ne!(get(sys::SOL_SOCKET, sys::SO_KEEPALIVE), 0);
        assert_eq!(get(sys::IPPROTO_TCP, sys::TCP_KEEPIDLE), 9);
        assert_eq!(get(sys::IPPROTO_TCP, sys::TCP_KEEPINTVL), 3);
        assert_eq!(get(sys::IPPROTO_TCP, sys::TCP_KEEPCNT), PROBES);
        // Under a second is a second.
        enable(&stream, Duration::from_millis(10)).unwrap();
        assert_eq!(get(sys::IPPROTO_TCP, sys::TCP_KEEPIDLE), 1);
    }
}
