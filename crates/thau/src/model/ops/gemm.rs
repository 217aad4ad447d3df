//! Packed, cache-blocked GEMM for the three products a Linear layer needs in training, with
//! AVX-512 microkernels (f32 FMA, and an opt-in bf16 path using AVX512_BF16 `vdpbf16ps`).
//!
//! Row-major everywhere, PyTorch/HF Linear layout: x (N×K), w (M×K), y (N×M).
//!   [`gemm_nt`]: y  (+)= x · wᵀ      (forward)
//!   [`gemm_nn`]: dx (+)= dy · w      (input gradient)
//!   [`gemm_tn`]: dw (+)= dyᵀ · x     (weight gradient)
//!
//! Structure (Goto/BLIS): for each NC-wide column block of C and each KC-deep slice of the
//! inner dimension, B is packed once into NR-wide micro-panels; then row blocks of MC rows are
//! processed in parallel (rayon), each packing its A block into MR-tall micro-panels and running
//! the MR×NR microkernel over every (B panel, A panel) pair. The K slices are always visited in
//! order and never split across threads, so every output element is summed in the same order
//! whatever the thread count: results are bitwise independent of `RAYON_NUM_THREADS`.
//!
//! Without AVX-512F (or for f64) the products go to the `gemm` crate instead.

use super::kernel::Elem;
use rayon::prelude::*;
use std::any::TypeId;
use std::cell::RefCell;
use std::sync::OnceLock;

/// Arithmetic of the f32 products. `Bf16` rounds both operands to bf16 (round to nearest
/// even) when packing and accumulates in f32; it needs AVX512_BF16 and falls back to `F32`
/// where the CPU lacks it. f64 always runs in f64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    F32,
    Bf16,
}

impl std::str::FromStr for Precision {
    type Err = crate::Error;
    /// `f32` or `bf16`.
    fn from_str(s: &str) -> crate::Result<Self> {
        crate::error::one_of("--matmul", s, &[("f32", Self::F32), ("bf16", Self::Bf16)])
    }
}

impl Precision {
    /// `THAU_MATMUL=bf16` selects [`Precision::Bf16`]; anything else (or unset) `F32`.
    /// Read once per process.
    pub fn from_env() -> Precision {
        static P: OnceLock<Precision> = OnceLock::new();
        *P.get_or_init(|| match std::env::var("THAU_MATMUL") {
            Ok(v) if v.trim().eq_ignore_ascii_case("bf16") => Precision::Bf16,
            _ => Precision::F32,
        })
    }
}

/// Whether the AVX-512 f32 kernels run on this CPU.
pub fn avx512_available() -> bool {
    static A: OnceLock<bool> = OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    return *A.get_or_init(|| is_x86_feature_detected!("avx512f"));
    #[cfg(not(target_arch = "x86_64"))]
    return *A.get_or_init(|| false);
}

/// Whether the bf16 kernels run on this CPU (else `Precision::Bf16` computes in f32).
pub fn bf16_available() -> bool {
    static A: OnceLock<bool> = OnceLock::new();
    #[cfg(target_arch = "x86_64")]
    return *A.get_or_init(|| avx512_available() && is_x86_feature_detected!("avx512bf16"));
    #[cfg(not(target_arch = "x86_64"))]
    return *A.get_or_init(|| false);
}

/// The three products of a Linear layer (sizes as in PyTorch: x (N×K), w (M×K), dy (N×M)).
#[derive(Clone, Copy)]
enum Product {
    /// y = x · wᵀ (forward)
    Nt,
    /// dx = dy · w (input gradient)
    Nn,
    /// dw = dyᵀ · x (weight gradient)
    Tn,
}

/// Output rows, output columns, inner size and the two operand views of a product, after
/// checking the operand lengths (a programming error, so a panic with the sizes).
fn plan<T>(p: Product, a: &[T], b: &[T], n: usize, k: usize, m: usize) -> (usize, usize, usize, View<T>, View<T>) {
    let (name, a_len, b_len) = match p {
        Product::Nt => ("gemm_nt", n * k, m * k),
        Product::Nn => ("gemm_nn", n * m, m * k),
        Product::Tn => ("gemm_tn", n * m, n * k),
    };
    assert_eq!(a.len(), a_len, "{name}: first operand has {} elements, expected {a_len}", a.len());
    assert_eq!(b.len(), b_len, "{name}: second operand has {} elements, expected {b_len}", b.len());
    let view = |s: &[T], rs: usize, cs: usize| View { ptr: s.as_ptr(), rs: rs as isize, cs: cs as isize };
    match p {
        // A = x; B(p, j) = w[j, p]
        Product::Nt => (n, m, k, view(a, k, 1), view(b, 1, k)),
        // A = dy; B = w
        Product::Nn => (n, k, m, view(a, m, 1), view(b, k, 1)),
        // A(i, p) = dy[p, i]; B = x
        Product::Tn => (m, k, n, view(a, 1, m), view(b, k, 1)),
    }
}

