// SPDX-License-Identifier: GPL-2.0
/*
 * nm_mem.c - the shared memory region: netmap_if, ring and buffer pools
 *
 * One region for every port (mem_id 1, spec 11 "one region per
 * allocator"): a program with two ports, or one fd per ring, maps the same
 * pages once, and moving a frame between two ports is swapping two buffer
 * indices.  The region exists while some port is active and is sized by the
 * module parameters below, not by upstream's defaults (a lab guest has
 * 512 MiB).
 */

#include <linux/bitmap.h>
#include <linux/dma-mapping.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>
#include <linux/xarray.h>

#include "nm_core.h"

static unsigned int buffers = 16384;
module_param(buffers, uint, 0444);
MODULE_PARM_DESC(buffers, "Buffers of 2 KiB in the pool (default 16384)");

static unsigned int rings = 48;
module_param(rings, uint, 0444);
MODULE_PARM_DESC(rings, "Ring objects in the pool (default 48)");

static unsigned int max_slots = 4096;
module_param(max_slots, uint, 0444);
MODULE_PARM_DESC(max_slots, "Slots a ring object holds (default 4096)");

#define NM_IF_SIZE	1024
#define NM_IF_COUNT	64
/* bounds that keep every size below within 32 bits of pages */
#define NM_MAX_BUFFERS	(1u << 20)
#define NM_MAX_RINGS	1024
#define NM_MAX_SLOTS	16384

static DEFINE_MUTEX(nm_mem_lock);
static struct nm_mem *nm_global;
/* pfn -> index in the region of every buffer page: is a frag ours, and which buffer */
static DEFINE_XARRAY(nm_buf_pages);

static int nm_mem_params(struct nm_mem *mem)
{
	if (buffers < 64 || buffers > NM_MAX_BUFFERS || rings < 2 ||
	    rings > NM_MAX_RINGS || max_slots < 64 || max_slots > NM_MAX_SLOTS) {
		pr_err(NM_PFX "buffers (64-%u), rings (2-%u) or max_slots (64-%u) out of range\n",
		       NM_MAX_BUFFERS, NM_MAX_RINGS, NM_MAX_SLOTS);
		return -EINVAL;
	}
	mem->if_size = NM_IF_SIZE;
	mem->if_count = NM_IF_COUNT;
	mem->ring_size = PAGE_ALIGN(sizeof(struct netmap_ring) +
				    max_slots * sizeof(struct netmap_slot));
	mem->ring_count = rings;
	mem->buf_count = round_up(buffers, NM_BUFS_PER_PAGE);
	mem->ring_pool_ofs = PAGE_ALIGN(mem->if_size * mem->if_count);
	mem->buf_pool_ofs = mem->ring_pool_ofs + mem->ring_size * mem->ring_count;
	mem->size = mem->buf_pool_ofs + (size_t)mem->buf_count * NM_BUF_SIZE;
	mem->npages = mem->size >> PAGE_SHIFT;
	return 0;
}

/* the layout POOLS_INFO_GET reports, whether the region exists or not */
void nm_mem_layout(struct nmreq_pools_info *info)
{
	struct nm_mem mem = {};

	memset(info, 0, sizeof(*info));
	if (nm_mem_params(&mem))
		return;
	info->nr_memsize = mem.size;
	info->nr_mem_id = 1;
	info->nr_if_pool_offset = 0;
	info->nr_if_pool_objtotal = mem.if_count;
	info->nr_if_pool_objsize = mem.if_size;
	info->nr_ring_pool_offset = mem.ring_pool_ofs;
	info->nr_ring_pool_objtotal = mem.ring_count;
	info->nr_ring_pool_objsize = mem.ring_size;
	info->nr_buf_pool_offset = mem.buf_pool_ofs;
	info->nr_buf_pool_objtotal = mem.buf_count;
	info->nr_buf_pool_objsize = NM_BUF_SIZE;
}

