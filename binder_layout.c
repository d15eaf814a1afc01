// SPDX-License-Identifier: GPL-2.0-only
/*
 * Sizes and offsets of the structs of binder_alloc.h as the C compiler
 * lays them out. Compiled to assembly only; Kbuild turns the markers into
 * binder_layout.rs, which ffi.rs checks the Rust mirrors against.
 */
#include <linux/kbuild.h>
#include "binder_alloc.h"

#define LAYOUT_SIZE(sym, type) DEFINE(sym##_SIZE, sizeof(struct type))
#define LAYOUT_FIELD(sym, type, field) OFFSET(sym##_##field, type, field)

void binder_layout(void);

void binder_layout(void)
{
	LAYOUT_SIZE(BINDER_BUFFER, binder_buffer);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, transaction);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, target_node);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, data_size);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, offsets_size);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, extra_buffers_size);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, user_data);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, pid);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, debug_id);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, clear_on_free);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, allow_user_free);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, async_transaction);
	LAYOUT_FIELD(BINDER_BUFFER, binder_buffer, oneway_spam_suspect);

	LAYOUT_SIZE(BINDER_LRU_PAGE, binder_lru_page);
	LAYOUT_FIELD(BINDER_LRU_PAGE, binder_lru_page, lru);
	LAYOUT_FIELD(BINDER_LRU_PAGE, binder_lru_page, page_ptr);
	LAYOUT_FIELD(BINDER_LRU_PAGE, binder_lru_page, alloc);

	LAYOUT_SIZE(BINDER_ALLOC, binder_alloc);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, state);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, vma);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, mm);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, buffer);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, buffer_size);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, pages);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, binder_vm_ops);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, pid);
	LAYOUT_FIELD(BINDER_ALLOC, binder_alloc, room);
	LAYOUT_SIZE(BINDER_ALLOC_ROOM, binder_alloc_room);
}