/// C (+)= A·B into an existing slice.
#[allow(clippy::too_many_arguments)]
fn run_into<T: Elem>(
    p: Product,
    a: &[T],
    b: &[T],
    c: &mut [T],
    n: usize,
    k: usize,
    m: usize,
    acc: bool,
    prec: Precision,
) {
    let (rows, cols, inner, va, vb) = plan(p, a, b, n, k, m);
    assert_eq!(c.len(), rows * cols, "output has {} elements, expected {rows}×{cols}", c.len());
    // SAFETY: `plan` checked that every (row, col) the views address lies inside a and b, and c
    // holds rows×cols elements; c is borrowed mutably, so nothing else touches it.
    unsafe { gemm_strided(rows, cols, inner, va, vb, c.as_mut_ptr(), cols, acc, prec) }
}

/// A new vector holding A·B, without zero-filling it first: with accumulation off every GEMM
/// path writes each output element before anything reads it.
fn run_new<T: Elem>(p: Product, a: &[T], b: &[T], n: usize, k: usize, m: usize, prec: Precision) -> Vec<T> {
    let (rows, cols, inner, va, vb) = plan(p, a, b, n, k, m);
    let mut c = Vec::with_capacity(rows * cols);
    // SAFETY: views checked by `plan`; c has capacity rows×cols and, accumulation being off,
    // the GEMM writes all of them (zero-fills them when inner = 0) without reading, so they
    // are initialised when the length is set.
    unsafe {
        gemm_strided(rows, cols, inner, va, vb, c.as_mut_ptr(), cols, false, prec);
        c.set_len(rows * cols);
    }
    c
}

/// y (N×M) = (accumulate ? y : 0) + x (N×K) · wᵀ, with w (M×K).
#[allow(clippy::too_many_arguments)]
pub fn gemm_nt<T: Elem>(x: &[T], w: &[T], y: &mut [T], n: usize, k: usize, m: usize, acc: bool, prec: Precision) {
    run_into(Product::Nt, x, w, y, n, k, m, acc, prec)
}

/// dx (N×K) = (accumulate ? dx : 0) + dy (N×M) · w (M×K).
#[allow(clippy::too_many_arguments)]
pub fn gemm_nn<T: Elem>(dy: &[T], w: &[T], dx: &mut [T], n: usize, m: usize, k: usize, acc: bool, prec: Precision) {
    run_into(Product::Nn, dy, w, dx, n, k, m, acc, prec)
}

/// dw (M×K) = (accumulate ? dw : 0) + dyᵀ · x, with dy (N×M) and x (N×K).
#[allow(clippy::too_many_arguments)]
pub fn gemm_tn<T: Elem>(dy: &[T], x: &[T], dw: &mut [T], n: usize, m: usize, k: usize, acc: bool, prec: Precision) {
    run_into(Product::Tn, dy, x, dw, n, k, m, acc, prec)
}

/// Depth of the column slices [`gemm_nt_rows`] asks its weight source for: every slice but a
/// row's last is this long, and every slice starts at a multiple of it (a whole number of q8_0
/// and q4_K blocks).
pub const ROW_SLICE: usize = 256;

/// y (N×M) = x (N×K) · wᵀ for weights w (M×K) stored as something other than f32 (f16, block
/// quantized): `rows_f32(j0, p0, nr, kc, out)` writes rows j0..j0+nr, columns p0..p0+kc of w,
/// widened to f32, into `out` (nr × kc, row-major). p0 is a multiple of [`ROW_SLICE`] and kc is
/// ROW_SLICE or what is left of the row.
///
/// With AVX-512 the widening happens inside the GEMM's B packing: each weight is read and
/// converted once per call into a cache-resident panel, and no f32 copy of w is ever made.
/// Elsewhere w is widened whole and handed to [`gemm_nt`].
pub fn gemm_nt_rows<F>(x: &[f32], n: usize, k: usize, m: usize, y: &mut [f32], rows_f32: F)
where
    F: Fn(usize, usize, usize, usize, &mut [f32]) + Sync,
{
    assert_eq!(x.len(), n * k, "gemm_nt_rows: input has {} elements, expected {n}×{k}", x.len());
    assert_eq!(y.len(), n * m, "gemm_nt_rows: output has {} elements, expected {n}×{m}", y.len());
    if n == 0 || m == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx512_available() && k > 0 {
        use x86::Micro;
        const _: () = assert!(x86::KC == ROW_SLICE);
        let a = View { ptr: x.as_ptr(), rs: k as isize, cs: 1 };
        let pack = |pc: usize, j0: usize, kc: usize, nr: usize, dst: *mut f32| {
            // The nr × kc slice of w as f32, then packed like an f32 weight (columns of B
            // contiguous along k).
            x86::with_slice(nr * kc, |tmp| {
                rows_f32(j0, pc, nr, kc, tmp);
                let view = View { ptr: tmp.as_ptr(), rs: 1, cs: kc as isize };
                // SAFETY: view covers the nr × kc values just written; dst is the driver's panel.
                unsafe { x86::F32Kernel::pack_b(view, kc, nr, dst) }
            })
        };
        // SAFETY: the CPU has AVX-512F (checked); A is x (n × k, checked above); y holds n × m.
        unsafe { x86::driver::<x86::F32Kernel, _>(n, m, k, a, &pack, y.as_mut_ptr(), m, false) };
        return;
    }
    let mut w = vec![0f32; m * k];
    for p0 in (0..k).step_by(ROW_SLICE) {
        let kc = ROW_SLICE.min(k - p0);
        let mut tmp = vec![0f32; m * kc];
        rows_f32(0, p0, m, kc, &mut tmp);
        for (row, src) in w.chunks_exact_mut(k).zip(tmp.chunks_exact(kc)) {
            row[p0..p0 + kc].copy_from_slice(src);
        }
    }
    gemm_nt(x, &w, y, n, k, m, false, Precision::F32);
}

