//! Test and benchmark helpers: a pcap file reader and libpcap reached at run
//! time (dlopen), so the crate builds and its other tests run on machines
//! without libpcap. This is the only place with `unsafe` (FFI), outside the
//! library crate.
#![allow(dead_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_uint, c_void};
use std::path::Path;

/// One captured frame: bytes as captured and length on the wire.
#[derive(Debug, Clone)]
pub struct Frame {
    pub data: Vec<u8>,
    pub wire_len: u32,
}

/// Reads a classic pcap file (either byte order, micro- or nanosecond).
pub fn read_pcap(path: &Path) -> Vec<Frame> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.len() >= 24,
        "{}: too short for a pcap header",
        path.display()
    );
    let magic = u32::from_le_bytes(bytes[0..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        _ => panic!("{}: not a pcap file", path.display()),
    };
    let u32_at = |b: &[u8], o: usize| {
        let a: [u8; 4] = b[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(a)
        } else {
            u32::from_be_bytes(a)
        }
    };
    assert_eq!(
        u32_at(&bytes, 20),
        1,
        "link type must be Ethernet (DLT_EN10MB)"
    );
    let mut frames = Vec::new();
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let caplen = u32_at(&bytes, off + 8) as usize;
        let wire_len = u32_at(&bytes, off + 12);
        let data = bytes[off + 16..off + 16 + caplen].to_vec();
        frames.push(Frame { data, wire_len });
        off += 16 + caplen;
    }
    frames
}

/// The frames of every committed fixture capture.
pub fn fixture_frames() -> Vec<Frame> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut all = read_pcap(&dir.join("veth.pcap"));
    all.extend(read_pcap(&dir.join("wireshark-sample.pcap")));
    all
}

#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct BpfInsn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

#[repr(C)]
#[derive(Debug)]
struct BpfProgram {
    bf_len: c_uint,
    bf_insns: *mut BpfInsn,
}

#[repr(C)]
struct PcapPkthdr {
    ts: libc::timeval,
    caplen: u32,
    len: u32,
}

type OpenDead = unsafe extern "C" fn(c_int, c_int) -> *mut c_void;
type Compile =
    unsafe extern "C" fn(*mut c_void, *mut BpfProgram, *const c_char, c_int, u32) -> c_int;
type OfflineFilter = unsafe extern "C" fn(*const BpfProgram, *const PcapPkthdr, *const u8) -> c_int;
type FreeCode = unsafe extern "C" fn(*mut BpfProgram);
type GetErr = unsafe extern "C" fn(*mut c_void) -> *const c_char;

/// libpcap, loaded at run time.
#[derive(Debug)]
pub struct Libpcap {
    handle: *mut c_void,
    compile: Compile,
    offline_filter: OfflineFilter,
    freecode: FreeCode,
    geterr: GetErr,
}

/// A filter compiled by libpcap's `pcap_compile`.
#[derive(Debug)]
pub struct PcapFilter<'a> {
    lib: &'a Libpcap,
    prog: BpfProgram,
}

const DLT_EN10MB: c_int = 1;
const PCAP_NETMASK_UNKNOWN: u32 = 0xffff_ffff;

impl Libpcap {
    /// Loads libpcap, or says why not.
    pub fn load() -> Result<Self, String> {
        for name in ["libpcap.so", "libpcap.so.1", "libpcap.so.0.8"] {
            let c = CString::new(name).unwrap();
            // SAFETY: dlopen with a valid NUL-terminated name; libpcap's
            // initialisers have no preconditions.
            let lib = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW) };
            if lib.is_null() {
                continue;
            }
            let sym = |s: &str| {
                let c = CString::new(s).unwrap();
                // SAFETY: `lib` is a live handle from dlopen.
                let p = unsafe { libc::dlsym(lib, c.as_ptr()) };
                if p.is_null() {
                    Err(format!("{name} lacks {s}"))
                } else {
                    Ok(p)
                }
            };
            // SAFETY: the symbols are libpcap's public functions with the
            // signatures declared above (pcap/pcap.h, libpcap 1.x).
            unsafe {
                let open_dead: OpenDead = std::mem::transmute(sym("pcap_open_dead")?);
                let handle = open_dead(DLT_EN10MB, 262_144);
                if handle.is_null() {
                    return Err("pcap_open_dead failed".into());
                }
                return Ok(Self {
                    handle,
                    compile: std::mem::transmute::<*mut c_void, Compile>(sym("pcap_compile")?),
                    offline_filter: std::mem::transmute::<*mut c_void, OfflineFilter>(sym(
                        "pcap_offline_filter",
                    )?),
                    freecode: std::mem::transmute::<*mut c_void, FreeCode>(sym("pcap_freecode")?),
                    geterr: std::mem::transmute::<*mut c_void, GetErr>(sym("pcap_geterr")?),
                });
            }
        }
        Err("libpcap shared library not found (apt-get install libpcap-dev)".into())
    }

    /// Compiles an expression with the optimiser on, as tcpdump does.
    pub fn compile(&self, expr: &str) -> Result<PcapFilter<'_>, String> {
        self.compile_opt(expr, true)
    }

    /// Compiles an expression, with or without libpcap's optimiser.
    pub fn compile_opt(&self, expr: &str, optimize: bool) -> Result<PcapFilter<'_>, String> {
        let c = CString::new(expr).unwrap();
        let mut prog = BpfProgram {
            bf_len: 0,
            bf_insns: std::ptr::null_mut(),
        };
        // SAFETY: a live pcap_t, a valid out-pointer and a NUL-terminated string.
        let rc = unsafe {
            (self.compile)(
                self.handle,
                &mut prog,
                c.as_ptr(),
                c_int::from(optimize),
                PCAP_NETMASK_UNKNOWN,
            )
        };
        if rc != 0 {
            // SAFETY: pcap_geterr returns a NUL-terminated buffer owned by the pcap_t.
            let msg = unsafe { CStr::from_ptr((self.geterr)(self.handle)) };
            return Err(msg.to_string_lossy().into_owned());
        }
        Ok(PcapFilter { lib: self, prog })
    }
}

impl PcapFilter<'_> {
    /// libpcap's verdict (`pcap_offline_filter`: the program's return value, 0 = reject).
    #[inline]
    pub fn run(&self, data: &[u8], wire_len: u32) -> u32 {
        let hdr = PcapPkthdr {
            ts: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            caplen: data.len() as u32,
            len: wire_len,
        };
        // SAFETY: a compiled program, a header whose caplen is the buffer's length.
        unsafe { (self.lib.offline_filter)(&self.prog, &hdr, data.as_ptr()) as u32 }
    }

    /// The compiled instructions (what `tcpdump -ddd` prints).
    pub fn insns(&self) -> Vec<(u16, u8, u8, u32)> {
        // SAFETY: pcap_compile filled bf_insns with bf_len instructions.
        let s =
            unsafe { std::slice::from_raw_parts(self.prog.bf_insns, self.prog.bf_len as usize) };
        s.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect()
    }
}

impl Drop for PcapFilter<'_> {
    fn drop(&mut self) {
        // SAFETY: the program came from pcap_compile and is freed once.
        unsafe { (self.lib.freecode)(&mut self.prog) }
    }
}

/// `tcpdump -ddd EXPR` (link type Ethernet), or why it could not run.
pub fn tcpdump_ddd(expr: &str) -> Result<String, String> {
    let out = std::process::Command::new("tcpdump")
        .args(["-y", "EN10MB", "-ddd", expr])
        .output()
        .map_err(|e| format!("tcpdump: {e}"))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a missing tool must fail the run (CI=true) rather than skip.
pub fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}