static void nm_mem_free(struct nm_mem *mem)
{
	unsigned long i, first_buf_page = mem->buf_pool_ofs >> PAGE_SHIFT;

	if (mem->pages) {
		for (i = first_buf_page; i < mem->npages; i++) {
			if (!mem->pages[i])
				continue;
			xa_erase(&nm_buf_pages, page_to_pfn(mem->pages[i]));
			__free_page(mem->pages[i]);
		}
		kvfree(mem->pages);
	}
	vfree(mem->objs);
	bitmap_free(mem->if_map);
	bitmap_free(mem->ring_map);
	bitmap_free(mem->buf_map);
	kfree(mem);
}

static struct nm_mem *nm_mem_create(void)
{
	unsigned long i, first_buf_page;
	struct nm_mem *mem;

	mem = kzalloc(sizeof(*mem), GFP_KERNEL);
	if (!mem)
		return ERR_PTR(-ENOMEM);
	spin_lock_init(&mem->lock);
	if (nm_mem_params(mem)) {
		kfree(mem);
		return ERR_PTR(-EINVAL);
	}
	mem->objs = vmalloc_user(mem->buf_pool_ofs);	/* zeroed */
	mem->pages = kvcalloc(mem->npages, sizeof(*mem->pages), GFP_KERNEL);
	mem->if_map = bitmap_zalloc(mem->if_count, GFP_KERNEL);
	mem->ring_map = bitmap_zalloc(mem->ring_count, GFP_KERNEL);
	mem->buf_map = bitmap_zalloc(mem->buf_count, GFP_KERNEL);
	if (!mem->objs || !mem->pages || !mem->if_map || !mem->ring_map ||
	    !mem->buf_map)
		goto nomem;

	first_buf_page = mem->buf_pool_ofs >> PAGE_SHIFT;
	for (i = 0; i < first_buf_page; i++)
		mem->pages[i] = vmalloc_to_page(mem->objs + (i << PAGE_SHIFT));
	/* order-0 pages, each with its own refcount: TCP may hold them */
	for (; i < mem->npages; i++) {
		mem->pages[i] = alloc_page(GFP_KERNEL | __GFP_ZERO);
		if (!mem->pages[i] ||
		    xa_err(xa_store(&nm_buf_pages, page_to_pfn(mem->pages[i]),
				    xa_mk_value(i), GFP_KERNEL)))
			goto nomem;
	}
	/* buffers 0 and 1 are never handed out (spec 4.1) */
	bitmap_set(mem->buf_map, 0, 2);
	mem->free_bufs = mem->buf_count - 2;
	pr_info(NM_PFX "region of %zu KiB: %u buffers, %u rings of up to %u slots\n",
		mem->size >> 10, mem->buf_count, mem->ring_count, max_slots);
	return mem;

nomem:
	pr_err(NM_PFX "cannot allocate the %zu KiB region (see the buffers parameter)\n",
	       mem->size >> 10);
	nm_mem_free(mem);
	return ERR_PTR(-ENOMEM);
}

/* the region, created by the first port that becomes active */
struct nm_mem *nm_mem_get(void)
{
	struct nm_mem *mem;

	mutex_lock(&nm_mem_lock);
	if (!nm_global) {
		mem = nm_mem_create();
		if (IS_ERR(mem)) {
			mutex_unlock(&nm_mem_lock);
			return mem;
		}
		nm_global = mem;
	}
	mem = nm_global;
	mem->users++;
	mutex_unlock(&nm_mem_lock);
	return mem;
}

/*
 * Freed with the last active port.  Pages still mapped by a program keep
 * their own reference and outlive the region.
 */
void nm_mem_put(struct nm_mem *mem)
{
	mutex_lock(&nm_mem_lock);
	if (!--mem->users) {
		nm_global = NULL;
		nm_mem_free(mem);
	}
	mutex_unlock(&nm_mem_lock);
}

static long nm_map_alloc(struct nm_mem *mem, unsigned long *map, u32 count)
{
	unsigned long i;

	spin_lock_bh(&mem->lock);
	i = find_first_zero_bit(map, count);
	if (i < count)
		__set_bit(i, map);
	spin_unlock_bh(&mem->lock);
	return i < count ? (long)i : -ENOMEM;
}

