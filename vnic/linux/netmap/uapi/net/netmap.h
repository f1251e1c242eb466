/* SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause) */
/*
 * net/netmap.h - the netmap user/kernel ABI, as ringlab's netmap.ko serves it
 *
 * Written for ringlab from the ABI reference (specs/netmap-abi.md, "spec"
 * below): the structures, constants and ioctl numbers a netmap program
 * compiled for API 14 expects.  Offsets and sizes are part of the ABI; the
 * static assertions at the end check them against the spec's measurements.
 *
 * Ownership in one line: slots in [head, tail) belong to the program, the
 * rest to the kernel; head and cur are written by the program, tail by the
 * kernel, and only during a netmap system call (spec 6.1).
 */
#ifndef _NET_NETMAP_H_
#define _NET_NETMAP_H_

#include <linux/types.h>
#include <linux/ioctl.h>

#define NETMAP_API		14
#define NETMAP_MIN_API		14
#define NETMAP_MAX_API		15
#define NETMAP_DEVICE_NAME	"/dev/netmap"

/* fields only the kernel writes: read-only to programs */
#ifdef __KERNEL__
#define NM_KCONST
#else
#define NM_KCONST const
#endif

/* ------------------------------------------------------------------ */
/* Shared memory: slots, rings, the per-fd interface (spec 4)          */
/* ------------------------------------------------------------------ */

struct netmap_slot {
	__u32 buf_idx;		/* buffer index in the pool */
	__u16 len;		/* bytes in the buffer */
	__u16 flags;		/* NS_* */
	__u64 ptr;		/* NS_INDIRECT address, or offsets */
};

#define NS_BUF_CHANGED	0x0001	/* buf_idx changed: the NIC must re-point */
#define NS_REPORT	0x0002	/* ask for a completion report of this slot */
#define NS_FORWARD	0x0004	/* with NR_FORWARD: pass to the other side */
#define NS_NO_LEARN	0x0008
#define NS_INDIRECT	0x0010
#define NS_MOREFRAG	0x0020	/* more fragments follow */
#define NS_TXMON	0x0040
#define NS_PORT_SHIFT	8
#define NS_PORT_MASK	(0xff << NS_PORT_SHIFT)
#define NS_RFRAGS(_slot)	(((_slot)->flags >> 8) & 0xff)

#define NETMAP_MAX_FRAGS	64
#define NM_CACHE_ALIGN		128

struct netmap_timeval {		/* struct timeval on LP64 */
	__s64 tv_sec;
	__s64 tv_usec;
};

struct netmap_ring {
	NM_KCONST __s64 buf_ofs;	/* from this ring to buffer 0 */
	NM_KCONST __u32 num_slots;
	NM_KCONST __u32 nr_buf_size;
	NM_KCONST __u16 ringid;
	NM_KCONST __u16 dir;	/* 0 TX, 1 RX */
	__u32 head;		/* program: first slot it owns */
	__u32 cur;		/* program: wake-up point */
	__u32 tail;		/* kernel: first slot it owns */
	__u32 flags;		/* NR_TIMESTAMP, NR_FORWARD */
	__u32 _pad0;
	struct netmap_timeval ts;
	NM_KCONST __u64 offset_mask;
	NM_KCONST __u64 buf_align;
	__u8 _pad1[56];
	__u8 sem[128] __attribute__((__aligned__(NM_CACHE_ALIGN)));
	struct netmap_slot slot[];
} __attribute__((__aligned__(NM_CACHE_ALIGN)));

#define NR_TIMESTAMP	0x0002
#define NR_FORWARD	0x0004

enum { NR_TX = 0, NR_RX = 1 };

struct netmap_if {
	char ni_name[16];
	NM_KCONST __u32 ni_version;
	NM_KCONST __u32 ni_flags;
	NM_KCONST __u32 ni_tx_rings;
	NM_KCONST __u32 ni_rx_rings;
	__u32 ni_bufs_head;	/* extra buffers, a list through word 0 */
	NM_KCONST __u32 ni_host_tx_rings;
	NM_KCONST __u32 ni_host_rx_rings;
	__u32 ni_spare1[3];
	/*
	 * Ring offsets from this structure: T hardware TX, max(1, HT) host
	 * TX, R hardware RX, max(1, HR) host RX; 0 for a ring not bound.
	 */
	NM_KCONST __s64 ring_ofs[];
};

#define NI_PRIV_MEM	0x1

/* ------------------------------------------------------------------ */
/* Control (API >= 12): NIOCCTRL with struct nmreq_header (spec 3)     */
/* ------------------------------------------------------------------ */

#define NETMAP_REQ_IFNAMSIZ	64
#define NETMAP_REQ_MAXSIZE	4096

struct nmreq_header {
	__u16 nr_version;
	__u16 nr_reqtype;
	__u32 nr_reserved;
	char nr_name[NETMAP_REQ_IFNAMSIZ];
	__u64 nr_options;	/* user pointer to a struct nmreq_option */
	__u64 nr_body;		/* user pointer to the request body */
};

