//! The port manager (Barrelfish's `netd` role): hands out TCP and UDP ports to
//! endpoints, refuses conflicts, and turns a binding into the flow rule that
//! steers its traffic.

use heapless::Vec;
use nic_traits::{FlowRule, L4Protocol};

use crate::Error;

/// First and last dynamic (ephemeral) port, RFC 6335 §6.
pub const EPHEMERAL: core::ops::RangeInclusive<u16> = 49152..=65535;

/// Which endpoint holds a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Endpoint(pub u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Binding {
    protocol: L4Protocol,
    port: u16,
    owner: Endpoint,
}

/// Port bindings for up to `N` ports.
///
/// # Examples
///
/// ```
/// use hwdemux::{Endpoint, Error, PortManager};
/// use nic_traits::{FlowRule, L4Protocol};
///
/// let mut ports = PortManager::<8>::new();
/// let rule = ports.bind(Endpoint(1), L4Protocol::Tcp, 80).unwrap();
/// assert_eq!(rule, FlowRule::tcp_port(80));
/// assert_eq!(ports.bind(Endpoint(2), L4Protocol::Tcp, 80), Err(Error::PortInUse));
/// // UDP 80 is a different port.
/// ports.bind(Endpoint(2), L4Protocol::Udp, 80).unwrap();
/// let (port, _) = ports.bind_ephemeral(Endpoint(3), L4Protocol::Udp).unwrap();
/// assert!(port >= 49152);
/// ```
#[derive(Debug)]
pub struct PortManager<const N: usize> {
    bindings: Vec<Binding, N>,
    next_ephemeral: u16,
}

impl<const N: usize> Default for PortManager<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> PortManager<N> {
    /// No ports bound.
    pub const fn new() -> Self {
        Self {
            bindings: Vec::new(),
            next_ephemeral: *EPHEMERAL.start(),
        }
    }

    /// Who holds `port`, if anyone.
    pub fn owner(&self, protocol: L4Protocol, port: u16) -> Option<Endpoint> {
        self.bindings
            .iter()
            .find(|b| b.protocol == protocol && b.port == port)
            .map(|b| b.owner)
    }

    /// Binds `port` to `owner` and returns the rule that steers its traffic.
    pub fn bind(
        &mut self,
        owner: Endpoint,
        protocol: L4Protocol,
        port: u16,
    ) -> Result<FlowRule, Error> {
        if !matches!(protocol, L4Protocol::Tcp | L4Protocol::Udp) || port == 0 {
            return Err(Error::InvalidRule);
        }
        if self.owner(protocol, port).is_some() {
            return Err(Error::PortInUse);
        }
        self.bindings
            .push(Binding {
                protocol,
                port,
                owner,
            })
            .map_err(|_| Error::Full)?;
        Ok(FlowRule::Port {
            protocol,
            port,
            addr: None,
        })
    }

    /// Binds a free ephemeral port, trying each at most once.
    pub fn bind_ephemeral(
        &mut self,
        owner: Endpoint,
        protocol: L4Protocol,
    ) -> Result<(u16, FlowRule), Error> {
        let span = u32::from(*EPHEMERAL.end() - *EPHEMERAL.start()) + 1;
        for _ in 0..span {
            let port = self.next_ephemeral;
            self.next_ephemeral = if port == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                port + 1
            };
            match self.bind(owner, protocol, port) {
                Ok(rule) => return Ok((port, rule)),
                Err(Error::PortInUse) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::Full)
    }

    /// Releases a port; only its owner may.
    ///
    /// ```
    /// # use hwdemux::{Endpoint, Error, PortManager};
    /// # use nic_traits::L4Protocol;
    /// let mut ports = PortManager::<4>::default();
    /// let (port, _) = ports.bind_ephemeral(Endpoint(1), L4Protocol::Tcp).unwrap();
    /// assert_eq!(port, 49152);
    /// assert_eq!(ports.unbind(Endpoint(2), L4Protocol::Tcp, port), Err(Error::NotOwner));
    /// ports.unbind(Endpoint(1), L4Protocol::Tcp, port).unwrap();
    /// ```
    pub fn unbind(
        &mut self,
        owner: Endpoint,
        protocol: L4Protocol,
        port: u16,
    ) -> Result<(), Error> {
        let i = self
            .bindings
            .iter()
            .position(|b| b.protocol == protocol && b.port == port)
            .ok_or(Error::NotFound)?;
        if self.bindings[i].owner != owner {
            return Err(Error::NotOwner);
        }
        self.bindings.swap_remove(i);
        Ok(())
    }
}
