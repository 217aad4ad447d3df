//! Plumbing shared by the fused CPU ops: typed slices out of candle storage, dtype dispatch,
//! a `Send` raw pointer for disjoint parallel writes, and a thin safe-ish wrapper over `gemm`.

use candle_core::{CpuStorage, DType, Layout, Result, WithDType};
use num_traits::Float;

/// Element types the fused kernels run on: f32 for training, f64 for gradient checks.
pub trait Elem:
    Float
    + WithDType
    + Send
    + Sync
    + std::iter::Sum
    + std::ops::AddAssign
    + std::ops::SubAssign
    + std::ops::MulAssign
    + 'static
{
}
impl Elem for f32 {}
impl Elem for f64 {}

/// The contiguous slice a layout points at; the ops' wrappers make inputs contiguous first.
pub fn slice<'a, T: WithDType>(s: &'a CpuStorage, l: &Layout, op: &'static str) -> Result<&'a [T]> {
    let data = s.as_slice::<T>()?;
    match l.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => Err(candle_core::Error::RequiresContiguous { op }.bt()),
    }
}

/// Fixed chunking for reductions so results do not depend on the thread count or on rayon's
/// work stealing: the same rows always land in the same partial sum, summed in order.
pub const REDUCE_CHUNKS: usize = 16;

pub fn rows_per_chunk(rows: usize) -> usize {
    rows.div_ceil(REDUCE_CHUNKS).max(1)
}

/// A raw pointer that may cross threads. Every user writes disjoint elements only.
#[derive(Clone, Copy)]
pub struct SendPtr<T>(pub *mut T);
unsafe impl<T> Send for SendPtr<T> {}
unsafe impl<T> Sync for SendPtr<T> {}

impl<T> SendPtr<T> {
    /// The pointer (a method, so closures capture the whole `Send` wrapper, not the field).
    pub fn get(self) -> *mut T {
        self.0
    }
}

/// A strided row-major-ish matrix view for [`matmul`]: element (i, j) at `ptr + i*rs + j*cs`.
#[derive(Clone, Copy)]
pub struct Mat<T> {
    pub ptr: *const T,
    pub rs: isize,
    pub cs: isize,
}

/// `dst (m×n) = (accumulate ? dst : 0) + alpha · lhs (m×k) · rhs (k×n)`, single-threaded
/// (callers parallelise over independent problems).
///
/// # Safety
/// Every view must stay inside its allocation for the given sizes, and `dst` must not be
/// written by any other thread during the call.
#[allow(clippy::too_many_arguments)]
pub unsafe fn matmul<T: Elem>(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut T,
    dst_rs: isize,
    dst_cs: isize,
    accumulate: bool,
    lhs: Mat<T>,
    rhs: Mat<T>,
    alpha: T,
) {
    // SAFETY: forwarded from the caller's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            dst_cs,
            dst_rs,
            accumulate,
            lhs.ptr,
            lhs.cs,
            lhs.rs,
            rhs.ptr,
            rhs.cs,
            rhs.rs,
            T::one(),
            alpha,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

pub fn unsupported(dtype: DType, op: &'static str) -> candle_core::Error {
    candle_core::Error::UnsupportedDTypeForOp(dtype, op).bt()
}

/// Run `$body` with `$T` bound to the storage's float type (f32 or f64).
macro_rules! dispatch_float {
    ($storage:expr, $op:expr, |$T:ident| $body:expr) => {
        match candle_core::backend::BackendStorage::dtype($storage) {
            candle_core::DType::F32 => {
                type $T = f32;
                $body
            }
            candle_core::DType::F64 => {
                type $T = f64;
                $body
            }
            dt => Err($crate::model::ops::kernel::unsupported(dt, $op)),
        }
    };
}
pub(crate) use dispatch_float;