/// A new (N×M) vector holding x · wᵀ (no zero-fill first).
pub fn gemm_nt_new<T: Elem>(x: &[T], w: &[T], n: usize, k: usize, m: usize, prec: Precision) -> Vec<T> {
    run_new(Product::Nt, x, w, n, k, m, prec)
}

/// A new (N×K) vector holding dy · w (no zero-fill first).
pub fn gemm_nn_new<T: Elem>(dy: &[T], w: &[T], n: usize, m: usize, k: usize, prec: Precision) -> Vec<T> {
    run_new(Product::Nn, dy, w, n, k, m, prec)
}

/// A new (M×K) vector holding dyᵀ · x (no zero-fill first).
pub fn gemm_tn_new<T: Elem>(dy: &[T], x: &[T], n: usize, m: usize, k: usize, prec: Precision) -> Vec<T> {
    run_new(Product::Tn, dy, x, n, k, m, prec)
}

/// A strided read-only matrix view: element (i, j) at `ptr + i·rs + j·cs`. Shared read-only
/// across the worker threads.
#[derive(Clone, Copy)]
struct View<T> {
    ptr: *const T,
    rs: isize,
    cs: isize,
}
// SAFETY: a View is only ever read through, and the data it points at outlives the call.
unsafe impl<T> Send for View<T> {}
// SAFETY: as above (read-only).
unsafe impl<T> Sync for View<T> {}

impl<T> View<T> {
    /// The view starting at element (i, j).
    ///
    /// # Safety
    /// (i, j) must lie inside the viewed allocation (or one past it with nothing read).
    unsafe fn at(self, i: usize, j: usize) -> Self {
        // SAFETY: forwarded from the caller.
        let ptr = unsafe { self.ptr.offset(i as isize * self.rs + j as isize * self.cs) };
        View { ptr, ..self }
    }
    fn cast<U>(self) -> View<U> {
        View { ptr: self.ptr as *const U, rs: self.rs, cs: self.cs }
    }
}

/// A raw output pointer shared by the workers; each writes a disjoint set of rows.
#[derive(Clone, Copy)]
struct OutPtr<T>(*mut T);
// SAFETY: workers write disjoint row blocks only (see `driver`).
unsafe impl<T> Send for OutPtr<T> {}
// SAFETY: as above.
unsafe impl<T> Sync for OutPtr<T> {}

impl<T> OutPtr<T> {
    /// The pointer (a method, so closures capture the whole `Send` wrapper, not the field).
    fn get(self) -> *mut T {
        self.0
    }
}

/// C (m×n, row stride ldc) = (accumulate ? C : 0) + A (m×k) · B (k×n).
///
/// # Safety
/// Both views must stay inside their allocations for the given sizes, C must be valid for
/// m rows of n elements at stride ldc, and nobody else may access C during the call.
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_strided<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    a: View<T>,
    b: View<T>,
    c: *mut T,
    ldc: usize,
    accumulate: bool,
    prec: Precision,
) {
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            for i in 0..m {
                // SAFETY: row i of C is valid for n elements (caller's contract).
                unsafe { std::slice::from_raw_parts_mut(c.add(i * ldc), n).fill(T::zero()) };
            }
        }
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if TypeId::of::<T>() == TypeId::of::<f32>() && avx512_available() {
        let (a, b, c) = (a.cast::<f32>(), b.cast::<f32>(), c as *mut f32);
        // SAFETY: T is f32 (checked by TypeId), so the casts are identities; the CPU has
        // AVX-512F (checked), and AVX512_BF16 for the bf16 kernel; the rest is the caller's.
        unsafe {
            if prec == Precision::Bf16 && bf16_available() {
                use x86::Micro;
                let pack = |pc, j0, kc, nr, dst| x86::Bf16Kernel::pack_b(b.at(pc, j0), kc, nr, dst);
                x86::driver::<x86::Bf16Kernel, _>(m, n, k, a, &pack, c, ldc, accumulate)
            } else {
                use x86::Micro;
                let pack = |pc, j0, kc, nr, dst| x86::F32Kernel::pack_b(b.at(pc, j0), kc, nr, dst);
                x86::driver::<x86::F32Kernel, _>(m, n, k, a, &pack, c, ldc, accumulate)
            }
        }
        return;
    }
    let threads = rayon::current_num_threads();
    let par = if threads > 1 { ::gemm::Parallelism::Rayon(threads) } else { ::gemm::Parallelism::None };
    // SAFETY: forwarded from the caller's contract (gemm takes column stride then row stride).
    unsafe {
        ::gemm::gemm(
            m,
            n,
            k,
            c,
            1,
            ldc as isize,
            accumulate,
            a.ptr,
            a.cs,
            a.rs,
            b.ptr,
            b.cs,
            b.rs,
            T::one(),
            T::one(),
            false,
            false,
            false,
            par,
        )
    }
}

