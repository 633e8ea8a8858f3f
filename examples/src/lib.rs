//! Runnable compositions of the NIC family. Each binary in `src/bin` puts the
//! crates together with a concrete (simulated) driver and host.
