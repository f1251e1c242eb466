/* SPDX-License-Identifier: GPL-2.0 */
/*
 * nm_core.h - netmap.ko's own structures, shared by its files
 */
#ifndef _NM_CORE_H_
#define _NM_CORE_H_

#include <linux/mm_types.h>
#include <linux/seq_file.h>
#include <linux/spinlock.h>

#include "netmap_kern.h"

#define NM_PFX "netmap: "
#define NM_BUFS_PER_PAGE	(PAGE_SIZE / NM_BUF_SIZE)

/**
 * struct nm_mem - the one shared memory region (mem_id 1)
 *
 * Three pools, in this order in the mapping (spec 4.1): netmap_if objects,
 * ring objects, buffers.  The first two are vmalloc'ed (the kernel needs
 * them contiguous); buffers are whole pages, two 2 KiB buffers each, that
 * the NIC can DMA to and the stack can hold.  @pages lists every page of
 * the region in mapping order: mmap() inserts them, so each program sees
 * the very pages the kernel and the NIC use.
 */
struct nm_mem {
	unsigned int users;		/* active ports (nm_mem_lock) */
	void *objs;			/* if pool, then ring pool */
	size_t if_size, ring_size;
	u32 if_count, ring_count, buf_count;
	size_t ring_pool_ofs, buf_pool_ofs, size;
	struct page **pages;
	unsigned long npages;
	spinlock_t lock;		/* the three maps */
	unsigned long *if_map, *ring_map, *buf_map;
	u32 free_bufs;
};

/* nm_mem.c */
struct nm_mem *nm_mem_get(void);
void nm_mem_put(struct nm_mem *mem);
void nm_mem_layout(struct nmreq_pools_info *info);
void *nm_mem_if_alloc(struct nm_mem *mem, size_t size);
void nm_mem_if_free(struct nm_mem *mem, void *nifp);
struct netmap_ring *nm_mem_ring_alloc(struct nm_mem *mem, u32 nr_slots);
void nm_mem_ring_free(struct nm_mem *mem, struct netmap_ring *ring);
u32 nm_mem_buf_alloc(struct nm_mem *mem);
u32 nm_mem_page_alloc(struct nm_mem *mem);
u32 nm_mem_page_buf(struct nm_mem *mem, struct page *page);
void nm_mem_buf_free(struct nm_mem *mem, u32 idx);
void *nm_mem_buf_addr(struct nm_mem *mem, u32 idx);
struct page *nm_mem_buf_page(struct nm_mem *mem, u32 idx);
dma_addr_t *nm_mem_dma_map(struct nm_mem *mem, struct device *dev);
void nm_mem_dma_unmap(struct nm_mem *mem, struct device *dev,
		      dma_addr_t *page_dma);
int nm_mem_mmap(struct nm_mem *mem, struct vm_area_struct *vma);
void nm_mem_show(struct seq_file *m);

static inline bool nm_mem_buf_valid(const struct nm_mem *mem, u32 idx)
{
	return idx >= 2 && idx < mem->buf_count;	/* 0 and 1 are reserved */
}

/* @idx's bus address, from the page addresses nm_mem_dma_map gave */
static inline dma_addr_t nm_mem_buf_dma(const dma_addr_t *page_dma, u32 idx)
{
	return page_dma[idx / NM_BUFS_PER_PAGE] +
	       (idx % NM_BUFS_PER_PAGE) * NM_BUF_SIZE;
}

/* offset of a kernel address of the vmalloc'ed pools in the region */
static inline size_t nm_mem_ofs(const struct nm_mem *mem, const void *p)
{
	return (const char *)p - (const char *)mem->objs;
}

/* nm_main.c */
struct nm_port *nm_port_alloc(struct net_device *netdev,
			      struct device *dma_dev, struct module *owner,
			      const struct nm_port_ops *ops, void *driver);
void nm_port_kill(struct nm_port *port);
void nm_port_put(struct nm_port *port);

/* nm_stack.c */
struct nm_port *nm_stack_port(struct nm_port *nic);
void nm_stack_set_offset(struct nm_port *port, u8 goff);
void nm_stack_detach(struct nm_port *nic);
int nm_stack_attach(struct nm_port *port, int fd);
void nm_stack_show(struct seq_file *m, struct nm_port *port);
int nm_stack_init(void);
void nm_stack_exit(void);

/* nm_generic.c */
bool nm_generic_only(void);
bool nm_generic_allowed(void);
bool nm_port_is_generic(const struct nm_port *port);
int nm_generic_lookup(const char *name, struct nm_port **portp);
void nm_generic_show_all(struct seq_file *m,
			 void (*show)(struct seq_file *m, struct nm_port *port));
int nm_generic_init(void);
void nm_generic_exit(void);

/* nm_host.c */
int nm_host_txsync(struct nm_kring *kring);
int nm_host_rxsync(struct nm_kring *kring);
void nm_rxq_fill(struct nm_kring *kring, struct sk_buff_head *q, u64 *drops);

#endif /* _NM_CORE_H_ */