enum {
	NETMAP_REQ_REGISTER = 1,
	NETMAP_REQ_PORT_INFO_GET,
	NETMAP_REQ_VALE_ATTACH,
	NETMAP_REQ_VALE_DETACH,
	NETMAP_REQ_VALE_LIST,
	NETMAP_REQ_PORT_HDR_SET,
	NETMAP_REQ_PORT_HDR_GET,
	NETMAP_REQ_VALE_NEWIF,
	NETMAP_REQ_VALE_DELIF,
	NETMAP_REQ_VALE_POLLING_ENABLE,
	NETMAP_REQ_VALE_POLLING_DISABLE,
	NETMAP_REQ_POOLS_INFO_GET,
	NETMAP_REQ_SYNC_KLOOP_START,
	NETMAP_REQ_SYNC_KLOOP_STOP,
	NETMAP_REQ_CSB_ENABLE,
	/* PASTE/StackMap (stackmap-api 3, 4): only FD_REG is ringlab's */
	NETMAP_REQ_PST_ATTACH,
	NETMAP_REQ_PST_DETACH,
	NETMAP_REQ_PST_FD_REG,
};

/* options (spec 3.7); stack ports accept OFFSETS, nothing else does */
enum {
	NETMAP_REQ_OPT_EXTMEM = 1,
	NETMAP_REQ_OPT_SYNC_KLOOP_EVENTFDS,
	NETMAP_REQ_OPT_CSB,
	NETMAP_REQ_OPT_SYNC_KLOOP_MODE,
	NETMAP_REQ_OPT_OFFSETS,
};

struct nmreq_option {
	__u64 nro_next;
	__u32 nro_reqtype;
	__u32 nro_status;
	__u64 nro_size;
};

#define NETMAP_REQ_OPT_MAX	6

struct nmreq_register {
	__u64 nr_offset;	/* out: netmap_if offset in the region */
	__u64 nr_memsize;	/* out: bytes to mmap */
	__u32 nr_tx_slots;
	__u32 nr_rx_slots;
	__u16 nr_tx_rings;
	__u16 nr_rx_rings;
	__u16 nr_host_tx_rings;
	__u16 nr_host_rx_rings;
	__u16 nr_mem_id;
	__u16 nr_ringid;
	__u32 nr_mode;		/* NR_REG_* */
	__u32 nr_extra_bufs;
	__u32 _pad;
	__u64 nr_flags;
};

enum {
	NR_REG_DEFAULT = 0,
	NR_REG_ALL_NIC = 1,
	NR_REG_SW = 2,
	NR_REG_NIC_SW = 3,
	NR_REG_ONE_NIC = 4,
	NR_REG_PIPE_MASTER = 5,
	NR_REG_PIPE_SLAVE = 6,
	NR_REG_NULL = 7,
	NR_REG_ONE_SW = 8,
};

#define NR_MONITOR_TX		0x100
#define NR_MONITOR_RX		0x200
#define NR_ZCOPY_MON		0x400
#define NR_EXCLUSIVE		0x800
#define NR_RX_RINGS_ONLY	0x2000
#define NR_TX_RINGS_ONLY	0x4000
#define NR_ACCEPT_VNET_HDR	0x8000
#define NR_DO_RX_POLL		0x10000
#define NR_NO_TX_POLL		0x20000

struct nmreq_port_info_get {
	__u64 nr_memsize;
	__u32 nr_tx_slots;
	__u32 nr_rx_slots;
	__u16 nr_tx_rings;
	__u16 nr_rx_rings;
	__u16 nr_host_tx_rings;
	__u16 nr_host_rx_rings;
	__u16 nr_mem_id;
	__u16 pad[3];
};

/* NETMAP_REQ_OPT_OFFSETS: per-slot offsets in the low bits of slot.ptr */
struct nmreq_opt_offsets {
	struct nmreq_option nro_opt;
	__u64 nro_max_offset;
	__u64 nro_initial_offset;
	__u32 nro_offset_bits;
	__u32 nro_tx_align;
	__u64 nro_min_gap;
};

/* ------------------------------------------------------------------ */
/* StackMap: stack ports ("stack:eth0"), stackmap-api 4, 5 and 12      */
/* ------------------------------------------------------------------ */

#define NM_STACK_PREFIX	"stack:"

/* NETMAP_REQ_PST_FD_REG: attach a connected TCP socket to the port */
struct nmreq_pst_fd_reg {
	__s32 fd;
	__u32 pad1;
};

/*
 * A stack port's slot.ptr (PASTE's layout): bits 0-7 the generic offset
 * (where the slot's data area starts in the buffer), bits 8-39 the socket's
 * fd, bits 40-49 doff, the data offset within that area.  The data is
 * len - doff bytes at buffer + offset + doff; len == doff after data is
 * end of stream (FIN or RST).
 */