void *nm_mem_if_alloc(struct nm_mem *mem, size_t size)
{
	long i;

	if (size > mem->if_size)
		return NULL;
	i = nm_map_alloc(mem, mem->if_map, mem->if_count);
	if (i < 0)
		return NULL;
	return memset(mem->objs + i * mem->if_size, 0, mem->if_size);
}

void nm_mem_if_free(struct nm_mem *mem, void *nifp)
{
	size_t i = nm_mem_ofs(mem, nifp) / mem->if_size;

	spin_lock_bh(&mem->lock);
	__clear_bit(i, mem->if_map);
	spin_unlock_bh(&mem->lock);
}

struct netmap_ring *nm_mem_ring_alloc(struct nm_mem *mem, u32 nr_slots)
{
	void *ring;
	long i;

	if (nr_slots > max_slots)
		return NULL;
	i = nm_map_alloc(mem, mem->ring_map, mem->ring_count);
	if (i < 0)
		return NULL;
	ring = mem->objs + mem->ring_pool_ofs + i * mem->ring_size;
	return memset(ring, 0, mem->ring_size);
}

void nm_mem_ring_free(struct nm_mem *mem, struct netmap_ring *ring)
{
	size_t i = (nm_mem_ofs(mem, ring) - mem->ring_pool_ofs) /
		   mem->ring_size;

	spin_lock_bh(&mem->lock);
	__clear_bit(i, mem->ring_map);
	spin_unlock_bh(&mem->lock);
}

/* a free buffer's index, or 0 (the reserved buffer) if none is left */
u32 nm_mem_buf_alloc(struct nm_mem *mem)
{
	unsigned long i;

	spin_lock_bh(&mem->lock);
	i = find_first_zero_bit(mem->buf_map, mem->buf_count);
	if (i < mem->buf_count) {
		__set_bit(i, mem->buf_map);
		mem->free_bufs--;
	}
	spin_unlock_bh(&mem->lock);
	return i < mem->buf_count ? i : 0;
}

/*
 * The first buffer of a whole free page, both of its buffers taken, or 0.
 * StackMap's RX pool (nm_stack.c) needs pages that hold one frame each:
 * the kernel's references to a page then tell when that frame is let go.
 */
u32 nm_mem_page_alloc(struct nm_mem *mem)
{
	unsigned long i;

	spin_lock_bh(&mem->lock);
	/* align mask 1: an even index, so both buffers share one page */
	i = bitmap_find_next_zero_area(mem->buf_map, mem->buf_count, 0,
				       NM_BUFS_PER_PAGE, NM_BUFS_PER_PAGE - 1);
	if (i < mem->buf_count) {
		bitmap_set(mem->buf_map, i, NM_BUFS_PER_PAGE);
		mem->free_bufs -= NM_BUFS_PER_PAGE;
	}
	spin_unlock_bh(&mem->lock);
	return i < mem->buf_count ? i : 0;
}

/*
 * Idempotent: programs swap buffers freely, so the same index may be given
 * back twice (or one that was never handed out); only the reserved buffers
 * stay taken.
 */
void nm_mem_buf_free(struct nm_mem *mem, u32 idx)
{
	if (!nm_mem_buf_valid(mem, idx))
		return;
	spin_lock_bh(&mem->lock);
	if (__test_and_clear_bit(idx, mem->buf_map))
		mem->free_bufs++;
	spin_unlock_bh(&mem->lock);
}

/* @idx must be below buf_count */
void *nm_mem_buf_addr(struct nm_mem *mem, u32 idx)
{
	unsigned long page = (mem->buf_pool_ofs >> PAGE_SHIFT) +
			     idx / NM_BUFS_PER_PAGE;

	return page_address(mem->pages[page]) +
	       (idx % NM_BUFS_PER_PAGE) * NM_BUF_SIZE;
}

/* the page holding buffer @idx (below buf_count) */
struct page *nm_mem_buf_page(struct nm_mem *mem, u32 idx)
{
	return mem->pages[(mem->buf_pool_ofs >> PAGE_SHIFT) +
			  idx / NM_BUFS_PER_PAGE];
}

