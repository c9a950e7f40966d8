//! The client's UDP socket: port 68 on one interface, before the interface has an address.
//! `SO_BINDTODEVICE` keeps sends and receives on that interface, `SO_BROADCAST` allows
//! 255.255.255.255; servers broadcast their replies because our requests set the broadcast flag
//! (RFC 2131 §4.1), so no packet socket is needed. Once bound, renewals are plain unicast.

use super::client::{Destination, Transmit};
use crate::error::{Context, Result};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use tokio::net::UdpSocket;

pub(crate) const CLIENT_PORT: u16 = 68;
pub(crate) const SERVER_PORT: u16 = 67;

pub(crate) struct DhcpSocket {
    socket: UdpSocket,
    interface: String,
    buf: Vec<u8>,
}

fn setsockopt(fd: &OwnedFd, level: libc::c_int, name: libc::c_int, value: &[u8]) -> std::io::Result<()> {
    // SAFETY: value is valid for reads of its length for the duration of the call.
    let r = unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, name, value.as_ptr().cast(), value.len() as libc::socklen_t)
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl DhcpSocket {
    /// Opens 0.0.0.0:68 bound to `interface`. Must run inside a tokio runtime.
    pub(crate) fn open(interface: &str) -> Result<DhcpSocket> {
        let what = || format!("{interface}: DHCP socket (UDP port {CLIENT_PORT})");
        // SAFETY: plain socket(2); checked before use.
        let fd = unsafe {
            libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK, 0)
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error()).with_context(what);
        }
        // SAFETY: a fresh descriptor nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let one = 1i32.to_ne_bytes();
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_REUSEADDR, &one)
            .with_context(|| format!("{}: SO_REUSEADDR", what()))?;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_BROADCAST, &one)
            .with_context(|| format!("{}: SO_BROADCAST", what()))?;
        setsockopt(&fd, libc::SOL_SOCKET, libc::SO_BINDTODEVICE, interface.as_bytes())
            .with_context(|| format!("{}: SO_BINDTODEVICE", what()))?;
        rustix::net::bind(&fd, &SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, CLIENT_PORT))
            .with_context(|| format!("{}: bind (is another DHCP client running?)", what()))?;
        let std_socket = std::net::UdpSocket::from(fd);
        let socket = UdpSocket::from_std(std_socket).with_context(what)?;
        Ok(DhcpSocket { socket, interface: interface.to_string(), buf: vec![0u8; 65536] })
    }

    pub(crate) async fn send(&self, t: &Transmit) -> Result<()> {
        let ip = match t.to {
            Destination::Broadcast => Ipv4Addr::BROADCAST,
            Destination::Server(ip) => ip,
        };
        self.socket
            .send_to(&t.bytes, SocketAddrV4::new(ip, SERVER_PORT))
            .await
            .with_context(|| format!("{}: sending {} to {ip}", self.interface, t.what))?;
        Ok(())
    }

    /// The next datagram from a server port (67); others are dropped here. Cancel-safe.
    pub(crate) async fn recv(&mut self) -> Result<&[u8]> {
        loop {
            let (n, from) = self
                .socket
                .recv_from(&mut self.buf)
                .await
                .with_context(|| format!("{}: DHCP receive", self.interface))?;
            if from.port() == SERVER_PORT {
                return Ok(&self.buf[..n]);
            }
            log::debug!("{}: ignoring a datagram from {from} (not a DHCP server port)", self.interface);
        }
    }
}