#define NM_PST_OFFSET_MASK	0x00000000000000ffULL
#define NM_PST_FD_MASK		0x000000ffffffff00ULL
#define NM_PST_FD_SHIFT		8
#define NM_PST_DOFF_MASK	0x0003ff0000000000ULL
#define NM_PST_DOFF_SHIFT	40
#define NM_PST_DOFF_MAX		1023

struct nmreq_port_hdr {
	__u32 nr_hdr_len;
	__u32 pad;
};

struct nmreq_pools_info {
	__u64 nr_memsize;
	__u16 nr_mem_id;
	__u16 pad1[3];
	__u64 nr_if_pool_offset;
	__u32 nr_if_pool_objtotal;
	__u32 nr_if_pool_objsize;
	__u64 nr_ring_pool_offset;
	__u32 nr_ring_pool_objtotal;
	__u32 nr_ring_pool_objsize;
	__u64 nr_buf_pool_offset;
	__u32 nr_buf_pool_objtotal;
	__u32 nr_buf_pool_objsize;
};

/* ------------------------------------------------------------------ */
/* Legacy control (struct nmreq, NIOCGINFO / NIOCREGIF; spec 8)        */
/* ------------------------------------------------------------------ */

struct nmreq {
	char nr_name[16];
	__u32 nr_version;	/* >= 14 */
	__u32 nr_offset;
	__u32 nr_memsize;
	__u32 nr_tx_slots;
	__u32 nr_rx_slots;
	__u16 nr_tx_rings;
	__u16 nr_rx_rings;
	__u16 nr_ringid;	/* ring number + NETMAP_*_RING flags */
	__u16 nr_cmd;
	__u16 nr_arg1;
	__u16 nr_arg2;		/* memory region id */
	__u32 nr_arg3;		/* extra buffers */
	__u32 nr_flags;		/* NR_REG_* in the low 4 bits */
	__u32 spare2[1];
};

#define NETMAP_RING_MASK	0x0fff
#define NETMAP_NO_TX_POLL	0x1000
#define NETMAP_SW_RING		0x2000
#define NETMAP_HW_RING		0x4000
#define NETMAP_DO_RX_POLL	0x8000
#define NR_REG_MASK		0xf

/* ------------------------------------------------------------------ */
/* ioctls (spec 2)                                                     */
/* ------------------------------------------------------------------ */

#define NIOCGINFO	_IOWR('i', 145, struct nmreq)
#define NIOCREGIF	_IOWR('i', 146, struct nmreq)
#define NIOCTXSYNC	_IO('i', 148)
#define NIOCRXSYNC	_IO('i', 149)
#define NIOCCTRL	_IOWR('i', 151, struct nmreq_header)

/* The ABI as measured (spec 3, 4, 8): a compile error here is a wrong layout. */
#define NETMAP_ABI_CHECK(cond) _Static_assert(cond, #cond)
NETMAP_ABI_CHECK(sizeof(struct netmap_slot) == 16);
NETMAP_ABI_CHECK(sizeof(struct netmap_ring) == 256);
NETMAP_ABI_CHECK(__builtin_offsetof(struct netmap_ring, head) == 20);
NETMAP_ABI_CHECK(__builtin_offsetof(struct netmap_ring, ts) == 40);
NETMAP_ABI_CHECK(__builtin_offsetof(struct netmap_ring, offset_mask) == 56);
NETMAP_ABI_CHECK(__builtin_offsetof(struct netmap_ring, sem) == 128);
NETMAP_ABI_CHECK(sizeof(struct netmap_if) == 56);
NETMAP_ABI_CHECK(sizeof(struct nmreq_header) == 88);
NETMAP_ABI_CHECK(sizeof(struct nmreq_register) == 56);
NETMAP_ABI_CHECK(__builtin_offsetof(struct nmreq_register, nr_flags) == 48);
NETMAP_ABI_CHECK(sizeof(struct nmreq_port_info_get) == 32);
NETMAP_ABI_CHECK(sizeof(struct nmreq_pools_info) == 64);
NETMAP_ABI_CHECK(sizeof(struct nmreq_option) == 24);
NETMAP_ABI_CHECK(sizeof(struct nmreq) == 60);
NETMAP_ABI_CHECK(sizeof(struct nmreq_opt_offsets) == 56);
NETMAP_ABI_CHECK(sizeof(struct nmreq_pst_fd_reg) == 8);
NETMAP_ABI_CHECK(NETMAP_REQ_PST_FD_REG == 18);
NETMAP_ABI_CHECK(NETMAP_REQ_OPT_OFFSETS == 5);
NETMAP_ABI_CHECK(NIOCCTRL == 0xC0586997u);
NETMAP_ABI_CHECK(NIOCREGIF == 0xC03C6992u);
#undef NETMAP_ABI_CHECK

#endif /* _NET_NETMAP_H_ */
