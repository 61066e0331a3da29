//! A bump allocator for contracts: every call runs in a fresh instance whose memory is thrown
//! away afterwards, so freeing is pointless work. Allocation is a pointer increment; the most
//! recent allocation can grow or shrink in place. The 16 MiB memory cap bounds what one call
//! can allocate; past it, allocation fails and the call aborts ("ran out of memory").

use core::alloc::{GlobalAlloc, Layout};
use core::arch::wasm32;
use core::cell::UnsafeCell;

const PAGE: usize = 65536;

extern "C" {
    /// Set by the wasm linker: the first byte after the stack and static data.
    static __heap_base: u8;
}

pub struct BumpAllocator {
    state: UnsafeCell<(usize, usize, usize)>, // (next free, end of memory, start of the last allocation)
}

// Contracts are single-threaded (no wasm threads), so the interior mutability is never shared.
unsafe impl Sync for BumpAllocator {}

impl BumpAllocator {
    pub const fn new() -> BumpAllocator {
        BumpAllocator { state: UnsafeCell::new((0, 0, 0)) }
    }
}

/// Grow memory so that `end` bytes are available; false when the host refuses (the memory cap).
fn ensure_memory(state: &mut (usize, usize, usize), end: usize) -> bool {
    if end > state.1 {
        let pages = (end - state.1 + PAGE - 1) / PAGE;
        if wasm32::memory_grow(0, pages) == usize::MAX {
            return false;
        }
        state.1 += pages * PAGE;
    }
    true
}

unsafe impl GlobalAlloc for BumpAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let state = &mut *self.state.get();
        if state.1 == 0 {
            // First use: the heap starts where the linker put it, above the stack and the data,
            // so small calls fit in the module's initial memory and never grow it.
            let start = &__heap_base as *const u8 as usize;
            *state = (start, wasm32::memory_size(0) * PAGE, 0);
        }
        // At least 8-byte alignment: byte buffers then copy word by word (wasm has no fast memcpy here).
        let align = if layout.align() < 8 { 8 } else { layout.align() };
        let start = (state.0 + align - 1) & !(align - 1);
        let new_next = match start.checked_add(layout.size()) {
            Some(n) => n,
            None => return core::ptr::null_mut(),
        };
        if !ensure_memory(state, new_next) {
            return core::ptr::null_mut();
        }
        state.0 = new_next;
        state.2 = start;
        start as *mut u8
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let state = &mut *self.state.get();
        if ptr as usize == state.2 && state.2 + layout.size() == state.0 {
            state.0 = state.2; // the last allocation: give it back
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let state = &mut *self.state.get();
        if ptr as usize == state.2 && state.2 + layout.size() == state.0 {
            // The last allocation grows or shrinks in place.
            let new_next = state.2 + new_size;
            if !ensure_memory(state, new_next) {
                return core::ptr::null_mut();
            }
            state.0 = new_next;
            return ptr;
        }
        let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());  // alloc raises it to 8
        let new_ptr = self.alloc(new_layout);
        if !new_ptr.is_null() {
            core::ptr::copy_nonoverlapping(ptr, new_ptr, layout.size().min(new_size));
        }
        new_ptr
    }
}