/// The AVX-512 driver and microkernels (x86-64 only; elsewhere the `gemm` crate runs).
#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::*;
    use std::arch::x86_64::*;

    // ---------------------------------------------------------------------------------------------
    // Blocking driver

    /// Microkernel tile: MR rows × NR columns of C held in NV·MR zmm accumulators.
    const MR: usize = 12;
    /// zmm vectors per tile row.
    const NV: usize = 2;
    const NR: usize = 16 * NV;
    /// Depth of a packed slice of the inner dimension.
    pub(super) const KC: usize = 256;
    const MC: usize = 144;
    const NC: usize = 2048;

    /// One microkernel family: how operands are packed and how a packed MR×kc by kc×NR product
    /// is added to C.
    pub(super) trait Micro {
        /// Packed element (f32, or u16 bf16 bits).
        type P: Copy;
        /// kc is padded up to a multiple of this (bf16 multiplies pairs along k).
        const KSTEP: usize;
        /// Pack A rows 0..mr, columns 0..kc into an MR×kcp micro-panel (zero padded).
        unsafe fn pack_a(a: View<f32>, mr: usize, kc: usize, dst: *mut Self::P);
        /// Pack B rows 0..kc, columns 0..nr into a kcp×NR micro-panel (zero padded).
        unsafe fn pack_b(b: View<f32>, kc: usize, nr: usize, dst: *mut Self::P);
        /// C[0..mr, 0..nr] = (load_c ? C : 0) + A·B over kcp (padded) steps.
        #[allow(clippy::too_many_arguments)]
        unsafe fn kernel(
            kcp: usize,
            a: *const Self::P,
            b: *const Self::P,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            load_c: bool,
        );
    }

    /// A cache line; scratch buffers are vectors of these so packed panels are 64-byte aligned.
    #[derive(Clone, Copy)]
    #[repr(C, align(64))]
    struct Line([u8; 64]);

    thread_local! {
        static A_SCRATCH: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
        static B_SCRATCH: RefCell<Vec<Line>> = const { RefCell::new(Vec::new()) };
    }

    thread_local! {
        static SLICE: RefCell<Vec<f32>> = const { RefCell::new(Vec::new()) };
    }

    /// Run `f` with a per-thread f32 buffer of `len` values (for a weight slice being widened
    /// before packing; a fresh one if the thread's is in use).
    pub(super) fn with_slice<R>(len: usize, f: impl FnOnce(&mut [f32]) -> R) -> R {
        SLICE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.len() < len {
                    buf.resize(len, 0.0);
                }
                f(&mut buf[..len])
            }
            Err(_) => f(&mut vec![0f32; len]),
        })
    }

    /// Run `f` with an aligned scratch buffer of at least `bytes` bytes, reused per thread (a fresh
    /// one if the thread's buffer is already in use by an outer call).
    fn with_scratch<R>(
        key: &'static std::thread::LocalKey<RefCell<Vec<Line>>>,
        bytes: usize,
        f: impl FnOnce(*mut u8) -> R,
    ) -> R {
        let lines = bytes.div_ceil(64);
        key.with(|cell| match cell.try_borrow_mut() {
            Ok(mut buf) => {
                if buf.len() < lines {
                    buf.resize(lines, Line([0; 64]));
                }
                f(buf.as_mut_ptr() as *mut u8)
            }
            Err(_) => {
                let mut buf = vec![Line([0; 64]); lines];
                f(buf.as_mut_ptr() as *mut u8)
            }
        })
    }

    /// # Safety
    /// As [`gemm_strided`], with f32 data and the CPU features `K` needs; and `pack_b(pc, j0,
    /// kc, nr, dst)` must pack rows pc..pc+kc, columns j0..j0+nr of B into a kcp×NR micro-panel
    /// at dst (zero padded), writing nothing else, as [`Micro::pack_b`] does for a view. pc is
    /// always a multiple of KC.
    #[allow(clippy::too_many_arguments)]
    pub(super) unsafe fn driver<K: Micro, PB>(
        m: usize,
        n: usize,
        k: usize,
        a: View<f32>,
        pack_b: &PB,
        c: *mut f32,
        ldc: usize,
        accumulate: bool,
    ) where
        PB: Fn(usize, usize, usize, usize, *mut K::P) + Sync,
    {
        let threads = rayon::current_num_threads().max(1);
        // Work items: row blocks of C (each a multiple of MR rows), each possibly split into
        // column ranges of B panels. Many rows (training): at least one row block per thread and
        // a multiple of the thread count. Few rows (a prompt of up to MC tokens against a wide
        // weight): one row block, its panels split evenly across the threads, because MR-row
        // granularity would leave a thread idle (128 rows in MR = 12 splits 72 + 56).
        // The split only changes who computes a tile, never its summation order.
        let natural = m.div_ceil(MC);
        let (mut blocks, splits) = if natural < threads && n.min(NC).div_ceil(NR) >= 2 * threads {
            (natural, threads.div_ceil(natural))
        } else {
            (natural.max(threads).div_ceil(threads) * threads, 1)
        };
        let mc = m.div_ceil(blocks).div_ceil(MR) * MR;
        blocks = m.div_ceil(mc);
        let kcp_max = KC.div_ceil(K::KSTEP) * K::KSTEP;
        let psize = std::mem::size_of::<K::P>();
        let b_bytes = NC.min(n.div_ceil(NR) * NR) * kcp_max * psize;
        let a_bytes = mc.div_ceil(MR) * MR * kcp_max * psize;
        let out = OutPtr(c);
        with_scratch(&B_SCRATCH, b_bytes, |bbuf| {
            let bbuf = OutPtr(bbuf as *mut K::P);
            for jc in (0..n).step_by(NC) {
                let nc = NC.min(n - jc);
                let npanels = nc.div_ceil(NR);
                for pc in (0..k).step_by(KC) {
                    let kc = KC.min(k - pc);
                    let kcp = kc.div_ceil(K::KSTEP) * K::KSTEP;
                    let load_c = accumulate || pc > 0;
                    // Pack the kc×nc block of B, one NR-wide panel per task.
                    (0..npanels).into_par_iter().for_each(|jp| {
                        let j0 = jc + jp * NR;
                        // SAFETY: panel jp of the scratch (kcp·NR elements) lies inside it and is
                        // written by this task only; rows pc..pc+kc and columns j0..j0+nr lie
                        // inside B, which is what the packer's contract asks.
                        let dst = unsafe { bbuf.get().add(jp * kcp * NR) };
                        pack_b(pc, j0, kc, NR.min(n - j0), dst)
                    });
                    // Work items in parallel; each owns rows i0..i0+mcur of C, in the columns
                    // of its B panels.
                    (0..blocks * splits).into_par_iter().for_each(|item| {
                        let (ib, split) = (item / splits, item % splits);
                        let panels = split * npanels / splits..(split + 1) * npanels / splits;
                        let i0 = ib * mc;
                        let mcur = mc.min(m - i0);
                        let apanels = mcur.div_ceil(MR);
                        with_scratch(&A_SCRATCH, a_bytes, |abuf| {
                            let abuf = abuf as *mut K::P;
                            for ip in 0..apanels {
                                let r0 = i0 + ip * MR;
                                // SAFETY: rows r0..r0+mr, columns pc..pc+kc lie inside A; panel ip
                                // lies inside this thread's scratch.
                                unsafe { K::pack_a(a.at(r0, pc), MR.min(m - r0), kc, abuf.add(ip * kcp * MR)) }
                            }
                            for jp in panels.clone() {
                                let j0 = jc + jp * NR;
                                let nr = NR.min(n - j0);
                                for ip in 0..apanels {
                                    let r0 = i0 + ip * MR;
                                    // SAFETY: the packed panels were fully written above (padding
                                    // included); the C tile (rows r0..r0+mr, columns j0..j0+nr) is
                                    // inside C and inside this item's rows and panels, so no other
                                    // item touches it; the B scratch is only read until the join.
                                    unsafe {
                                        K::kernel(
                                            kcp,
                                            abuf.add(ip * kcp * MR),
                                            bbuf.get().add(jp * kcp * NR),
                                            out.get().add(r0 * ldc + j0),
                                            ldc,
                                            MR.min(m - r0),
                                            nr,
                                            load_c,
                                        )
                                    }
                                }
                            }
                        })
                    });
                }
            }
        })
    }

    /// Lane mask of vector `v` (columns 16v..16v+16) of a tile row holding `nr` valid columns.
    #[inline(always)]
    fn mask(nr: usize, v: usize) -> u16 {
        let valid = nr.saturating_sub(16 * v).min(16);
        ((1u32 << valid) - 1) as u16
    }

    /// Write (or add) the accumulators to the C tile (a macro so it inlines into each kernel's
    /// target-feature context). Must be used inside an `unsafe` block whose contract covers C rows
    /// 0..mr, columns 0..nr at stride ldc.
    macro_rules! store_tile {
        ($acc:expr, $c:expr, $ldc:expr, $mr:expr, $nr:expr, $load_c:expr) => {{
            let (acc, c, ldc, mr, nr, load_c) = (&$acc, $c, $ldc, $mr, $nr, $load_c);
            for r in 0..MR {
                if r < mr {
                    // SAFETY (covered by the enclosing unsafe block): masked loads/stores touch only
                    // columns < nr of row r < mr; masked-off lanes are never accessed.
                    let p = c.add(r * ldc);
                    for v in 0..NV {
                        let m = mask(nr, v);
                        let mut x = acc[NV * r + v];
                        if load_c {
                            x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(m, p.add(16 * v)));
                        }
                        _mm512_mask_storeu_ps(p.add(16 * v), m, x);
                    }
                }
            }
        }};
    }

    // ---------------------------------------------------------------------------------------------
    // f32 kernel: A panel [p][MR], B panel [p][NR]; per k step 2 vector loads, MR broadcasts,
    // 2·MR FMAs.

    pub(super) struct F32Kernel;

    impl Micro for F32Kernel {
        type P = f32;
        const KSTEP: usize = 1;

        unsafe fn pack_a(a: View<f32>, mr: usize, kc: usize, dst: *mut f32) {
            // SAFETY: reads rows < mr, columns < kc of A and writes MR·kc elements of dst (caller).
            unsafe {
                if a.cs == 1 {
                    // Rows contiguous along k: transpose 16×16 blocks in registers (pad rows zero).
                    transpose_pack(a.ptr, a.rs, mr, kc, dst, MR, MR);
                    return;
                } else {
                    for p in 0..kc {
                        for r in 0..mr {
                            *dst.add(p * MR + r) = *a.ptr.offset(r as isize * a.rs + p as isize * a.cs);
                        }
                    }
                }
                if mr < MR {
                    for p in 0..kc {
                        for r in mr..MR {
                            *dst.add(p * MR + r) = 0.0;
                        }
                    }
                }
            }
        }

        unsafe fn pack_b(b: View<f32>, kc: usize, nr: usize, dst: *mut f32) {
            // SAFETY: reads rows < kc, columns < nr of B and writes kc·NR elements of dst (caller).
            unsafe {
                if b.cs == 1 {
                    for p in 0..kc {
                        let src = b.ptr.offset(p as isize * b.rs);
                        std::ptr::copy_nonoverlapping(src, dst.add(p * NR), nr);
                        for j in nr..NR {
                            *dst.add(p * NR + j) = 0.0;
                        }
                    }
                } else if b.rs == 1 {
                    // Columns contiguous along k: transpose 16 columns at a time (pad zero).
                    for g in 0..NV {
                        let cols = nr.saturating_sub(16 * g).min(16);
                        // wrapping_offset: for an empty group (cols == 0) the address may lie past
                        // the matrix; it is never read then, but must not be formed with `offset`.
                        transpose_pack(
                            b.ptr.wrapping_offset((16 * g) as isize * b.cs),
                            b.cs,
                            cols,
                            kc,
                            dst.add(16 * g),
                            NR,
                            16,
                        );
                    }
                } else {
                    for j in 0..nr {
                        let col = b.ptr.offset(j as isize * b.cs);
                        for p in 0..kc {
                            *dst.add(p * NR + j) = *col.offset(p as isize * b.rs);
                        }
                    }
                    if nr < NR {
                        for p in 0..kc {
                            for j in nr..NR {
                                *dst.add(p * NR + j) = 0.0;
                            }
                        }
                    }
                }
            }
        }

        unsafe fn kernel(
            kcp: usize,
            a: *const f32,
            b: *const f32,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            load_c: bool,
        ) {
            // SAFETY: the driver only instantiates this kernel when AVX-512F is present; pointers
            // per the trait contract.
            unsafe { kernel_f32(kcp, a, b, c, ldc, mr, nr, load_c) }
        }
    }

    /// # Safety
    /// AVX-512F present; a: kc·MR packed floats, b: kc·NR packed floats (64-byte aligned); C tile
    /// as in `store_tile!`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f")]
    unsafe fn kernel_f32(
        kc: usize,
        a: *const f32,
        b: *const f32,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        load_c: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); NV * MR];
        // SAFETY: p < kc, so every load is inside the packed panels (caller's contract); B panel
        // rows are 128 bytes from a 64-byte aligned base.
        unsafe {
            for p in 0..kc {
                let mut bv = [_mm512_setzero_ps(); NV];
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = _mm512_load_ps(b.add(p * NR + 16 * v));
                }
                let ap = a.add(p * MR);
                for r in 0..MR {
                    let av = _mm512_set1_ps(*ap.add(r));
                    for v in 0..NV {
                        acc[NV * r + v] = _mm512_fmadd_ps(av, bv[v], acc[NV * r + v]);
                    }
                }
            }
            store_tile!(acc, c, ldc, mr, nr, load_c)
        }
    }

    /// Transposing pack: `rows` (≤ 16) source rows of `kc` contiguous floats, row i at
    /// `src + i·stride`, become dst[p·dst_stride + i] for p < kc and i < width (rows ≥ `rows` are
    /// written as zeros), 16×16 blocks at a time through registers.
    ///
    /// # Safety
    /// AVX-512F present; the source rows valid for kc floats; dst valid for
    /// (kc−1)·dst_stride + width floats; width ≤ 16.
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose_pack(
        src: *const f32,
        stride: isize,
        rows: usize,
        kc: usize,
        dst: *mut f32,
        dst_stride: usize,
        width: usize,
    ) {
        let wmask = ((1u32 << width) - 1) as u16;
        let mut p0 = 0;
        while p0 < kc {
            let valid = (kc - p0).min(16);
            let lmask = ((1u32 << valid) - 1) as u16;
            let mut r = [_mm512_setzero_ps(); 16];
            // SAFETY: masked loads read only columns p0..p0+valid of rows < rows (caller's
            // contract); stores write p < kc rows of dst, `width` lanes each (caller's contract).
            unsafe {
                for (i, v) in r.iter_mut().enumerate().take(rows) {
                    *v = _mm512_maskz_loadu_ps(lmask, src.offset(i as isize * stride).add(p0));
                }
                let t = transpose16(r);
                for (q, v) in t.iter().enumerate().take(valid) {
                    _mm512_mask_storeu_ps(dst.add((p0 + q) * dst_stride), wmask, *v);
                }
            }
            p0 += 16;
        }
    }

    /// 16×16 transpose of f32: out[j] lane i = r[i] lane j.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose16(r: [__m512; 16]) -> [__m512; 16] {
        let mut t = [_mm512_setzero_ps(); 16];
        for i in 0..8 {
            t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
            t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
        }
        let mut u = [_mm512_setzero_ps(); 16];
        for i in 0..4 {
            let (a, b, c, d) = (t[4 * i], t[4 * i + 1], t[4 * i + 2], t[4 * i + 3]);
            u[4 * i] = _mm512_shuffle_ps::<0x44>(a, c);
            u[4 * i + 1] = _mm512_shuffle_ps::<0xEE>(a, c);
            u[4 * i + 2] = _mm512_shuffle_ps::<0x44>(b, d);
            u[4 * i + 3] = _mm512_shuffle_ps::<0xEE>(b, d);
        }
        // u[4i + c] holds, in 128-bit lane l, column 4l + c of rows 4i..4i+4.
        let mut v = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            v[c] = _mm512_shuffle_f32x4::<0x88>(u[c], u[4 + c]);
            v[4 + c] = _mm512_shuffle_f32x4::<0xDD>(u[c], u[4 + c]);
            v[8 + c] = _mm512_shuffle_f32x4::<0x88>(u[8 + c], u[12 + c]);
            v[12 + c] = _mm512_shuffle_f32x4::<0xDD>(u[8 + c], u[12 + c]);
        }
        let mut out = [_mm512_setzero_ps(); 16];
        for c in 0..4 {
            out[c] = _mm512_shuffle_f32x4::<0x88>(v[c], v[8 + c]);
            out[4 + c] = _mm512_shuffle_f32x4::<0x88>(v[4 + c], v[12 + c]);
            out[8 + c] = _mm512_shuffle_f32x4::<0xDD>(v[c], v[8 + c]);
            out[12 + c] = _mm512_shuffle_f32x4::<0xDD>(v[4 + c], v[12 + c]);
        }
        out
    }

    // ---------------------------------------------------------------------------------------------
    // bf16 kernel: operands rounded to bf16 when packing, pairs along k interleaved so one
    // `vdpbf16ps` does two k steps: A panel [p/2][MR][2], B panel [p/2][NR][2] (u16 bits).

    pub(super) struct Bf16Kernel;

    impl Micro for Bf16Kernel {
        type P = u16;
        const KSTEP: usize = 2;

        unsafe fn pack_a(a: View<f32>, mr: usize, kc: usize, dst: *mut u16) {
            let mut tmp = [0f32; (KC + 1) * MR];
            // SAFETY: the f32 packer writes kc·MR floats of tmp (kc ≤ KC); the odd-kc pad row is
            // inside tmp; the interleaver writes kcp·MR u16 of dst (caller's contract); the driver
            // only instantiates this kernel with AVX-512F and AVX512_BF16 present.
            unsafe {
                F32Kernel::pack_a(a, mr, kc, tmp.as_mut_ptr());
                if kc % 2 == 1 {
                    tmp[kc * MR..(kc + 1) * MR].fill(0.0);
                }
                interleave_bf16(tmp.as_ptr(), MR, kc.div_ceil(2), dst);
            }
        }

        unsafe fn pack_b(b: View<f32>, kc: usize, nr: usize, dst: *mut u16) {
            let mut tmp = [0f32; (KC + 1) * NR];
            // SAFETY: as in pack_a, with NR-wide rows.
            unsafe {
                F32Kernel::pack_b(b, kc, nr, tmp.as_mut_ptr());
                if kc % 2 == 1 {
                    tmp[kc * NR..(kc + 1) * NR].fill(0.0);
                }
                interleave_bf16(tmp.as_ptr(), NR, kc.div_ceil(2), dst);
            }
        }

        unsafe fn kernel(
            kcp: usize,
            a: *const u16,
            b: *const u16,
            c: *mut f32,
            ldc: usize,
            mr: usize,
            nr: usize,
            load_c: bool,
        ) {
            // SAFETY: the driver only instantiates this kernel when AVX512_BF16 is present.
            unsafe { kernel_bf16(kcp / 2, a, b, c, ldc, mr, nr, load_c) }
        }
    }

    /// f32 panel rows (width w, 2·kp rows) → bf16 pair panel: dst[(q·w + i)·2 + t] =
    /// bf16(src[(2q + t)·w + i]), rounding to nearest even.
    ///
    /// # Safety
    /// AVX-512F and AVX512_BF16 present; src valid for 2·kp·w floats, dst for kp·w·2 u16.
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn interleave_bf16(src: *const f32, w: usize, kp: usize, dst: *mut u16) {
        let lo_idx = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
        let hi_idx = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
        for q in 0..kp {
            let mut i = 0;
            while i < w {
                let n = (w - i).min(16);
                let m = ((1u32 << n) - 1) as u16;
                // SAFETY: masked loads of lanes < n from rows 2q and 2q+1 and a masked store of n
                // pairs stay inside src and dst (caller's contract). The transmute reinterprets
                // 32 bf16 as 16 u32 pairs, same size, every bit pattern valid.
                unsafe {
                    let v0 = _mm512_maskz_loadu_ps(m, src.add(2 * q * w + i));
                    let v1 = _mm512_maskz_loadu_ps(m, src.add((2 * q + 1) * w + i));
                    let lo = _mm512_permutex2var_ps(v0, lo_idx, v1);
                    let hi = _mm512_permutex2var_ps(v0, hi_idx, v1);
                    let packed: __m512i = std::mem::transmute(_mm512_cvtne2ps_pbh(hi, lo));
                    _mm512_mask_storeu_epi32(dst.add((q * w + i) * 2) as *mut i32, m, packed);
                }
                i += 16;
            }
        }
    }

    /// # Safety
    /// AVX-512F and AVX512_BF16 present; a: kp·MR·2 and b: kp·NR·2 packed bf16 (64-byte aligned);
    /// C tile as in `store_tile!`.
    #[allow(clippy::too_many_arguments)]
    #[target_feature(enable = "avx512f,avx512bf16")]
    unsafe fn kernel_bf16(
        kp: usize,
        a: *const u16,
        b: *const u16,
        c: *mut f32,
        ldc: usize,
        mr: usize,
        nr: usize,
        load_c: bool,
    ) {
        let mut acc = [_mm512_setzero_ps(); NV * MR];
        // SAFETY: q < kp, so every load is inside the packed panels (caller's contract); each B
        // row pair is 128 bytes from a 64-byte aligned base. The transmutes reinterpret 512 bits
        // of packed bf16 as __m512bh, which has the same size and no invalid bit patterns.
        unsafe {
            for q in 0..kp {
                let bq = b.add(q * NR * 2);
                let mut bv: [__m512bh; NV] = std::mem::transmute([_mm512_setzero_si512(); NV]);
                for (v, x) in bv.iter_mut().enumerate() {
                    *x = std::mem::transmute::<__m512i, __m512bh>(_mm512_load_si512(bq.add(32 * v) as *const __m512i));
                }
                let aq = a.add(q * MR * 2) as *const i32;
                for r in 0..MR {
                    let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(*aq.add(r)));
                    for v in 0..NV {
                        acc[NV * r + v] = _mm512_dpbf16_ps(acc[NV * r + v], av, bv[v]);
                    }
                }
            }
            store_tile!(acc, c, ldc, mr, nr, load_c)
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn transpose16_is_a_transpose() {
            if !super::avx512_available() {
                return;
            }
            let src: Vec<f32> = (0..256).map(|i| i as f32).collect();
            let mut dst = vec![0f32; 256];
            // SAFETY: AVX-512F checked; 16 rows of 16 floats in, 16×16 out.
            unsafe { super::transpose_pack(src.as_ptr(), 16, 16, 16, dst.as_mut_ptr(), 16, 16) };
            for i in 0..16 {
                for j in 0..16 {
                    assert_eq!(dst[j * 16 + i], src[i * 16 + j], "({i},{j})");
                }
            }
        }
    }
}