/**
 * nm_page_in_region - is @page one of the region's buffer pages?
 * @page: e.g. a frag of a frame the driver is about to send
 *
 * Lets a driver count the frames that go out of netmap buffers with no
 * copy (StackMap's zero-copy TX), rather than assume it.  Any context.
 */
bool nm_page_in_region(struct page *page)
{
	return xa_load(&nm_buf_pages, page_to_pfn(page));
}
EXPORT_SYMBOL_GPL(nm_page_in_region);

/**
 * nm_mem_page_buf - the first buffer of @page, if it is one of @mem's
 * @mem: the region
 * @page: e.g. a frag of a received skb
 *
 * Return: the buffer index, or 0 (a reserved buffer) if @page is not in
 * @mem's buffer pool.  Any context.
 */
u32 nm_mem_page_buf(struct nm_mem *mem, struct page *page)
{
	unsigned long first = mem->buf_pool_ofs >> PAGE_SHIFT;
	void *entry = xa_load(&nm_buf_pages, page_to_pfn(page));
	unsigned long i;

	if (!xa_is_value(entry))
		return 0;
	i = xa_to_value(entry);
	/* the pfn may be another region's, one that is going away */
	if (i < first || i >= mem->npages || mem->pages[i] != page)
		return 0;
	return (i - first) * NM_BUFS_PER_PAGE;
}

/* bus addresses of the buffer pages for @dev: one mapping per page, once */
dma_addr_t *nm_mem_dma_map(struct nm_mem *mem, struct device *dev)
{
	unsigned long first = mem->buf_pool_ofs >> PAGE_SHIFT;
	unsigned long i, n = mem->npages - first;
	dma_addr_t *dma;

	dma = kvcalloc(n, sizeof(*dma), GFP_KERNEL);
	if (!dma)
		return NULL;
	for (i = 0; i < n; i++) {
		dma[i] = dma_map_page(dev, mem->pages[first + i], 0, PAGE_SIZE,
				      DMA_BIDIRECTIONAL);
		if (dma_mapping_error(dev, dma[i]))
			goto err;
	}
	return dma;
err:
	while (i--)
		dma_unmap_page(dev, dma[i], PAGE_SIZE, DMA_BIDIRECTIONAL);
	kvfree(dma);
	return NULL;
}

void nm_mem_dma_unmap(struct nm_mem *mem, struct device *dev,
		      dma_addr_t *page_dma)
{
	unsigned long i, n = mem->npages - (mem->buf_pool_ofs >> PAGE_SHIFT);

	for (i = 0; i < n; i++)
		dma_unmap_page(dev, page_dma[i], PAGE_SIZE, DMA_BIDIRECTIONAL);
	kvfree(page_dma);
}

/*
 * Insert the region's own pages (never remap_pfn_range: a VM_PFNMAP mapping
 * cannot be passed to write() or to the network stack, spec 11).
 */
int nm_mem_mmap(struct nm_mem *mem, struct vm_area_struct *vma)
{
	unsigned long first = vma->vm_pgoff, num = vma_pages(vma);
	int err;

	if (first >= mem->npages || num > mem->npages - first)
		return -EINVAL;
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
	err = vm_insert_pages(vma, vma->vm_start, mem->pages + first, &num);
	if (!err && num)
		err = -EFAULT;
	return err;
}

/* the region line of /proc/net/netmap: does it exist, and how many buffers are free */
void nm_mem_show(struct seq_file *m)
{
	struct nm_mem *mem;

	mutex_lock(&nm_mem_lock);
	mem = nm_global;
	if (mem) {
		spin_lock_bh(&mem->lock);
		seq_printf(m, "region users=%u size=%zu buffers=%u free_buffers=%u\n",
			   mem->users, mem->size, mem->buf_count, mem->free_bufs);
		spin_unlock_bh(&mem->lock);
	} else {
		seq_puts(m, "region users=0\n");
	}
	mutex_unlock(&nm_mem_lock);
}
